"""The code in a Jupyter or Colab notebook, as the modules it stands for.

A ``%%writefile path`` (or ``%%file``) cell is the file it writes (``-a`` appends), placed beside the
notebook as Jupyter would. Every other code cell joins one module, read as IPython reads it: its own
input transformation turns line magics, shell and help lines (``%matplotlib``, ``!pip install a \\``,
``SimpleUNet?``) into ``get_ipython()`` calls, which a no-op ``get_ipython`` answers when graded; where
IPython cannot be imported (the student's check.py runs on the standard library alone) such lines are
blanked instead. ``%run name.py`` brings the file's names in (``from name import *``) and ``display``
is there without an import, as in Jupyter. Cell magics other than ``%%time``/``%%capture`` are left
out; the grader then keeps only what the contract's definitions need (``definitions_only``), so
top-level code that trains, plots or downloads never runs. Line numbers map back to cells.
"""
import ast
import functools
import json
import keyword
import re
import shlex
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from .python_source import DEFINITION_LINE, PARSER_ERRORS, OverBudget, recovered, spend
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
    broken: dict[str, str] = field(default_factory=dict)  # names a statement that does not parse defined -> its error
    # names a markdown or raw cell defines as code (a stray M or R key): name -> "label, cell N (a markdown cell)"
    not_code: dict[str, str] = field(default_factory=dict)


MAX_LOOKED_AT = 100_000  # characters of a markdown or raw cell searched for definitions

# Each code cell costs ~50 us of reading whatever its length (IPython's transformer, parsing): a
# notebook of 125,000 one-line cells, 375 KB of code, cost 7 s, and a zip holds many. A hand-in's
# notebooks may have this many in all (within ``python_source.intake_budget``; else each notebook); course notebooks
# hold a few hundred.
MAX_CODE_CELLS = 5_000


def _format_3(notebook) -> bool:
    return isinstance(notebook, dict) and notebook.get("nbformat") == 3 and isinstance(notebook.get("worksheets"), list)


def _upgraded(notebook: dict, label: str) -> tuple[dict | None, str | None]:
    """A notebook of format 3 (Jupyter before 2015; some course tools still write it) as the format-4
    cells this module reads: (the notebook, None), or (None, why not). Only what is read is carried over
    -- each cell's kind and source, a code cell's execution count -- not its outputs: nbformat's own
    converter validated and copied everything (a million empty outputs: 70 s) and wrote a heading's
    level as that many '#' (a level of 300,000,000 in a 514-byte file: 600 MB; red team)."""
    cells = [c for w in notebook["worksheets"] if isinstance(w, dict) and isinstance(w.get("cells"), list)
             for c in w["cells"]]
    if len(cells) > MAX_CODE_CELLS * 10:
        return None, f"{label} has {len(cells):,} cells; hand in your modules as .py files"
    upgraded = []
    for cell in cells:
        if not isinstance(cell, dict):
            continue
        kind = cell.get("cell_type")
        if kind == "code":
            upgraded.append({"cell_type": "code", "source": cell.get("input", ""),
                             "execution_count": cell.get("prompt_number")})
        elif kind in ("markdown", "raw", "heading"):  # a heading is a markdown cell in format 4
            upgraded.append({"cell_type": "raw" if kind == "raw" else "markdown", "source": cell.get("source", "")})
    return {"nbformat": 4, "cells": upgraded}, None


