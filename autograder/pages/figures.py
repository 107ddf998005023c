"""Pictures as PNG bytes, drawn with matplotlib (Agg, no pyplot state) from report.json data.

Two kinds, chosen for speed (issue 14 allows pictures 20 % of a batch's time):
- *tiles*: one heatmap each (a matplotlib colour map applied to the array, upscaled by whole
  pixels, PNG-encoded by Pillow, matplotlib's image library), ~1 ms, cached by content. Captions, scales and the labels of rows and columns are the page's text,
  so a grid of tiles reads like a labelled figure and renders anywhere, Gradescope included.
- *charts* (``Figure`` + ``FigureCanvasAgg``): parameters per block, the U, and the class report's
  plots, ~100-500 ms. Each is cached by its data: students whose code behaves like the reference
  share the same chart, drawn once per process. The skip curves differ for most mistakes, so they
  are blitted: the empty chart is drawn once, each student's lines onto a copy (~5 ms).

``picture_for_figure`` and ``picture_for_evidence`` turn report.json data into a ``Picture``;
``full=False`` leaves out everything that comes from the reference (see ``feedback.py``).
"""
import base64
import functools
import io
import json
import math
import textwrap
from dataclasses import dataclass, field

import matplotlib

matplotlib.use("Agg")  # never a window; set before anything draws (the parent process may be headless)

import numpy as np  # noqa: E402
from PIL import Image as PILImage  # noqa: E402  (matplotlib's own image library)
from matplotlib import colormaps  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from ..grading_data import caps  # noqa: E402
from ..grading_data.arrays import unpack  # noqa: E402

__all__ = ["Image", "Tile", "Picture", "picture_for_figure", "picture_for_evidence", "chart_png", "COLOUR_SCALE"]

CSS_DPI = 100  # a chart's size on the page, in CSS pixels per inch of its figsize
PIXEL_RATIO = 2  # charts carry twice the pixels they take on the page: sharp on high-DPI screens
TILE_SIDE = 160  # a tile's longer side is at least this many pixels (small maps are upscaled by whole pixels)
VALUES, DIFFERENCE, WEIGHTS, REGIONS = "RdBu_r", "Reds", "viridis", "Pastel1"
STUDENT, REFERENCE, MISMATCH = "#1f6fb4", "#7a7a7a", "#c0392b"
COLOUR_SCALE = "colour scale"  # how a colour bar's alt text begins: the same bar serves many pictures


@dataclass(frozen=True)
class Image:
    png: bytes
    width: int
    height: int
    alt: str

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@dataclass(frozen=True)
class Tile:
    image: Image
    caption: str = ""


@dataclass
class Picture:
    """One figure of a page: a chart, or rows of labelled tiles; or only a note why there is none."""

    id: str
    title: str
    caption: str = ""
    chart: Image | None = None
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[str, list[Tile]]] = field(default_factory=list)
    note: str = ""
    full: bool = True  # False: the reference's side was left out (before results are published)
    table: list[list[str]] = field(default_factory=list)  # a small table of numbers, heading row first
    charts: list[Image] = field(default_factory=list)  # more charts, each on a line of its own, before the tiles

    @property
    def images(self) -> list[Image]:
        return ([self.chart] if self.chart else []) + self.charts + [t.image for _, tiles in self.rows for t in tiles]


# --- tiles ------------------------------------------------------------------------------------------

def _tile(plane: np.ndarray, cmap: str, vmin: float, vmax: float, alt: str, marker=None) -> Image:
    """``plane`` colour-mapped (NaN grey), upscaled by whole pixels, optionally with one cell framed."""
    plane = np.ascontiguousarray(plane, dtype=np.float64)
    return _cached_tile(plane.tobytes(), plane.shape, cmap, vmin, vmax, alt, tuple(marker) if marker else None)


