"""How much work one student's pictures may cost the grader: past a cap, a note replaces the picture.

The data behind a picture partly comes from student code (the names and count of a model's blocks,
the shapes a block returns, the length of a loss curve), so without a bound one submission could
make the parent draw for minutes and gigabytes. ``problem(data)`` is asked twice: where the data is
made (the worker, ``Grader``), so report.json stays small, and where it is drawn (``figures``), so
a report.json from anywhere cannot make drawing costly either. Standard library only: the worker
imports it without matplotlib, the parent without torch.
"""
import json

__all__ = ["MAX_BARS", "MAX_SHAPES", "MAX_DIMS", "MAX_POINTS", "MAX_CELLS", "MAX_FIGURE_BYTES", "problem", "bounded",
           "capped_list"]

MAX_BARS = 40  # rows of a bar chart (a model's top-level blocks)
MAX_SHAPES = 8  # tensors one block of the U may return, drawn as text in its box
MAX_DIMS = 8  # dimensions of one shape
MAX_POINTS = 1000  # points of one curve
MAX_CURVES = 8  # curves of one chart
MAX_CELLS = 256 * 256  # cells of one heatmap
MAX_FIGURE_BYTES = 512 * 1024  # one picture's data as JSON, in report.json
MAX_NOTES = 60  # notes, reasons and environment problems of one report


def problem(data: dict) -> str | None:
    """Why the picture for ``data`` is not drawn (a cap it exceeds), or None."""
    try:
        size = len(json.dumps(data))
    except (TypeError, ValueError, RecursionError):
        return "not drawn: its data is not plain numbers and text"
    if size > MAX_FIGURE_BYTES:
        return f"not drawn: its data is {size // 1024:,} KiB, over the {MAX_FIGURE_BYTES // 1024} KiB a picture may use"
    kind = data.get("kind")
    if kind == "parameters" and len(data.get("blocks") or []) > MAX_BARS:
        return f"not drawn: your model has {len(data['blocks']):,} top-level blocks; a chart shows at most {MAX_BARS}"
    if kind == "shape_trace":
        for stage in (data.get("student") or []) + (data.get("reference") or []):
            shapes = stage.get("shapes") or [] if isinstance(stage, dict) else []
            if len(shapes) > MAX_SHAPES or any(len(s) > MAX_DIMS for s in shapes if isinstance(s, list)):
                return (f"not drawn: a block returned more than {MAX_SHAPES} tensors or more than {MAX_DIMS} "
                        "dimensions; the picture shows fewer")
    if kind == "curves":
        curves = [*(data.get("student") or {}).values(), *(data.get("reference") or {}).values()]
        if len(data.get("x") or []) > MAX_POINTS or len(curves) > 2 * MAX_CURVES or \
                any(len(c) > MAX_POINTS for c in curves if isinstance(c, list)):
            return f"not drawn: more than {MAX_POINTS} points or {MAX_CURVES} curves"
    if kind in ("heatmaps", "attention"):
        for key in ("student", "reference", "difference"):
            shape = (data.get(key) or {}).get("shape") or []
            cells = 1
            for size_ in shape if isinstance(shape, list) else []:
                cells *= size_ if isinstance(size_, int) else 1
            if cells > MAX_CELLS:
                return f"not drawn: {cells:,} values, over the {MAX_CELLS:,} a picture shows"
    return None


def bounded(figures: dict[str, dict]) -> dict[str, dict]:
    """``figures`` with every picture over a cap replaced by its note (title and placement kept)."""
    kept = {}
    for figure_id, data in figures.items():
        why = problem(data) if "note" not in data else None
        kept[figure_id] = data if why is None else {k: data[k] for k in ("component", "check", "title") if k in data} | {
            "note": why}
    return kept


def capped_list(items: list, limit: int = MAX_NOTES) -> list:
    """At most ``limit`` items, the last saying how many more there were."""
    if len(items) <= limit:
        return items
    return items[: limit - 1] + [f"... and {len(items) - limit + 1:,} more"]