def extract(text: str, label: str) -> NotebookCode:
    found = NotebookCode()
    try:
        notebook = json.loads(text)
    except (ValueError, RecursionError, MemoryError) as exc:  # RecursionError: JSON nested too deeply
        found.problem = (f"{label} is not a readable notebook ({safe_text(exc, 300) or type(exc).__name__}); "
                         "download it again from Jupyter or Colab")
        return found
    if _format_3(notebook):
        notebook, found.problem = _upgraded(notebook, label)
        if found.problem:
            return found
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        found.problem = (f"{label} has no cells in a format we read (Jupyter notebook format 4 or 3); open it in "
                         "Jupyter and save it again, or hand in your modules as .py files")
        return found
    code_cells = sum(1 for cell in cells if isinstance(cell, dict) and cell.get("cell_type") == "code")
    if not _within_cells(code_cells):
        found.problem = (f"{label} has {code_cells:,} code cells, past the {MAX_CODE_CELLS:,} a hand-in's notebooks "
                         "may have in all; hand in your modules as .py files")
        return found
    chunks, line, ran = [], 1, []  # ran: [cell number, its execution count or None] per chunk
    written: dict[str, list[str]] = {}  # path -> its cells' texts, joined once at the end (``-a`` appends)
    for number, cell in enumerate(cells, start=1):
        if isinstance(cell, dict) and cell.get("cell_type") in ("markdown", "raw") and len(found.not_code) < 50:
            for name in DEFINITION_LINE.findall(_cell_text(cell)[:MAX_LOOKED_AT]):
                found.not_code.setdefault(name, f"{label}, cell {number} (a {cell['cell_type']} cell)")
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = _cell_text(cell)
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
        try:
            code = ipython_code(source)
        except PARSER_ERRORS as exc:
            lineno = getattr(exc, "lineno", None)
            message = safe_text(getattr(exc, 'msg', exc), 300)
            found.syntax_errors.append(f"{label}, cell {number}{f', line {lineno}' if lineno else ''}: {message}")
            code = _without_broken_statements(source, f"{label}, cell {number}", found)
            if code is None:
                found.notes.append(f"{label}, cell {number}: not Python ({message}{f', line {lineno}' if lineno else ''}); "
                                   "left out")
                continue
        found.cells.append([line, number])
        chunks.append(code.rstrip("\n") + "\n")
        count = cell.get("execution_count")
        ran.append([number, count if isinstance(count, int) and not isinstance(count, bool) else None])
        line += code.rstrip("\n").count("\n") + 1
    _as_the_kernel_held(chunks, ran, found, label)
    found.module_text = with_notebook_builtins("".join(chunks))
    found.files = {path: "".join(parts) for path, parts in written.items()}
    if not found.files and not found.module_text.strip():
        found.problem = f"{label} holds no code cells we could read"
    return found


def _without_broken_statements(source: str, where: str, found: NotebookCode) -> str | None:
    """A cell that does not parse, as a file that does not parse is read (``python_source.recovered``):
    without its broken top-level statements (IPython's lines blanked first), their names kept in
    ``found.broken`` with Python's message, a note per statement; None where it cannot be cut."""
    try:
        plain = without_ipython_lines(_RUN_LINE.sub(_run_as_import, source), help_lines=True)
        kept, indexed, notes = recovered(plain, where)
    except OverBudget:
        return None
    for name, error in indexed.broken.items():
        found.broken.setdefault(name, error)
    if indexed.tree is None:
        return None
    found.notes.extend(notes)
    return loads_as_imports(kept, indexed.tree)


def _as_the_kernel_held(chunks: list[str], ran: list, found: NotebookCode, label: str) -> None:
    """A class or function defined in several cells is the one the kernel held: where every cell that
    defines it has an execution count, the one run last (a cell fixed and run again above an old
    copy), its later copies in cell order left out of ``chunks`` (lines kept), with a note naming the
    cells. Without counts (never run, or cleared), the last copy in cell order, as running the notebook
    top to bottom gives. Linear: each cell's definition lines read once, a cell parsed again only where
    a copy in it is left out."""
    defined: dict[str, list[int]] = {}  # name -> the chunks that define it, in cell order
    for at, code in enumerate(chunks):
        for name in dict.fromkeys(DEFINITION_LINE.findall(code)):
            defined.setdefault(name, []).append(at)
    stale: dict[int, set[str]] = {}  # chunk -> names whose definitions there the kernel did not hold
    for name, places in defined.items():
        counts = [ran[at][1] for at in places]
        if len(places) < 2 or None in counts:
            continue
        held = max(places, key=lambda at: ran[at][1])
        later = [at for at in places if at > held]
        if not later:
            continue
        for at in later:
            stale.setdefault(at, set()).add(name)
        others = ", ".join(f"cell {ran[at][0]}: {ran[at][1]}" for at in later)
        found.notes.append(f"{label}: {name} is defined in cell {ran[held][0]} and again below it, but cell "
                           f"{ran[held][0]} ran last (execution count {ran[held][1]}; {others}): graded cell "
                           f"{ran[held][0]}'s {name}, as the kernel had it; delete the old copy")
    for at, names in stale.items():
        chunks[at] = _without_definitions(chunks[at], names)


