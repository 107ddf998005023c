"""The code in a Jupyter or Colab notebook, as the modules it stands for.

A ``%%writefile path`` (or ``%%file``) cell is the file it writes (``-a`` appends), placed beside the
notebook as Jupyter would. Every other code cell joins one module, with IPython's line magics, shell
and help lines (``%matplotlib``, ``!pip install``, ``SimpleUNet?``) blanked and cell magics other than
``%%time``/``%%capture`` left out; the grader then keeps only what the contract's definitions need (``definitions_only``),
so top-level code that trains, plots or downloads never runs. Line numbers map back to cells.
"""
import ast
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from .python_source import PARSER_ERRORS
from .safe_text import safe_text

_KEPT_CELL_MAGICS = {"time", "capture", "timeit"}  # they only wrap the code below them


@dataclass
class NotebookCode:
    files: dict[str, str] = field(default_factory=dict)  # path beside the notebook -> text
    module_text: str = ""  # the other code cells, one after another
    cells: list[list[int]] = field(default_factory=list)  # [first line in module_text, cell number]
    notes: list[str] = field(default_factory=list)
    problem: str | None = None  # why no code could be taken at all
    syntax_errors: list[str] = field(default_factory=list)  # why cells were left out: "label, cell N: message"


def extract(text: str, label: str) -> NotebookCode:
    found = NotebookCode()
    try:
        notebook = json.loads(text)
    except (ValueError, RecursionError, MemoryError) as exc:  # RecursionError: JSON nested too deeply
        found.problem = (f"{label} is not a readable notebook ({safe_text(exc, 300) or type(exc).__name__}); "
                         "download it again from Jupyter or Colab")
        return found
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        found.problem = f"{label} has no cells in a format we read (Jupyter notebook format 4)"
        return found
    chunks, line = [], 1
    written: dict[str, list[str]] = {}  # path -> its cells' texts, joined once at the end (``-a`` appends)
    for number, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(map(str, source)) if isinstance(source, list) else str(source)
        if not source.strip():
            continue
        first, _, rest = source.partition("\n")
        if first.startswith("%%"):
            magic, *arguments = first[2:].split(None, 1) or [""]
            if magic in ("writefile", "file"):  # %%file: IPython's other name for it
                _write(found, written, arguments[0] if arguments else "", rest, label, number)
                continue
            if magic not in _KEPT_CELL_MAGICS:
                found.notes.append(f"{label}, cell {number}: a %%{magic} cell, left out")
                continue
            source = "\n" + rest  # keep the cell's line numbers
        code = without_ipython_lines(source)
        try:
            try:
                ast.parse(code)
            except SyntaxError:
                code = without_ipython_lines(source, help_lines=True)
                ast.parse(code)
        except PARSER_ERRORS as exc:
            lineno = getattr(exc, "lineno", None)
            message = safe_text(getattr(exc, 'msg', exc), 300)
            found.syntax_errors.append(f"{label}, cell {number}{f', line {lineno}' if lineno else ''}: {message}")
            found.notes.append(f"{label}, cell {number}: not Python ({message}{f', line {lineno}' if lineno else ''}); "
                               "left out")
            continue
        found.cells.append([line, number])
        chunks.append(code.rstrip("\n") + "\n")
        line += code.rstrip("\n").count("\n") + 1
    found.module_text = "".join(chunks)
    found.files = {path: "".join(parts) for path, parts in written.items()}
    if not found.files and not found.module_text.strip():
        found.problem = f"{label} holds no code cells we could read"
    return found


def _write(found: NotebookCode, written: dict, arguments: str, body: str, label: str, number: int) -> None:
    try:
        words = shlex.split(arguments)
    except ValueError:
        words = arguments.split()
    append = "-a" in words
    paths = [w for w in words if not w.startswith("-")]
    if not paths:
        found.notes.append(f"{label}, cell {number}: %%writefile without a file name, left out")
        return
    path = _beside_notebook(paths[0])
    parts = written.setdefault(path, [])
    if not append:
        parts.clear()
    parts.append(body + ("" if body.endswith("\n") else "\n"))


def _beside_notebook(path: str) -> str:
    """Where a ``%%writefile`` lands, relative to the notebook (Colab's ``/content/`` is its folder)."""
    parts = [p for p in PurePosixPath(path.replace("\\", "/")).parts if p not in ("/", ".", "..")]
    if path.startswith("/"):
        parts = parts[-2:] if len(parts) >= 2 and parts[-2].isidentifier() and parts[-2] != "content" else parts[-1:]
    return PurePosixPath(*parts).as_posix() if parts else "unnamed.py"


_MAGIC_LINE = re.compile(r"^\s*[%!]")
# IPython's help: ``SimpleUNet?``, ``model.forward??``, ``?torch.nn`` -- never Python, and IPython runs them.
_HELP_LINE = re.compile(r"^\s*(\?{1,2}\s*[A-Za-z_][\w.]*|[A-Za-z_][\w.]*(\(\))?\s*\?{1,2})\s*$")


def without_ipython_lines(source: str, help_lines: bool = False) -> str:
    """Line magics and shell lines blanked (``x = !ls`` too), and with ``help_lines`` help lines (only
    where the cell does not parse without: such a line may sit inside a string), so the rest parses."""
    lines = []
    for line in source.split("\n"):
        stripped = line.strip()
        if _MAGIC_LINE.match(line) or (help_lines and _HELP_LINE.match(line)) \
                or re.match(r"^[A-Za-z_][\w, ]*=\s*[!%]", stripped):
            lines.append("")
        else:
            lines.append(line)
    return "\n".join(lines)
