"""SelfAttention and AttnResBlock: softmax over keys, 1/sqrt(C) scaling, and the residual."""
import torch

from ..compare import value_problem
from ..strategies import attention_cases, attention_structure_cases, attn_res_block_cases
from .common import Pair
from .diagnose import attention_variants
from .public_checks import rule_check
from .registry import CheckFailed, check
from .standard import standard_checks

standard_checks("SelfAttention", attention_cases(), structure_cases=attention_structure_cases())
standard_checks("AttnResBlock", attn_res_block_cases())


rule_check("SelfAttention", "weights_shape", "return_weights gives weights of shape (B, H*W, H*W)", attention_cases(),
           "weights_shape")
rule_check("SelfAttention", "softmax_rows", "attention weights are non-negative and each row sums to 1",
           attention_cases(min_positions=2), "softmax_rows")
rule_check("SelfAttention", "constant_value_probe", "constant values come back unchanged (weights sum to 1 over keys)",
           attention_cases(min_positions=2), "constant_values")
rule_check("SelfAttention", "residual_identity", "residual identity (zeroed out conv returns x)", attention_cases(),
           "residual")


@check("SelfAttention", "weights_match", "attention weights match the reference (scores scaled by 1/sqrt(C))",
       attention_cases(min_positions=2))
def weights_match(ctx, case):
    pair = Pair(ctx, case)
    (x,) = case.inputs()
    result = pair.run_student([x], return_weights=True)
    if not isinstance(result.output, list) or len(result.output) != 2:
        raise CheckFailed("forward(x, return_weights=True) must return a pair (output, weights)")
    weights = result.output[1]
    (out32, _), (out64, _) = pair.reference([x], return_weights=True)
    w32, w64 = out32[1], out64[1]
    problem = value_problem(weights, w64, w32, ctx.config.tolerance, "attention weights")
    if problem is None:
        return
    if problem.kind != "value":
        raise CheckFailed(problem)
    with torch.no_grad():
        model = pair.ref64
        q, k, v = model.qkv(model.norm(x.double())).chunk(3, dim=1)
        for mistake, variant, _ in attention_variants(q, k, v):
            if value_problem(weights, variant, variant.float(), ctx.config.tolerance, "weights") is None:
                raise CheckFailed(problem, hint=f"Your attention weights are {mistake}.")
        _, _, height, width = x.shape
        column_major = torch.tensor([row * width + col for col in range(width) for row in range(height)])
        variant = w64[:, column_major][:, :, column_major]
        if value_problem(weights, variant, variant.float(), ctx.config.tolerance, "weights") is None:
            raise CheckFailed(problem, hint="Your weights number the positions column by column: flatten (H, W) "
                              "row by row, as x.flatten(2) does (position row * W + col), for the weights too.")
    raise CheckFailed(problem)
