"""Small arrays for pictures, stored in report.json: cut down to what a picture shows, packed as text.

A packed array is ``{"shape": [...], "range": [lo, hi], "u8": base64(zlib(bytes))}``: values mapped
linearly onto 0..255 over their own range. 8 bits are plenty for a heatmap and let zlib squeeze
the smooth or empty ones (a correct student's difference map packs to a few bytes). Non-finite
values are kept apart in ``"nonfinite"`` (flat indices) so a NaN shows up as NaN, not as a colour.

Only numpy here: the parent process (which never imports torch) reads these to draw.
"""
import base64
import zlib

import numpy as np

__all__ = ["pack", "unpack", "planes", "MAX_SIDE", "MAX_PLANES"]

MAX_SIDE = 64  # a heatmap shows at most 64 x 64 values
MAX_PLANES = 4  # and at most 4 channels


def pack(values) -> dict:
    """``values`` (array-like, any float dtype) as a JSON-able dict; see the module docstring."""
    array = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(array)
    lo, hi = (float(array[finite].min()), float(array[finite].max())) if finite.any() else (0.0, 0.0)
    scaled = np.zeros(array.shape, dtype=np.uint8)
    if hi > lo:
        scaled[finite] = np.round((array[finite] - lo) / (hi - lo) * 255).astype(np.uint8)
    packed = {"shape": list(array.shape), "range": [lo, hi],
              "u8": base64.b64encode(zlib.compress(scaled.tobytes(), 6)).decode("ascii")}
    if not finite.all():
        packed["nonfinite"] = np.flatnonzero(~finite).tolist()
    return packed


def unpack(packed: dict) -> np.ndarray:
    """The float array ``pack`` stored (to 1/255 of its range; NaN where it was not finite)."""
    shape = tuple(int(s) for s in packed["shape"])
    raw = np.frombuffer(zlib.decompress(base64.b64decode(packed["u8"])), dtype=np.uint8)
    if raw.size != int(np.prod(shape)):
        raise ValueError(f"packed array holds {raw.size} values, expected shape {shape}")
    lo, hi = (float(v) for v in packed["range"])
    array = lo + raw.astype(np.float64) / 255 * (hi - lo)
    flat = array.reshape(-1)
    flat[np.asarray(packed.get("nonfinite", []), dtype=np.int64)] = np.nan
    return flat.reshape(shape)


def planes(array, focus: tuple | None = None) -> tuple[np.ndarray, str]:
    """``array`` as at most ``MAX_PLANES`` 2-D planes of at most ``MAX_SIDE`` x ``MAX_SIDE``, and what was kept.

    The leading axes are cut to one index until three remain (for (B, C, H, W): one sample); the
    first of those gives the planes (channels), the last two are cropped. ``focus`` (an index into
    ``array``, say where it is most wrong) picks the sample, planes and crop that contain it;
    without it, the first ones. A vector is one row, a scalar a 1 x 1 plane. Returns shape
    (planes, rows, columns) and a phrase for the caption ("" when everything was kept).
    """
    array = np.asarray(array)
    focus = list(focus) if focus is not None and len(focus) == array.ndim else [0] * array.ndim
    kept = []
    image_like = array.ndim == 4  # (B, C, H, W): the planes are channels of one sample
    while array.ndim > 3:
        index = focus.pop(0)
        kept.append(f"sample {index}" if image_like and not kept else f"index {index} of the next axis")
        array = array[index]
    while array.ndim < 3:
        array = array[None]
        focus.insert(0, 0)
    count, rows, columns = array.shape
    first = _window(focus[0], count, MAX_PLANES)
    top, left = _window(focus[1], rows, MAX_SIDE), _window(focus[2], columns, MAX_SIDE)
    if count > MAX_PLANES:
        what = "channels" if image_like else "entries of the first axis"
        kept.append(f"{what} {first}-{first + MAX_PLANES - 1} of {count}")
    if rows > MAX_SIDE or columns > MAX_SIDE:
        kept.append(f"rows {top}-{min(rows, top + MAX_SIDE) - 1} and columns {left}-{min(columns, left + MAX_SIDE) - 1}"
                    f" of {rows} x {columns}")
    return array[first:first + MAX_PLANES, top:top + MAX_SIDE, left:left + MAX_SIDE], "; ".join(kept)


def _window(position: int, length: int, size: int) -> int:
    """The start of a ``size``-long window of ``range(length)`` holding ``position``, as far left as it can be."""
    if length <= size:
        return 0
    return min(max(position - size + 1, 0), length - size) if position >= size else 0
