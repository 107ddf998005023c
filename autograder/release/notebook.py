"""The student notebook: the chapter's modules and its five homework tasks, run on the student's code.

One builder, two flavours. ``student_notebook(solutions)`` is what students get from ``release --out``:
each module's stub in a ``%%writefile unet/<module>.py`` cell, then the five tasks, each a code cell
that uses the student's ``analysis.py`` and draws its figure, and a "Your answer" cell for each
question to answer in words. ``nbgrader_notebook(...)`` is the nbgrader *source* version: the module
cells hold the reference with its solution markers (nbgrader clears them), the answer cells are
manually graded answers (with a model answer that nbgrader clears), and one locked grade cell per
component holds that component's score, which ``autograder batch --nbgrader`` fills in from the
isolated grader. Nothing hidden is ever in the notebook.

A student who completed the modules can run it top to bottom: no cell raises by default, and the
whole notebook runs in well under 2 minutes on 2 cores (the skip experiment is ~3 s of it).
The ``%%writefile`` cells are what a notebook-only submission is graded from: running one writes
that module's file, so the notebook and the ``.py`` files hold the same code.
"""
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from ..contract import PACKAGE_MODULES
from .notebook_cells import stub_digest
from .stubs import BEGIN, END, make_stub

NOTEBOOK = "unet_chapter.ipynb"
SCHEMA_VERSION = 3
PACKAGE_DIR = "unet"


def grade_id(component: str) -> str:
    """The nbgrader cell that holds ``component``'s score."""
    return f"component_{component}"


def module_cell_id(module: str) -> str:
    """The nbgrader cell (and notebook cell id) that writes ``unet/<module>.py``."""
    return f"module_{module}"


def writefile_line(module: str) -> str:
    return f"%%writefile {PACKAGE_DIR}/{module}.py"


INTRO = """# UNet — the backbone of diffusion

You build the chapter's network and do its five homework tasks. All code lives in the modules of
`unet/`; this notebook writes them, runs them and draws the figures.

**Two ways to work — pick one:**

* **In this notebook.** Part 1 has one cell per module, starting with `%%writefile unet/<module>.py`.
  Replace each `raise NotImplementedError()` in it with your code and run the cell: it (over)writes that
  file. Then run the tasks below.
* **In an editor.** Edit the `.py` files in `unet/`. A `%%writefile` cell never overwrites a file
  that holds code the cell did not write (it says so), so "Run All" is safe even after you switch from
  the cells to an editor. To replace a file with its cell anyway, make the cell's first line
  `%%writefile --force unet/<module>.py`.

Each docstring says what to build: names, shapes, settings and formulas; how is up to you. The
chapter's code does not run as printed: where yours follows it and fails, `check.py` says why.
The cells below re-import your modules whenever they change (autoreload).

`python check.py` (or the cell near the end) runs the public checks: shapes and structure, with the
smallest input that fails and a hint. Your grade also depends on hidden checks of the values, run on
your modules by your instructor. A few questions ask for an answer in words: write it in the
**Your answer** cell that follows them.

**What is graded.** The grader grades your modules and the five tasks' functions (`check.py` says
what each is worth and how many of those points its public checks cover); it runs neither this
notebook's cells nor its figures. The answers in words are graded by hand by your instructor, not by the grader
({answer_points:g} point each where the course collects the notebook with nbgrader). Hand in the `unet/`
folder, or this notebook alone if your modules are in its `%%writefile` cells: they are graded as
the files they write."""

SETUP = """%matplotlib inline
%load_ext autoreload
%autoreload 2
import matplotlib.pyplot as plt
import torch

torch.set_num_threads(1)  # the models here are tiny: one thread is faster than several (and than a busy machine's)
torch.manual_seed(0)"""

GUARD = """

try:  # the module cells below never overwrite a file holding your own code with an unchanged stub
    from check_support.notebook_cells import guard_module_cells
    guard_module_cells({stubs!r})
except ImportError:
    print("check_support/ is missing: the module cells below overwrite unet/*.py when run")"""


