"""From the files a student handed in to the modules the grader loads: which folder, which file
holds each class, under which names, and what a person should look at.

The rules, in the order they apply (the README repeats them for TAs):

1. Files: ``.py``; ``.txt`` that is Python defining a contract class (``res_block.txt``);
   notebooks (``%%writefile`` cells are the files they write; the other code cells one module).
   Names match without regard to case, underscores or download suffixes: ``UNet.py``,
   ``attention (1).py`` and ``attention-2.py`` are ``unet`` and ``attention``.
2. The folder: the one that defines the most of the contract (stubs do not count); among equals,
   the one named like the package (``unet``), then the newest. If a folder named ``unet`` lost
   to another, or two different folders tie, the student is flagged for review (still graded).
3. Each contract class or function is taken from the file that defines it in that folder -- its
   contract module if that defines it, else any file (one big ``model.py``, a notebook) -- and,
   if the folder lacks it, from elsewhere in the submission, with a note.

Nothing here runs student code; it reads it. Standard library only (``check.py`` uses it too).
"""
import ast
import json
import keyword
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable

from ..contract import COMPONENTS, INTEGRATION, PACKAGE_MODULES, Component, component
from . import files as files_
from .notebooks import (exported_cells, extract, ipython_code, intake_budget_kinds, loads_as_imports, looks_like_notebook,
                        with_notebook_builtins, without_ipython_lines)
from .safe_text import safe_text
from .python_source import PARSER_ERRORS, Index, OverBudget, definitions_only, index, intake_budget, recovered
from .text import NotText, decode

PACKAGE_NAME = "unet"  # what the release calls the students' package
OWN_PACKAGE = "."  # in ``Submission.exports``: the package the graded modules are in (the child's importer reads it)
ALL_SYMBOLS = {symbol: c.module for c in COMPONENTS for symbol in c.symbols}
# Each space-led suffix starts where a run of spaces does ((?<!\s)): tried inside the run, it was quadratic in it
_DOWNLOAD_SUFFIX = re.compile(r"((?<!\s)\s*\(\d+\)|(?<!\s)\s*-\s*copy(\s*\d+)?|(?<!\s)\s+copy(\s*\d+)?|-\d+)$",
                              re.IGNORECASE)
_ALWAYS_AVAILABLE = {"torch", "__future__", "typing_extensions"}


@dataclass(frozen=True)
class PackagePolicy:
    """Third-party imports: ``allowed`` ones are installed where student code runs; ``refused``
    ones get their message; any other raises "not available in the grading environment"."""

    allowed: tuple[str, ...] = ()
    refused: tuple[tuple[str, str], ...] = ()


@dataclass
class ModuleFile:
    canonical: str
    label: str  # its path in the submission, as the student knows it
    text: str  # what runs
    fallback: str | None  # the definitions only, when that differs (see python_source.definitions_only)
    index: Index
    origin: str  # "file", "writefile" (a notebook's %%writefile cell) or "notebook"
    mtime: float
    folder: PurePosixPath = PurePosixPath()
    cells: list | None = None
    star_exports: dict | None = field(default=None, compare=False, repr=False)  # ``_module_exports``, once

    def plan_entry(self) -> dict:
        return {"source": self.text, "label": self.label, "fallback": self.fallback, "cells": self.cells,
                "broken": self.index.broken}


@dataclass
class Submission:
    """The modules to load, where each contract symbol lives, and what to tell the student and the TA."""

    root: Path
    modules: dict[str, ModuleFile] = field(default_factory=dict)
    symbols: dict[str, str] = field(default_factory=dict)  # contract symbol -> canonical module
    aliases: dict[str, str] = field(default_factory=dict)
    packages: tuple[str, ...] = ()
    # What ``from <package> import *`` gives, as Python would: package -> {name: canonical module}.
    exports: dict[str, dict[str, str]] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)  # top-level package -> the line its import raises
    notes: list[str] = field(default_factory=list)  # for the student and the TA
    review: list[str] = field(default_factory=list)  # why a person should look (status needs_review)
    environment: list[str] = field(default_factory=list)  # what the grading environment cannot run: imports, newer Python syntax
    unreadable: dict[str, str] = field(default_factory=dict)  # label -> why (too big, not text, not a notebook)
    left_out: dict[str, str] = field(default_factory=dict)  # label -> why (a link, junk, an unsafe path)
    files: list[str] = field(default_factory=list)  # every file handed in (labels)
    # contract names a notebook's markdown or raw cell defines: name -> where (said if no file defines it)
    not_code: dict[str, str] = field(default_factory=dict, repr=False)

    def for_a_person(self, line: str) -> None:
        """Said to the student (a note) and a reason for a person to look (``needs_review``)."""
        self.notes.append(line)
        self.review.append(line)

    @property
    def sources(self) -> dict[str, str]:
        return {name: module.text for name, module in self.modules.items()}

    def missing_symbols(self, name: str) -> list[str]:
        """The symbols of component ``name`` that no file defines: only the checks that use them lose points."""
        wanted = component("SimpleUNet").symbols if name == INTEGRATION else component(name).symbols
        return [s for s in wanted if s not in self.symbols]

    def component_problem(self, name: str) -> str | None:
        """Why component ``name`` cannot be graded at all (none of its symbols is defined, or a file
        holding them does not parse), or None. One missing helper is not such a reason: the checks
        of the rest still score (``missing_symbols``)."""
        wanted = component("SimpleUNet").symbols if name == INTEGRATION else component(name).symbols
        missing = self.missing_symbols(name)
        if len(missing) < len(wanted):
            errors = [self.modules[self.symbols[s]].index.broken.get(s) for s in wanted if s in self.symbols]
            errors = [error for error in errors if error]
            return f"SyntaxError: {errors[0]}" if errors else None
        module = ALL_SYMBOLS[missing[0]]
        unreadable = [why for label, why in self.unreadable.items() if _module_name(PurePosixPath(label)) == module]
        unreadable += [f"{label} is {why}" for label, why in self.left_out.items()
                       if _module_name(PurePosixPath(label)) == module]
        if unreadable:
            return unreadable[0]
        shown = ", ".join(self.files[:12]) + (f" and {len(self.files) - 12} more" if len(self.files) > 12 else "")
        return (f"{', '.join(missing)} is not defined in your submission (expected in {module}.py); "
                f"files found: {shown or 'none'}")