def _without_definitions(code: str, names: set[str]) -> str:
    """``code`` with its top-level classes and functions named ``names`` blanked, line numbers kept."""
    try:
        tree = ast.parse(code)
    except PARSER_ERRORS:
        return code
    lines = code.split("\n")
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in names:
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            lines[first - 1:node.end_lineno] = [""] * (node.end_lineno - first + 1)
    return "\n".join(lines)


def _cell_text(cell: dict) -> str:
    """A cell's source as one text (Jupyter saves a list of lines or a string), its line endings read as
    a file's are (``text.decode``): Python breaks lines at a lone \\r too."""
    source = cell.get("source", "")
    source = "".join(map(str, source)) if isinstance(source, list) else str(source)
    return source.replace("\r\n", "\n").replace("\r", "\n")


def exported_cells(text: str) -> list[str] | None:
    """The cells of a notebook exported as a script (``jupyter nbconvert --to script``, Jupyter's "Export
    as Executable Script": top-level ``get_ipython()`` calls), or None for any other Python file.

    Such an export writes each cell magic as ``get_ipython().run_cell_magic(name, line, body)``: a
    ``%%writefile`` cell's code sits in a string. Each such top-level call becomes its cell again
    (``%%name line`` and its body), the code between them one cell each, with its line magics and shell
    lines (``run_line_magic``, ``system``) written back as IPython's ``%``/``!`` lines.
    """
    if "get_ipython()" not in text:  # every .py file comes here: parsed again only where it may be one
        return None
    try:
        tree = ast.parse(text)
    except PARSER_ERRORS:
        return None
    lines = text.split("\n")
    cells, pending, at, calls = [], [], 0, 0
    for statement in tree.body:
        written = _ipython_call(statement)
        if written is None:
            continue
        calls += 1
        pending += lines[at:statement.lineno - 1]
        at = statement.end_lineno
        if written.startswith("%%"):
            if "".join(pending).strip():
                cells.append("\n".join(pending))
            cells.append(written)
            pending = []
        else:
            pending.append(written)
    if not calls:
        return None
    pending += lines[at:]
    if "".join(pending).strip():
        cells.append("\n".join(pending))
    return cells


def _ipython_call(statement: ast.stmt) -> str | None:
    """What ``get_ipython().run_cell_magic(...)``, ``.run_line_magic(...)`` or ``.system(...)`` with
    constant arguments was written as in the notebook; None for any other statement."""
    call = statement.value if isinstance(statement, ast.Expr) else None
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Call)
            and isinstance(call.func.value.func, ast.Name) and call.func.value.func.id == "get_ipython"
            and not call.keywords and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in call.args)):
        return None
    arguments = [a.value for a in call.args]
    if call.func.attr == "run_cell_magic" and len(arguments) == 3:
        name, line, body = arguments
        return f"%%{name} {line}".rstrip() + "\n" + body
    if call.func.attr == "run_line_magic" and len(arguments) == 2:
        return f"%{arguments[0]} {arguments[1]}".rstrip()
    if call.func.attr == "system" and len(arguments) == 1:
        return f"!{arguments[0]}"
    return None


