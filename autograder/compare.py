"""Student output vs the reference: shapes first, then values within the measured float error.

Comparisons always run in the trusted process, on tensors the child sent back as plain data. Every
comparison of student numbers is NaN-aware (``rules.largest_difference``, ``rules.nonfinite_problem``):
a NaN or an infinity passes only where the reference has the same value at the same place.
"""
import weakref

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


def value_problem(got, truth64: torch.Tensor, ref32: torch.Tensor, tolerance: Tolerance, what: str) -> Problem | None:
    """None when ``got`` matches the float64 reference within the allowed error; else what differs."""
    problem = shape_problem(got, truth64.shape, what)
    if problem:
        return problem
    nonfinite = rules.nonfinite_problem(got, what, truth64)
    if nonfinite:
        return Problem(nonfinite.replace("the expected value", "the reference"), "nonfinite")
    if got.numel() == 0:
        return None
    worst, index = rules.largest_difference(got, truth64)
    allowed = allowed_error(truth64, ref32, tolerance)
    if worst <= allowed:
        return None
    return Problem(
        f"{what}: differs from the reference by up to {worst:.3g} (allowed {allowed:.2g}); "
        f"at index {index} expected {truth64[index].item():.6g}, got {got.double()[index].item():.6g}",
        "value",
    )
