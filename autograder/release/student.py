"""The student release: stubs, notebook, the public checks and a README -- and the same laid out as
an nbgrader course's ``source/<assignment>/``.

Every step writes only public material: stubs (``make_stub``), the notebook (answers cleared, or
left for nbgrader to clear), ``check.py`` (the student-side runner with the hints inlined, so it needs
only torch), ``check_support/`` beside it (the grader's own public rules, intake, importer and watcher)
and ``public_checks.json`` (shapes and counts of the public checks). Hidden checks,
tolerances and reference code stay behind.
"""
import ast
import shutil
from pathlib import Path

from ..config import GradingConfig, load_config
from ..contract import GRADED, PACKAGE_MODULES
from ..errors import ReleaseError
from .notebook import ANSWER_POINTS, NOTEBOOK, QUESTIONS, nbgrader_notebook, student_notebook, write_notebook
from .public_checks_data import DATA_FILE, component_points, public_component_points, write_public_checks
from .stubs import release_stubs

CHECK_SCRIPT = "check.py"
README = "README.md"
PACKAGE_DIR = "unet"
NBGRADER_CONFIG = "nbgrader_config.py"
GENERATED_MARK = "# Written by `autograder release --nbgrader`"

# What check.py carries pasted in: (marker, source file, what its imports become there). The rules are
# not pasted: check.py imports them from check_support/rules/ (``write_check_support``).
_PASTED = [
    ("HINTS", "checks/hints.py", "import math  # noqa: E402\nimport re  # noqa: E402\n\nCase = object  # noqa: E305\n\n"),
]


def check_script_source() -> str:
    """``public_check_script.py`` (check.py's source) with ``checks/hints.py`` pasted in; it imports the grader's own public rules
    from ``check_support/rules/`` (``write_check_support``), so it needs only torch."""
    here = Path(__file__).resolve().parent
    source = (here / "public_check_script.py").read_text(encoding="utf-8")
    for marker, path, imports in _PASTED:
        begin, end = source.find(f"# BEGIN {marker}"), source.find(f"# END {marker}")
        if begin < 0 or end < 0:
            raise ReleaseError(f"public_check_script.py lost its '# BEGIN {marker}' / '# END {marker}' markers")
        block = f"# a copy of autograder/{path}\n" + imports + _module_body(
            (here.parent / path).read_text(encoding="utf-8"))
        source = source[:begin] + block + source[end + len(f"# END {marker}"):].lstrip("\n")
    compile(source, CHECK_SCRIPT, "exec")
    return source


SUPPORT_DIR = "check_support"
CHILD_RULES = {"description.py": "describe.py", "plain.py": "plain.py"}  # rules/ files that are the child's own
NOT_SHIPPED = {"intake/discover.py", "intake/lms.py"}  # a class export's intake, for batches: check.py grades one folder


def write_check_support(folder: Path) -> list[Path]:
    """``check_support/`` beside ``check.py``: the grader's own public rules (``rules/``, the very
    package the grader's public checks run), intake (finding the modules in any layout, notebook or
    encoding), importer (any import style), watcher (what a homework function does to its models) and
    the torch settings put back after importing, so check.py and the grader never disagree on a verdict,
    on whether a file was found or imported, or on what a function did. Standard library and torch
    only; nothing hidden."""
    package = Path(__file__).resolve().parent.parent
    target = folder / SUPPORT_DIR
    if target.exists():
        shutil.rmtree(target)
    copies = {"contract.py": package / "contract.py", "importer.py": package / "sandbox" / "child" / "importer.py",
              "watch.py": package / "sandbox" / "child" / "watch.py",
              "torch_settings.py": package / "sandbox" / "child" / "torch_settings.py",
              "notebook_cells.py": package / "release" / "notebook_cells.py"}
    for subpackage in ("intake", "rules"):
        copies.update({f"{subpackage}/{p.name}": p for p in sorted((package / subpackage).glob("*.py"))
                       if f"{subpackage}/{p.name}" not in NOT_SHIPPED})
        (target / subpackage).mkdir(parents=True)
    # the one description of a module, and the one reading of a returned value, are the child's own files; in the
    # grader rules/description.py and rules/plain.py import them
    copies.update({f"rules/{name}": package / "sandbox" / "child" / child for name, child in CHILD_RULES.items()})
    (target / "__init__.py").write_text('"""The grader\'s own public rules, and its code for finding and loading your modules '
                                        '(used by check.py)."""\n', encoding="utf-8")
    written = [target / "__init__.py"]
    for name, source in copies.items():
        (target / name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
        written.append(target / name)
    return written


def _module_body(text: str) -> str:
    """A module's statements without its docstring and imports (``_PASTED`` says what replaces them)."""
    statements = [node for node in ast.parse(text).body
                  if not isinstance(node, (ast.Import, ast.ImportFrom))
                  and not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))]
    return "\n\n\n".join(ast.get_source_segment(text, node) for node in statements) + "\n"