def looks_like_notebook(text: str) -> bool:
    """Whether ``text`` is a notebook's JSON (a notebook saved or renamed as .py or .txt)."""
    if not text.lstrip().startswith("{"):
        return False
    try:
        notebook = json.loads(text)
    except (ValueError, RecursionError, MemoryError):
        return False
    return isinstance(notebook, dict) and isinstance(notebook.get("cells"), list) or _format_3(notebook)


# IPython's transformer re-reads the whole cell once for each line it transforms (up to 500 times): a
# cell of 600 shell lines cost 29 s (red team). What it may re-read for one hand-in, in characters read
# times lines that may be IPython's (a ``!``, ``%`` or ``?`` on them): ~4 s at its worst. Past it, the
# standard library's reading (``without_ipython_lines``), linear, as in check.py.
IPYTHON_WORK = 1_500_000
_MAYBE_IPYTHON = re.compile(r"[!%?]")


def intake_budget_kinds() -> dict[str, int]:
    """What this module's readers spend of a hand-in's budget (``python_source.intake_budget``)."""
    return {"ipython": IPYTHON_WORK, "cells": MAX_CODE_CELLS}


def _within_cells(count: int) -> bool:
    """Whether a notebook of ``count`` code cells may be read, counting them against the hand-in's (outside
    a hand-in's intake, against this notebook's own)."""
    return count <= MAX_CODE_CELLS and spend(cells=count)


def _within_ipython_work(source: str) -> bool:
    """Whether IPython's transformer may read ``source``, counting it against the hand-in's work."""
    return spend(ipython=len(source) * (1 + sum(1 for line in source.split("\n") if _MAYBE_IPYTHON.search(line))))


def ipython_code(source: str) -> str:
    """``source`` (a cell, or a notebook saved as .py) as Python code IPython would run, line magics,
    shell and help lines included; raises the parser's error where it is not Python even so.

    IPython's own transformation where it can be imported (within the hand-in's ``IPYTHON_WORK``); else (the
    student's check.py, standard library only) those lines blanked, help lines only where needed
    (such a line may sit in a string).
    """
    source = _RUN_LINE.sub(_run_as_import, source)
    tries = [lambda: source, lambda: without_ipython_lines(source),
             lambda: without_ipython_lines(source, help_lines=True)]
    if (transform := _ipython_transform()) is not None and _within_ipython_work(source):
        tries.insert(0, lambda: _top_level_ipython_calls_as_pass(_same_lines(source, transform(source))))
    first_error = None
    for attempt in tries:
        try:
            code = attempt()
            return loads_as_imports(code, ast.parse(code))
        except PARSER_ERRORS as exc:
            first_error = first_error or exc
        except Exception as exc:  # noqa: BLE001 -- IPython's transformer on input it was not made for
            first_error = first_error or SyntaxError(f"IPython could not read it ({type(exc).__name__})")
    raise first_error


def _same_lines(source: str, code: str) -> str:
    """IPython's ``code`` with a blank line for each ``\\`` continuation it joined into a shell or magic
    line, so that a line of ``code`` is that line of ``source`` (tracebacks name the line written)."""
    written, lines, kept = source.split("\n"), code.split("\n"), []
    at = 0
    for line in lines:
        kept.append(line)
        if at < len(written) and "get_ipython()" in line and "get_ipython" not in written[at]:
            while at < len(written) - 1 and written[at].rstrip().endswith("\\"):
                at += 1
                kept.append("")
        at += 1
    return "\n".join(kept) if len(kept) in (len(written), len(written) + 1) else code


