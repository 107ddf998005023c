"""Comparing the student's numbers: what "equal" means, NaN-aware, and the ``Failed`` verdict.

Every comparison here is NaN-aware: a NaN or an infinity never passes where the expected value is
finite (``nonfinite_problem``, ``largest_difference``).
"""
import math
import reprlib

import torch


# What "equal" means when the student's code and the expectation run the same float32 operations
# (a zeroed conv, the student's own submodules): a relative and an absolute part.
SAME_RELATIVE = 1e-5
SAME_ABSOLUTE = 1e-6


class _Short(reprlib.Repr):
    """``repr`` that never writes out more than it shows: containers cut by reprlib, tensors by shape (a
    uint8 tensor of sizes 6 is never summarised by torch: every element written, 600 bytes of memory
    each, for one byte of reply -- red team)."""

    def __init__(self):
        super().__init__()
        self.maxlevel, self.maxdict, self.maxlist, self.maxtuple, self.maxset = 3, 6, 6, 6, 6
        self.maxstring, self.maxother, self.maxlong = 60, 60, 40

    def repr_Tensor(self, value, _level):  # noqa: N802 -- reprlib finds it by the type's name
        if value.numel() <= 6 and value.dim() <= 1:
            return f"tensor({value.tolist()})"
        return f"a {str(value.dtype).removeprefix('torch.')} tensor of shape {tuple(value.shape)}"


_SHORT = _Short()


def short(value, limit: int = 80) -> str:
    """What student code gave, written in at most ``limit`` characters, never longer on the way."""
    text = _SHORT.repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