@functools.lru_cache(maxsize=1024)
def _cached_tile(raw: bytes, shape: tuple, cmap: str, vmin: float, vmax: float, alt: str, marker) -> Image:
    plane = np.frombuffer(raw, dtype=np.float64).reshape(shape)
    rows, columns = shape
    factor = max(1, math.ceil(TILE_SIDE / max(rows, columns)))
    colormap = colormaps[cmap].with_extremes(bad="#9e9e9e")
    span = vmax - vmin if vmax > vmin else 1.0
    rgb = colormap(np.ma.masked_invalid((plane - vmin) / span), bytes=True)[:, :, :3]
    rgb = np.repeat(np.repeat(rgb, max(factor, math.ceil(24 / rows)), axis=0), factor, axis=1)  # a row stays visible
    if marker is not None:
        top, left = marker[0] * factor, marker[1] * factor
        width = max(2, factor // 6)
        for y0, y1, x0, x1 in ((top, top + width, left, left + factor), (top + factor - width, top + factor, left, left + factor),
                               (top, top + factor, left, left + width), (top, top + factor, left + factor - width, left + factor)):
            rgb[y0:y1, x0:x1] = 0
    buffer = io.BytesIO()
    PILImage.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="PNG", compress_level=3)
    return Image(buffer.getvalue(), rgb.shape[1], rgb.shape[0], alt)


def _colour_bar(cmap: str, low: float, high: float) -> Tile:
    """A colour bar for tiles drawn with ``cmap``: a strip from ``low`` (left) to ``high`` (right)."""
    ramp = np.linspace(low, high, 64)[None, :]
    image = _tile(ramp, cmap, low, high, f"{COLOUR_SCALE}: {low:.3g} at the left to {high:.3g} at the right")
    return Tile(image, f"{low:.3g} ← colour → {high:.3g}")


def _symmetric(*planes: np.ndarray) -> float:
    values = np.concatenate([np.abs(p[np.isfinite(p)]).ravel() for p in planes] + [np.zeros(1)])
    return float(values.max()) or 1.0


def _scale(lo: float, hi: float) -> str:
    return f"{lo:.3g} … {hi:.3g}"


def picture_for_evidence(evidence: dict, check_name: str, case: str = "") -> Picture:
    """Student | reference | |difference| for each plane of a failed value check's smallest case."""
    student, reference = unpack(evidence["student"]), unpack(evidence["reference"])
    difference = unpack(evidence["difference"])
    worst = float(np.nanmax(difference)) if np.isfinite(difference).any() else 0.0
    rows = []
    for index in range(student.shape[0]):
        bound = _symmetric(student[index], reference[index])
        label = f"plane {index + 1}" if student.shape[0] > 1 else ""
        rows.append((label, [
            Tile(_tile(student[index], VALUES, -bound, bound, f"your {evidence['what']}"), _scale(-bound, bound)),
            Tile(_tile(reference[index], VALUES, -bound, bound, f"the reference's {evidence['what']}"), _scale(-bound, bound)),
            Tile(_tile(difference[index], DIFFERENCE, 0.0, worst or 1.0, "|yours - reference|"), _scale(0.0, worst)),
            _colour_bar(VALUES, -bound, bound), _colour_bar(DIFFERENCE, 0.0, worst or 1.0),
        ]))
    shape = "x".join(str(s) for s in evidence["shape"])
    kept = f"; shown: {evidence['kept']}" if evidence.get("kept") else ""
    allowed = evidence.get("allowed")
    caption = (f"{evidence['what']} ({shape}){kept}. Blue negative, red positive; in the last column, darker red is"
               f" a larger difference (largest {worst:.3g}" + (f", allowed {allowed:.2g})" if allowed is not None else ")")
               + (f". On {case}" if case else "") + ".")
    return Picture(id=f"evidence-{check_name}", title=f"Where your {evidence['what']} departs from the reference",
                   caption=caption, rows=rows,
                   columns=["yours", "reference", "|yours − reference|", "scale: yours and reference", "scale: difference"])