def setup_source(sources: dict[str, str]) -> str:
    """The first code cell: imports, settings, and the guard of the module cells (``notebook_cells``)."""
    stubs = {f"{PACKAGE_DIR}/{module}.py": stub_digest(make_stub(source, f"{module}.py"))
             for module, source in sources.items()}
    return SETUP + GUARD.format(stubs=stubs)

MODULES_MD = """## Part 1 — the modules

One cell per file of `unet/`, in the order the chapter builds them. **Running a cell you changed
overwrites `unet/<module>.py`** with the cell's content, unless the file was edited elsewhere since a
cell last wrote it: then the file is kept and the cell says so."""


def _module_md(module: str, source: str) -> str:
    summary = source.split('"""', 2)[1].strip().splitlines()[0] if source.startswith('"""') else ""
    return (f"### `{PACKAGE_DIR}/{module}.py`\n\n{summary}\n\n"
            f"⚠ Once you change the next cell, running it overwrites `{PACKAGE_DIR}/{module}.py`.")


TASK1_MD = """## Task 1 — every layer's shape (`shape_trace`)

Implement `shape_trace` in `analysis.py`. Before you run it, **predict** the shapes for
`SimpleUNet(4, 4, 64)` on `x` of shape `(2, 4, 64, 64)`: replace each `None` below by a tuple such as
`(2, 64, 64, 64)`. A DownBlock returns a pair, so it has two entries (`[0]` the downsampled features,
`[1]` the skip); `up1.concat` is what `up1` concatenates before its ResBlock."""

TASK1_PREDICT = """predicted = {  # your prediction: a shape tuple for each entry
    "time_embed": None,
    "down1[0]": None,
    "down1[1]": None,
    "down2[0]": None,
    "down2[1]": None,
    "bottleneck": None,
    "up1.concat": None,
    "up1": None,
    "up2.concat": None,
    "up2": None,
    "out": None,
}"""

TASK1 = """from unet.analysis import shape_trace
from unet.unet import SimpleUNet

model = SimpleUNet(4, 4, 64)
trace = shape_trace(model, torch.randn(2, 4, 64, 64), torch.randint(0, 1000, (2,)))

print(f"{'layer':<26}{'output shape':<22}your prediction")
for name, shape in trace:
    verdict = ""
    if name in predicted:
        guess = predicted[name]
        verdict = "(not predicted)" if guess is None else "right" if tuple(guess) == tuple(shape) else f"you said {guess}"
    print(f"{name:<26}{str(tuple(shape)):<22}{verdict}")
print(f"{len(trace)} entries")"""

TASK1_AFTER_MD = """Where a shape differs from your prediction, find the layer that changes it. Look hardest at the
`.concat` entries: does each match the channels its UpBlock's ResBlock was built for, in your code
and in the chapter's?"""

TASK2_MD = """## Task 2 — with and without skip connections (`NoSkipUNet`, `skip_ablation`)

Implement `NoSkipUNet` (the UNet with zeros where the skips were) and `skip_ablation` in
`analysis.py`. The experiment trains a `SimpleUNet` and a `NoSkipUNet` from the same initial weights,
on the same batches of small images of shapes, to give back their input; then both reconstruct 16
images they have not seen. It takes a few seconds."""

TASK2 = """from unet.analysis import skip_ablation

results = skip_ablation()  # the defaults: the same experiment the grader runs (with another seed)
runs = {"with skips": results["with_skips"], "without skips": results["without_skips"]}

print(f"{'':16}{'MSE':>9}{'PSNR':>11}   (16 held-out images, {results['steps']} training steps each)")
for label, run in runs.items():
    print(f"{label:16}{run['mse']:9.4f}{run['psnr']:8.1f} dB")

fig, ax = plt.subplots(figsize=(7, 3.2))
for label, run in runs.items():
    ax.plot(range(1, len(run["losses"]) + 1), run["losses"], label=label)
ax.set_yscale("log")
ax.set_xlabel("training step")
ax.set_ylabel("training loss (MSE, log scale)")
ax.set_title("Training curves")
ax.legend()
plt.show()

rows = {"input": results["images"], **{label: run["reconstructions"] for label, run in runs.items()}}
fig, axes = plt.subplots(len(rows), 8, figsize=(10, 4.2))
for row, (label, images) in zip(axes, rows.items()):
    for ax, image in zip(row, images):
        ax.imshow(image[0].clamp(0, 1), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
    row[0].set_ylabel(label)
fig.suptitle("Held-out images and their reconstructions")
plt.show()"""

