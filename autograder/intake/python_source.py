"""What a piece of Python source defines, and the same source reduced to its definitions.

``index`` reads a module without running it: the contract's classes and functions it defines (and
whether each is still a stub), the packages it imports. ``definitions_only`` keeps what the
contract's definitions need -- their imports, helpers, constants, what changes them later (a method
attached to a class), the blocks that bind them -- and blanks every other top-level statement (a test
at the bottom, a training loop, a plot), keeping line numbers, so a
traceback still points at the student's own line. The grader runs a module as written first and
falls back to this only when its top-level code fails; for a notebook it is the only way.
"""
import ast
import bisect
import contextlib
import contextvars
import copy
import re
import symtable
from dataclasses import dataclass, field

from .safe_text import safe_text

# a ``class``/``def`` line: what a text that does not parse (or a notebook's markdown cell) defines
DEFINITION_LINE = re.compile(r"^(?:class|def)\s+([A-Za-z_]\w*)", re.MULTILINE)


@dataclass
class Index:
    defines: set[str] = field(default_factory=set)  # top-level names defined (class, def, assignment; not imports)
    complete: set[str] = field(default_factory=set)  # top-level classes/functions with a real body
    imports: set[str] = field(default_factory=set)  # top-level package names imported anywhere
    syntax_error: str | None = None  # the first one: "label, line N: message"
    tree: ast.Module | None = None
    # names whose top-level statement does not parse -> its syntax error (every name the file defines
    # where the whole file is one syntax error; only the cut statements' where ``recovered`` cut them)
    broken: dict[str, str] = field(default_factory=dict)
    error_line: str | None = None  # the line of ``syntax_error``, as written
    error_at: int | None = None  # the line the parser's error names (``_failure``), where the whole file fails


# What Python's parser raises on text it cannot read: the last two for an expression nested too deeply
# (``"-" * 100000 + "1"``, ``"a" + ".b" * 100000``). Every parse of a student's text catches all four.
PARSER_ERRORS = (SyntaxError, ValueError, RecursionError, MemoryError)


# Reading Python is linear but not cheap: parsing ~1 s per 512 KiB, ~17 us per statement for the
# passes over it (a file of 262,000 ``x;`` cost 4 s, and 50 MiB of such files would cost minutes). What
# one hand-in's code may hold in all, within ``intake_budget``; a course's hand-in holds ~50 KB.
CODE_BYTES = 4 << 20
CODE_STATEMENTS = 200_000  # lines and semicolons, which bound the statements
_left: contextvars.ContextVar = contextvars.ContextVar("intake_left", default=None)


class OverBudget(Exception):
    """A hand-in's code past ``CODE_BYTES`` or ``CODE_STATEMENTS``: the file is left unread, with why."""


@contextlib.contextmanager
def intake_budget(**more: int):
    """One hand-in's intake: within it, ``spend`` counts what each costly reading takes against what is
    left of the hand-in's (the code read here; ``more``: other kinds, e.g. IPython's work, notebook cells,
    which their readers spend); outside it, nothing is counted (check.py, on the student's machine)."""
    token = _left.set({"bytes": CODE_BYTES, "statements": CODE_STATEMENTS, **more})
    try:
        yield
    finally:
        _left.reset(token)


def spend(**costs: int) -> bool:
    """Take ``costs`` (kind -> amount) from the hand-in's budget, all or none: False where one is past
    what is left (nothing then taken, so what comes after it is read as far as the rest goes)."""
    left = _left.get()
    if left is None:
        return True
    if any(amount > left.get(kind, 0) for kind, amount in costs.items()):
        return False
    for kind, amount in costs.items():
        left[kind] -= amount
    return True


def _spend(text: str) -> None:
    if not spend(bytes=len(text), statements=text.count("\n") + text.count(";")):
        raise OverBudget(f"the hand-in's Python is over {CODE_BYTES >> 20} MiB or {CODE_STATEMENTS:,} lines in all: "
                         "this file was not read; hand in only your code")


