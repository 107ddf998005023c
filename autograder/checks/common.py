"""The building blocks most checks share: a student/reference pair with the same weights, and the
comparisons of outputs, gradients and structure against the reference.

micrograd's test in a few helpers: run the same computation in two implementations and compare
outputs *and* gradients -- with the reference also run in float64 to measure the float error.
"""
import functools
from collections import OrderedDict
from contextlib import contextmanager

import torch

from .. import rules
from ..compare import value_problem
from ..fingerprint import fingerprint
from ..sandbox.launcher import RunResult, StudentError, StudentModule
from ..strategies import Case
from .outputs import OUTPUT_NAMES, as_list, output_names  # noqa: F401 -- re-exported for the checks
from .registry import CheckContext, CheckFailed, failure_from_student

@contextmanager
def default_dtype(dtype):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def randomize_norms(module: torch.nn.Module, seed: int) -> None:
    """GroupNorm starts as weight 1, bias 0: every norm looks alike. Random affines tell them apart."""
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for sub in module.modules():
            if isinstance(sub, torch.nn.GroupNorm) and sub.affine:
                sub.weight.copy_(1 + 0.3 * torch.randn(sub.weight.shape, generator=generator))
                sub.bias.copy_(0.3 * torch.randn(sub.bias.shape, generator=generator))


class ReferenceModels:
    """The reference for one case: the float32 module, its weights, and memoised runs in float32 and
    float64 (the same weights, via ``functional_call``: no second module to copy)."""

    def __init__(self, ctx: CheckContext, case: Case, class_name: str, edit_state=None):
        reference_class = ctx.reference.symbol(_module_of(class_name), class_name)
        torch.default_generator.manual_seed(case.seed)  # the reference is always built on the CPU
        self.ref32 = reference_class(**case.init)
        randomize_norms(self.ref32, case.seed)
        if edit_state is not None:
            with torch.no_grad():
                edit_state(self.ref32)
        self.state = {k: v.detach().clone() for k, v in self.ref32.state_dict().items()}
        self.state_name = fingerprint(self.state)
        self._runs = {}

    @functools.cached_property
    def ref64(self) -> "Float64":
        """The reference in float64, for checks that call it or its submodules directly."""
        return Float64(self.ref32, {n: t.double() if t.is_floating_point() else t for n, t in self.state.items()})

    def run(self, inputs, backward_seed: int | None = None, **kwargs):
        """Outputs in float32 and float64; with a seed, also gradients for a random grad_output."""
        key = fingerprint([inputs, backward_seed, kwargs])
        if key not in self._runs:
            self._runs[key] = [self._run(dtype, inputs, backward_seed, kwargs) for dtype in (torch.float32, torch.float64)]
        return self._runs[key]

    def _run(self, dtype, inputs, backward_seed, kwargs):
        backward = backward_seed is not None
        args = [x.detach().to(dtype).requires_grad_(backward) if x.is_floating_point() else x for x in inputs]
        if dtype is torch.float32:
            self.ref32.zero_grad(set_to_none=True)
            params = dict(self.ref32.named_parameters())
            weights = None
        else:
            params = {n: p.detach().double().requires_grad_(backward) for n, p in self.ref32.named_parameters()}
            weights = dict(params)
            weights.update((n, b.double() if b.is_floating_point() else b) for n, b in self.ref32.named_buffers())
        with default_dtype(dtype), torch.set_grad_enabled(backward):
            if weights is None:
                outputs = as_list(self.ref32(*args, **kwargs))
            else:
                outputs = as_list(torch.func.functional_call(self.ref32, weights, tuple(args), kwargs))
        grads = None
        if backward:
            generator = torch.Generator().manual_seed(backward_seed)
            grad_outputs = [torch.randn(o.shape, generator=generator).to(dtype) for o in outputs]
            torch.autograd.backward(outputs, grad_outputs)
            grads = {
                "inputs": [a.grad if isinstance(a, torch.Tensor) and a.is_floating_point() else None for a in args],
                "params": {n: p.grad for n, p in params.items()},
                "grad_outputs": [g.float() for g in grad_outputs],
            }
        return [o.detach() for o in outputs], grads


class Float64:
    """Calls a module, or any submodule reached by attribute, with float64 copies of its weights.

    ``functional_call`` swaps the weights in for the call: no second module to deep-copy (3 ms for
    a small UpBlock). Non-module attributes (``channels``) read through to the module.
    """

    def __init__(self, module: torch.nn.Module, weights: dict, prefix: str = ""):
        self._module, self._weights, self._prefix = module, weights, prefix

    def __getattr__(self, name: str):
        if name in ("_module", "_weights", "_prefix"):  # not set yet: an unpickled copy's first lookups
            raise AttributeError(name)
        value = getattr(self._module, name)
        if isinstance(value, torch.nn.Module):
            return Float64(value, self._weights, f"{self._prefix}{name}.")
        return value

    def __call__(self, *args, **kwargs):
        own = {n[len(self._prefix):]: t for n, t in self._weights.items() if n.startswith(self._prefix)}
        with default_dtype(torch.float64):
            return torch.func.functional_call(self._module, own, args, kwargs)