def _heatmaps(figure_id: str, data: dict, full: bool) -> Picture:
    student = unpack(data["student"])
    tiles = [Tile(_tile(student, VALUES, -1.0, 1.0, "your embedding"), "yours")]
    if full:
        reference, difference = unpack(data["reference"]), unpack(data["difference"])
        worst = float(np.nanmax(difference)) if np.isfinite(difference).any() else 0.0
        tiles += [Tile(_tile(reference, VALUES, -1.0, 1.0, "the reference's embedding"), "reference"),
                  Tile(_tile(difference, DIFFERENCE, 0.0, worst or 1.0, "|yours - reference|"),
                       f"|yours − reference|, 0 … {worst:.3g}")]
    tiles.append(_colour_bar(VALUES, -1.0, 1.0))
    if full:
        tiles.append(_colour_bar(DIFFERENCE, 0.0, worst or 1.0))
    rows = data.get("row_values", [])
    caption = (f"Rows: {data['rows']} ({rows[0]} at the top to {rows[-1]}); columns: {data['columns']}. "
               "Blue −1, white 0, red +1.") if rows else ""
    return Picture(id=figure_id, title=data["title"], caption=caption, rows=[("", tiles)], full=full)


def _attention(figure_id: str, data: dict, full: bool) -> Picture:
    regions = np.asarray(data["regions"], dtype=np.float64)
    query = tuple(data["query"])
    student = unpack(data["student"])
    top = max(float(np.nanmax(student)) if np.isfinite(student).any() else 0.0, 1e-12)
    tiles = [Tile(_tile(regions, REGIONS, 0.0, 8.0, "the input's regions", marker=query), "input: 4 regions"),
             Tile(_tile(student, WEIGHTS, 0.0, top, "your weights for the marked query", marker=query),
                  f"yours (row sums to {data.get('student_row_sum', float(np.nansum(student))):.3g})")]
    if full:
        reference, difference = unpack(data["reference"]), unpack(data["difference"])
        top = max(top, float(np.nanmax(reference)))
        tiles[1] = Tile(_tile(student, WEIGHTS, 0.0, top, "your weights for the marked query", marker=query), tiles[1].caption)
        worst = float(np.nanmax(difference)) if np.isfinite(difference).any() else 0.0
        tiles += [Tile(_tile(reference, WEIGHTS, 0.0, top, "the reference's weights", marker=query), "reference"),
                  Tile(_tile(difference, DIFFERENCE, 0.0, worst or 1.0, "|yours - reference|", marker=query),
                       f"|yours − reference|, 0 … {worst:.3g}")]
    tiles.append(_colour_bar(WEIGHTS, 0.0, top))
    caption = ("SelfAttention(8) with q = k = 2·norm(x), v = norm(x) on a 10 x 10 input of four regions (each its own "
               "feature vector). The framed pixel is the query; brighter means more weight. Correct attention looks at "
               "the query's own region (the square), and the weights sum to 1.")
    return Picture(id=figure_id, title=data["title"], caption=caption, rows=[("", tiles)], full=full)


# --- charts -----------------------------------------------------------------------------------------

def chart_png(kind: str, data) -> Image:
    """A chart of ``kind`` for ``data`` (JSON-able), drawn once per process for the same data."""
    return _cached_chart(kind, json.dumps(data, sort_keys=True))