def read_submission(path, limits: files_.Limits = files_.Limits(), policy: PackagePolicy = PackagePolicy(),
                    available: Callable[[str], bool] | None = None) -> Submission:
    """Everything the grader needs to know about the hand-in at ``path`` (folder, zip or notebook).

    Raises ``files.Refused`` only when nothing at all can be read (not a zip, over a size limit).
    Anything else that goes wrong while reading (a parser's RecursionError or MemoryError, a bug
    of ours) is a reason for a person to look, in ``review``: intake never stops a class. Every text
    in the result is safe text (``safe_text``), whatever the file names and contents were.
    """
    path = Path(path)
    try:
        with intake_budget(**intake_budget_kinds()):
            submission = _read(path, limits, policy, available)
    except files_.Refused:
        raise
    except Exception as error:  # noqa: BLE001 -- MemoryError, RecursionError, a zip library's own errors
        submission = Submission(root=path, review=[f"the hand-in could not be read ({type(error).__name__}: "
                                                   f"{safe_text(error, 300)}); look at it and grade it by hand"])
    return _made_safe(submission)


def _made_safe(submission: Submission) -> Submission:
    """The one pass that makes every text of ``submission`` that a writer may show safe text."""
    submission.notes = [safe_text(n) for n in dict.fromkeys(submission.notes)]
    submission.review = [safe_text(n) for n in submission.review]
    submission.environment = [safe_text(n) for n in submission.environment]
    submission.unreadable = {files_.path_label(k): safe_text(v) for k, v in submission.unreadable.items()}
    submission.left_out = {files_.path_label(k): safe_text(v) for k, v in submission.left_out.items()}
    submission.files = [files_.path_label(f) for f in submission.files]
    submission.refused = {k: safe_text(v) for k, v in submission.refused.items()}
    return submission


def _read(path: Path, limits: files_.Limits, policy: PackagePolicy, available) -> Submission:
    tree = files_.collect(path, limits)
    submission = Submission(root=path, files=[f.label for f in tree.files], left_out=dict(tree.skipped))
    candidates = _candidates(tree, submission, limits)
    _note_skipped(tree, submission)
    submission.review.extend(advice for _, advice in tree.unopenable)
    if not tree.files:
        if tree.unopenable:  # not empty: its archive is what a person must open
            return submission
        submission.review.append("the submission is empty" + (" (only " + ", ".join(
            w for w, _ in tree.skipped[:5]) + ")" if tree.skipped else ""))
        return submission
    chosen = _choose_folder(candidates, submission)
    if chosen is None:
        notebooks = [why for label, why in submission.unreadable.items() if label.lower().endswith(".ipynb")]
        pages = [f.label for f in tree.files if f.path.suffix.lower() in (".html", ".htm") and _notebook_page(f, limits)]
        if notebooks:
            submission.review.append("no code could be taken from the notebook: " + "; ".join(notebooks))
        elif pages:
            said = (f"{', '.join(pages[:3])} {'is a notebook' if len(pages) == 1 else 'are notebooks'} exported as a web "
                    "page (HTML), which the grader does not read: hand in the .ipynb itself")
            submission.for_a_person(said)
        elif printed := [f.label for f in tree.files if f.path.suffix.lower() in PRINTED][:3]:
            said = (f"no file defines any of the assignment's classes or functions: {', '.join(printed)} "
                    f"{'is a document' if len(printed) == 1 else 'are documents'} (a printout or a report), which the "
                    "grader does not read: hand in your code, the .ipynb or the .py files")
            submission.for_a_person(said)
        elif not _code_in_package_init(tree, submission, limits) and not submission.review:
            submission.review.append("no file defines any of the assignment's classes or functions "
                                     f"({', '.join(sorted(ALL_SYMBOLS))})")
        return submission
    _assign(candidates, chosen, submission)
    _code_in_package_init(tree, submission, limits)
    _code_in_other_cells(submission)
    _names(submission, chosen)
    _exports(tree, submission, chosen, limits)
    _imports(submission, policy, available or _importable)
    _imports_not_handed_in(submission)
    _newer_syntax(submission)
    return submission


def _code_in_other_cells(submission: Submission) -> None:
    """A contract class no file defines but a notebook's markdown or raw cell holds (a stray M or R key
    in Jupyter): said, for the student and a person, with the cell to make a code cell again."""
    by_cell: dict[str, list[str]] = {}
    for name, where in submission.not_code.items():
        if name not in submission.symbols:
            by_cell.setdefault(where, []).append(name)
    for where, names in by_cell.items():
        line = (f"{where} holds {', '.join(names)} as text, not code: make it a code cell (in Jupyter: select it, "
                "press Y), run it, and hand the notebook in again")
        submission.for_a_person(line)