class Failed(Exception):
    """A public check's verdict: what differs, in the student's terms, and a hint where one helps."""

    def __init__(self, message: str, hint: str | None = None, compared: tuple | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        # (what, yours, expected, allowed) where the verdict is about numbers: the grader draws them
        self.compared = compared


# --- NaN-aware comparisons --------------------------------------------------------------------

def nonfinite_problem(got: torch.Tensor, what: str, expected: torch.Tensor | None = None) -> str | None:
    """NaN or infinity in ``got`` where ``expected`` (if given) does not hold the same value there."""
    finite = torch.isfinite(got)
    if bool(finite.all()):  # nearly always: nothing more to look at
        return None
    bad = ~finite
    if expected is not None and expected.shape == got.shape:
        bad &= ~(same_nonfinite(got, expected))
    if not bool(bad.any()):
        return None
    index = tuple(int(i) for i in torch.nonzero(bad)[0])
    where = " where the expected value is finite" if expected is not None else ""
    return f"{what}: contains NaN or infinity{where} (first at index {index}: {got[index].item()})"


def same_nonfinite(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Where ``a`` and ``b`` hold the same NaN or the same infinity."""
    return (torch.isnan(a) & torch.isnan(b)) | (torch.isinf(a) & (a == b))


def max_difference(got: torch.Tensor, expected: torch.Tensor) -> float:
    """max |got - expected| in one pass, without where: NaN if either side holds one, so it decides a
    match (the usual case) and anything else goes on to ``largest_difference``."""
    return (got.double() - expected.double()).abs().max().item()


def largest_difference(got: torch.Tensor, expected: torch.Tensor) -> tuple[float, tuple]:
    """max |got - expected| and where it is; a non-finite value counts as infinitely far unless
    ``expected`` holds the same one at the same place."""
    got, expected = got.double(), expected.double()
    if got.numel() == 0:
        return 0.0, ()
    difference = (got - expected).abs()
    if not bool(torch.isfinite(difference).all()):  # rare: NaN or infinity on either side
        difference = torch.where(same_nonfinite(got, expected), torch.zeros_like(got), difference)
        difference = torch.nan_to_num(difference, nan=math.inf)
    flat = difference.reshape(-1)
    position = int(flat.argmax())
    index = []
    for size in reversed(difference.shape):  # the flat position as an index of the tensor's shape
        index.append(position % size)
        position //= size
    index = tuple(reversed(index))
    return difference[index].item(), index


def magnitude(value: torch.Tensor) -> float:
    """The largest finite |value| (0 when there is none)."""
    finite = value.double()[torch.isfinite(value)]
    return finite.abs().max().item() if finite.numel() else 0.0


def allowed_same(expected: torch.Tensor) -> float:
    """The float32 round-off of the same operations, at ``expected``'s scale."""
    return SAME_RELATIVE * magnitude(expected) + SAME_ABSOLUTE


def close(got, expected: torch.Tensor, allowed: float | None = None) -> bool:
    """``got`` is a tensor of ``expected``'s shape within ``allowed`` (default: ``allowed_same``)
    everywhere; NaN and infinity count as far."""
    if type(got) is not torch.Tensor or got.shape != expected.shape:
        return False
    if allowed is None:
        allowed = allowed_same(expected)
    if got.numel() and max_difference(got, expected) <= allowed:
        return True  # the usual case (NaN anywhere fails it: looked at below)
    return largest_difference(got, expected)[0] <= allowed


def close_where_known(got, candidate: torch.Tensor, allowed: float, unlike: torch.Tensor | None = None) -> bool:
    """``close`` on the entries where ``candidate`` is known (not NaN); False when none is. With ``unlike``
    (the right values), also False where ``got`` is close to those on the same entries: there the known
    entries cannot tell the candidate from the right answer (a variant known only where it agrees with
    the formula, its other angles too large to place, named nothing but was named: red team)."""
    if type(got) is not torch.Tensor or got.shape != candidate.shape:
        return False
    known = ~torch.isnan(candidate)
    if not bool(known.any()) or largest_difference(got[known], candidate[known])[0] > allowed:
        return False
    return unlike is None or largest_difference(got[known], unlike[known])[0] > allowed


def changed(before: torch.Tensor, after: torch.Tensor) -> bool:
    """Both finite and measurably different (more than float32 round-off)."""
    if before.shape != after.shape or not (bool(torch.isfinite(before).all()) and bool(torch.isfinite(after).all())):
        return False
    scale = max(magnitude(before), magnitude(after))
    return largest_difference(before, after)[0] > 1e-6 * scale + 1e-12


def difference_text(got: torch.Tensor, expected: torch.Tensor, what: str) -> str:
    worst, index = largest_difference(got, expected)
    return (f"{what} differs by up to {worst:.3g}; at index {index} expected "
            f"{expected[index].item():.6g}, got {got[index].item():.6g}")


def shape_problem(value, shape, what: str) -> str | None:
    shape = tuple(shape)
    if type(value) is not torch.Tensor:
        kind = f"a tuple/list of {len(value)} items" if isinstance(value, list) else type(value).__name__
        return f"{what}: expected a tensor of shape {shape}, got {'None' if value is None else kind}"
    if tuple(value.shape) != shape:
        return f"{what}: expected shape {shape}, got {tuple(value.shape)}"
    if not value.is_floating_point():
        return f"{what}: expected floating-point values, got dtype {value.dtype}"
    return None


def as_shape(value, shape):
    """``value`` laid out as ``shape`` where it holds the same numbers in the same order, one block per
    sample: it differs only in dimensions of size 1 (a ``.squeeze()`` too many), or it has the same first
    dimension and as many elements (a map left flat, ``(B, H*W)``, or reshaped to ``(B, W, H)``). Its
    shape check charges that once, and the checks of its values judge the values."""
    shape = tuple(shape)
    if type(value) is not torch.Tensor or tuple(value.shape) == shape:
        return value
    squeezed = [s for s in value.shape if s != 1] == [s for s in shape if s != 1]
    per_sample = value.dim() >= 1 and len(shape) >= 1 and value.shape[0] == shape[0] and value.numel() == math.prod(shape)
    return value.reshape(shape) if squeezed or per_sample else value


def _require_shape(value, shape, what: str) -> None:
    problem = shape_problem(value, shape, what)
    if problem:
        raise Failed(problem)
    problem = nonfinite_problem(value, what)
    if problem:
        raise Failed(problem)
