"""TimeEmbedding: the sinusoidal features (public rules: the docstring's closed form), then the MLP."""
import torch

from .. import rules
from ..compare import value_problem
from ..sandbox.errors import StudentError
from ..strategies import time_embedding_cases
from .common import Pair
from .public_checks import rule_check
from .registry import CheckFailed, check, failure_from_student
from .standard import batch_runs, check_batch_independence, standard_checks

standard_checks("TimeEmbedding", time_embedding_cases(),
                skip=("output_shape", "forward_matches", "gradients", "batch_independence"))
rule_check("TimeEmbedding", "sinusoid_shape", "sinusoidal_embedding output shape", time_embedding_cases(),
           "sinusoid_shape", gated=False)
rule_check("TimeEmbedding", "sinusoid_values", "sinusoidal_embedding matches the formula",
           time_embedding_cases(min_frequencies=3),
           "sinusoid_values", gated=False)
rule_check("TimeEmbedding", "output_shape", "output shape (B, 4*dim)", time_embedding_cases(), "output_shapes")


@check("TimeEmbedding", "forward_matches", "matches the reference with the same weights", time_embedding_cases())
def forward_matches(ctx, case):
    """The reference's forward; or the MLP over the student's own ``sinusoidal_embedding``, which the
    docstring's forward calls and which is graded once, on its own (``sinusoid_values``)."""
    pair = Pair(ctx, case)
    try:
        pair.compare_standard_forward()
    except CheckFailed:
        if not _over_own_features(ctx, pair, case.inputs()[0], pair.standard_run().output):
            raise


@check("TimeEmbedding", "gradients", "gradients match the reference (inputs and every parameter)",
       time_embedding_cases())
def gradients(ctx, case):
    """As ``forward_matches``: the reference's gradients, or those of the MLP over the student's own features."""
    pair = Pair(ctx, case)
    try:
        pair.compare_backward()
    except CheckFailed:
        result = pair.standard_run()
        if not _over_own_features(ctx, pair, case.inputs()[0], result.output, result):
            raise


@check("TimeEmbedding", "batch_independence", "each sample is computed independently of the others",
       time_embedding_cases())
def batch_independence(ctx, case):
    """As for every block; and passed where both runs are the MLP over the student's own features of their
    timesteps: features that mix samples are ``sinusoid_shape``'s to charge."""
    try:
        check_batch_independence(ctx, case)
    except CheckFailed:
        several, inputs, changed, before, after = batch_runs(ctx, case)
        pair = Pair(ctx, several)
        if not all(_over_own_features(ctx, pair, t[0], output) for t, output in ((inputs, before), (changed, after))):
            raise


def _over_own_features(ctx, pair: Pair, t: torch.Tensor, output, result=None) -> bool:
    """Whether ``output`` (of the student's forward on timesteps ``t``) is the case's MLP applied to what the
    student's ``sinusoidal_embedding(t, dim)`` gives -- and with ``result`` (the case's standard run, forward
    and backward) every MLP parameter's gradient too. A sinusoid slip then shows in the sinusoid's checks
    alone; a forward that departs from its own function (another dim, its own formula) is still the
    forward's mistake."""
    dim = pair.case.init["dim"]
    try:
        features = ctx.student.call("sinusoidal_embedding", t, dim)
    except StudentError:
        return False
    if (type(features) is not torch.Tensor or not features.is_floating_point()
            or tuple(features.shape) != (t.shape[0], dim) or not bool(torch.isfinite(features).all())):
        return False
    grad_output = None if result is None else pair.reference(pair.case.inputs(), pair.case.seed)[0][1]["grad_outputs"][0]
    (out32, grads32), (out64, grads64) = (_mlp_run(pair, features, dtype, grad_output)
                                          for dtype in (torch.float32, torch.float64))
    if value_problem(output, out64, out32, ctx.config.tolerance, "output") is not None:
        return False
    if result is not None:
        try:
            pair.compare_gradients(result, {"inputs": [None], "params": grads32}, {"inputs": [None], "params": grads64})
        except CheckFailed:
            return False
    return True


