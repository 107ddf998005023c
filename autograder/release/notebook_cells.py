"""The notebook's module cells never destroy work: a guarded ``%%writefile`` for the student notebook.

Each module cell starts with ``%%writefile unet/<module>.py``, so "Run All" would replace a module the
student edited in an editor. The notebook's first code cell calls ``guard_module_cells`` with a digest
of each released stub. From then on a module cell writes its file only when nothing can be lost:

* the file does not exist, already holds the cell's text, or still holds the released stub; or
* the cell is not the stub and the file holds exactly what a module cell last wrote there (recorded in
  ``WRITTEN``, beside the notebook, so a restarted kernel still knows); or
* the student says so: ``%%writefile --force unet/<module>.py``.

Anything else is the student's work from elsewhere (an editor), and the cell refuses in one line that
says what to do. The cells keep their ``%%writefile`` line, so a notebook handed in alone is read
exactly as before (intake ignores the ``--force`` flag).

Standard library only (IPython is there whenever a notebook runs); ``release`` ships it in
``check_support/`` beside the notebook.
"""
import hashlib
import json
import shlex
from pathlib import Path

YOUR_CODE_HERE = "# YOUR CODE HERE"  # what nbgrader adds to a cleared solution: the same stub
WRITTEN = Path(".module_cells.json")  # path -> digest of what a module cell last wrote there
FORCE = ("--force", "-f")


def stub_digest(text: str) -> str:
    """A digest of a module's text that ignores line ends, trailing spaces and nbgrader's markers."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n") if line.strip() != YOUR_CODE_HERE]
    return hashlib.sha256("\n".join(lines).strip().encode("utf-8")).hexdigest()[:16]


def _written(record: Path) -> dict:
    try:
        written = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return written if isinstance(written, dict) else {}


def remember_written(path: Path, cell: str, record: Path = WRITTEN) -> None:
    """Note that a module cell wrote ``cell`` to ``path``: the file may be rewritten while it holds that."""
    written = _written(record)
    written[path.as_posix()] = stub_digest(cell)
    try:
        record.write_text(json.dumps(written, indent=1, sort_keys=True), encoding="utf-8")
    except OSError:
        pass  # a read-only folder: the guard then protects every file that is not the stub


def refusal(path: Path, cell: str, stubs: dict, record: Path = WRITTEN) -> str | None:
    """Why writing ``cell`` to ``path`` would destroy work, or None when it may write."""
    released = stubs.get(path.as_posix())
    if released is None or not path.is_file():
        return None  # not a module of ours, or nothing to lose
    current = stub_digest(path.read_text(encoding="utf-8", errors="replace"))
    if current in (released, stub_digest(cell)):
        return None  # the file is the stub, or already holds this cell
    if stub_digest(cell) == released:
        return (f"{path} was NOT overwritten: it holds your own code and this cell is still the released stub. "
                "Keep working in the file (and ignore this cell), or put your code in this cell and run it again.")
    if _written(record).get(path.as_posix()) == current:
        return None  # the file holds what this cell wrote last time: the cell is the newer work
    return (f"{path} was NOT overwritten: the file was changed since this cell last wrote it (in an editor?). "
            f"Copy the file into this cell, or replace the file with this cell: change the first line to "
            f"`%%writefile --force {path}` and run it again.")


def guard_module_cells(stubs: dict, shell=None) -> None:
    """Make ``%%writefile`` refuse to replace a student's own module (``stubs``: released path ->
    ``stub_digest`` of the stub); ``--force`` writes anyway."""
    if shell is None:
        from IPython import get_ipython

        shell = get_ipython()
    if shell is None:
        return  # not in a notebook: nothing to guard
    write = shell.find_cell_magic("writefile")

    def writefile(line, cell):
        arguments = shlex.split(line)
        forced = any(word in FORCE for word in arguments)
        arguments = [word for word in arguments if word not in FORCE]
        path = Path(arguments[-1]) if arguments else None
        guarded = path is not None and path.as_posix() in stubs and "-a" not in arguments
        problem = refusal(path, cell, stubs) if guarded and not forced else None
        if problem:
            print(problem)
            return None
        result = write(shlex.join(arguments), cell)
        if guarded:
            remember_written(path, cell)
        return result

    shell.register_magic_function(writefile, "cell", "writefile")