def public_components(config: GradingConfig) -> set[str]:
    """The components with at least one public check (``check.py`` can run those)."""
    return {name for name, checks in config.components.items() if any(s.visibility == "public" for s in checks.values())}


def points_table(config: GradingConfig) -> str:
    """What each part is worth, from the grading config (never typed by hand): a Markdown table."""
    worth, public = component_points(config), public_component_points(config)
    rows = [f"| {name} | {points:g} | {public[name]:g} |" for name, points in worth.items()]
    return "\n".join([
        "| part | points | of which `check.py`'s public checks |", "|---|---:|---:|", *rows,
        f"| **total** | **{config.total_points:g}** | **{sum(public.values()):g}** |"])


# the one place the README says how the answers in words are graded (the notebook's intro says it there)
ANSWERS_NOTE = (f"The {len(QUESTIONS)} answers in words (questions 2-5 of the notebook) are not in this table: they "
                f"are graded by hand by your instructor, not by the grader ({ANSWER_POINTS:g} point each where the "
                "course collects the notebook with nbgrader).")


def student_readme(config: GradingConfig) -> str:
    modules = "\n".join(f"- `{PACKAGE_DIR}/{m}.py`" for m in PACKAGE_MODULES)
    return f"""# UNet — the backbone of diffusion: your exercise

## What is here

- `{PACKAGE_DIR}/`: the modules you implement. Each docstring says what to build, the shapes, and
  the names the grader looks for. Replace every `raise NotImplementedError()` with your code:
{modules}
- `{NOTEBOOK}`: your modules (one `%%writefile` cell each, if you prefer to write them there) and
  the chapter's five homework tasks on them: every layer's shape, a training experiment with and
  without skip connections, the time embedding at every timestep, an attention map, and where the
  parameters are. Running a `%%writefile` cell writes that `.py` file, unless the file holds code
  the cell did not write (your edits in an editor): then the file is kept and the cell says what to
  do (`%%writefile --force unet/<module>.py` replaces it anyway).
- `{CHECK_SCRIPT}` and `{DATA_FILE}`: the public checks.

## What each part is worth

{points_table(config)}

{ANSWERS_NOTE}

## Check your work

    python {CHECK_SCRIPT}                 # all components
    python {CHECK_SCRIPT} --only ResBlock # one component
    python {CHECK_SCRIPT} path/to/unet    # another folder with your modules

In a few seconds it prints, per component, which public checks pass; for a failure, the smallest
input that fails and a hint. It exits 0 when everything passes. `{CHECK_SCRIPT}` needs Python 3.10+
and torch (`pip install torch`), nothing else; the notebook also needs Jupyter and matplotlib
(`pip install jupyter matplotlib`).

The public checks run the grader's own rules on the grader's own inputs: output shapes, parameter
names and shapes, every constructor setting the docstrings give (GroupNorm groups and eps, kernel
sizes, strides, padding), parameter counts, the sinusoid's formula, and properties of the forward
pass that need no reference (attention rows sum to 1, a constant value passes through attention,
a zeroed conv2 leaves skip(x), the timestep changes the output, the concatenation order), and a rule
of every homework task (`shape_trace` leaves the model as it found it; a 3-step `skip_ablation` returns
the documented dict with one loss per step, its two models starting from the same weights and seeing
the same batches; similarities symmetric with 1 on the diagonal; attention maps that sum to 1;
parameter shares that are fractions of the total), on random weights of their own.
Each component's line says its points from the public checks ("public: 3 of 3 points") and its points in
all; the last lines add them up. The rest are hidden
checks, which compare the values and gradients of every component with the reference on many inputs,
and check every other rule the homework's docstrings say "the grader checks" (the full skip
experiment, the trace's names and shapes). Passing `check.py` is necessary, not sufficient: test your
modules on your own examples too.

## Submit

Submit the `{PACKAGE_DIR}/` folder with your `.py` files (keep the file, class and function names), or
the notebook alone if you wrote your modules in its `%%writefile` cells: they are graded as the
files they write. Each component is graded on its own and each homework task with correct versions
of the blocks it uses, so an unfinished file costs its own points, with one exception: Integration
runs your `SimpleUNet` with your own blocks, so a broken block also costs Integration's points.
"""