def index(text: str, label: str) -> Index:
    """What ``text`` defines. A file with a syntax error is indexed by its ``class``/``def`` lines,
    so the error is charged to the component it holds, not reported as "missing"."""
    _spend(text)
    try:
        tree = ast.parse(text, filename=label)
    except PARSER_ERRORS as exc:
        names = set(DEFINITION_LINE.findall(text))
        error, at = _failure(exc, label)
        number = getattr(exc, "lineno", None) if isinstance(exc, SyntaxError) else None
        lines = text.split("\n") if number else []
        return Index(defines=names, complete=names, syntax_error=error, broken=dict.fromkeys(names, error),
                     error_line=lines[number - 1] if number and 0 < number <= len(lines) else None, error_at=at)
    found = Index(tree=tree)
    for node in tree.body:
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            found.defines |= bound_names(node)
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and not is_stub(node):
            found.complete.add(node.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.imports.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.imports.add(node.module.split(".")[0])
    return found


def _failure(exc: Exception, label: str) -> tuple[str, int | None]:
    """What a parser's error says, and the line of the statement that holds it: the line it names, or
    the header it names ("expected an indented block after 'def' statement on line 5")."""
    header = re.search(r" on line (\d+)$", str(getattr(exc, "msg", "")))
    return _syntax_message(exc, label), int(header.group(1)) if header else getattr(exc, "lineno", None)


def _syntax_message(exc: Exception, label: str) -> str:
    if isinstance(exc, SyntaxError):
        return f"{label}, line {exc.lineno}: {safe_text(exc.msg, 300)}"
    if isinstance(exc, (RecursionError, MemoryError)):
        return f"{label}: an expression nested too deeply for Python's parser ({type(exc).__name__}); simplify it"
    return f"{label}: {safe_text(exc, 300)}"


def is_stub(node: ast.AST) -> bool:
    """A function, or a class, whose body is only a docstring, ``pass``, ``...`` or ``raise
    NotImplementedError`` (every method's) -- what the release hands out --, or that always reaches
    ``raise NotImplementedError`` (one method's will do: the release's given code around the
    placeholder, ``try``/``finally``, leaves a function unwritten all the same)."""
    functions = [node] if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else [
        n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if not functions:
        return False
    # a class with one method the student never wrote is not done either
    return all(all(_is_placeholder(s) for s in f.body) for f in functions) or any(
        _always_unimplemented(f.body) for f in functions)


def _always_unimplemented(body: list) -> bool:
    """Whether running ``body`` always reaches ``raise NotImplementedError``: straight-line statements,
    into ``try`` and ``with`` blocks, up to the first that may branch, loop or return."""
    for statement in body:
        if isinstance(statement, ast.Raise):
            return _is_placeholder(statement)
        if isinstance(statement, ast.Try) and statement.handlers:
            return False  # a handler may catch it
        if isinstance(statement, (ast.Try, ast.With, ast.AsyncWith)):
            if _always_unimplemented(statement.body):
                return True
        elif isinstance(statement, (ast.If, ast.For, ast.AsyncFor, ast.While, ast.Return, ast.Match)):
            return False
    return False


def _is_placeholder(statement: ast.stmt) -> bool:
    if isinstance(statement, ast.Pass):
        return True
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
        return True  # a docstring or ...
    if isinstance(statement, ast.Raise) and statement.exc is not None:
        target = statement.exc.func if isinstance(statement.exc, ast.Call) else statement.exc
        return isinstance(target, ast.Name) and target.id == "NotImplementedError"
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call):  # super().__init__()
        func = statement.value.func
        return isinstance(func, ast.Attribute) and func.attr == "__init__"
    return False


def bound_names(node: ast.stmt) -> set[str]:
    """Names a top-level statement binds (inside ``if``/``try``/``with`` blocks too)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, ast.Import):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    if isinstance(node, ast.ImportFrom):
        return {a.asname or a.name for a in node.names if a.name != "*"}
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    names, pending = set(), []  # a block's statements, without recursing (an elif chain nests 1,000 deep)
    for field_name in ("body", "orelse", "finalbody", "handlers"):
        for child in getattr(node, field_name, []) or []:
            pending += child.body if isinstance(child, ast.ExceptHandler) else [child] if isinstance(child, ast.stmt) else []
    while pending:
        child = pending.pop()
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom,
                              ast.Assign, ast.AnnAssign, ast.AugAssign)):
            names |= bound_names(child)
            continue
        for field_name in ("body", "orelse", "finalbody", "handlers"):
            for inner in getattr(child, field_name, []) or []:
                pending += inner.body if isinstance(inner, ast.ExceptHandler) else [inner] if isinstance(inner, ast.stmt) else []
    return names


def used_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _is_main_guard(node: ast.stmt) -> bool:
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    parts = [node.test.left, *node.test.comparators]
    return any(isinstance(p, ast.Name) and p.id == "__name__" for p in parts)


def _is_definition(node: ast.stmt) -> bool:
    return isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))


_LOOPS = (ast.For, ast.AsyncFor, ast.While)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
           ast.GeneratorExp)
_TRIES = (ast.Try, ast.TryStar) if hasattr(ast, "TryStar") else (ast.Try,)
_DECIDERS = (ast.Import, ast.ImportFrom, ast.Assert)  # in a ``try``: whether they raise picks the branch


def _blocks(node: ast.stmt) -> list[list[ast.stmt]]:
    """The statement lists a compound statement holds (``if``, ``try``, ``with``, loops, ``match``). A
    definition's body is not one: a ``def`` is a single statement, whatever its body reads."""
    if _is_definition(node):
        return []
    lists = [getattr(node, name) for name in ("body", "orelse", "finalbody") if getattr(node, name, None)]
    lists += [handler.body for handler in getattr(node, "handlers", [])]
    lists += [case.body for case in getattr(node, "cases", [])]
    return lists


def _header(node: ast.stmt) -> ast.stmt:
    """A compound statement with each of its blocks cut to ``pass``: what runs of it besides its blocks
    (an ``if``'s test, a ``for``'s target and iterable, an ``except``'s type). Other statements as they are."""
    return _with_blocks(node, lambda block: [ast.Pass()])


def _with_blocks(node: ast.stmt, rewrite) -> ast.stmt:
    """A copy of compound statement ``node`` with each of its blocks (``_blocks``) as ``rewrite`` makes it;
    any other statement as it is."""
    if not _blocks(node):
        return node
    node = copy.copy(node)
    for name in ("body", "orelse", "finalbody"):
        if getattr(node, name, None):
            setattr(node, name, rewrite(getattr(node, name)))
    for name in ("handlers", "cases"):
        if getattr(node, name, None):
            parts = [copy.copy(part) for part in getattr(node, name)]
            for part in parts:
                part.body = rewrite(part.body)
            setattr(node, name, parts)
    return node


def _root(target: ast.expr) -> str | None:
    """The module-level name an assignment target binds or changes: ``ResBlock`` of ``ResBlock.forward``."""
    while isinstance(target, (ast.Attribute, ast.Subscript, ast.Starred)):
        target = target.value
    return target.id if isinstance(target, ast.Name) else None


def touched_names(node: ast.stmt) -> set[str]:
    """The module-level names a statement binds or changes when it runs (a compound statement: its header
    only; each statement in its blocks counts on its own). Changes are what Python and Jupyter let a
    notebook do to a class after defining it: ``ResBlock.forward = f``, ``CONFIG["lr"] = 1e-3``,
    ``setattr(ResBlock, "forward", f)``, a decorator handed the class (d2l.ai's ``@add_to_class(ResBlock)``).
    Any other call is the work a notebook does with its definitions (training, plotting, saving): it
    changes nothing that counts here, so deny by default."""
    if isinstance(node, ast.Expr):
        call = node.value
        if (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in ("setattr", "delattr")
                and call.args):
            return {_root(call.args[0])} - {None}
        return set()
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return bound_names(node)
    if _is_definition(node):
        handed = [arg for d in node.decorator_list if isinstance(d, ast.Call) for arg in [*d.args, *(k.value for k in d.keywords)]]
        return {node.name} | ({_root(arg) for arg in handed} - {None})
    names = set()
    pending = list(ast.iter_child_nodes(_header(node)))
    while pending:
        sub = pending.pop()
        if isinstance(sub, ast.stmt) or isinstance(sub, _SCOPES):
            continue  # a block's statement counts on its own; a comprehension's names are its own
        if isinstance(sub, (ast.Name, ast.Attribute, ast.Subscript)) and isinstance(sub.ctx, (ast.Store, ast.Del)):
            names.add(_root(sub))
        elif isinstance(sub, ast.ExceptHandler) and sub.name:
            names.add(sub.name)
        elif isinstance(sub, (ast.MatchAs, ast.MatchStar)) and sub.name:
            names.add(sub.name)
        elif isinstance(sub, ast.MatchMapping) and sub.rest:
            names.add(sub.rest)
        pending.extend(ast.iter_child_nodes(sub))
    return names - {None}


def _kept(tree: ast.Module, roots: set[str] | None) -> set[int]:
    """The ids of the statements (at any depth outside definitions) that ``kept_statements`` keeps."""
    parents: dict[int, ast.stmt | None] = {}
    # a kept loop keeps its break/continue, a kept block its own raise, a kept try the imports and asserts
    # that choose its branch (``try: import einops; HAS_EINOPS = True``)
    exits: dict[int, list[ast.stmt]] = {}
    statements: list[ast.stmt] = []

    # every statement with its block's parent and loop, in source order, without recursing (an elif
    # chain nests a thousand deep, past Python's recursion limit)
    pending: list = [(node, None, None, False) for node in reversed(tree.body)]
    while pending:
        node, parent, loop, tried = pending.pop()
        if _is_main_guard(node):
            continue  # runs only as a script: never on import, so nothing a definition reads
        statements.append(node)
        parents[id(node)] = parent
        if isinstance(node, (ast.Break, ast.Continue)) and loop is not None:
            exits.setdefault(id(loop), []).append(node)
        elif parent is not None and (isinstance(node, ast.Raise) or (tried and isinstance(node, _DECIDERS))):
            exits.setdefault(id(parent), []).append(node)
        inner_loop = node if isinstance(node, _LOOPS) else loop
        for inner in reversed(_blocks(node)):
            in_try = isinstance(node, _TRIES) and inner is node.body
            pending.extend((child, node, inner_loop, in_try) for child in reversed(inner))
    binders: dict[str, list[ast.stmt]] = {}  # name -> the statements that bind or change it, found once
    for node in statements:
        for name in touched_names(node):
            binders.setdefault(name, []).append(node)
    if roots is None:
        roots = {n.name for n in tree.body if _is_definition(n)}
    # Each statement read once and each name looked up once: a chain of ``a0 = a1``, ``a1 = a2``, ...
    # rescanned every statement per link (4,000 links: 27 s of the grader's own time)
    kept, looked_up, pending = set(), set(), []

    def keep(node: ast.stmt | None) -> None:
        while node is not None and id(node) not in kept:  # with the blocks around it
            kept.add(id(node))
            pending.append(node)
            node = parents[id(node)]

    def need(names) -> None:
        for name in set(names) - looked_up:
            looked_up.add(name)
            for binder in binders.get(name, ()):
                keep(binder)

    need(roots)
    for node in statements:
        if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
            keep(node)  # binds names no one can list
    while pending:
        node = pending.pop()
        need(module_names_read(_header(node)))
        for exit_ in exits.get(id(node), ()):
            keep(exit_)
    return kept


def kept_statements(tree: ast.Module, roots: set[str] | None) -> list[ast.stmt]:
    """The top-level statements the definitions of ``roots`` need (all top-level definitions when None),
    as Python would run them on import, without the rest.

    Kept: the definitions, and every statement that binds or changes (``touched_names``) a module-level
    name a kept statement reads (``module_names_read``) -- imports, helpers, constants, a method
    attached to a class after it -- with the blocks around it: an ``if`` that picks a device, a
    ``try`` around an optional import, a ``with`` or a loop that computes a constant. Inside a kept
    block, the statements that touch nothing needed become ``pass`` (its ``print``, a plot), except
    what decides where it goes: its own ``raise``, its loop's ``break``/``continue``, the imports and
    asserts of a ``try``. So a training loop, a plot, a file written, the ``__main__`` block never run
    unless they compute what a definition reads. Linear: each statement is read once, each name looked
    up once.
    """
    kept = _kept(tree, roots)
    return [_pruned(node, kept) for node in tree.body if id(node) in kept]


def _pruned(node: ast.stmt, kept: set[int]) -> ast.stmt:
    """``node`` with each statement of its blocks that is not kept made ``pass``."""
    return _with_blocks(node, lambda block: [_pruned(s, kept) if id(s) in kept else ast.copy_location(ast.Pass(), s)
                                             for s in block])


def module_names_read(node: ast.stmt) -> set[str]:
    """The module-level names ``node`` reads when it runs, or when a function or class it defines is
    used. A function's own locals are not among them: ``results`` inside ``skip_ablation`` does not
    make a top-level ``results = skip_ablation()`` (which trains for a minute) part of its definition.
    """
    try:
        table = symtable.symtable(ast.unparse(node), "<statement>", "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # code Python would refuse to compile anyway
        return used_names(node)
    return _global_reads(table)


def _global_reads(table: symtable.SymbolTable) -> set[str]:
    names = {s.get_name() for s in table.get_symbols()
             if (s.is_referenced() and s.is_global()) or s.is_declared_global()}  # `global n; n += 1` reads n
    for child in table.get_children():
        names |= _global_reads(child)
    return names


def _first_line(node: ast.stmt) -> int:
    """A statement's first line: its first decorator's, if it has one."""
    return min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])