def _code_in_package_init(tree: files_.Tree, submission: Submission, limits: files_.Limits) -> bool:
    """Contract code written in a package's ``__init__.py`` (``import unet; unet.SimpleUNet`` works), which
    the grader does not read as a module: said, for a person, where those classes are missing or stubs
    in the modules graded. True when something was said."""
    graded = {s for m in submission.modules.values() for s in m.index.complete} if submission.modules else set()
    said = False
    for file in tree.files:
        if file.path.name != "__init__.py" or file.size > limits.max_source_bytes:
            continue
        try:
            text, _ = decode(file.read(limits.max_source_bytes), file.label)
            written = sorted(index(text, file.label).complete & ALL_SYMBOLS.keys() - graded)
        except Exception:  # noqa: BLE001 -- unreadable: nothing to say about it here
            continue
        if written:
            line = (f"{file.label} defines {', '.join(written)}, but the grader reads the assignment's classes from "
                    "its modules (res_block.py, unet.py, ...), not from __init__.py: move them there")
            submission.for_a_person(line)
            said = True
    return said


# Documents a notebook is often printed or exported to (courses ask for a PDF beside the code): named
# as such when a hand-in holds no code, never read.
PRINTED = (".pdf", ".docx", ".doc", ".odt")


def _notebook_page(file: files_.FoundFile, limits: files_.Limits) -> bool:
    """Whether ``file`` is a notebook exported as HTML (Jupyter's, nbconvert's): its class names say so."""
    try:
        head = file.read(min(limits.max_source_bytes, 1 << 20)).decode("utf-8", "replace")
    except Exception:  # noqa: BLE001 -- an archive member that cannot be read: no page to name
        return False
    return any(mark in head for mark in ("jp-Notebook", "jp-CodeCell", "jupyter-notebook", 'content="nbconvert'))


def _newer_syntax(submission: Submission) -> None:
    """Code that a newer Python than the grader's reads, as Colab runs it (3.12): an f-string error (its
    own quotes, a backslash or a comment inside the braces: PEP 701), a syntax error on a ``type`` alias
    or a generic ``class C[T]``/``def f[T]`` (PEP 695), or a name the standard library gained in 3.12
    (``typing.override``, ``itertools.batched``). It still costs the component (the grader cannot run
    it), so the TA sees it as the environment's."""
    for entry in submission.modules.values():
        error = entry.index.syntax_error
        if _newer_fstring(error):
            _newer_python(submission, error)
        if error and _uses_pep_695(entry.index.error_line or ""):
            _newer_python(submission, f"{error} (PEP 695)")
        for name in _newer_names(entry.index.tree) if entry.index.tree is not None else ():
            _newer_python(submission, f"{entry.label} uses {name}, new in Python 3.12")


# PEP 695 (Python 3.12): ``type Shape = tuple[int, ...]``, ``class Box[T]:``, ``def first[T](...)``
# (one ``\s*`` between the name and ``=``: two in a row split a student's run of spaces every way, quadratic)
_PEP_695 = re.compile(r"type\s+[A-Za-z_]\w*\s*(?:\[[^\]]*\]\s*)?=|(class|def)\s+[A-Za-z_]\w*\s*\[")


def _uses_pep_695(line: str) -> bool:
    """Whether a syntax error's line is PEP 695's syntax (its indentation stripped first, not matched)."""
    return _PEP_695.match(line.lstrip()) is not None


# What the standard library gained in Python 3.12 that students reach for
NEWER_NAMES = {"typing": {"override", "TypeAliasType"}, "itertools": {"batched"}, "math": {"sumprod"}}


def _newer_names(tree: ast.Module) -> list[str]:
    """``from typing import override``, ``itertools.batched``: names only a newer Python has."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in NEWER_NAMES:
            found += [f"{node.module}.{a.name}" for a in node.names if a.name in NEWER_NAMES[node.module]]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.attr in NEWER_NAMES.get(node.value.id, ()):
            found.append(f"{node.value.id}.{node.attr}")
    return sorted(set(found))


NOTES_PER_NOTEBOOK = 20  # cells' notes and errors said one by one; the rest counted


def _newer_fstring(error: str | None) -> bool:
    """Whether a syntax error (a file's or a notebook cell's) is an f-string's: most likely one that 3.12 reads."""
    return bool(error) and "f-string" in error


def _newer_python(submission: Submission, what: str) -> None:
    """Flag ``what`` (code only Python 3.12 runs) as the environment's, where the grader's Python is older."""
    if sys.version_info < (3, 12) and len(submission.environment) < NOTES_PER_NOTEBOOK:
        environment = (f"{what}: valid from Python 3.12 on, but the grader runs Python "
                       f"{sys.version_info.major}.{sys.version_info.minor}")
        if environment not in submission.environment:
            submission.environment.append(environment)


# --- 1. candidate files ----------------------------------------------------------------------------

@dataclass
class _Candidate:
    folder: PurePosixPath
    name: str  # the module name it answers to
    label: str
    text: str
    index: Index
    origin: str
    mtime: float
    cells: list | None = None

    @property
    def contract(self) -> set[str]:
        return self.index.defines & ALL_SYMBOLS.keys()

    @property
    def complete(self) -> set[str]:
        return self.index.complete & ALL_SYMBOLS.keys()


