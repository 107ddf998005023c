"""The student notebook: the chapter's exercises, run on the student's own modules.

One builder, two flavours. ``student_notebook()`` is what students get from ``release --out``: the
one prediction exercise already cleared. ``nbgrader_notebook()`` is the nbgrader *source* version:
the prediction cell keeps its ``### BEGIN/END SOLUTION`` region and nbgrader metadata (nbgrader
clears it), and one locked grade cell per component runs only that component's *public* checks.
Those cells are worth the component's points so the gradebook has a place for each component's
score, which ``autograder batch --nbgrader`` fills in from the isolated grader; nothing hidden is
ever in the notebook.
"""
import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from .stubs import make_stub

NOTEBOOK = "unet_chapter.ipynb"
PREDICTION_ID = "predict_shapes"
SCHEMA_VERSION = 3


def grade_id(component: str) -> str:
    """The nbgrader cell that holds ``component``'s score."""
    return f"component_{component}"


INTRO = """# UNet — the backbone of diffusion

You implement the chapter's network in the `.py` files of `unet/` (each file's docstrings say exactly
what to build). This notebook runs **your** modules: each section needs the modules it names. Edit
the `.py` files, then re-run the cells (the autoreload below picks up your changes).

Run `python check.py` (or the last cell) for the public checks: shapes and structure, per component,
with the smallest input that fails and a hint. Your grade also depends on hidden checks of the values
and gradients, run by your instructor on your `.py` files."""

SETUP = """%load_ext autoreload
%autoreload 2
import math

import matplotlib.pyplot as plt
import torch

from unet.time_embedding import sinusoidal_embedding, TimeEmbedding
from unet.res_block import ResBlock
from unet.down_block import DownBlock
from unet.up_block import UpBlock
from unet.unet import SimpleUNet
from unet.attention import SelfAttention, AttnResBlock

torch.manual_seed(0)"""

TIME_MD = """## 1. The time embedding (`time_embedding.py`)

Each timestep becomes `dim` sine/cosine features of geometrically spaced frequencies. In the picture
each column is one timestep: the top rows (high frequencies) change quickly with `t`, the bottom rows
slowly — together they give every timestep a distinct, smoothly varying code."""

TIME = """timesteps = torch.arange(0, 1000, 10)
features = sinusoidal_embedding(timesteps, 64)
print("sinusoidal_embedding:", tuple(features.shape), "  TimeEmbedding(64):", tuple(TimeEmbedding(64)(timesteps).shape))

fig, ax = plt.subplots(figsize=(9, 3))
picture = ax.imshow(features.T.detach(), aspect="auto", cmap="RdBu", extent=[0, 1000, 64, 0])
ax.set_xlabel("timestep t")
ax.set_ylabel("feature: sines, then cosines")
fig.colorbar(picture, ax=ax)
plt.show()"""

PREDICT_MD = """## 2. The shape trace of each UNet level

Before you run the trace, **predict** it: for `SimpleUNet(4, 4, 64)` and `x` of shape `(2, 4, 64, 64)`,
what shape(s) does each level return? A DownBlock returns two tensors: list both."""

PREDICT = """### BEGIN SOLUTION
predicted = {
    "time_embed": [(2, 256)],
    "down1": [(2, 64, 32, 32), (2, 64, 64, 64)],
    "down2": [(2, 128, 16, 16), (2, 128, 32, 32)],
    "bottleneck": [(2, 128, 16, 16)],
    "up1": [(2, 64, 32, 32)],
    "up2": [(2, 64, 64, 64)],
    "out": [(2, 4, 64, 64)],
}
### END SOLUTION"""

TRACE = """model = SimpleUNet(4, 4, 64)
x = torch.randn(2, 4, 64, 64)
t = torch.randint(0, 1000, (2,))
trace = {}


def record(name):
    def hook(module, inputs, output):
        outputs = output if isinstance(output, tuple) else (output,)
        trace[name] = [tuple(o.shape) for o in outputs]
    return hook


levels = ["time_embed", "down1", "down2", "bottleneck", "up1", "up2", "out"]
handles = [getattr(model, name).register_forward_hook(record(name)) for name in levels]
with torch.no_grad():
    model(x, t)
for handle in handles:
    handle.remove()

for name in levels:
    guess = [tuple(shape) for shape in predicted.get(name, [])]
    verdict = "as predicted" if guess == trace[name] else f"you predicted {guess}"
    print(f"{name:<11} {trace[name]}   {verdict}")"""

SKIP_MD = """## 3. With and without skip connections

The decoder gets two things at each level: the upsampled features from below and, through the skip,
the encoder's features of the same size. Replace every skip by zeros and the decoder only knows what
survived the 16×16 bottleneck: the sharp edges of the input are gone."""

SKIP = """pattern = torch.zeros(1, 4, 64, 64)
pattern[:, :, 16:48, 16:48] = 2.0
pattern[:, :, ::8, :] = -2.0
step = torch.tensor([500])


def zero_skip(module, inputs, output):
    down, skip = output
    return down, torch.zeros_like(skip)


with torch.no_grad():
    with_skips = model(pattern, step)
    handles = [model.down1.register_forward_hook(zero_skip), model.down2.register_forward_hook(zero_skip)]
    without_skips = model(pattern, step)
    for handle in handles:
        handle.remove()

print("mean |with - without|:", (with_skips - without_skips).abs().mean().item())
print("channels into up1's ResBlock:", model.up1.res.conv1.in_channels, "  into up2's:", model.up2.res.conv1.in_channels)
fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
images = [pattern[0, 0], with_skips[0, 0], without_skips[0, 0]]
titles = ["input (channel 0)", "output with skips", "output, skips zeroed"]
for ax, image, title in zip(axes, images, titles):
    ax.imshow(image, cmap="gray")
    ax.set_title(title)
    ax.axis("off")
plt.show()"""

