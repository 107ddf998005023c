"""Student output vs the reference: shapes first, then values within the measured float error.

Comparisons always run in the trusted process, on tensors the child sent back as plain data.
"""
import weakref

import torch
from torch.utils.weak import WeakIdKeyDictionary

from .config import Tolerance


def shape_problem(got, expected_shape, what: str) -> str | None:
    if type(got) is not torch.Tensor:
        return f"{what}: expected a tensor of shape {tuple(expected_shape)}, got {_kind(got)}"
    if tuple(got.shape) != tuple(expected_shape):
        return f"{what}: expected shape {tuple(expected_shape)}, got {tuple(got.shape)}"
    if not got.is_floating_point():
        return f"{what}: expected floating-point values, got dtype {got.dtype}"
    return None


def _kind(value) -> str:
    if isinstance(value, list):
        return f"a tuple/list of {len(value)} items"
    return "None" if value is None else type(value).__name__


_ALLOWED = WeakIdKeyDictionary()  # truth64 (by identity) -> (ref32, tolerance, allowed error)


def allowed_error(truth64: torch.Tensor, ref32: torch.Tensor, tolerance: Tolerance) -> float:
    """Tolerance for this input: a relative floor plus a multiple of the float32 error measured here.

    Remembered while the reference's tensors live: a grader compares every student against the
    same cached reference runs (``checks/common.ReferenceCache``).
    """
    known = _ALLOWED.get(truth64)
    if known is not None and known[0]() is ref32 and known[1] == tolerance:
        return known[2]
    scale = truth64.abs().max().item() if truth64.numel() else 0.0
    measured = (ref32.double() - truth64).abs().max().item() if truth64.numel() else 0.0
    allowed = tolerance.relative_floor * scale + tolerance.float_error_factor * measured + 1e-30
    _ALLOWED[truth64] = (weakref.ref(ref32), tolerance, allowed)
    return allowed


def value_problem(got, truth64: torch.Tensor, ref32: torch.Tensor, tolerance: Tolerance, what: str) -> str | None:
    """None when ``got`` matches the float64 reference within the allowed error; else what differs."""
    problem = shape_problem(got, truth64.shape, what)
    if problem:
        return problem
    got = got.double()
    if not torch.isfinite(got).all():
        return f"{what}: contains NaN or infinity where the reference is finite"
    if got.numel() == 0:
        return None
    difference = (got - truth64).abs()
    allowed = allowed_error(truth64, ref32, tolerance)
    worst = difference.max().item()
    if worst <= allowed:
        return None
    index = tuple(int(i) for i in torch.unravel_index(difference.argmax(), difference.shape))
    return (
        f"{what}: differs from the reference by up to {worst:.3g} (allowed {allowed:.2g}); "
        f"at index {index} expected {truth64[index].item():.6g}, got {got[index].item():.6g}"
    )