def definitions_only(text: str, tree: ast.Module, roots: set[str] | None = None) -> str:
    """``text`` as ``kept_statements`` runs it, line numbers unchanged: every line outside the kept
    top-level statements blanked, every statement left out inside a kept block made ``pass`` (one that
    shares its line with another, ``else: print("cpu")``, replaced in place; one that also spans lines
    is kept as written)."""
    kept = _kept(tree, roots)
    lines = text.split("\n")
    keep = [False] * len(lines)
    spliced: dict[int, list[tuple[int, int]]] = {}  # line index -> byte spans that become ``pass``
    # Per line, read once: its bytes, its indent, the end of the last statement on it. A statement's
    # place is judged from these, never by copying its line (one line of 262,000 ``x;`` copied per
    # statement: 42 s of the grader's own time, red team).
    encoded: dict[int, bytes] = {}
    indents: dict[int, int] = {}
    last_end: dict[int, int] = {}

    def line_bytes(index: int) -> bytes:
        if index not in encoded:
            encoded[index] = lines[index].encode()
        return encoded[index]

    def indent(index: int) -> int:
        if index not in indents:
            line = line_bytes(index)
            indents[index] = len(line) - len(line.lstrip())
        return indents[index]

    def statements():  # every statement outside definitions, any depth, without recursing
        pending = list(reversed(tree.body))
        while pending:
            node = pending.pop()
            yield node
            for inner in reversed(_blocks(node)):
                pending.extend(reversed(inner))

    for node in statements():
        end = (node.end_lineno or node.lineno) - 1
        last_end[end] = max(last_end.get(end, 0), node.end_col_offset or 0)

    def leave_out(node: ast.stmt, in_block: bool) -> None:
        start, end = _first_line(node), node.end_lineno or node.lineno
        if not in_block and not keep[start - 1]:
            return  # its line is blanked whole
        col = node.col_offset if start == node.lineno else indent(start - 1)
        alone = col <= indent(start - 1) and (node.end_col_offset or 0) >= last_end.get(end - 1, 0)
        if alone:  # on lines of its own
            if in_block:
                lines[start - 1] = line_bytes(start - 1)[:col].decode() + "pass"
                encoded.pop(start - 1, None)
                for number in range(start + 1, end + 1):
                    lines[number - 1] = ""
                    encoded.pop(number - 1, None)
        elif start == end:
            spliced.setdefault(start - 1, []).append((node.col_offset, node.end_col_offset))

    for node in tree.body:
        if id(node) in kept:
            for number in range(_first_line(node), (node.end_lineno or node.lineno) + 1):
                keep[number - 1] = True
    pending = [(node, False) for node in reversed(tree.body)]
    while pending:
        node, in_block = pending.pop()
        if id(node) not in kept:
            leave_out(node, in_block)
        else:
            for inner in reversed(_blocks(node)):
                pending.extend((child, True) for child in reversed(inner))
    for index, spans in spliced.items():
        line, pieces, at = line_bytes(index), [], 0
        for begin, finish in sorted(spans):
            pieces += [line[at:begin], b"pass"]
            at = finish
        lines[index] = b"".join(pieces + [line[at:]]).decode()
    return "\n".join(line if kept_line else "" for line, kept_line in zip(lines, keep))