@functools.lru_cache(maxsize=512)
def _cached_chart(kind: str, key: str) -> Image:
    data = json.loads(key)
    figure = Figure(figsize=CHART_SIZES.get(kind, (7.0, 3.0)), dpi=CSS_DPI * PIXEL_RATIO)
    figure.subplots_adjust(**CHART_MARGINS.get(kind, {"left": 0.16, "right": 0.97, "bottom": 0.2, "top": 0.88}))
    alt = CHARTS[kind](figure, data)
    canvas = FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    canvas.print_png(buffer)
    width, height = canvas.get_width_height()
    return Image(buffer.getvalue(), width // PIXEL_RATIO, height // PIXEL_RATIO, alt)


def _parameters_chart(figure: Figure, data: dict) -> str:
    axes = figure.subplots()
    blocks = data["blocks"]
    names = [b[0] for b in blocks][::-1]
    theirs, ours = [b[1] for b in blocks][::-1], [b[2] for b in blocks][::-1]
    positions = np.arange(len(names))
    colours = [STUDENT if a == b else MISMATCH for a, b in zip(theirs, ours)]
    axes.barh(positions + 0.2, theirs, height=0.38, color=colours, label="yours")
    axes.barh(positions - 0.2, ours, height=0.38, color=REFERENCE, label="reference")
    for y, a, b in zip(positions, theirs, ours):
        axes.text(max(a, b) * 1.01 + 1, y, f"{a:,}" + ("" if a == b else f"  (expected {b:,})"), va="center",
                  fontsize=8, color="black" if a == b else MISMATCH)
    axes.set_yticks(positions, names)
    axes.set_xlim(0, max(theirs + ours + [1]) * 1.45)
    axes.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:,.0f}k"))
    axes.set_xlabel("parameters")
    axes.legend(loc="lower right", fontsize=8, frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    total, expected = data["total"]
    axes.set_title(f"{data['model']}: {total:,} parameters" + ("" if total == expected else f", expected {expected:,}"),
                   fontsize=10, color="black" if total == expected else MISMATCH)
    return f"parameters per block: yours {total:,}, reference {expected:,}"


# Where each block sits in the U diagram (x, y).
U_LAYOUT = {"time_embed": (3.3, 3.1), "down1": (0.0, 2.0), "down2": (1.0, 1.0), "bottleneck": (2.0, 0.0),
            "up1": (3.0, 1.0), "up2": (4.0, 2.0), "out": (5.0, 3.0)}


def _trace_errors(data: dict) -> str:
    """The shape trace's errors in full, each once: what the boxes could only begin to say."""
    errors = [f" {stage.get('block')} raised: {stage['error']}" for stage in data.get("student") or []
              if isinstance(stage, dict) and "error" in stage]
    whole = data.get("student_whole")
    if isinstance(whole, str) and not any(e.split(" raised: ", 1)[1] in whole for e in errors):
        errors.append(f" Whole forward: {whole}")
    return "".join(errors)


def _whole_clauses(text: str, width: int, lines: int) -> str:
    """``text`` wrapped into at most ``lines`` lines, cut only where a clause ends (". ", "; ", ": ",
    ", "), never mid-sentence; what is left out is in the picture's caption ("... (below)")."""
    wrapped = textwrap.wrap(text, width)
    if len(wrapped) <= lines:
        return "\n".join(wrapped)
    room = width * lines - 10
    cut = max((text.rfind(mark, 0, room) for mark in (". ", "; ", ": ", ", ")), default=-1)
    head = text[:cut + 1] if cut > 0 else text.split(" ", 1)[0]
    return "\n".join(textwrap.wrap(head + " ... (below)", width)[:lines])


def _shape_text(shapes) -> str:
    return "\n".join("(" + ", ".join(str(s) for s in shape) + ")" for shape in shapes)


def _u_chart(figure: Figure, data: dict) -> str:
    axes = figure.subplots()
    axes.set_axis_off()
    axes.set_xlim(-0.75, 5.75)
    axes.set_ylim(-0.6, 3.7)
    reference = {s["block"]: s for s in data["reference"]}
    student = {s["block"]: s for s in (data.get("student") or [])}
    first_wrong = None
    for block in U_LAYOUT:
        mine, theirs = student.get(block), reference.get(block)
        if mine is not None and ("error" in mine or mine.get("shapes") != theirs.get("shapes")) and first_wrong is None:
            first_wrong = block
    for source, target, style in (("down1", "up2", "skip1"), ("down2", "up1", "skip2")):
        (x0, y0), (x1, y1) = U_LAYOUT[source], U_LAYOUT[target]
        axes.add_patch(FancyArrowPatch((x0 + 0.45, y0), (x1 - 0.45, y1), arrowstyle="-|>", mutation_scale=10,
                                       linestyle="--", color="#999999"))
        axes.text((x0 + x1) / 2, y0 + 0.06, style, ha="center", va="bottom", fontsize=8, color="#777777")
    path = ["down1", "down2", "bottleneck", "up1", "up2", "out"]
    for source, target in zip(path, path[1:]):
        (x0, y0), (x1, y1) = U_LAYOUT[source], U_LAYOUT[target]
        axes.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=12, color="#555555",
                                       shrinkA=26, shrinkB=26))
    for block, (x, y) in U_LAYOUT.items():
        mine, theirs = student.get(block), reference.get(block, {})
        if data.get("student") is None or mine is None:
            colour, face, text = "#aaaaaa", "#f2f2f2", "not reached"
        elif "error" in mine:
            colour, face = MISMATCH, "#fdecea"
            text = "raised:\n" + _whole_clauses(mine["error"], 24, 3)
        elif mine.get("shapes") != theirs.get("shapes"):
            colour, face = MISMATCH, "#fdecea"
            text = _shape_text(mine["shapes"]) + "\nexpected\n" + _shape_text(theirs.get("shapes", []))
        else:
            colour, face, text = "#2e7d32", "#edf7ee", _shape_text(mine["shapes"])
        width = 3 if block == first_wrong else 1.2
        axes.add_patch(FancyBboxPatch((x - 0.47, y - 0.36), 0.94, 0.72, boxstyle="round,pad=0.02", linewidth=width,
                                      edgecolor=colour, facecolor=face))
        axes.text(x, y + 0.27, block, ha="center", va="top", fontsize=9, fontweight="bold")
        axes.text(x, y + 0.1, text, ha="center", va="top", fontsize=6.5, family="monospace", color="#222222")
    whole, expected = data.get("student_whole"), data.get("reference_whole")
    ok = whole == expected
    verdict = (f"your SimpleUNet's own forward gives {tuple(whole)}" if isinstance(whole, list) else f"{whole}")
    verdict += "" if ok else f" (expected {tuple(expected)})"
    axes.text(-0.7, 3.66, f"input x {tuple(data['input']['x'])}, t {tuple(data['input']['t'])}", fontsize=8, va="top")
    axes.text(-0.7, 3.4, _whole_clauses(verdict, 48, 3), fontsize=8, va="top",
              color="black" if ok else MISMATCH)
    where = f"first divergence: {first_wrong}" if first_wrong else "every block gives the reference's shapes"
    return f"shapes through the U, {where}"