QUESTION2 = """**Question 2.** Which model reconstructs the held-out images better, and by how many dB? Where in the
images are the errors of the model without skips, and why does cutting the skips cause them?"""

ANSWER2 = """The model with skips, by several dB of PSNR (its MSE is several times lower). Without skips the
reconstructions are blurred: edges, thin lines and small shapes are lost or smeared. Every path from
input to output then goes through the 4x4 bottleneck, so the fine detail lost in downsampling cannot
come back; the skips hand the decoder the full-resolution features."""

TASK3_MD = """## Task 3 — the time embedding at every timestep (`timestep_embeddings`, `embedding_similarity`)

Implement both in `analysis.py`. The first figure shows the 64 sinusoidal features of every timestep,
one column each: left all of 0..999, right the first 100. The first features of each half change
within a few timesteps, faster than the left picture's pixels can follow, so it shows them as an even
blur; the right picture resolves them. The second figure shows the cosine similarity of every pair of
timesteps, and two rows of it as curves."""

TASK3 = """from unet.analysis import embedding_similarity, timestep_embeddings

timesteps = torch.arange(1000)
embeddings = timestep_embeddings(64, timesteps)  # (1000, 64)
similarity = embedding_similarity(embeddings)  # (1000, 1000)
print("embeddings", tuple(embeddings.shape), "  similarity", tuple(similarity.shape))

fig, axes = plt.subplots(1, 2, figsize=(14, 4.2), gridspec_kw={"width_ratios": [1.6, 1]})
for ax, last, smoothing in zip(axes, (1000, 100), ("antialiased", "nearest")):
    picture = ax.imshow(embeddings[:last].T, aspect="auto", cmap="RdBu", vmin=-1, vmax=1, interpolation=smoothing,
                        interpolation_stage="rgba", extent=[-0.5, last - 0.5, 63.5, -0.5])
    ax.set_xlabel("timestep t")
    ax.set_ylabel("feature (0-31 sin, 32-63 cos)")
    ax.set_title(f"embeddings of t = 0..{last - 1}")
    fig.colorbar(picture, ax=ax, label="value")
plt.tight_layout()
plt.show()

fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.4), gridspec_kw={"width_ratios": [1, 1.4]})
picture = left.imshow(similarity, cmap="viridis", interpolation="antialiased")
left.set_xlabel("timestep")
left.set_ylabel("timestep")
left.set_title("cosine similarity of every pair")
fig.colorbar(picture, ax=left, label="similarity")
for t in (0, 500):
    right.plot(timesteps, similarity[t], label=f"t = {t}")
right.set_xlabel("other timestep")
right.set_ylabel("cosine similarity")
right.set_title("two rows of the matrix")
right.legend()
plt.tight_layout()
plt.show()"""

QUESTION3 = """**Question 3.** What pattern do you see? Which features change quickly with `t` and which slowly?
How does the similarity of two timesteps depend on how far apart they are?"""

ANSWER3 = """Each feature is a sine or cosine whose frequency falls geometrically with its index: the first rows
of each half oscillate within a few timesteps, the last ones barely change over 1000. The similarity is
1 on the diagonal and drops quickly, then more slowly (not monotonically), with the distance |t1 - t2|;
the band is the same all along the diagonal and the two curves have the same shape: it depends only
on the distance, since sin(a)sin(b) + cos(a)cos(b) = cos(a - b). Nearby timesteps get similar codes,
distant ones dissimilar codes."""