def _module_name(path: PurePosixPath) -> str:
    """``attention (1).py`` -> ``attention``; ``res_block.py.txt`` -> ``res_block``; ``UNet.py`` -> ``UNet``."""
    stem = path.name
    for suffix in (".txt", ".ipynb", ".py"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    stem = _DOWNLOAD_SUFFIX.sub("", stem.strip())
    normalised = stem.lower().replace("_", "")
    for module in PACKAGE_MODULES:
        if normalised == module.replace("_", ""):
            return module
    cleaned = re.sub(r"\W+", "_", stem).strip("_") or "module"
    if cleaned[0].isdigit() or keyword.iskeyword(cleaned):
        cleaned = "m_" + cleaned
    return cleaned


def _candidates(tree: files_.Tree, submission: Submission, limits: files_.Limits) -> list[_Candidate]:
    found = []
    for file in tree.files:
        try:
            found += _candidates_of(file, submission, limits)
        except Exception as error:  # noqa: BLE001 -- a zip member that will not inflate, a parser's limit
            why = safe_text(error, 200) if isinstance(error, (files_.Refused, OverBudget)) else \
                f"{type(error).__name__}: {safe_text(error, 200)}"
            submission.unreadable[file.label] = f"{file.label} could not be read ({why})"
    return found


def _candidates_of(file: files_.FoundFile, submission: Submission, limits: files_.Limits) -> list[_Candidate]:
    """The candidates one file gives: none, itself, or a notebook's modules."""
    suffix = file.path.suffix.lower()
    if suffix not in (".py", ".txt", ".ipynb") or file.path.name == "__init__.py":
        return []  # the grader makes the package itself
    # A notebook's outputs (plots) are not code: the source limit applies to the code taken from it.
    # A .py or .txt that opens as JSON may be a notebook under another name: read as much of it as of one.
    read = limits.max_notebook_bytes if suffix == ".ipynb" else limits.max_source_bytes
    data = file.read(read)
    if suffix != ".ipynb" and data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{":
        read = limits.max_notebook_bytes
        data = file.read(read)
    try:
        text, note = decode(data, file.label) if len(data) <= read else ("", None)  # too long: said below
    except NotText as problem:
        submission.unreadable[file.label] = str(problem)
        return []
    if suffix != ".ipynb" and looks_like_notebook(text):
        submission.notes.append(f"{file.label} is a Jupyter notebook: read as one; name it "
                                f"{file.path.stem.removesuffix('.ipynb')}.ipynb so that Jupyter and Python see it as one too")
        suffix = ".ipynb"
    cap = limits.max_notebook_bytes if suffix == ".ipynb" else limits.max_source_bytes
    if len(data) > cap:
        what = "notebook" if suffix == ".ipynb" else "file"
        submission.unreadable[file.label] = f"{file.label} is over the {_size(cap)} limit for one {what}"
        return []
    if suffix == ".ipynb":
        return _notebook_candidates(file, text, submission, limits)
    if suffix == ".py" and (cells := exported_cells(text)) is not None:
        submission.notes.append(f"{file.label} is a notebook exported as a script (jupyter nbconvert --to script): "
                                "read as the notebook it was, its %%writefile cells as the files they write")
        notebook = json.dumps({"cells": [{"cell_type": "code", "source": cell} for cell in cells]})
        return _notebook_candidates(file, notebook, submission, limits)
    indexed = index(text, file.label)
    if indexed.syntax_error and suffix == ".py":  # a notebook saved as .py (Colab's "Download .py") keeps IPython lines
        # a cell magic on its first line (``%%writefile unet/res_block.py``, ``%%time``, a cell pasted from
        # Colab): IPython would make the whole file that magic's string; here the file is its body
        first, newline, rest = text.partition("\n")
        source = newline + rest if first.lstrip("\ufeff \t").startswith("%%") else text
        try:
            as_ipython = with_notebook_builtins(ipython_code(source))
        except PARSER_ERRORS:  # not IPython's code either: the syntax error stands
            as_ipython = text
        said = (f"{file.label}: IPython lines (!pip, %matplotlib, help?) left out, as Jupyter runs them; in a .py "
                "file Python stops at them: delete them")
        if as_ipython != text and not (plain := index(as_ipython, file.label)).syntax_error:
            text, indexed = as_ipython, plain
            submission.notes.append(said)
        elif (without := without_ipython_lines(source)) != text:  # and a syntax error besides: cut below, without them
            text, indexed = without, index(without, file.label)
            submission.notes.append(said)
    if suffix == ".txt" and (indexed.syntax_error or not indexed.defines & ALL_SYMBOLS.keys()):
        return []  # notes, answers: not code
    if indexed.syntax_error and indexed.tree is None:  # the rest of the file, without its broken statements
        text, indexed = _without_broken_statements(text, indexed, file.label, submission)
    if indexed.tree is not None and (loading := loads_as_imports(text, indexed.tree)) != text:  # exec(open(...).read())
        text, indexed = loading, _same_errors(index(loading, file.label), indexed)
    name = _module_name(file.path)
    if indexed.syntax_error and name in PACKAGE_MODULES:  # charge the error to what the file should hold
        unread = {s for s, m in ALL_SYMBOLS.items() if m == name} - indexed.defines
        indexed.defines |= unread
        indexed.broken.update(dict.fromkeys(unread, indexed.syntax_error))
    if note:
        submission.notes.append(note)
    return [_Candidate(file.path.parent, name, file.label, text, indexed, "file", file.mtime)]


def _without_broken_statements(text: str, indexed: Index, label: str, submission: Submission) -> tuple[str, Index]:
    """A file that does not parse, read as if its broken top-level statements were absent
    (``python_source.recovered``), with a note for each; as it was where that cannot be done."""
    try:
        kept, again, notes = recovered(text, label, indexed)
    except OverBudget:
        return text, indexed
    submission.notes.extend(notes[:NOTES_PER_NOTEBOOK])
    if len(notes) > NOTES_PER_NOTEBOOK:
        submission.notes.append(f"{label}: ... and {len(notes) - NOTES_PER_NOTEBOOK} more statements left out")
    return kept, again


def _same_errors(again: Index, before: Index) -> Index:
    """``again`` (the same file's code, rewritten) keeping what ``before`` said of its syntax errors."""
    again.syntax_error, again.error_line, again.broken = before.syntax_error, before.error_line, before.broken
    again.defines |= before.broken.keys()
    again.complete |= before.broken.keys()
    return again


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit // 1024} KiB"


def _notebook_candidates(file: files_.FoundFile, text: str, submission: Submission,
                         limits: files_.Limits) -> list[_Candidate]:
    code = extract(text, file.label)
    for name, where in code.not_code.items():
        if name in ALL_SYMBOLS:
            submission.not_code.setdefault(name, where)
    # a note per cell at most for the first few: 80,000 cells of `f'{'` made 2.3 million characters of
    # review and minutes of intake (red team)
    submission.notes.extend(code.notes[:NOTES_PER_NOTEBOOK])
    if len(code.notes) > NOTES_PER_NOTEBOOK:
        submission.notes.append(f"{file.label}: ... and {len(code.notes) - NOTES_PER_NOTEBOOK:,} more cells left out")
    for error in code.syntax_errors[:NOTES_PER_NOTEBOOK]:  # a cell left out: perhaps Colab's newer Python reads it
        if _newer_fstring(error):
            _newer_python(submission, error)
    if code.problem:
        submission.unreadable[file.label] = code.problem
        return []
    if len(code.files) > limits.max_files:  # written files count as files: each is a module every child loads
        submission.unreadable[file.label] = (f"{file.label}: its %%writefile cells write more than {limits.max_files:,} "
                                             "files; hand in your modules, not generated ones")
        return []
    too_big = [f"%%writefile {r}" for r, body in code.files.items() if len(body.encode()) > limits.max_source_bytes]
    if len(code.module_text.encode()) > limits.max_source_bytes:
        too_big.append("its code cells")
    if too_big:
        submission.unreadable[file.label] = (f"{file.label}: the code in {', '.join(too_big)} is over the "
                                             f"{_size(limits.max_source_bytes)} limit for one file")
        return []
    found = []
    for relative, body in code.files.items():
        path = file.path.parent / relative
        label = f"{file.label} (%%writefile {files_.path_label(relative)})"
        body, indexed = _without_broken_statements(body, index(body, path.as_posix()), path.as_posix(), submission)
        found.append(_Candidate(path.parent, _module_name(path), label, body, indexed, "writefile", file.mtime))
    indexed = index(code.module_text, file.label)
    # a definition whose cell statement does not parse, and that no other cell defines: its component is
    # charged with that error (the kernel never held it), not told that the notebook lacks it
    broken = {name: error for name, error in code.broken.items() if name not in indexed.defines}
    if indexed.tree is not None and (indexed.defines | broken.keys()) & ALL_SYMBOLS.keys():
        roots = indexed.defines & ALL_SYMBOLS.keys()
        sliced = definitions_only(code.module_text, indexed.tree, roots)
        kept = index(sliced, file.label)
        if broken:
            kept.syntax_error, kept.broken = next(iter(broken.values())), broken
            kept.defines |= broken.keys()
            kept.complete |= broken.keys()
        found.append(_Candidate(file.path.parent, _module_name(file.path), file.label, sliced,
                                kept, "notebook", file.mtime, code.cells))
    return found


def _note_skipped(tree: files_.Tree, submission: Submission) -> None:
    worth_saying = [(w, why) for w, why in tree.skipped
                    if "metadata" not in why and "cache" not in why and "the release's own" not in why]
    for where, why in worth_saying[:10]:
        submission.notes.append(f"left out {where}: {why}")
    if len(worth_saying) > 10:
        submission.notes.append(f"left out {len(worth_saying) - 10} more files")


# --- 2. the folder -----------------------------------------------------------------------------------

def _rank(folder: PurePosixPath, members: list[_Candidate]) -> tuple:
    complete = set().union(*(c.complete for c in members))
    defined = set().union(*(c.contract for c in members))
    named = folder.name.lower() == PACKAGE_NAME
    return (len(complete), len(defined), named, max(c.mtime for c in members))


NEWER_BY_S = 60  # files written together (unzipped, copied) differ by less; work done later, by more


def _choose_folder(candidates: list[_Candidate], submission: Submission) -> PurePosixPath | None:
    folders: dict[PurePosixPath, list[_Candidate]] = {}
    for candidate in candidates:
        if candidate.contract:
            folders.setdefault(candidate.folder, []).append(candidate)
    if not folders:
        return None
    ranked = sorted(folders, key=lambda f: (_rank(f, folders[f]), -len(f.parts)), reverse=True)
    chosen = ranked[0]
    if len(ranked) > 1:
        runner_up = ranked[1]
        same_code = _signature(folders[chosen]) == _signature(folders[runner_up])
        # only the time decided, or the name against the time: two folders that implement as much, in
        # different code, the one graded named unet but older (an old unet.zip beside newer loose files)
        ours, theirs = _rank(chosen, folders[chosen]), _rank(runner_up, folders[runner_up])
        tie = ours[:3] == theirs[:3] or (ours[:2] == theirs[:2] and theirs[3] > ours[3] + NEWER_BY_S)
        # a unet/ that implements only part of what the graded folder does (the released stubs, their given
        # code) loses no work: no rival
        def completed(folder: PurePosixPath) -> set:
            return set().union(*(c.complete for c in folders[folder]))

        done = completed(chosen)

        def rival(folder: PurePosixPath) -> bool:
            """Not a folder below the graded one whose work the graded one lacks: that is graded with it
            (``_assign``: analysis.py at the top, the blocks in unet/)."""
            return not (chosen in folder.parents and not completed(folder) & done)

        named_lost = chosen.name.lower() != PACKAGE_NAME and any(
            f.name.lower() == PACKAGE_NAME and not completed(f) < done and rival(f) for f in ranked[1:])
        tie = tie and rival(runner_up)
        others = ", ".join(f"{_folder_label(f)}" for f in ranked[1:4])
        submission.notes.append(f"graded the code in {_folder_label(chosen)} (the folder that defines the most of "
                                f"the assignment); also found code in {others}")
        if not same_code and (tie or named_lost):
            submission.review.append(f"several folders hold the assignment ({_folder_label(chosen)}, {others}); "
                                     f"{_folder_label(chosen)} was graded: check that it is the one meant")
    elif chosen != PurePosixPath():
        if {c.origin for c in folders[chosen]} == {"writefile"}:  # a notebook handed in alone: say what was read
            submission.notes.append(f"graded the modules that the notebook's %%writefile cells write to "
                                    f"{_folder_label(chosen)}")
        else:
            submission.notes.append(f"graded the modules in {_folder_label(chosen)}")
    return chosen


def _same_code(a: _Candidate, b: _Candidate) -> bool:
    """The same statements, whatever the comments and spacing."""
    return a.index.tree is not None and b.index.tree is not None and ast.dump(a.index.tree) == ast.dump(b.index.tree)


def _folder_label(folder: PurePosixPath) -> str:
    return f"{folder.as_posix()}/" if folder.parts else "the top folder"


def _signature(members: list[_Candidate]) -> set:
    return {(c.name, c.text) for c in members}


# --- 3. files, symbols and names ----------------------------------------------------------------------

def _preference(candidate: _Candidate, symbol: str | None = None) -> tuple:
    own = symbol is not None and candidate.name == ALL_SYMBOLS[symbol]
    complete = symbol in candidate.complete if symbol else len(candidate.complete)
    # for a symbol, then the copy that holds the rest of the work: a notebook with every block beats a
    # scratch resblock_v1.py holding an old ResBlock (a file came first, and graded the scratch copy)
    rest = len(candidate.complete) if symbol is not None else 0
    return (complete, own, rest, candidate.origin == "file", _named_exactly(candidate), candidate.mtime,
            -len(candidate.label))


def _named_exactly(candidate: _Candidate) -> bool:
    """A file named as its module (``attention.py``, not ``attention copy.py``): what the student's own
    ``import attention`` runs, whatever the copies' times say."""
    return candidate.origin == "file" and PurePosixPath(candidate.label).name == f"{candidate.name}.py"


def _why_preferred(best: _Candidate, runner_up: _Candidate) -> str:
    """The first of ``_preference``'s criteria that decided between the two, in the student's words."""
    if len(best.complete) != len(runner_up.complete):
        return f"it implements more of the assignment: {len(best.complete)} against {len(runner_up.complete)}"
    if best.origin != runner_up.origin and best.origin == "file":
        return "both implement as much; a .py file comes before a notebook cell"
    if _named_exactly(best) != _named_exactly(runner_up):
        return f"both implement as much; {best.name}.py is what `import {best.name}` runs"
    if best.mtime != runner_up.mtime:
        return "both implement as much; it is the newest"
    return "both implement as much; the shorter path"


def _assign(candidates: list[_Candidate], chosen: PurePosixPath, submission: Submission) -> None:
    """The modules to load (the chosen folder's files, one per name) and each symbol's home."""
    direct = [c for c in candidates if c.folder == chosen]
    below = [c for c in candidates if chosen in c.folder.parents]
    by_name: dict[str, list[_Candidate]] = {}
    for candidate in direct:
        by_name.setdefault(candidate.name, []).append(candidate)
    own_names = {c.name for c in direct}  # once: a set per file of a subfolder was quadratic (16k cells: 3.4 s)
    for candidate in below:  # helpers in subfolders, unless a file of the folder itself has that name
        if candidate.name not in own_names:
            by_name.setdefault(candidate.name, []).append(candidate)
    kept: dict[str, _Candidate] = {}
    for name, same in by_name.items():
        best = max(same, key=_preference)
        kept[name] = best
        # a copy that implements only part of what the graded one does (an untouched stub cell) loses no work
        lost = [c for c in same if c is not best and c.text != best.text and not c.complete < best.complete]
        if lost:
            others = ", ".join(c.label for c in lost)
            cells = [c for c in lost if c.origin == "writefile"] if best.origin != "writefile" else []
            submission.notes.append(f"several files are {name}.py: graded {best.label} "
                                    f"({_why_preferred(best, max(lost, key=_preference))}), not {others}"
                                    + ("; the notebook's cell holds other code: make them the same (run the cell, or "
                                       "copy the file into it) so both hold your final code" if cells else ""))
            if any(c.complete == best.complete and not _same_code(c, best) for c in cells):
                submission.review.append(  # either may be the last edited: a cell not run, or a file edited after
                    f"{best.label} and the notebook's %%writefile cell for it differ, each implementing as much: "
                    f"the file was graded; check which holds the student's final code")
    homes: dict[str, _Candidate] = {}
    kept_ids = {id(c) for c in kept.values()}  # by identity: ``in kept.values()`` compared every file's text (85 s)
    for symbol in ALL_SYMBOLS:
        holders = [c for c in kept.values() if symbol in c.contract]
        if not holders:
            outside = [c for c in candidates if symbol in c.contract and id(c) not in kept_ids]
            if not outside:
                continue
            best = max(outside, key=lambda c: _preference(c, symbol))
            if id(best) not in kept_ids:
                name = best.name if best.name not in kept else f"{best.name}_{len(kept)}"
                kept[name] = best
                kept_ids.add(id(best))
            submission.notes.append(f"{symbol} was taken from {best.label}, outside {_folder_label(chosen)}")
            holders = [best]
        homes[symbol] = max(holders, key=lambda c: _preference(c, symbol))
        copies = [c.label for c in holders if c is not homes[symbol] and symbol in c.complete]
        if copies:  # a stale copy a file keeps for itself: its own code uses it, not the graded one
            submission.notes.append(f"{', '.join(copies)} also {'defines' if len(copies) == 1 else 'define'} "
                                    f"{symbol}: {homes[symbol].label}'s is graded as {symbol}, but code in "
                                    f"{', '.join(copies)} uses its own copy; delete the copy and import {symbol}")
    names = {id(c): name for name, c in kept.items()}
    for name, candidate in kept.items():
        fallback = None
        if candidate.origin != "notebook" and candidate.index.tree is not None:
            sliced = definitions_only(candidate.text, candidate.index.tree, candidate.contract or None)
            fallback = sliced if sliced != candidate.text else None
        submission.modules[name] = ModuleFile(name, candidate.label, candidate.text, fallback, candidate.index,
                                              candidate.origin, candidate.mtime, candidate.folder, candidate.cells)
    elsewhere: dict[str, list[str]] = {}
    for symbol, candidate in homes.items():
        home = submission.symbols[symbol] = names[id(candidate)]
        if home != ALL_SYMBOLS[symbol]:
            elsewhere.setdefault(candidate.label, []).append(symbol)
    for label, symbols in elsewhere.items():
        expected = ", ".join(dict.fromkeys(f"{ALL_SYMBOLS[s]}.py" for s in symbols))
        submission.notes.append(f"{', '.join(symbols)} {'is' if len(symbols) == 1 else 'are'} graded from {label} "
                                f"(the assignment expects {'it' if len(symbols) == 1 else 'them'} in {expected}); "
                                "they are graded as if they were there")


def _names(submission: Submission, chosen: PurePosixPath) -> None:
    """Aliases for contract modules that have no file of their own, and the names that are packages."""
    for module in PACKAGE_MODULES:
        if module in submission.modules:
            continue
        homes = {submission.symbols[s] for s, m in ALL_SYMBOLS.items() if m == module and s in submission.symbols}
        if len(homes) == 1:
            submission.aliases[module] = homes.pop()
    packages = {PACKAGE_NAME} | {p for p in chosen.parts if p.isidentifier()}
    for entry in submission.modules.values():
        packages |= {p for p in entry.folder.parts if p.isidentifier()}
    known = set(submission.modules) | set(submission.aliases)
    for entry in submission.modules.values():
        tree = entry.index.tree
        for node in ast.walk(tree) if tree is not None else []:
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                parts = node.module.split(".")
                if parts[-1] in known or any(a.name in ALL_SYMBOLS or a.name in known for a in node.names):
                    packages |= set(parts if parts[-1] not in known else parts[:-1])
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    parts = alias.name.split(".")
                    if len(parts) > 1 and parts[-1] in known:
                        packages |= set(parts[:-1])
    submission.packages = tuple(sorted(p for p in packages if p not in known or p == PACKAGE_NAME))


def _star_names(tree: ast.Module | None) -> list[str] | None:
    """What ``from module import *`` takes from a module: its literal ``__all__``, else its public
    top-level names; None when ``__all__`` is not a literal (then it is not known without running it)."""
    if tree is None:
        return []
    names: list[str] = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, (ast.AnnAssign, ast.AugAssign)) else []
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            try:
                value = ast.literal_eval(node.value)
            except (ValueError, SyntaxError, TypeError):
                return None
            return [str(v) for v in value] if isinstance(value, (list, tuple)) else None
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Import):
            names += [(a.asname or a.name).split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names += [a.asname or a.name for a in node.names if a.name != "*"]
        for target in targets:
            names += [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]
    return [n for n in dict.fromkeys(names) if not n.startswith("_")]


def _module_exports(submission: Submission, canonical: str) -> dict[str, str]:
    """What ``from canonical import *`` binds, read once per module however many packages ask (400
    packages re-reading one large module cost minutes)."""
    module = submission.modules[canonical]
    if module.star_exports is None:
        module.star_exports = {name: canonical for name in _star_names(module.index.tree) or []}
    return module.star_exports


# Names the hand-in's packages may export in all (``_exports``): a package of a course's modules exports
# a few hundred; each name is carried in every child's load request.
EXPORTED_NAMES = 50_000


def _exports(tree: files_.Tree, submission: Submission, chosen: PurePosixPath, limits: files_.Limits) -> None:
    """``from unet import *`` as ``python -c "import unet"`` would resolve it from the submission's root.

    A folder ``unet/`` is the package, and its ``__init__.py`` says what it exports (its literal
    ``__all__``, its ``from .module import *`` and ``from .module import Name`` lines, its own
    definitions); so is the graded folder when it holds an ``__init__.py`` (the package's files
    uploaded without their folder); a ``unet.py`` with neither is the module itself. The package,
    never the file inside it: ``unet/unet.py`` is ``unet.unet``.
    """
    known = set(submission.modules) | set(submission.aliases)
    inits = {f.path.parent: f for f in tree.files if f.path.name == "__init__.py"}
    by_name: dict[str, list[PurePosixPath]] = {}  # once: a scan of every __init__.py per package was quadratic
    for folder in inits:
        by_name.setdefault(folder.name, []).append(folder)
    def nearness(folder: PurePosixPath) -> tuple:  # the graded folder itself, then one above or below it
        related = folder == chosen or folder in chosen.parents or chosen in folder.parents
        return (folder != chosen, not related, len(folder.parts))

    left = EXPORTED_NAMES
    for package in submission.packages:
        folders = sorted(by_name.get(package, ()), key=nearness)
        if not folders and package == PACKAGE_NAME and chosen in inits:
            folders = [chosen]  # the package's files handed in without their folder (Gradescope's flat upload)
        if folders:  # "__init__.py": a marker, the package is imported first, as Python does
            exported = {"__init__.py": "", **_init_exports(inits[folders[0]], submission, known, limits)}
        elif package in submission.modules or package in submission.aliases:
            exported = dict(_module_exports(submission, submission.aliases.get(package, package)))
        else:
            continue
        if len(exported) > left:  # every child's load request carries them (100 packages of 35,000: 76 MiB)
            submission.review.append(f"the hand-in's packages export over {EXPORTED_NAMES:,} names; package "
                                     f"{package!r} and those after it export none when graded: look at it by hand")
            break
        left -= len(exported)
        submission.exports[package] = exported
        if folders and folders[0] == chosen:  # ".": the graded modules' own package, what their ``from . import *`` gives
            submission.exports[OWN_PACKAGE] = exported


def _init_exports(init: files_.FoundFile, submission: Submission, known: set, limits: files_.Limits) -> dict[str, str]:
    try:
        text, _ = decode(init.read(limits.max_source_bytes), init.label)
        parsed = ast.parse(text)
    except (NotText, *PARSER_ERRORS):
        return {}
    def canonical(name: str) -> str | None:
        return submission.aliases.get(name, name) if name in known else None

    declared = _star_names(parsed)
    bindings: list[tuple[str, str | None]] = []  # in order: (home, None) for ``from .home import *``, else (home, name)
    for node in parsed.body:
        if not isinstance(node, ast.ImportFrom) or not node.module:
            continue
        home = canonical(node.module.split(".")[-1])
        if home is None or home not in submission.modules:
            continue
        bindings += [(home, None if alias.name == "*" else alias.asname or alias.name) for alias in node.names]
    # As Python runs the lines: a name keeps the place its first binding gave it (the order the package's
    # modules are imported in) and the value its last one gave it. Each module's star names are read once
    # (300 star lines of one large module cost 41 s when each line re-read them).
    stars: dict[str, dict[str, str]] = {}
    for home in dict.fromkeys(home for home, name in bindings if name is None):
        stars[home] = _module_exports(submission, home)
    last: dict[str, str] = {}
    starred: set[str] = set()
    for home, name in reversed(bindings):
        if name is not None:
            last.setdefault(name, home)
        elif home not in starred:
            starred.add(home)
            for export, where in stars[home].items():
                last.setdefault(export, where)
    found: dict[str, str] = {}
    starred.clear()
    for home, name in bindings:
        if name is not None:
            found.setdefault(name, last[name])
        elif home not in starred:
            starred.add(home)
            for export in stars[home]:
                found.setdefault(export, last[export])
    if declared is not None and any(isinstance(n, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in n.targets) for n in parsed.body):
        return {name: found.get(name, submission.symbols.get(name, "")) for name in declared}
    return found


def _importable(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _imports_not_handed_in(submission: Submission) -> None:
    """A file that imports the assignment's classes from a module the hand-in lacks (a notebook's
    ``from unet.unet import SimpleUNet``, the unet/ folder forgotten): said to the student and the TA,
    who should ask for it, rather than each class reported as not defined."""
    own = {n.lower() for n in [*submission.modules, *submission.aliases]}  # files, not the names imports use
    for entry in sorted(submission.modules.values(), key=lambda m: m.label):
        tree = entry.index.tree
        wanted: dict[str, list[str]] = {}
        for node in tree.body if tree is not None else ():
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                lacking = [a.name for a in node.names if a.name in ALL_SYMBOLS and a.name not in submission.symbols]
                if lacking and node.module.split(".")[-1].lower() not in own:
                    wanted.setdefault(node.module, []).extend(lacking)
        if wanted:
            what = "; ".join(f"{', '.join(names)} from {module}" for module, names in wanted.items())
            said = (f"{entry.label} imports {what}, which the hand-in does not hold: hand in those files too "
                    "(the folder they are in)")
            submission.for_a_person(said)


def _imports(submission: Submission, policy: PackagePolicy, available: Callable[[str], bool]) -> None:
    """Which third-party imports the grading environment refuses or lacks: a clear line for the
    student, an environment problem (not a coding mistake) for the TA."""
    own = {n.lower() for n in [*submission.modules, *submission.aliases, *submission.packages]}
    refused = dict(policy.refused)
    for entry in sorted(submission.modules.values(), key=lambda m: m.label):
        for name in sorted(entry.index.imports):
            if name in _ALWAYS_AVAILABLE or name in sys.stdlib_module_names or name.lower() in own:
                continue
            if name in refused:
                message = refused[name]
            elif name in policy.allowed and available(name):
                continue
            elif name in policy.allowed:
                submission.environment.append(f"{entry.label} imports {name}, which is allowed but not installed "
                                              "where grading runs: install it for the grader")
                continue
            else:
                message = f"{name} is not available in the grading environment: use torch"
            if name not in submission.refused:
                submission.refused[name] = message
                submission.environment.append(f"{entry.label} imports {name}: {message}")