def _top_level_ipython_calls_as_pass(code: str) -> str:
    """``code`` with each ``get_ipython()...`` statement outside a function or class made ``pass`` (its
    other lines blanked): a .py file's top-level code runs before the no-op ``get_ipython`` at its end is
    defined, and a shell or magic line does nothing when graded; inside a definition the call stays."""
    tree = ast.parse(code)
    calls, pending = [], list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if isinstance(node, (ast.Expr, ast.Assign)) and _calls_ipython(node.value):
            calls.append(node)
            continue
        for name in ("body", "orelse", "finalbody", "handlers"):
            pending += [n for n in getattr(node, name, []) if isinstance(n, ast.stmt | ast.excepthandler)]
    return _replaced(code, [(node, "pass") for node in calls])


def _replaced(code: str, replacements: list) -> str:
    """``code`` with each statement's own span replaced by its text (``(statement, text)`` pairs), in one
    pass: offsets are the parser's, in bytes of the original text, so what shares a line stays and a
    later statement's columns still hold. Line numbers stay (a traceback names the line written): a
    statement over several lines leaves its other lines empty, or ending in a backslash where code
    follows it on its last line."""
    if not replacements:
        return code
    data = code.encode()
    starts = [0]
    for line in data.split(b"\n"):
        starts.append(starts[-1] + len(line) + 1)
    pieces, at = [], 0
    for statement, text in sorted(replacements, key=lambda pair: (pair[0].lineno, pair[0].col_offset)):
        at_end = starts[statement.end_lineno - 1] + statement.end_col_offset
        rest = data[at_end:starts[statement.end_lineno] - 1].strip()  # what follows it on its last line
        joined = b"\\\n" if rest and not rest.startswith(b"#") else b"\n"  # a continuation only where code follows
        pieces += [data[at:starts[statement.lineno - 1] + statement.col_offset],
                   text.encode() + joined * (statement.end_lineno - statement.lineno)]
        at = at_end
    return (b"".join(pieces) + data[at:]).decode()


def _calls_ipython(value: ast.expr) -> bool:
    """``get_ipython().system(...)``, ``.getoutput``, ``.run_line_magic``: what IPython makes of its lines."""
    return (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute)
            and isinstance(value.func.value, ast.Call) and isinstance(value.func.value.func, ast.Name)
            and value.func.value.func.id == "get_ipython")


