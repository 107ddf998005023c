"""Checks every module-shaped component gets: shapes, structure, values, gradients, batch
independence and untouched inputs. Component files register these and add their own."""
import dataclasses

import torch

from .. import rules
from ..sandbox.launcher import StudentError, all_of
from ..strategies import Case
from .common import Pair, as_list
from .public_checks import rule_check
from .registry import CheckContext, CheckFailed, check, failure_from_student


def build_student(ctx: CheckContext, case: Case):
    try:
        return ctx.student.build(case.component, **case.init)
    except StudentError as error:
        raise failure_from_student(error, case.component, case, f"{case.component}(...)") from None


def run_student(ctx: CheckContext, case: Case, module, inputs, **kwargs):
    try:
        return module.run(*inputs, **kwargs)
    except StudentError as error:
        raise failure_from_student(error, case.component, case, f"{case.component}.forward") from None


def run_student_each(ctx: CheckContext, case: Case, module, inputs: list[list]) -> list:
    """Outputs of one forward pass per entry of ``inputs`` (asked for together: one round trip)."""
    try:
        return [result.output for result in module.run_each(inputs)]
    except StudentError as error:
        raise failure_from_student(error, case.component, case, f"{case.component}.forward") from None


def student_with_reference_weights(ctx: CheckContext, case: Case):
    """The student's module holding the reference weights, as ``forward_matches`` runs it; a fresh
    build when the weights do not fit (checks of shapes and inputs do not need them)."""
    try:
        return Pair(ctx, case).student
    except CheckFailed:
        return build_student(ctx, case)


def standard_run(ctx: CheckContext, case: Case):
    """The case's one student run (``Pair.standard_run``), read by every standard check; a fresh
    build's forward pass when the reference weights do not fit."""
    try:
        pair = Pair(ctx, case)
    except CheckFailed:
        return run_student(ctx, case, build_student(ctx, case), case.inputs())
    return pair.standard_run()


def assert_samples_unchanged(before, after, samples, what: str) -> None:
    """Samples ``samples`` of every output are the same in ``before`` and ``after`` (NaN never is)."""
    for b, a in zip(outputs_of_sample_all(before), outputs_of_sample_all(after)):
        for i in samples:
            problem = rules.nonfinite_problem(b[i], f"output of sample {i}") \
                or rules.nonfinite_problem(a[i], f"output of sample {i}")
            if problem:
                raise CheckFailed(problem)
            if b[i].shape != a[i].shape or not rules.close(a[i], b[i], 1e-5 * rules.magnitude(b[i]) + 1e-12):
                raise CheckFailed(f"changing {what} of sample 0 changed the output of sample {i}")


def outputs_of_sample_all(output) -> list[torch.Tensor]:
    return [o for o in as_list(output) if type(o) is torch.Tensor and o.dim() > 0]


def with_several_samples(case: Case) -> Case:
    """``case`` itself when it has several samples; else the same case with two (one has no other to disturb)."""
    if next(iter(case.shapes.values()))[0] >= 2:
        return case
    return dataclasses.replace(case, shapes={name: (2,) + tuple(shape[1:]) for name, shape in case.shapes.items()})


def check_batch_independence(ctx: CheckContext, case: Case) -> None:
    """Change only sample 0 of the first input: every other sample's output must stay the same.

    Runs on the module forward_matches runs, on the same cases: with several samples, the
    unchanged run is the case's standard run.
    """
    several, inputs, _, before, after = batch_runs(ctx, case)
    try:
        assert_samples_unchanged(before, after, range(1, inputs[0].shape[0]), f"the input {list(case.shapes)[0]}")
    except CheckFailed as failure:
        if several is not case:  # the case named below has one sample: say how it was run
            failure.message += f" (the case below, run with {inputs[0].shape[0]} samples: one has no other to disturb)"
        raise


def batch_runs(ctx: CheckContext, case: Case) -> tuple:
    """``check_batch_independence``'s runs: the case with several samples, its inputs, the same with sample 0
    of the first input changed, and the student's outputs on both."""
    several = with_several_samples(case)
    inputs = several.inputs()
    changed = [inputs[0].clone()] + inputs[1:]
    if list(several.shapes)[0] == rules.TIMESTEPS:  # another timestep, still one the docstrings allow (0..999)
        changed[0][0] = (changed[0][0] + 123) % 1000
    else:
        changed[0][0] = torch.randn(changed[0][0].shape, generator=torch.Generator().manual_seed(case.seed + 7))
    module = student_with_reference_weights(ctx, several)
    if several is case:
        before, after = all_of(lambda: standard_run(ctx, case).output,
                               lambda: run_student(ctx, case, module, changed).output)
    else:
        before, after = run_student_each(ctx, several, module, [inputs, changed])
    return several, inputs, changed, before, after


def standard_checks(component: str, cases, skip: tuple = (), structure_cases=None) -> None:
    """Register the common checks of ``component`` with the given strategies (``structure_cases``: the
    structure's own, where ``cases`` hold no size at which the contract's settings differ from their
    common variants)."""
    if "output_shape" not in skip:
        rule_check(component, "output_shape", "output shape", cases, "output_shapes")
    if "structure" not in skip:
        rule_check(component, "structure", "parameters and submodules match the contract",
                   cases if structure_cases is None else structure_cases, "structure", gated=False)
    if "forward_matches" not in skip:
        check(component, "forward_matches", "matches the reference with the same weights", cases)(
            lambda ctx, case: Pair(ctx, case).compare_standard_forward()
        )
    if "gradients" not in skip:
        check(component, "gradients", "gradients match the reference (inputs and every parameter)", cases)(
            lambda ctx, case: Pair(ctx, case).compare_backward()
        )
    if "batch_independence" not in skip:
        check(component, "batch_independence", "each sample is computed independently of the others", cases)(
            check_batch_independence
        )

    @check(component, "inputs_unchanged", "does not modify its inputs", cases)
    def inputs_unchanged(ctx, case):
        result = standard_run(ctx, case)
        changed = [name for name, flag in zip(case.shapes, result.inputs_changed) if flag]
        if changed:
            raise CheckFailed(
                f"forward modified its input {', '.join(changed)} in place",
                hint="Avoid in-place operations on inputs (x += ..., relu_(x), nn.ReLU(inplace=True) applied to x).",
            )