def curves_png(data: dict, curves: dict[str, list[float]], whose: str, top: float) -> Image:
    """A line chart of ``curves``, drawn onto a cached empty chart (matplotlib's blitting): the axes,
    ticks, labels and legend are drawn once per layout, only the lines per student (~5 ms, not ~100)."""
    return _cached_curves(json.dumps([data["x"], data["x_label"], data["y_label"], list(curves), whose, top]),
                          json.dumps(curves))


@functools.lru_cache(maxsize=256)
def _cached_curves(layout: str, values: str) -> Image:
    curves, whose = json.loads(values), json.loads(layout)[4]
    canvas, axes, lines, background = _curves_frame(layout)
    canvas.restore_region(background)
    for line, values in zip(lines, curves.values()):
        line.set_ydata([v if math.isfinite(v) else np.nan for v in values])
        axes.draw_artist(line)
    rgb = np.asarray(canvas.buffer_rgba())[:, :, :3]
    buffer = io.BytesIO()
    PILImage.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="PNG", compress_level=3)
    x_label, y_label = json.loads(layout)[1:3]
    alt = f"{whose}: {y_label} by {x_label}: " + "; ".join(
        f"{name} {min(v):.2f}-{max(v):.2f}" for name, v in curves.items() if v)
    return Image(buffer.getvalue(), rgb.shape[1] // PIXEL_RATIO, rgb.shape[0] // PIXEL_RATIO, alt)


@functools.lru_cache(maxsize=16)
def _curves_frame(key: str):
    x, x_label, y_label, names, whose, top = json.loads(key)
    figure = Figure(figsize=CHART_SIZES["curves"], dpi=CSS_DPI * PIXEL_RATIO)
    figure.subplots_adjust(**CHART_MARGINS["curves"])
    axes = figure.subplots()
    colours = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
    lines = [axes.plot(x, [np.nan] * len(x), color=c, marker="o", markersize=3, label=n, animated=True)[0]
             for c, n in zip(colours, names)]
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label, fontsize=8)
    axes.set_xlim(min(x) - 0.03 * (max(x) - min(x) or 1), max(x) + 0.03 * (max(x) - min(x) or 1))
    axes.set_ylim(0, top)
    if all(float(v).is_integer() for v in x):  # steps are whole numbers: no tick at 2.5
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_title(whose, fontsize=9, loc="left")
    axes.spines[["top", "right"]].set_visible(False)
    axes.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    canvas = FigureCanvasAgg(figure)
    canvas.draw()  # everything but the animated lines
    return canvas, axes, lines, canvas.copy_from_bbox(axes.bbox)