def reference_models(ctx: CheckContext, case: Case, class_name: str | None = None, edit_state=None) -> ReferenceModels:
    """The case's reference, built once however many checks -- and, in a grader, submissions -- ask for it."""
    class_name = class_name or case.component
    key = ("reference", class_name, repr(case.init), case.seed, getattr(edit_state, "__qualname__", None))
    return remembered(ctx, key, lambda: ReferenceModels(ctx, case, class_name, edit_state))


def remembered(ctx: CheckContext, key, build):
    """``build()``'s reference-side result, computed once per ``key`` (see ``ReferenceCache``)."""
    value = ctx.references.get(key)
    if value is None:
        value = ctx.references[key] = build()
    return value


class ReferenceCache(OrderedDict):
    """A grader's reference models and runs, kept for its next submissions; least recently used go first.

    Sound because the reference side is deterministic: one thread, builds seeded from the case,
    every other random tensor from its own generator, and no check changes a reference module
    after ``ReferenceModels`` built it. Every student is graded on the same cases (see
    ``runner.py``), so after the first submission a worker's reference work is mostly lookups.
    """

    def __init__(self, max_entries: int = 1024):
        super().__init__()
        self.max_entries = max_entries

    def get(self, key, default=None):
        if key in self:
            self.move_to_end(key)
            return self[key]
        return default

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        while len(self) > self.max_entries:
            self.popitem(last=False)


class Pair:
    """The student's module and the reference, built from one case, holding the same weights."""

    def __init__(self, ctx: CheckContext, case: Case, class_name: str | None = None, edit_state=None):
        self.ctx = ctx
        self.case = case
        self.class_name = class_name or case.component
        self.models = reference_models(ctx, case, self.class_name, edit_state)
        try:
            self.student = ctx.student.build(self.class_name, **case.init)
        except StudentError as error:
            raise failure_from_student(error, case.component, case, f"{self.class_name}(...)") from None
        self.renamed = transplant(self.student, self.models.state, case, self.models.state_name)

    @property
    def ref32(self) -> torch.nn.Module:
        return self.models.ref32

    @property
    def ref64(self) -> Float64:
        return self.models.ref64

    def reference(self, inputs, backward_seed: int | None = None, **kwargs):
        return self.models.run(inputs, backward_seed, **kwargs)

    def run_student(self, inputs, grad_output=None, **kwargs) -> RunResult:
        try:
            return self.student.run(*inputs, grad_output=grad_output, **kwargs)
        except StudentError as error:
            raise failure_from_student(error, self.case.component, self.case, f"{self.class_name}.forward") from None

    def compare_forward(self, inputs=None, **kwargs) -> RunResult:
        """Run both on the same inputs; raise CheckFailed on any output that differs."""
        inputs = self.case.inputs() if inputs is None else inputs
        (out32, _), (out64, _) = self.reference(inputs, **kwargs)
        result = self.run_student(inputs, **kwargs)
        compare_outputs(result.output, out32, out64, self.ctx, self.case, self.explainer(inputs, kwargs))
        return result

    def explainer(self, inputs, kwargs):
        """What a failed output comparison calls to say where the forward departs (``diagnose.py``)."""
        def explain(problem):
            from .diagnose import explain_forward

            return explain_forward(self, inputs, kwargs, problem)
        return explain

    def standard_run(self) -> RunResult:
        """The case's one run: forward and backward on its inputs, with the reference's grad_output.

        Outputs, changed inputs and gradients all come from it, on both sides (the reference's run
        is ``compare_backward``'s). If backward fails (``.numpy()`` on a tensor that requires
        grad, say), the forward-only checks get a forward-only run: that costs the gradients check alone.
        """
        inputs = self.case.inputs()
        (_, g32), _ = self.reference(inputs, self.case.seed)
        try:
            return self.student.run(*inputs, grad_output=g32["grad_outputs"])
        except StudentError:
            return self.run_student(inputs)

    def compare_standard_forward(self) -> None:
        """``compare_forward`` on the standard run."""
        inputs = self.case.inputs()
        (out32, _), (out64, _) = self.reference(inputs, self.case.seed)
        compare_outputs(self.standard_run().output, out32, out64, self.ctx, self.case, self.explainer(inputs, {}))

    def compare_backward(self, inputs=None, **kwargs) -> RunResult:
        """Outputs, input gradients and every parameter's gradient against the reference."""
        inputs = self.case.inputs() if inputs is None else inputs
        (out32, g32), (out64, g64) = self.reference(inputs, backward_seed=self.case.seed, **kwargs)
        try:
            result = self.student.run(*inputs, grad_output=g32["grad_outputs"], **kwargs)
        except StudentError as error:  # say what differs in the forward pass first, if anything does (a
            self.compare_forward(inputs, **kwargs)  # shape: then no grad_output of the reference's fits)
            raise failure_from_student(error, self.case.component, self.case,
                                       f"{self.class_name}.forward / backward") from None
        compare_outputs(result.output, out32, out64, self.ctx, self.case, self.explainer(inputs, kwargs))
        self.compare_gradients(result, g32, g64)
        return result

    def compare_gradients(self, result: RunResult, g32: dict, g64: dict) -> None:
        """The student's input and parameter gradients in ``result`` against the reference's (``inputs``:
        one per input, None where none is compared; ``params``: by the reference's names)."""
        tolerance = self.ctx.config.tolerance
        # One backward pass: a gradient that cancels to ~0 carries float noise of the pass's scale, not its own.
        scale = max((rules.magnitude(g) for g in [*g64["inputs"], *g64["params"].values()] if g is not None),
                    default=0.0)
        for i, (got, r32, r64) in enumerate(zip(result.input_grads or [], g32["inputs"], g64["inputs"])):
            name = list(self.case.shapes)[i]
            if r64 is None or name == rules.TIMESTEPS:  # timesteps are read, never differentiated
                continue
            if got is None:
                raise CheckFailed(f"no gradient reached the input {name}: is it detached somewhere?")
            problem = value_problem(got, r64, r32, tolerance, f"gradient of the input {name}", scale)
            if problem:
                raise CheckFailed(problem)
        student_grads = result.param_grads or {}
        for name, r64 in g64["params"].items():
            student_name = self.renamed.get(name, name)
            got = student_grads.get(student_name)
            if r64 is None:
                continue
            if got is None:
                if r64.abs().max() > 0:
                    raise CheckFailed(
                        f"parameter {student_name} received no gradient; the reference's does",
                        hint="Every submodule must be used in forward, and nothing on the way may be detached.",
                    )
                continue
            problem = value_problem(got, r64, g32["params"][name], tolerance, f"gradient of {student_name}", scale)
            if problem:
                raise CheckFailed(problem)