# --- a file that does not parse: the rest of it, read as if its broken statements were absent -----

# Where a top-level statement may start: a line at column 0 that is code, not the continuation of a
# compound statement (``else:``, ``except``) nor a closing bracket. In text that does not parse, such a
# line may also sit in a string or a bracket the error left open: a cut there only fails to parse too.
_STATEMENT_START = re.compile(r"(?![ \t\f#)\]}]|(?:else|elif|except|finally)\b|\s*$)")
_ASSIGNED_LINE = re.compile(r"^([A-Za-z_]\w*)\s*(?::[^=\n]*)?=(?!=)", re.MULTILINE)
MAX_CUTS = 20  # broken statements left out of one file; past it, the file is one syntax error, as before


@dataclass
class _Cut:
    first: int  # first line left out (1-based)
    last: int  # last line left out
    error: str  # Python's message, "label, line N: message"
    names: set[str]


def recovered(text: str, label: str, found: Index | None = None) -> tuple[str, Index, list[str]]:
    """``text`` and its ``index``; where it does not parse, the same text with each top-level statement
    that holds a syntax error blanked (line numbers kept), so the rest of the file is read as if those
    statements were absent, with a note per statement left out (its line, Python's message, what it
    defined). The index then says the file's first error (``syntax_error``), and which names the cut
    statements defined (``broken``): their components are charged with Python's message, nothing else.
    Where no cut makes the file parse (more than ``MAX_CUTS``, a parser's limit), the index of the whole
    file as one syntax error.

    Linear in the file, up to ``MAX_CUTS`` re-reads: a failed parse names its first error, the statement
    around that line is cut at the nearest statement starts, and each side is parsed again on its own
    (what came before the error parses, so mostly only what follows it is read again); each re-read is
    spent from the hand-in's budget (``spend``), which stops the cutting where it runs out. ``found``:
    ``text``'s index, where the caller has it."""
    found = found or index(text, label)
    if found.syntax_error is None or found.tree is not None:
        return text, found, []
    lines = text.split("\n")
    starts = [n for n, line in enumerate(lines, start=1) if _STATEMENT_START.match(line)]
    cuts: list[_Cut] = []
    if not _cut(lines, starts, label, cuts, (found.syntax_error, found.error_at)) or not cuts:
        return text, found, []
    kept = list(lines)
    for cut in cuts:
        kept[cut.first - 1:cut.last] = [""] * (cut.last - cut.first + 1)
    recovered_text = "\n".join(kept)
    try:
        again = index(recovered_text, label)
    except OverBudget:
        return text, found, []
    if again.tree is None:
        return text, found, []
    first = min(cuts, key=lambda c: c.first)
    again.syntax_error = first.error
    again.error_line = lines[_error_number(first.error, first.first) - 1]
    for cut in sorted(cuts, key=lambda c: c.first):
        for name in sorted(cut.names):
            again.broken.setdefault(name, cut.error)
        again.defines |= cut.names
        again.complete |= cut.names  # charged with its error, never "missing"
    notes = [f"{cut.error} (SyntaxError): lines {cut.first}-{cut.last}"
             + (f" ({', '.join(sorted(cut.names))})" if cut.names else "")
             + " left out; the rest is graded without them" for cut in sorted(cuts, key=lambda c: c.first)]
    return recovered_text, again, notes


