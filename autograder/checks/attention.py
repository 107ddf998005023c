"""SelfAttention and AttnResBlock: softmax over keys, 1/sqrt(C) scaling, and the residual."""
import math

import torch

from ..compare import shape_problem, value_problem
from ..strategies import attention_cases, attn_res_block_cases
from .common import Pair
from .registry import CheckFailed, check
from .standard import build_student, run_student, standard_checks

standard_checks("SelfAttention", attention_cases())
standard_checks("AttnResBlock", attn_res_block_cases())


def _weights(output):
    if not isinstance(output, list) or len(output) != 2:
        raise CheckFailed(
            "forward(x, return_weights=True) must return a pair (output, weights)",
            hint="if return_weights: return out, weights",
        )
    return output[1]


@check("SelfAttention", "weights_shape", "return_weights gives weights of shape (B, H*W, H*W)", attention_cases())
def weights_shape(ctx, case):
    b, _, h, w = case.shapes["x"]
    result = run_student(ctx, case, build_student(ctx, case), case.inputs(), return_weights=True)
    problem = shape_problem(_weights(result.output), (b, h * w, h * w), "attention weights")
    if problem:
        raise CheckFailed(problem)


@check("SelfAttention", "softmax_rows", "attention weights are non-negative and each row sums to 1",
       attention_cases(min_positions=2))
def softmax_rows(ctx, case):
    b, _, h, w = case.shapes["x"]
    result = run_student(ctx, case, build_student(ctx, case), case.inputs(), return_weights=True)
    weights = _weights(result.output)
    problem = shape_problem(weights, (b, h * w, h * w), "attention weights")
    if problem:
        raise CheckFailed(problem)
    if (weights < -1e-6).any():
        raise CheckFailed("some attention weights are negative", hint="Apply softmax to the scores.")
    row_sums = weights.double().sum(-1)
    if (row_sums - 1).abs().max().item() > 1e-4:
        col_sums = weights.double().sum(-2)
        columns = (col_sums - 1).abs().max().item() <= 1e-4
        raise CheckFailed(
            f"rows of the attention weights sum to {row_sums.min().item():.4g}..{row_sums.max().item():.4g}, not 1",
            hint="softmax over the last axis (dim=-1): each query's weights over the keys sum to 1"
            + (" -- yours sum to 1 down the columns, i.e. over the queries." if columns else "."),
        )


def _constant_values(model, value: float = 0.75):
    """v = value everywhere, out = identity: correct attention returns x + value."""
    c = model.channels
    model.qkv.weight[2 * c:] = 0
    model.qkv.bias[2 * c:] = value
    model.out.weight.copy_(torch.eye(c, dtype=model.out.weight.dtype)[:, :, None, None])
    model.out.bias.zero_()


@check("SelfAttention", "constant_value_probe", "constant values come back unchanged (weights sum to 1 over keys)",
       attention_cases(min_positions=2))
def constant_value_probe(ctx, case):
    """Black-box softmax check: averaging a constant gives that constant, whatever the weights."""
    pair = Pair(ctx, case, edit_state=_constant_values)
    (x,) = case.inputs()
    result = pair.run_student([x])
    expected = x.double() + 0.75
    problem = value_problem(result.output, expected, expected.float(), ctx.config.tolerance, "output")
    if problem:
        raise CheckFailed(
            "with v constant (0.75) and out = identity, the output should be x + 0.75; " + problem,
            hint="Each query's weights must be a softmax over the keys (dim=-1), so that they average v.",
        )


def _weight_variants(pair, x):
    """What common mistakes would return, to name the mistake when the weights differ."""
    model = pair.ref64
    b, c, h, w = x.shape
    q, k, _ = model.qkv(model.norm(x.double())).chunk(3, dim=1)
    q = q.reshape(b, c, h * w).transpose(1, 2)
    k = k.reshape(b, c, h * w).transpose(1, 2)
    scores = q @ k.transpose(-2, -1)
    return {
        "no scaling: divide the scores by sqrt(C)": torch.softmax(scores, dim=-1),
        "scaling by 1/C: the scale is 1/sqrt(C)": torch.softmax(scores / c, dim=-1),
        "scaling by 1/sqrt(H*W): the scale uses the channels, 1/sqrt(C)": torch.softmax(scores / math.sqrt(h * w), dim=-1),
        "softmax over the queries: use dim=-1": torch.softmax(scores / math.sqrt(c), dim=1),
    }


@check("SelfAttention", "weights_match", "attention weights match the reference (scores scaled by 1/sqrt(C))",
       attention_cases(min_positions=2))
def weights_match(ctx, case):
    pair = Pair(ctx, case)
    (x,) = case.inputs()
    result = pair.run_student([x], return_weights=True)
    weights = _weights(result.output)
    (out32, _), (out64, _) = pair.reference([x], return_weights=True)
    w32, w64 = out32[1], out64[1]
    problem = value_problem(weights, w64, w32, ctx.config.tolerance, "attention weights")
    if problem is None:
        return
    with torch.no_grad():
        for mistake, variant in _weight_variants(pair, x).items():
            if value_problem(weights, variant, variant.float(), ctx.config.tolerance, "weights") is None:
                raise CheckFailed(problem, hint=f"Your weights match {mistake}.")
    raise CheckFailed(problem)


def _zero_out(model):
    model.out.weight.zero_()
    model.out.bias.zero_()


@check("SelfAttention", "residual_identity", "residual identity (zeroed out conv returns x)", attention_cases())
def residual_identity(ctx, case):
    pair = Pair(ctx, case, edit_state=_zero_out)
    (x,) = case.inputs()
    result = pair.run_student([x])
    problem = value_problem(result.output, x.double(), x, ctx.config.tolerance, "output with out = 0")
    if problem:
        raise CheckFailed(problem, hint="Return x + self.out(attn): the residual adds the block's *input* x, not norm(x).")