TASK4_MD = """## Task 4 — an attention map (`attention_map`)

Implement `attention_map` in `analysis.py`. The cell builds an input where the right answer is known: a
16x16 scene with three pairs of small marks, A and A', B and B', C and C', far apart, each mark with a
feature channel of its own. Your `SelfAttention` gets query, key and value projections set by hand
(read them in the cell). Each map shows where one query position (the red ×) looks; the printout says
where its weight went."""

TASK4 = """from unet.analysis import attention_map
from unet.attention import SelfAttention

size = 16
marks = {"A": (2, 2), "A'": (12, 11), "B": (3, 12), "B'": (10, 3), "C": (7, 7), "C'": (14, 0)}
region = torch.zeros(size, size, dtype=torch.long)  # channel 0: the background
for channel, (row, col) in enumerate(marks.values(), start=1):
    region[row:row + 2, col:col + 2] = channel  # a 2x2 mark, one channel per mark
features = torch.nn.functional.one_hot(region, 8).permute(2, 0, 1).float()[None]  # (1, 8, 16, 16)
partner = torch.tensor([0, 2, 1, 4, 3, 6, 5, 7])  # A <-> A', B <-> B', C <-> C'

attention = SelfAttention(8)
with torch.no_grad():  # hand-set projections: rows of the identity, in another order for the queries
    asks, identity = torch.eye(8)[partner][:, :, None, None], torch.eye(8)[:, :, None, None]
    attention.qkv.weight.copy_(torch.cat([asks, identity, identity]))
    attention.qkv.bias.zero_()

names = list(marks)
queries = {"A": marks["A"], "B'": marks["B'"]}
fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
axes[0].imshow(region, cmap="Pastel1", vmin=0, vmax=8)
for name, (row, col) in marks.items():
    axes[0].text(col + 0.5, row + 0.5, name, ha="center", va="center", fontsize=11, fontweight="bold")
axes[0].set_title("the scene: three pairs of marks")
for ax, (name, (row, col)) in zip(axes[1:], queries.items()):
    weights = attention_map(attention, features, (row, col))[0]
    own = names.index(name) + 1
    other = names[int(partner[own]) - 1]
    print(f"query on {name} at {(row, col)}: weights sum to {weights.sum().item():.4f}; "
          f"{weights[region == own].sum().item():.1%} on {name} itself, "
          f"{weights[region == int(partner[own])].sum().item():.1%} on {other}")
    picture = ax.imshow(weights, cmap="magma", vmin=0)
    ax.set_title(f"where the query on {name} looks")
    fig.colorbar(picture, ax=ax, label="attention weight")
    ax.plot(col + 0.5, row + 0.5, "x", color="red", markersize=10, markeredgewidth=2)
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
plt.tight_layout()
plt.show()"""

TASK4_AFTER_MD = """Here the projections were set by hand, so that the right answer is known. A trained
attention layer learns its query and key projections from data, and so learns what each position
looks for."""

QUESTION4 = """**Question 4.** Why does each map sum to 1? The query on A carries A's own features, yet it
puts (almost) no weight on A itself: why? Where would it look if the query projection were the same as
the key projection?"""

ANSWER4 = """Each map is one row of the softmax over the keys, so it sums to 1. A's query is its features
mapped to the partner's channel ("I look for A'"), while every key says which mark its position is; the
score q . k is large only where the key is A', so the softmax puts nearly all weight on A' (its four
pixels, evenly: they have identical keys) and almost none on A, whose key does not match its own query.
With the query projection equal to the key projection, each mark would ask for its own channel and look
at itself (its own four pixels), like a blob of its own region."""


TASK5_MD = """## Task 5 — where the parameters are (`parameter_breakdown`, `parameter_shares`)

Implement both in `analysis.py`. The chart shows each part's share of the total on a linear scale:
the bars' lengths compare like the shares; the labels give the counts of the small parts."""