def _error_number(error: str, default: int) -> int:
    found = re.search(r", line (\d+):", error)
    return int(found.group(1)) if found else default


def _cut(lines: list[str], starts: list[int], label: str, cuts: list, failure: tuple[str, int | None]) -> bool:
    """Cut the statements of ``lines`` that do not parse into ``cuts`` (``failure``: the whole text's
    error, already known); False where it cannot be done within ``MAX_CUTS`` and the hand-in's budget."""
    pending = [(1, len(lines))]
    while pending:
        first, last = pending.pop()
        if first > last:
            continue
        if (first, last) == (1, len(lines)):
            error, at = failure
        else:
            piece = "\n".join(lines[first - 1:last])
            if not piece.strip():
                continue
            if not spend(bytes=len(piece) + first):
                return False
            try:
                ast.parse("\n" * (first - 1) + piece, filename=label)  # Python's own line numbers, in its messages too
                continue
            except PARSER_ERRORS as exc:
                error, at = _failure(exc, label)
        if len(cuts) >= MAX_CUTS:
            return False
        at = min(max(at or first, first), last)
        begin = bisect.bisect_right(starts, at) - 1  # the statement start at or above the error
        while begin > 0 and starts[begin - 1] >= first and lines[starts[begin - 1] - 1].startswith("@"):
            begin -= 1  # a decorated definition starts at its first decorator
        cut_first = starts[begin] if begin >= 0 and starts[begin] >= first else first
        after = bisect.bisect_right(starts, at)
        cut_last = starts[after] - 1 if after < len(starts) and starts[after] <= last else last
        while cut_last > at and (not lines[cut_last - 1].strip() or lines[cut_last - 1].lstrip().startswith("#")):
            cut_last -= 1  # the blank lines and comments before the next statement stay (a ``# %%`` line)
        text = "\n".join(lines[cut_first - 1:cut_last])
        names = set(DEFINITION_LINE.findall(text)) | set(_ASSIGNED_LINE.findall(text))
        cuts.append(_Cut(cut_first, cut_last, error, names))
        pending += [(cut_last + 1, last), (first, cut_first - 1)]
    return True
