"""A failed value check's evidence, cut down for a picture: the student's value, the reference's and
their difference on the smallest failing case, around the place they differ most.

The runner keeps the comparison a failed verdict rejected (``compare.Rejected``, full tensors);
the grader calls ``compact`` on the final (shrunk) failure only, so report.json holds a few KiB per
failed check, never whole tensors. ``capped`` bounds what one student's report may hold.
"""
import dataclasses
import json

import numpy as np

from .arrays import pack, planes

__all__ = ["compact", "capped", "MAX_BYTES_PER_STUDENT"]

MAX_BYTES_PER_STUDENT = 256 * 1024  # packed evidence in one report.json; beyond it, the last checks go without


def compact(rejected) -> dict | None:
    """``rejected`` (a ``compare.Rejected``, or None) as report.json data: what was compared, the
    full shape, the planes shown and their packed values; None when there is nothing to draw
    (and, since a picture is never worth a grading, when anything goes wrong)."""
    if rejected is None:
        return None
    try:
        return _compact(rejected)
    except Exception:  # noqa: BLE001
        return None


def _compact(rejected) -> dict | None:
    student = rejected.got.detach().double().cpu().numpy()
    reference = rejected.truth.detach().double().cpu().numpy()
    if student.shape != reference.shape or student.size == 0:
        return None
    difference = np.abs(student - reference)
    shown = np.where(np.isfinite(difference), difference, np.inf)  # a NaN is the worst place of all
    focus = tuple(int(i) for i in np.unravel_index(int(np.argmax(shown)), shown.shape))
    student_planes, kept = planes(student, focus)
    reference_planes, _ = planes(reference, focus)
    finite = difference[np.isfinite(difference)]
    return {
        "what": rejected.what,
        "shape": list(student.shape),
        "kept": kept,
        "worst_at": list(focus),
        "worst": float(finite.max()) if finite.size else None,
        "allowed": float(rejected.allowed),
        "student": pack(student_planes),
        "reference": pack(reference_planes),
        "difference": pack(np.abs(student_planes - reference_planes)),
    }


def capped(checks: list, limit: int = MAX_BYTES_PER_STUDENT) -> tuple[list, int]:
    """``checks`` (CheckResults) with evidence kept, in order, while the total stays under ``limit``
    bytes; the rest lose theirs. Also returns how many lost it."""
    kept, used, dropped = [], 0, 0
    for check_ in checks:
        size = len(json.dumps(check_.evidence)) if check_.evidence is not None else 0
        if size and used + size > limit:
            kept.append(dataclasses.replace(check_, evidence=None))
            dropped += 1
            continue
        used += size
        kept.append(check_)
    return kept, dropped