def _histogram_chart(figure: Figure, data: dict) -> str:
    axes = figure.subplots()
    labels, counts = [d[0] for d in data["bins"]], [d[1] for d in data["bins"]]
    axes.bar(range(len(counts)), counts, color=STUDENT)
    axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
    axes.set_ylabel("students")
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.spines[["top", "right"]].set_visible(False)
    axes.set_title("Total score", fontsize=10)
    return "histogram of total scores: " + ", ".join(f"{label}: {count}" for label, count in zip(labels, counts))


def _means_chart(figure: Figure, data: dict) -> str:
    axes = figure.subplots()
    means = data["means"]  # [[component, mean], ...] in the order to show, top first (a list: json sorts a dict's keys)
    names = [name for name, _ in means][::-1]
    values = [100 * value for _, value in means][::-1]
    axes.barh(range(len(names)), values, color=STUDENT)
    axes.set_yticks(range(len(names)), names)
    axes.set_xlim(0, 112)  # room for the "100%" beside a full bar
    axes.set_xticks(range(0, 101, 20))
    axes.set_xlabel("mean score, % of the component's points")
    for y, v in enumerate(values):
        axes.text(v + 1, y, f"{v:.0f}%", va="center", fontsize=8)
    axes.spines[["top", "right"]].set_visible(False)
    axes.set_title("Per component", fontsize=10)
    return "mean score per component: " + ", ".join(f"{n} {v:.0f}%" for n, v in zip(names[::-1], values[::-1]))


def _failures_chart(figure: Figure, data: dict) -> str:
    axes = figure.subplots()
    rows = data["rates"][::-1]
    axes.barh(range(len(rows)), [100 * r[1] / r[2] for r in rows], color=MISMATCH)
    axes.set_yticks(range(len(rows)), [r[0] for r in rows], fontsize=8)
    axes.set_xlim(0, 100)
    axes.set_xlabel("% of graded students who failed it")
    axes.spines[["top", "right"]].set_visible(False)
    axes.set_title("Checks the class failed most", fontsize=10)
    return "failure rate of the most failed checks"


CHARTS = {"parameters": _parameters_chart, "shape_trace": _u_chart,
          "histogram": _histogram_chart, "means": _means_chart, "failures": _failures_chart}
CHART_SIZES = {"shape_trace": (8.4, 4.2), "curves": (7.0, 2.3), "failures": (10.4, 5.0), "histogram": (6.0, 3.0),
               "means": (6.4, 3.2)}
# Fixed margins: constrained layout doubled the time of a chart (it lays the figure out several times).
CHART_MARGINS = {"shape_trace": {"left": 0.0, "right": 1.0, "bottom": 0.0, "top": 1.0},
                 "curves": {"left": 0.09, "right": 0.72, "bottom": 0.2, "top": 0.88},
                 "failures": {"left": 0.5, "right": 0.97, "bottom": 0.1, "top": 0.94},
                 "means": {"left": 0.3, "right": 0.97, "bottom": 0.17, "top": 0.9},  # room for ParameterBreakdown
                 "histogram": {"left": 0.1, "right": 0.97, "bottom": 0.27, "top": 0.9},
                 "parameters": {"left": 0.17, "right": 0.98, "bottom": 0.15, "top": 0.9}}