def _mlp_run(pair: Pair, features: torch.Tensor, dtype, grad_output: torch.Tensor | None) -> tuple:
    """The case's MLP (the reference's weights) on ``features`` in ``dtype``: its output, and with
    ``grad_output`` its parameters' gradients by the TimeEmbedding's names (``mlp.0.weight``...)."""
    backward = grad_output is not None
    weights = {name.removeprefix("mlp."): tensor.detach().to(dtype).requires_grad_(backward)
               for name, tensor in pair.models.state.items() if name.startswith("mlp.")}
    with torch.set_grad_enabled(backward):
        output = torch.func.functional_call(pair.ref32.mlp, weights, (features.detach().to(dtype),))
        if backward:
            output.backward(grad_output.to(dtype))
    return output.detach(), {f"mlp.{name}": weight.grad for name, weight in weights.items()} if backward else None


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


# The sizes the loop rule compares: few and many timesteps (at the fewer frequencies), few and many
# frequencies (at the fewer timesteps). The timestep counts equal no feature count (8, 64) nor half of
# one, so an operation given a tensor with a dimension of 5 or 23 works on the timesteps.
FEW_TIMESTEPS, MANY_TIMESTEPS = 5, 23
FEW_FEATURES, MANY_FEATURES = 8, 64
# Vectorised code runs the same lines and operations at every size; a loop repeats its body per item,
# 18 or 28 more times here. Code that branches on the sizes (a reshape of a 0-d t) differs by a few.
LOOP_GROWTH = 9


def _counted(ctx, timesteps: int, features: int):
    t = torch.linspace(0, 999, timesteps).round().long()
    return ctx.student.count("sinusoidal_embedding", t, features, size=timesteps)


# Not gated, as the sinusoid's other checks: it judges the function, whatever TimeEmbedding's forward does.
@check("TimeEmbedding", "sinusoid_vectorised",
       "sinusoidal_embedding computes every (timestep, frequency) product at once, with no Python loop", gated=False)
def sinusoid_vectorised(ctx, _case):
    """The docstring's rule, judged by what a call runs as the sizes grow (``watch.CallCounter``). A loop
    that only builds the frequencies (a list of floats) never touches the timesteps: not charged. A function
    that raises earns none of its checks (a stub: ``NotImplementedError``)."""
    try:
        few = _counted(ctx, FEW_TIMESTEPS, FEW_FEATURES)
        more_timesteps = _counted(ctx, MANY_TIMESTEPS, FEW_FEATURES)
        more_features = _counted(ctx, FEW_TIMESTEPS, MANY_FEATURES)
    except StudentError as error:
        raise failure_from_student(error, "TimeEmbedding", None, "sinusoidal_embedding(...)") from None
    features = few.output  # the gate's question, asked of this function: features that are computed, finite
    if (type(features) is not torch.Tensor or features.numel() < 2 or not bool(torch.isfinite(features).all())
            or not rules.changed(features.flatten()[:1].expand(features.numel()), features.flatten())):
        raise CheckFailed("sinusoidal_embedding gives one value everywhere (or values that are not finite): there "
                          "is no computation of the features to judge")
    hint = ("t[:, None] * f[None, :] gives every (timestep, frequency) product in one operation; take the sines "
            "and cosines of that whole matrix.")
    timesteps = f"for {MANY_TIMESTEPS} timesteps than for {FEW_TIMESTEPS}"
    grown = [(more_timesteps.lines - few.lines, "lines of your code", timesteps, "timesteps"),
             (more_timesteps.operations - few.operations, "torch operations on the timesteps", timesteps, "timesteps"),
             (more_features.operations - few.operations, "torch operations on the timesteps",
              f"for dim={MANY_FEATURES} than for dim={FEW_FEATURES}", "frequencies")]
    for growth, what, sizes, over in grown:
        if growth >= LOOP_GROWTH:
            raise CheckFailed(f"sinusoidal_embedding runs {growth} more {what} {sizes}: a Python loop over the "
                              f"{over}; the rule is every (timestep, frequency) product at once, by broadcasting, "
                              "with no Python loop", hint=hint)
