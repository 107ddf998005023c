"""The notebook's module cells never destroy work: a guarded ``%%writefile`` for the student notebook.

Each module cell starts with ``%%writefile unet/<module>.py``, so "Run All" would replace every module a
student completed in an editor with the stub still in the cell. The notebook's first code cell calls
``guard_module_cells`` with a digest of each released stub; from then on ``%%writefile`` writes as
before, except when the cell is still the released stub and the file holds something else (the
student's own code): then it leaves the file alone and says so in one line. A cell the student
changed is their work, and writes. The cells keep their ``%%writefile`` line, so a notebook handed in
alone is read exactly as before.

Standard library only (IPython is there whenever a notebook runs); ``release`` ships it in
``check_support/`` beside the notebook.
"""
import hashlib
import shlex
from pathlib import Path

YOUR_CODE_HERE = "# YOUR CODE HERE"  # what nbgrader adds to a cleared solution: the same stub


def stub_digest(text: str) -> str:
    """A digest of a module's text that ignores line ends, trailing spaces and nbgrader's markers."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n") if line.strip() != YOUR_CODE_HERE]
    return hashlib.sha256("\n".join(lines).strip().encode("utf-8")).hexdigest()[:16]


def refusal(path: Path, cell: str, stubs: dict) -> str | None:
    """Why writing ``cell`` to ``path`` would destroy work, or None when it may write."""
    released = stubs.get(path.as_posix())
    if released is None or not path.is_file() or stub_digest(cell) != released:
        return None  # not a module of ours, nothing to lose, or the cell holds the student's own code
    current = stub_digest(path.read_text(encoding="utf-8", errors="replace"))
    if current == released:
        return None
    return (f"{path} was NOT overwritten: it holds your own code and this cell is still the released stub. "
            "Keep working in the file (and ignore this cell), or put your code in this cell and run it again.")


def guard_module_cells(stubs: dict, shell=None) -> None:
    """Make ``%%writefile`` refuse to replace a student's own module with an unchanged stub cell
    (``stubs``: released path -> ``stub_digest`` of the stub)."""
    if shell is None:
        from IPython import get_ipython

        shell = get_ipython()
    if shell is None:
        return  # not in a notebook: nothing to guard
    write = shell.find_cell_magic("writefile")

    def writefile(line, cell):
        arguments = shlex.split(line)
        path = Path(arguments[-1]) if arguments else None
        problem = refusal(path, cell, stubs) if path is not None and "-a" not in arguments else None
        if problem:
            print(problem)
            return None
        return write(line, cell)

    shell.register_magic_function(writefile, "cell", "writefile")