def _experiment(figure_id: str, title: str, data: dict, curves: list, full: bool) -> Picture:
    """The skip experiment: MSE and PSNR per run, the loss curves, and the first held-out image with its
    reconstructions; the reference's rows only when ``full``."""
    whose = [("yours", "student")] + ([("reference", "reference")] if full else [])
    table = [["run", "MSE", "PSNR (dB)"]]
    for label, key in whose:
        table += [[f"{label}, {run}", f"{mse:.4f}", f"{psnr:.1f}"] for run, (mse, psnr) in data["results"][key].items()]
    images = data.get("images", {})
    rows = []
    for label, key in whose if images else ():
        tiles = [Tile(_tile(unpack(images["input"]), "gray", 0.0, 1.0, "the held-out image"), "held-out image")]
        tiles += [Tile(_tile(unpack(plane), "gray", 0.0, 1.0, f"{label}: reconstructed {run}"), f"reconstructed {run}")
                  for run, plane in images[key].items()]
        rows.append((label, tiles))
    charts = [tiles[0].image for _, tiles in curves]
    caption = data.get("caption", "") + " The images: the first held-out image and its reconstructions, black 0, white 1."
    return Picture(id=figure_id, title=title, table=table, charts=charts, rows=rows, full=full, caption=caption.strip())


def picture_for_figure(figure_id: str, data: dict, full: bool = True) -> Picture:
    """The picture for one entry of ``report.figures``; ``full=False``: the student's side only."""
    title = data.get("title", figure_id)
    if "note" in data:
        return Picture(id=figure_id, title=title, note=data["note"], full=full)
    too_much = caps.problem(data)  # the drawing's cost is bounded whatever report.json holds
    if too_much:
        return Picture(id=figure_id, title=title, note=too_much, full=full)
    kind = data.get("kind")
    if kind == "heatmaps":
        return _heatmaps(figure_id, data, full)
    if kind == "attention":
        return _attention(figure_id, data, full)
    if kind == "parameters":
        return Picture(id=figure_id, title=title, chart=chart_png("parameters", data), full=True,
                       caption="Per top-level block; a red bar differs from the reference's count.")
    if kind == "shape_trace":
        chart = chart_png("shape_trace", {k: data.get(k) for k in ("reference", "student", "input", "student_whole",
                                                                   "reference_whole")})
        return Picture(id=figure_id, title=title, chart=chart, full=True,
                       caption=f"{data['model']}, each block fed the previous blocks' outputs as the chapter wires "
                               "them; green: the reference's shapes, red: different (the first is outlined thickly)."
                               + _trace_errors(data))
    if kind == "curves":
        # Yours and the reference's as two charts: the reference's is drawn once for everyone, and the
        # student view needs only yours -- one chart drawn per student, not two.
        values = [v for curve in list(data["student"].values()) + list(data["reference"].values()) for v in curve]
        top = max(0.5, math.ceil(1.1 * max([v for v in values if math.isfinite(v)] + [0.0]) / 0.25) * 0.25)
        # each chart's title says whose it is: the rows need no label of their own (one label each)
        rows = [("", [Tile(curves_png(data, data["student"], "yours", top))])]
        if full:
            rows.append(("", [Tile(curves_png(data, data["reference"], "the reference's", top))]))
        if "results" in data:  # the skip experiment: its numbers and one reconstruction, in the task's section
            return _experiment(figure_id, title, data, rows, full)
        return Picture(id=figure_id, title=title, rows=rows, full=full,
                       caption=data.get("caption", f"{data['model']}: how much the output changes when a skip "
                                                   "is replaced by zeros."))
    return Picture(id=figure_id, title=title, note=f"no picture for data of kind {kind!r}")
