"""What the student's code returned, as the plain data both sides read: said once for every side.

Tensors (detached CPU copies, never subclasses), Python numbers, strings and None, inside lists and
string-keyed dicts. A number or an array of numbers is read as the value it is, whatever library
made it (a ``fractions.Fraction`` is the float it equals): numpy's scalars (``np.mean(...)`` is a ``np.float32``, ``np.prod(shape)`` a ``np.int64``)
become Python numbers, and a numpy array of numbers (``tensor.numpy()``) the tensor of the same
values and dtype. Deny by default: any other object, an array of objects, records, strings, complex
numbers or a dtype the reply cannot carry, and numpy's array subclasses (a masked array's mask would
be lost), are refused with ``NotPlain``, which names what it was. An array is converted like a tensor
and then sent like one, so the reply's size limit holds for it as for any tensor.

The sandboxed child answers with ``plain``; check.py's ``LocalView`` reads the student's code through
the same function (the release ships this very file as ``check_support/rules/plain.py``). Standard
library and torch only: numpy is looked up in ``sys.modules``, never imported -- a value can only be
numpy's if the student's code (or torch) imported numpy already.
"""
import numbers
import sys

import torch

MAX_DEPTH = 6  # lists and dicts inside each other: deeper is refused
# numpy dtypes a reply can carry as tensors of the same dtype (the codec's, less bfloat16, which numpy lacks)
ARRAY_DTYPES = ("bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64")


class NotPlain(TypeError):
    """A value that is no tensor, number, string, list or dict of them: the message, which begins with
    ``RETURNED``, says what it was."""


RETURNED = "returned "  # how every refusal begins: the grader then says what was returned, not an error raised


def plain(value, depth: int = 0, read: dict | None = None):
    """``value`` as plain data (see the module's docstring); raises ``NotPlain`` for anything else.

    ``read``: the keys a documented dict result is read by (``{key: the same for its value, or None}``):
    its other keys are left out, whatever they hold -- a trained model kept "to plot it later" is no
    value the grader reads, so it costs nothing.
    """
    if depth > MAX_DEPTH:
        raise NotPlain("returned something nested too deeply")
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu").clone().contiguous().as_subclass(torch.Tensor)
    if isinstance(value, (tuple, list)):
        return [plain(v, depth + 1) for v in value]
    if isinstance(value, dict):
        if read is not None:
            return {k: plain(v, depth + 1, read[k]) for k, v in value.items() if type(k) is str and k in read}
        if not all(type(k) is str for k in value):
            raise NotPlain("returned a dict whose keys are not all strings")
        return {k: plain(v, depth + 1) for k, v in value.items()}
    if value is None or type(value) in (bool, int, float, str):
        return value
    for kind in (bool, int, float, str):  # a subclass (numpy's float64, an IntEnum): its plain value
        if isinstance(value, kind):
            return kind(value)
    if isinstance(value, numbers.Integral):  # any other integer or real number type: the number it is
        return int(value)
    if isinstance(value, numbers.Real):  # fractions.Fraction(1, 3): "a fraction" taken literally
        return float(value)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        if isinstance(value, numpy.generic):
            return _numpy_scalar(numpy, value)
        if isinstance(value, numpy.ndarray):
            return _numpy_array(numpy, value)
    raise NotPlain(f"returned a {type(value).__name__}, expected tensors, numbers or strings")


def _numpy_scalar(numpy, value):
    for numpy_kind, kind in ((numpy.bool_, bool), (numpy.integer, int), (numpy.floating, float)):
        if isinstance(value, numpy_kind):
            return kind(value)
    raise NotPlain(f"returned a numpy {type(value).__name__}, expected tensors, numbers or strings")


def _numpy_array(numpy, array):
    if type(array) is not numpy.ndarray:
        raise NotPlain(f"returned a {type(array).__name__} (a numpy array subclass), expected tensors, numbers or "
                       "strings: return a torch tensor (torch.from_numpy(numpy.asarray(...)))")
    if array.dtype.name not in ARRAY_DTYPES:
        raise NotPlain(f"returned a numpy array of dtype {array.dtype.name}, expected tensors, numbers or strings: "
                       f"arrays of {', '.join(ARRAY_DTYPES)} are read as tensors")
    # our own copy: C-ordered, writable, in this machine's byte order -- what torch.from_numpy takes without a word
    return torch.from_numpy(numpy.array(array, dtype=array.dtype.newbyteorder("="), order="C", copy=True))