def _prepare(out: Path, marker: str) -> None:
    """Empty ``out`` if it is a previous release (it holds ``marker``); refuse any other non-empty folder."""
    if out.exists() and any(out.iterdir()):
        if not (out / marker).exists():
            raise ReleaseError(f"{out} is not empty and is not a previous release; choose a new or empty folder")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def _write_common(out: Path, solutions, config: GradingConfig) -> list[Path]:
    written = release_stubs(solutions, out / PACKAGE_DIR)
    (out / CHECK_SCRIPT).write_text(check_script_source(), encoding="utf-8")
    written += write_check_support(out)
    (out / README).write_text(student_readme(config), encoding="utf-8")
    written += [write_public_checks(config, out / DATA_FILE), out / CHECK_SCRIPT, out / README]
    return written


def release_student(out, *, solutions=None, config=None) -> list[Path]:
    """Write the full student release to ``out``; return the files written."""
    config = config if isinstance(config, GradingConfig) else load_config(config)
    out = Path(out)
    solutions = Path(solutions) if solutions else config.reference_dir()
    _prepare(out, DATA_FILE)
    written = _write_common(out, solutions, config)
    write_notebook(student_notebook(solutions, points_table(config)), out / NOTEBOOK)
    return written + [out / NOTEBOOK]


def nbgrader_config_text(assignment: str) -> str:
    student_files = [f"{PACKAGE_DIR}/{m}.py" for m in PACKAGE_MODULES]
    return f'''{GENERATED_MARK}. Grades come from `autograder batch --nbgrader`,
# which grades the submitted .py files outside the kernel with the isolated grader and writes each
# component's score into gradebook.db. The notebook's grade cells run only the public checks.
c = get_config()  # noqa: F821

# .hypothesis/ and caches are never part of an assignment
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".hypothesis"]

# if `nbgrader autograde` or `validate` runs the notebook: bounded, and no kernel left behind
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
c.Execute.shutdown_kernel = "immediate"

# `autograde` would otherwise replace the students' modules with the instructor's stubs
c.Autograde.exclude_overwriting = {{{assignment!r}: {student_files!r}}}
'''


def release_nbgrader(course_dir, assignment: str = "unet", *, solutions=None, config=None) -> list[Path]:
    """Lay out ``course_dir/source/<assignment>/`` and ``nbgrader_config.py`` for a real nbgrader course.

    The stubs are already stripped here: nbgrader's ``generate_assignment`` copies ``.py`` files
    verbatim and strips solutions only in notebooks. An existing ``nbgrader_config.py`` that we did not
    write is left alone; our settings then go to ``nbgrader_config.autograder.py`` to merge by hand.
    """
    if not assignment or not assignment.replace("_", "").replace("-", "").isalnum():
        raise ReleaseError(f"expected an assignment name of letters, digits, - and _ but got assignment={assignment!r}")
    config = config if isinstance(config, GradingConfig) else load_config(config)
    course_dir = Path(course_dir)
    solutions = Path(solutions) if solutions else config.reference_dir()
    source = course_dir / "source" / assignment
    if source.exists():
        shutil.rmtree(source)
    source.mkdir(parents=True)
    written = _write_common(source, solutions, config)
    write_notebook(nbgrader_notebook(component_points(config), solutions, public_components(config)), source / NOTEBOOK)
    written.append(source / NOTEBOOK)
    target = course_dir / NBGRADER_CONFIG
    if target.exists() and GENERATED_MARK not in target.read_text(encoding="utf-8"):
        target = course_dir / "nbgrader_config.autograder.py"
    target.write_text(nbgrader_config_text(assignment), encoding="utf-8")
    return written + [target]