ATTENTION_MD = """## 4. An attention map (`attention.py`)

Self-attention lets every position look at every other one. Each row of the `(H*W, H*W)` weight
matrix is one query's distribution over all keys (it sums to 1). Below, one position stands out in
the input; see how much a query at (3, 3) attends to it."""

ATTENTION = """attention = SelfAttention(16)
feature_map = torch.randn(1, 16, 8, 8)
feature_map[:, :, 2, 5] += 4.0
with torch.no_grad():
    _, weights = attention(feature_map, return_weights=True)

rows = weights.sum(-1)
print("weights:", tuple(weights.shape), f"  row sums {rows.min().item():.4f} .. {rows.max().item():.4f}")
query = 3 * 8 + 3
fig, axes = plt.subplots(1, 2, figsize=(9, 4))
axes[0].imshow(weights[0])
axes[0].set_title("all weights (row = query, column = key)")
axes[1].imshow(weights[0, query].reshape(8, 8))
axes[1].set_title("where the query at (3, 3) looks")
plt.show()"""

PARAMS_MD = """## 5. Where the parameters are

With both errata fixed, `SimpleUNet(4, 4, 64)` has 1,424,460 parameters. Most sit at the lowest
resolution, where the channels are widest."""

PARAMS = """model = SimpleUNet(4, 4, 64)
total = sum(p.numel() for p in model.parameters())
names, counts = [], []
for name, child in model.named_children():
    names.append(name)
    counts.append(sum(p.numel() for p in child.parameters()))
    print(f"{name:<11} {counts[-1]:>10,}  {100 * counts[-1] / total:5.1f}%")
print(f"{'total':<11} {total:>10,}   (expected 1,424,460)")

fig, ax = plt.subplots(figsize=(8, 3))
ax.bar(names, counts)
ax.set_ylabel("parameters")
plt.show()"""

CHECK_MD = """## 6. Check your work

The public checks, on your `.py` files (the same as `python check.py` in a terminal)."""

CHECK = """import subprocess
import sys

print(subprocess.run([sys.executable, "check.py"], capture_output=True, text=True).stdout)"""

GRADE_MD = """## Your grade, per component

Each cell below runs one component's public checks. Your instructor's grader fills in the score
of each cell from the full (public and hidden) checks of your `.py` files."""


def _grade_cell_source(component: str, points: float) -> str:
    return (f"# {component}: public checks only. Its {points:g} points come from the full grader.\n"
            f"from check import assert_component\n\nassert_component({component!r})")


def _metadata(cell_id: str, *, grade=False, solution=False, locked=False, points=None) -> dict:
    nbgrader = {"grade": grade, "grade_id": cell_id, "locked": locked, "schema_version": SCHEMA_VERSION,
                "solution": solution, "task": False}
    if points is not None:
        nbgrader["points"] = points
    return {"nbgrader": nbgrader}


def _cells(prediction) -> list:
    return [
        new_markdown_cell(INTRO), new_code_cell(SETUP),
        new_markdown_cell(TIME_MD), new_code_cell(TIME),
        new_markdown_cell(PREDICT_MD), prediction, new_code_cell(TRACE),
        new_markdown_cell(SKIP_MD), new_code_cell(SKIP),
        new_markdown_cell(ATTENTION_MD), new_code_cell(ATTENTION),
        new_markdown_cell(PARAMS_MD), new_code_cell(PARAMS),
        new_markdown_cell(CHECK_MD), new_code_cell(CHECK),
    ]


def _notebook(cells) -> nbformat.NotebookNode:
    notebook = new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    notebook.metadata["language_info"] = {"name": "python"}
    return notebook


def student_notebook() -> nbformat.NotebookNode:
    """The notebook students get: the prediction exercise cleared, no grade cells."""
    cleared = "# YOUR CODE HERE\n" + make_stub(PREDICT, NOTEBOOK).strip()
    return _notebook(_cells(new_code_cell(cleared)))


def nbgrader_notebook(component_points: dict[str, float]) -> nbformat.NotebookNode:
    """The nbgrader source notebook: a solution cell to clear and one locked grade cell per component."""
    prediction = new_code_cell(PREDICT, metadata=_metadata(PREDICTION_ID, solution=True))
    cells = _cells(prediction) + [new_markdown_cell(GRADE_MD)]
    for component, points in component_points.items():
        cells.append(new_code_cell(_grade_cell_source(component, points),
                                   metadata=_metadata(grade_id(component), grade=True, locked=True, points=points)))
    return _notebook(cells)


def notebook_solution_lines() -> list[str]:
    """The answer lines of the notebook's exercise: they must never reach students."""
    from .stubs import solution_lines

    return solution_lines(PREDICT)


def write_notebook(notebook, path) -> None:
    nbformat.validate(notebook)
    nbformat.write(notebook, str(path))
