"""The notebook's module cells never destroy work: a guarded ``%%writefile`` for the student notebook.

Each module cell starts with ``%%writefile unet/<module>.py``, so "Run All" would replace every module a
student completed in an editor with the stub still in the cell. The notebook's first code cell calls
``guard_module_cells`` with a digest of each released stub; from then on ``%%writefile`` writes as
before, except when the cell is still the released stub and the file holds something else (the
student's own code): then it leaves the file alone and says so in one line. A cell the student
changed is their work, and writes -- unless the file was changed since a cell last wrote it (edited in
an editor after working in the notebook): that is work too, so the cell refuses in one line. What each
cell wrote last is recorded beside this module (``WRITTEN``), so a restarted kernel still knows. The
cells keep their ``%%writefile`` line, so a notebook handed in alone is read exactly as before.

Standard library only (IPython is there whenever a notebook runs); ``release`` ships it in
``check_support/`` beside the notebook.
"""
import hashlib
import json
import shlex
from pathlib import Path

YOUR_CODE_HERE = "# YOUR CODE HERE"  # what nbgrader adds to a cleared solution: the same stub
WRITTEN = Path(__file__).resolve().parent / "written_by_cells.json"  # path -> digest of what a cell last wrote


def stub_digest(text: str) -> str:
    """A digest of a module's text that ignores line ends, trailing spaces and nbgrader's markers."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n") if line.strip() != YOUR_CODE_HERE]
    return hashlib.sha256("\n".join(lines).strip().encode("utf-8")).hexdigest()[:16]


def refusal(path: Path, cell: str, stubs: dict, written: dict | None = None) -> str | None:
    """Why writing ``cell`` to ``path`` would destroy work, or None when it may write.

    ``written``: path -> digest of what a cell last wrote there (``WRITTEN``)."""
    released = stubs.get(path.as_posix())
    if released is None or not path.is_file():
        return None  # not a module of ours, or nothing to lose
    current = stub_digest(path.read_text(encoding="utf-8", errors="replace"))
    if current == released or current == stub_digest(cell):
        return None  # the file holds the stub, or what the cell holds already
    if stub_digest(cell) == released:
        return (f"{path} was NOT overwritten: it holds your own code and this cell is still the released stub. "
                "Keep working in the file (and ignore this cell), or put your code in this cell and run it again.")
    last = (written or {}).get(path.as_posix())
    if last is not None and current != last:
        return (f"{path} was NOT overwritten: the file changed since this notebook last wrote it (edited in an "
                "editor?). Copy those changes into this cell and run it again, keep working in the file, or delete the "
                "file to let this cell write it.")
    return None


def _written() -> dict:
    try:
        return json.loads(WRITTEN.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _remember(path: Path, cell: str) -> None:
    """Record what a cell wrote to ``path``; a record that cannot be written only weakens the guard."""
    written = _written()
    written[path.as_posix()] = stub_digest(cell)
    try:
        WRITTEN.write_text(json.dumps(written, indent=1, sort_keys=True), encoding="utf-8")
    except OSError:
        pass


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
        guarded = path is not None and "-a" not in arguments
        problem = refusal(path, cell, stubs, _written()) if guarded else None
        if problem:
            print(problem)
            return None
        result = write(line, cell)
        if guarded and path.as_posix() in stubs:
            _remember(path, cell)
        return result

    shell.register_magic_function(writefile, "cell", "writefile")
