"""TimeEmbedding: the sinusoidal features (public rules: the docstring's closed form), then the MLP."""
import torch

from ..compare import value_problem
from ..strategies import time_embedding_cases
from .common import Pair
from .public_checks import rule_check
from .registry import CheckFailed, check
from .standard import standard_checks

standard_checks("TimeEmbedding", time_embedding_cases(), skip=("output_shape",))
rule_check("TimeEmbedding", "sinusoid_shape", "sinusoidal_embedding output shape", time_embedding_cases(),
           "sinusoid_shape", gated=False)
rule_check("TimeEmbedding", "sinusoid_values", "sinusoidal_embedding matches the formula", time_embedding_cases(),
           "sinusoid_values", gated=False)
rule_check("TimeEmbedding", "output_shape", "output shape (B, 4*dim)", time_embedding_cases(), "output_shapes")


def _features(case) -> torch.Tensor:
    """Features in the sinusoid's range, drawn from the case's seed: nothing the reference computed
    (the student is asked for the sinusoid too, so its values must never reach their code)."""
    generator = torch.Generator().manual_seed(case.seed + 5)
    return torch.rand((case.shapes["t"][0], case.init["dim"]), generator=generator) * 2 - 1


@check("TimeEmbedding", "mlp_matches", "mlp matches the reference on the same features", time_embedding_cases())
def mlp_matches(ctx, case):
    """The MLP alone, on features of our own: a sinusoid slip is not charged twice."""
    pair = Pair(ctx, case)
    features = _features(case)
    result = pair.run_student([features], submodule="mlp")
    with torch.no_grad():
        out32, out64 = pair.ref32.mlp(features), pair.ref64.mlp(features.double())
    problem = value_problem(result.output, out64, out32, ctx.config.tolerance, "mlp(features)")
    if problem:
        raise CheckFailed(problem, hint="mlp must be Sequential(Linear(dim, 4*dim), SiLU(), Linear(4*dim, 4*dim))."
                          if problem.kind == "value" else None)
