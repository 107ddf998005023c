"""Per-student seconds of `nbgrader autograde` on the synthetic submissions of batch_throughput.py.

Usage: .venv/bin/python benchmarks/nbgrader_autograde.py [--n 4]

Releases the course (`autograder release --nbgrader`), runs `nbgrader generate_assignment unet`, puts
each submission in submitted/<student>/unet/ (the released notebook and check.py, the submission's
modules in unet/), then times one `nbgrader autograde unet --student S` process per student: a fresh
nbgrader, a fresh kernel that runs the whole notebook (its module cells completed with the
submission's modules, the five homework tasks, the public checks in the grade cells and check.py). That is the number to set beside batch_throughput.py's per-submission figures.
Not part of the test suite: it takes minutes.
"""
import argparse
import importlib.util
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.release.notebook import NOTEBOOK  # noqa: E402
from benchmarks.synthetic import make_submissions  # noqa: E402
from tests.release_support import BIN, isolated_env  # noqa: E402

ASSIGNMENT = "unet"


def _run(command: list[str], cwd: Path, env: dict) -> None:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {result.returncode}:\n{result.stdout}\n{result.stderr}")


def _check_autograded(course: Path, student: str) -> None:
    """Fail loudly unless autograde ran every code cell of the notebook and recorded the submission."""
    import nbformat
    from nbgrader.api import Gradebook, MissingEntry

    notebook_path = course / "autograded" / student / ASSIGNMENT / NOTEBOOK
    if not notebook_path.exists():
        raise RuntimeError(f"nbgrader autograde wrote no {notebook_path}: the notebook was not executed")
    cells = [c for c in nbformat.read(str(notebook_path), as_version=4).cells if c.cell_type == "code"]
    unexecuted = [i for i, c in enumerate(cells) if c.execution_count is None]
    if unexecuted:
        raise RuntimeError(f"{notebook_path}: code cells {unexecuted} of {len(cells)} were not executed")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        try:
            gradebook.find_submission(ASSIGNMENT, student)
        except MissingEntry:
            raise RuntimeError(f"no gradebook entry for {student}'s {ASSIGNMENT} after nbgrader autograde") from None


def _complete_module_cells(notebook_path: Path, submission: Path) -> None:
    """The student completed the notebook too: its ``%%writefile`` cells hold their modules (the
    released stubs, run as they are, would overwrite the modules and fail every task)."""
    import nbformat

    notebook = nbformat.read(str(notebook_path), as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code" and cell.source.startswith("%%writefile unet/"):
            first_line = cell.source.split("\n", 1)[0]
            module = submission / first_line.rsplit("/", 1)[-1]
            if module.is_file():
                cell.source = f"{first_line}\n{module.read_text()}"
    nbformat.write(notebook, str(notebook_path))


def time_nbgrader_autograde(submission_folders: list[Path], workdir: Path) -> list[float] | None:
    """Seconds of one `nbgrader autograde` process per submission (student = the folder's name), in order.

    ``workdir`` receives the course and an isolated HOME/Jupyter home. The notebook asks for the
    ``python3`` kernel: the venv's kernelspec, whose ``python`` jupyter_client runs as nbgrader's own
    interpreter (the venv's; its bin/ is also first on PATH).
    Returns None when nbgrader is not installed.
    """
    if importlib.util.find_spec("nbgrader") is None:
        print("nbgrader is not installed in this environment: skipping `nbgrader autograde`")
        return None
    course, env = workdir / "course", isolated_env(workdir / "jupyter")
    _run([sys.executable, "-m", "autograder.cli", "release", "--nbgrader", str(course), "--assignment", ASSIGNMENT],
         ROOT, env)
    _run([str(BIN / "nbgrader"), "generate_assignment", ASSIGNMENT], course, env)
    for submission in submission_folders:
        folder = course / "submitted" / submission.name / ASSIGNMENT
        shutil.copytree(course / "release" / ASSIGNMENT, folder)
        for module in submission.glob("*.py"):
            shutil.copy(module, folder / "unet" / module.name)
        _complete_module_cells(folder / NOTEBOOK, submission)
        (folder / "timestamp.txt").write_text("2026-01-15 12:00:00.000000 UTC")

    seconds = []
    for submission in submission_folders:
        started = time.perf_counter()
        _run([str(BIN / "nbgrader"), "autograde", ASSIGNMENT, "--student", submission.name], course, env)
        seconds.append(time.perf_counter() - started)
        _check_autograded(course, submission.name)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4, help="number of synthetic submissions")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="nbgrader-bench-") as tmp:
        tmp = Path(tmp)
        submissions = tmp / "submissions"
        submissions.mkdir()
        names = make_submissions(submissions, args.n)
        print(f"{args.n} submissions: " + "; ".join(names), flush=True)
        seconds = time_nbgrader_autograde(sorted(submissions.iterdir()), tmp / "work")
    if seconds is None:
        return
    for name, value in zip(names, seconds):
        print(f"{value:>8.2f} s  {name}")
    print(f"median s per student, `nbgrader autograde` (fresh process and kernel): {statistics.median(seconds):.2f}")


if __name__ == "__main__":
    main()