def _module_of(class_name: str) -> str:
    from ..contract import COMPONENTS

    return next(c.module for c in COMPONENTS if class_name in c.symbols)


def compare_outputs(got, out32: list, out64: list, ctx: CheckContext, case: Case, explain=None) -> None:
    """Raise CheckFailed at the first output that differs; ``explain(problem)`` may look closer later."""
    got_list = as_list(got) if len(out64) > 1 else [got]
    names = output_names(case.component, len(out64))
    if len(got_list) != len(out64):
        raise CheckFailed(f"expected {len(out64)} outputs ({', '.join(names)}), got {len(got_list)}")
    for value, r32, r64, name in zip(got_list, out32, out64, names):
        problem = value_problem(value, r64, r32, ctx.config.tolerance, name)
        if problem:
            raise CheckFailed(problem, explain=(lambda: explain(problem)) if explain else None)


def transplant(student: StudentModule, state: dict, case: Case, state_name: str | None = None) -> dict:
    """Load the reference weights into the student's module.

    Names are the contract; when they differ but the parameters line up one-to-one by order and
    shape, load by position so the maths is still graded (the structure check reports the names).
    The student's own buffers and frozen constants take no part: they keep their values.
    Returns the reference-name -> student-name mapping that was used.
    """
    try:
        student.load_state_dict(state, state_name)
        return {}
    except StudentError:
        pass
    try:  # every reference tensor has its place; a parameter of the student's own keeps its value
        student.load_state_dict(state, partial=True)
        return {}
    except StudentError:
        pass
    described = student.describe()
    own = rules.own_constants(described.state_dict, described.buffers, described.frozen, state)
    theirs = {name: shape for name, shape in described.state_dict.items() if name not in own}
    mapping = rules.by_position(theirs, state)
    if mapping is not None:
        try:
            student.load_state_dict({mapping[name]: tensor for name, tensor in state.items()})
            return mapping
        except StudentError:
            pass
    expected = {name: list(t.shape) for name, t in state.items()}
    raise CheckFailed(
        f"the reference weights could not be loaded into your {student.class_name}: "
        + rules.state_difference({n: list(s) for n, s in theirs.items()}, expected),
        hint="Name and size the submodules as the docstring does: the grader loads weights by those names.",
    )

