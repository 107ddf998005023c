"""TimeEmbedding: the sinusoidal features, then the MLP."""
import torch

from ..compare import shape_problem, value_problem
from ..strategies import time_embedding_cases
from .common import Pair, default_dtype
from .registry import CheckFailed, check
from .standard import check_output_shapes, standard_checks

standard_checks("TimeEmbedding", time_embedding_cases(), skip=("output_shape",))


def _reference_features(ctx, case, t):
    function = ctx.reference.symbol("time_embedding", "sinusoidal_embedding")
    with default_dtype(torch.float64):
        truth = function(t.double() if t.is_floating_point() else t, case.init["dim"])
    return function(t, case.init["dim"]), truth


@check("TimeEmbedding", "sinusoid_shape", "sinusoidal_embedding output shape", time_embedding_cases())
def sinusoid_shape(ctx, case):
    (t,) = case.inputs()
    got = ctx.student.call("sinusoidal_embedding", t, case.init["dim"])
    problem = shape_problem(got, (t.shape[0], case.init["dim"]), "sinusoidal_embedding(t, dim)")
    if problem:
        raise CheckFailed(problem)


@check("TimeEmbedding", "sinusoid_values", "sinusoidal_embedding matches the formula", time_embedding_cases())
def sinusoid_values(ctx, case):
    (t,) = case.inputs()
    ref32, truth = _reference_features(ctx, case, t)
    got = ctx.student.call("sinusoidal_embedding", t, case.init["dim"])
    problem = value_problem(got, truth, ref32, ctx.config.tolerance, "sinusoidal_embedding(t, dim)")
    if problem:
        half = case.init["dim"] // 2
        raise CheckFailed(
            problem,
            hint=f"Expected [sin(t*f), cos(t*f)] with the {half} sines first and f_i = exp(-i*ln(10000)/({half}-1)), "
            f"i = 0..{half - 1}: note the denominator is dim/2 - 1, not dim/2.",
        )


@check("TimeEmbedding", "output_shape", "output shape (B, 4*dim)", time_embedding_cases())
def output_shape(ctx, case):
    check_output_shapes(ctx, case)


@check("TimeEmbedding", "mlp_matches", "mlp matches the reference on the reference's features", time_embedding_cases())
def mlp_matches(ctx, case):
    """The MLP alone, fed the reference's sinusoidal features: a sinusoid slip is not charged twice."""
    pair = Pair(ctx, case)
    (t,) = case.inputs()
    features32, features64 = _reference_features(ctx, case, t)
    result = pair.run_student([features32], submodule="mlp")
    with torch.no_grad():
        out32, out64 = pair.ref32.mlp(features32), pair.ref64.mlp(features64)
    problem = value_problem(result.output, out64, out32, ctx.config.tolerance, "mlp(features)")
    if problem:
        raise CheckFailed(problem, hint="mlp must be Sequential(Linear(dim, 4*dim), SiLU(), Linear(4*dim, 4*dim)).")