@functools.cache
def _ipython_transform():
    """IPython's ``transform_cell``, or None where IPython is not installed."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except Exception:  # noqa: BLE001 -- not installed, or broken: the standard-library reading stands in
        return None
    return TransformerManager().transform_cell


# ``%run blocks.py`` (also ``-i``, ``./blocks.py``, Colab's ``/content/blocks.py``; ``%run blocks``, to which
# IPython adds ``.py``; ``%run blocks.ipynb``, a notebook IPython runs as well): the file runs and its names
# land in the notebook's namespace; a star import of the hand-in's module gives the same names. Unindented
# lines only: inside a function or class a star import does not compile (``loads_as_imports`` does the same
# for ``exec(open(...).read())``).
_RUN_LINE = re.compile(r"^%run[ \t]+(?:-\S+[ \t]+)*[\"']?(?:[^\s\"']*/)?([A-Za-z_]\w*)(?:\.py|\.ipynb)?[\"']?"
                       r"[ \t]*(?:#.*)?$", re.M)


def _run_as_import(match: re.Match) -> str:
    module = match.group(1)
    return match.group(0) if keyword.iskeyword(module) else f"from {module} import *"


def loads_as_imports(code: str, tree: ast.Module | None = None) -> str:
    """``code`` with each top-level statement that runs a sibling file's code in this namespace --
    ``exec(open("blocks.py").read())`` (with ``globals()``, an encoding, ``compile``, ``Path.read_text``,
    inside ``with open(...) as f``), ``globals().update(runpy.run_path("blocks.py"))`` -- written as the
    star import of that module, which gives the same names (the sandbox lets no code open the
    hand-in's files). Line numbers stay; only top-level statements (a star import is allowed only there);
    code that does not parse is returned as it is. ``tree``: ``code`` already parsed."""
    if "exec" not in code and "run_path" not in code:
        return code
    if tree is None:
        try:
            tree = ast.parse(code)
        except PARSER_ERRORS:
            return code
    # each statement's own span (``import math; exec(...); exec(...)`` keeps the rest of its line), in one
    # pass: rewriting a line per statement was quadratic and shifted the next statement's columns
    found = [(statement, module) for statement in tree.body if (module := _file_run_here(statement)) is not None]
    return _replaced(code, [(statement, f"from {module} import *") for statement, module in found])


def _file_run_here(statement: ast.stmt) -> str | None:
    """The module whose file ``statement`` runs in this namespace (see ``loads_as_imports``), or None."""
    if not isinstance(statement, (ast.Expr, ast.With)):
        return None
    nodes = list(ast.walk(statement))
    runs = any(isinstance(n, ast.Call) and (isinstance(n.func, ast.Name) and n.func.id == "exec"
                                            or isinstance(n.func, ast.Attribute) and n.func.attr == "run_path")
               for n in nodes)
    files = {PurePosixPath(n.value.replace("\\", "/")).name for n in nodes
             if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value.endswith((".py", ".ipynb"))}
    stems = {name.rsplit(".", 1)[0] for name in files}
    if not runs or len(stems) != 1:
        return None
    (stem,) = stems
    return stem if stem.isidentifier() and not keyword.iskeyword(stem) else None


# What Jupyter gives a notebook's code without an import, and what IPython's transformed lines call.
# Appended (line numbers stay), only where the notebook does not bind the name itself; they do nothing.
_NOTEBOOK_BUILTINS = {
    "display": ("def display(*objects, **options):  # Jupyter's display(): shows nothing when graded\n"
                "    return None\n"),
    "get_ipython": ("def get_ipython():  # what IPython's !shell and %magic lines call: nothing runs when graded\n"
                    "    return _NoIPythonWhenGraded()\n"
                    "class _NoIPythonWhenGraded:\n"
                    "    def __getattr__(self, name):\n"
                    "        return lambda *arguments, **options: None\n"),
}


def with_notebook_builtins(code: str) -> str:
    """``code`` with ``display`` and ``get_ipython`` defined at its end where it reads them unbound."""
    try:
        tree = ast.parse(code)
    except PARSER_ERRORS:
        return code
    read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    bound = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        else:
            bound |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    added = "".join(text for name, text in _NOTEBOOK_BUILTINS.items() if name in read - bound)
    return code if not added else code.rstrip("\n") + "\n" + added


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


_MAGIC_LINE = re.compile(r"^\s*(%|!(?!=))")  # ``!=`` starts a line in Black's style: Python, not a shell line
# IPython's help: ``SimpleUNet?``, ``model.forward??``, ``?torch.nn`` -- never Python, and IPython runs them.
_HELP_LINE = re.compile(r"^\s*(\?{1,2}\s*[A-Za-z_][\w.]*|[A-Za-z_][\w.]*(\(\))?\s*\?{1,2})\s*$")


def without_ipython_lines(source: str, help_lines: bool = False) -> str:
    """Line magics and shell lines made ``pass`` (``x = !ls`` too, with their ``\\`` continuation lines
    blanked), and with ``help_lines`` help lines (only where the cell does not parse without: such a
    line may sit inside a string), so the rest parses with its line numbers: the standard library's
    stand-in for IPython's transformation."""
    lines, continued = [], False
    for line in source.split("\n"):
        if continued:
            lines.append("")
        elif _MAGIC_LINE.match(line) or (help_lines and _HELP_LINE.match(line)) \
                or re.match(r"^[A-Za-z_][\w, ]*=\s*[!%]", line.strip()):
            lines.append(line[:len(line) - len(line.lstrip())] + "pass")
            continued = line.rstrip().endswith("\\")
            continue
        else:
            lines.append(line)
        continued = continued and line.rstrip().endswith("\\")
    return "\n".join(lines)
