"""Student output vs the reference: shapes first, then values within the measured float error.

Comparisons always run in the trusted process, on tensors the child sent back as plain data. Every
comparison of student numbers is NaN-aware (``rules.largest_difference``, ``rules.nonfinite_problem``):
a NaN or an infinity passes only where the reference has the same value at the same place.
"""
import math
import weakref
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import torch
from torch.utils.weak import WeakIdKeyDictionary

from . import rules
from .config import Tolerance


class Problem(str):
    """What differs, in the student's terms; ``kind`` says which kind of difference (``shape``: not a
    tensor of the expected shape and dtype; ``nonfinite``: NaN or infinity; ``value``: numbers off),
    so that a check adds a hint only to the failure it explains."""

    kind: str

    def __new__(cls, text: str, kind: str):
        problem = super().__new__(cls, text)
        problem.kind = kind
        return problem


def shape_problem(got, expected_shape, what: str) -> Problem | None:
    text = rules.shape_problem(got, expected_shape, what)
    return Problem(text, "shape") if text else None


_ALLOWED = WeakIdKeyDictionary()  # truth64 (by identity) -> (ref32, tolerance, allowed error)


def allowed_error(truth64: torch.Tensor, ref32: torch.Tensor, tolerance: Tolerance) -> float:
    """Tolerance for this input: a relative floor plus a multiple of the float32 error measured here.

    Remembered while the reference's tensors live: a grader compares every student against the
    same cached reference runs (``checks/common.ReferenceCache``).
    """
    known = _ALLOWED.get(truth64)
    if known is not None and known[0]() is ref32 and known[1] == tolerance:
        return known[2]
    scale = rules.magnitude(truth64)
    measured = rules.largest_difference(ref32, truth64)[0] if truth64.numel() else 0.0
    allowed = tolerance.relative_floor * scale + tolerance.float_error_factor * measured + 1e-30
    _ALLOWED[truth64] = (weakref.ref(ref32), tolerance, allowed)
    return allowed


def value_problem(got, truth64: torch.Tensor, ref32: torch.Tensor, tolerance: Tolerance, what: str,
                  scale: float = 0.0) -> Problem | None:
    """None when ``got`` matches the float64 reference within the allowed error; else what differs.

    ``scale``: the largest magnitude of the computation ``truth64`` came out of, where it may be a sum
    that cancels (a gradient that GroupNorm makes 0 exactly: float32 noise of the size of the terms, in
    any other order of summing than the reference's): at least ``relative_floor`` of it is allowed."""
    problem = shape_problem(got, truth64.shape, what)
    if problem:
        return problem
    floor = tolerance.relative_floor * scale
    if got.numel():  # the usual case, in one pass: a NaN or infinity anywhere fails it (or an infinite allowance)
        worst = rules.max_difference(got, truth64)
        if math.isfinite(worst) and worst <= max(floor, allowed_error(truth64, ref32, tolerance)):
            return None
    nonfinite = rules.nonfinite_problem(got, what, truth64)
    if nonfinite:
        _note_rejected(what, got.double(), truth64, max(floor, allowed_error(truth64, ref32, tolerance)))
        return Problem(nonfinite.replace("the expected value", "the reference"), "nonfinite")
    if got.numel() == 0:
        return None
    worst, index = rules.largest_difference(got, truth64)
    allowed = max(floor, allowed_error(truth64, ref32, tolerance))
    if worst <= allowed:
        return None
    _note_rejected(what, got.double(), truth64, allowed)
    return Problem(
        f"{what}: differs from the reference by up to {worst:.3g} "
        f"({'the reference is exactly 0 everywhere' if allowed <= 1e-20 else f'allowed {allowed:.2g}'}); "
        f"at index {index} expected {truth64[index].item():.6g}, got {got.double()[index].item():.6g}",
        "value",
    )


# --- evidence for pictures (issue 14) -------------------------------------------------------------

@dataclass(frozen=True)
class Rejected:
    """A comparison ``value_problem`` rejected: the student's value and the float64 reference (same shape)."""

    what: str
    got: torch.Tensor
    truth: torch.Tensor
    allowed: float


class _FirstRejected:
    found: Rejected | None = None


_NOTING: ContextVar[_FirstRejected | None] = ContextVar("noting_rejected", default=None)


@contextmanager
def noting_first_rejected():
    """Within the block, remember the first comparison ``value_problem`` rejects (``.found``).

    Checks raise on their first problem, so for a failed check that is the comparison its verdict
    is about; later ones (a check naming the mistake by trying known variants) are not kept.
    The runner wraps each verdict in this; the grader turns ``found`` into a picture's data.
    """
    noted = _FirstRejected()
    token = _NOTING.set(noted)
    try:
        yield noted
    finally:
        _NOTING.reset(token)


def _note_rejected(what: str, got: torch.Tensor, truth64: torch.Tensor, allowed: float) -> None:
    noted = _NOTING.get()
    if noted is not None and noted.found is None:
        noted.found = Rejected(what, got, truth64, allowed)