TASK5 = """from unet.analysis import parameter_breakdown, parameter_shares

model = SimpleUNet(4, 4, 64)
breakdown = parameter_breakdown(model)
shares = parameter_shares(breakdown)
total = sum(p.numel() for p in model.parameters())
for name, count in breakdown.items():
    print(f"{name:<11}{count:>11,}{100 * shares[name]:8.2f}%")
print(f"{'total':<11}{sum(breakdown.values()):>11,}   (the model has {total:,})")

fig, ax = plt.subplots(figsize=(8, 3.4))
bars = ax.barh(list(shares), [100 * s for s in shares.values()], color="tab:blue")
ax.bar_label(bars, labels=[f" {c:,} ({100 * shares[n]:.{1 if shares[n] >= 0.01 else 2}f}%)"
                           for n, c in breakdown.items()])
ax.set_xlim(0, 100 * max(shares.values()) * 1.45)  # room for the labels
ax.invert_yaxis()
ax.set_xlabel("share of all parameters (%)")
ax.set_title("SimpleUNet(4, 4, 64): parameters per part")
plt.show()"""

QUESTION5 = """**Question 5.** Which parts hold most of the parameters, and why those? What share is the time
embedding, and the output convolution?"""

ANSWER5 = """The parts with 2 * base = 128 channels: down2, the bottleneck and up1, about three quarters of the
total. A 3x3 convolution has 9 * C_in * C_out weights, so doubling the channels quadruples it; the
bottleneck's two 128 -> 128 convolutions alone are ~0.3 M. The time embedding (two Linear layers,
64 -> 256 -> 256) is under 6 %, and the 1x1 output convolution (64 * 4 + 4 = 260) about 0.02 %."""

QUESTIONS = [("answer_skips", QUESTION2, ANSWER2), ("answer_timesteps", QUESTION3, ANSWER3),
             ("answer_attention", QUESTION4, ANSWER4), ("answer_parameters", QUESTION5, ANSWER5)]
ANSWER_POINTS = 1  # per written answer, graded by hand in nbgrader's formgrader
STUDENT_ANSWER = "**Your answer:** *(double-click this cell to write)*"

CHECK_MD = """## Check your work

The public checks, on your `.py` files (the same as `python check.py` in a terminal)."""

CHECK = """import subprocess
import sys

print(subprocess.run([sys.executable, "check.py"], capture_output=True, text=True).stdout)"""

GRADE_MD = """## Your grade, per component

One cell per component: it runs that component's public checks, if it has any. Your instructor's
grader fills in the score of each cell from the full (public and hidden) checks of your modules."""


def _grade_cell_source(component: str, points: float, public: bool) -> str:
    if not public:
        return (f"# {component}: graded by hidden checks only. Its {points:g} points come from the full grader.\n"
                f"print({component + ' is graded outside the notebook.'!r})")
    return (f"# {component}: public checks only. Its {points:g} points come from the full grader.\n"
            f"from check import assert_component\n\nassert_component({component!r})")


def _metadata(cell_id: str, *, grade=False, solution=False, locked=False, points=None) -> dict:
    nbgrader = {"grade": grade, "grade_id": cell_id, "locked": locked, "schema_version": SCHEMA_VERSION,
                "solution": solution, "task": False}
    if points is not None:
        nbgrader["points"] = points
    return {"nbgrader": nbgrader}


def module_sources(solutions) -> dict[str, str]:
    """The reference source of every student module, in the contract's order."""
    return {module: (Path(solutions) / f"{module}.py").read_text(encoding="utf-8") for module in PACKAGE_MODULES}


