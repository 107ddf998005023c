"""SelfAttention and AttnResBlock: softmax over keys, 1/sqrt(C) scaling, and the residual."""
import math

import torch

from ..compare import value_problem
from ..strategies import attention_cases, attn_res_block_cases
from .common import Pair
from .public import rule_check
from .registry import CheckFailed, check
from .standard import standard_checks

standard_checks("SelfAttention", attention_cases())
standard_checks("AttnResBlock", attn_res_block_cases())


rule_check("SelfAttention", "weights_shape", "return_weights gives weights of shape (B, H*W, H*W)", attention_cases(),
           "weights_shape")
rule_check("SelfAttention", "softmax_rows", "attention weights are non-negative and each row sums to 1",
           attention_cases(min_positions=2), "softmax_rows")
rule_check("SelfAttention", "constant_value_probe", "constant values come back unchanged (weights sum to 1 over keys)",
           attention_cases(min_positions=2), "constant_values")
rule_check("SelfAttention", "residual_identity", "residual identity (zeroed out conv returns x)", attention_cases(),
           "residual")


def _weight_variants(pair, x):
    """What common mistakes would give as weights, to name the mistake when the weights differ."""
    model = pair.ref64
    b, c, h, w = x.shape
    q, k, _ = model.qkv(model.norm(x.double())).chunk(3, dim=1)
    scores = q.reshape(b, c, h * w).transpose(1, 2) @ k.reshape(b, c, h * w)
    unflipped = q.reshape(b, h * w, c) @ k.reshape(b, h * w, c).transpose(1, 2)
    return {
        "softmax(q k^T) without scaling: divide the scores by sqrt(C)": torch.softmax(scores, dim=-1),
        "scaled by 1/C: the scale is 1/sqrt(C)": torch.softmax(scores / c, dim=-1),
        "scaled by 1/sqrt(H*W): the scale uses the channels, 1/sqrt(C)": torch.softmax(scores / math.sqrt(h * w), dim=-1),
        "a softmax over the queries (dim=1): take it over the keys, dim=-1": torch.softmax(scores / math.sqrt(c), dim=1),
        "transposed: weights[b, i, j] is query i's weight on key j, and each row sums to 1":
            torch.softmax(scores / math.sqrt(c), dim=-1).transpose(1, 2),
        "made from q and k reshaped straight to (B, H*W, C): flatten to (B, C, H*W), then transpose(1, 2)":
            torch.softmax(unflipped / math.sqrt(c), dim=-1),
    }


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
        for mistake, variant in _weight_variants(pair, x).items():
            if value_problem(weights, variant, variant.float(), ctx.config.tolerance, "weights") is None:
                raise CheckFailed(problem, hint=f"Your weights are {mistake}.")
    raise CheckFailed(problem)