def _cells(modules: list, answers: dict, sources: dict) -> list:
    """The notebook's cells around ``modules`` (one (markdown, writefile) pair per module) and
    ``answers`` (grade id -> the answer cell of that question); ``sources``: the reference's modules."""
    def question(grade_id_):
        text = next(q for i, q, _ in QUESTIONS if i == grade_id_)
        return [new_markdown_cell(text), answers[grade_id_]]

    cells = [new_markdown_cell(INTRO.format(answer_points=ANSWER_POINTS)), new_code_cell(setup_source(sources)),
             new_markdown_cell(MODULES_MD)]
    for markdown, code in modules:
        cells += [markdown, code]
    cells += [new_markdown_cell(TASK1_MD), new_code_cell(TASK1_PREDICT), new_code_cell(TASK1),
              new_markdown_cell(TASK1_AFTER_MD),
              new_markdown_cell(TASK2_MD), new_code_cell(TASK2), *question("answer_skips"),
              new_markdown_cell(TASK3_MD), new_code_cell(TASK3), *question("answer_timesteps"),
              new_markdown_cell(TASK4_MD), new_code_cell(TASK4), new_markdown_cell(TASK4_AFTER_MD),
              *question("answer_attention"),
              new_markdown_cell(TASK5_MD), new_code_cell(TASK5), *question("answer_parameters"),
              new_markdown_cell(CHECK_MD), new_code_cell(CHECK)]
    return cells


def _notebook(cells) -> nbformat.NotebookNode:
    notebook = new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    notebook.metadata["language_info"] = {"name": "python"}
    for number, cell in enumerate(notebook.cells):  # stable ids: a release is the same file every time
        cell.id = cell.metadata.get("nbgrader", {}).get("grade_id", f"cell-{number:02d}").replace("_", "-")
    return notebook


def student_notebook(solutions, points_md: str = "") -> nbformat.NotebookNode:
    """The notebook students get: each module's stub in its ``%%writefile`` cell, plain answer cells,
    and ``points_md`` (the table of what each part is worth) after the introduction."""
    modules = [(new_markdown_cell(_module_md(module, source)),
                new_code_cell(f"{writefile_line(module)}\n{make_stub(source, f'{module}.py')}"))
               for module, source in module_sources(solutions).items()]
    answers = {grade_id_: new_markdown_cell(STUDENT_ANSWER) for grade_id_, _, _ in QUESTIONS}
    cells = _cells(modules, answers, module_sources(solutions))
    if points_md:
        cells.insert(1, new_markdown_cell(f"## What each part is worth\n\n{points_md}\n\nThe answers in words are "
                                          "not in this table: see **What is graded** above."))
    return _notebook(cells)


def nbgrader_notebook(component_points: dict[str, float], solutions, public=None) -> nbformat.NotebookNode:
    """The nbgrader source notebook: module cells with the reference for nbgrader to clear, manually
    graded answer cells, and one locked grade cell per component (``public``: the components that
    have public checks, whose cells run them; all of them when None)."""
    modules = [(new_markdown_cell(_module_md(module, source)),
                new_code_cell(f"{writefile_line(module)}\n{source}", metadata=_metadata(module_cell_id(module), solution=True)))
               for module, source in module_sources(solutions).items()]
    answers = {grade_id_: new_markdown_cell(f"{BEGIN}\n{answer}\n{END}",
                                            metadata=_metadata(grade_id_, grade=True, solution=True, points=ANSWER_POINTS))
               for grade_id_, _, answer in QUESTIONS}
    cells = _cells(modules, answers, module_sources(solutions)) + [new_markdown_cell(GRADE_MD)]
    for component, points in component_points.items():
        cells.append(new_code_cell(_grade_cell_source(component, points, public is None or component in public),
                                   metadata=_metadata(grade_id(component), grade=True, locked=True, points=points)))
    return _notebook(cells)


def notebook_solution_lines() -> list[str]:
    """The model answers' lines (only the nbgrader source has them): they must never reach students."""
    return [line.strip() for _, _, answer in QUESTIONS for line in answer.splitlines() if line.strip()]


def written_answer_points() -> float:
    """The points of the answers in words, graded by hand in nbgrader (not by the grader)."""
    return ANSWER_POINTS * len(QUESTIONS)


def write_notebook(notebook, path) -> None:
    nbformat.validate(notebook)
    nbformat.write(notebook, str(path))
