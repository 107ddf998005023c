"""What a piece of Python source defines, and the same source reduced to its definitions.

``index`` reads a module without running it: the contract's classes and functions it defines (and
whether each is still a stub), the packages it imports. ``definitions_only`` keeps what the
contract's definitions need -- their imports, helpers, constants -- and blanks every other
top-level statement (a test at the bottom, a training loop, a plot), keeping line numbers, so a
traceback still points at the student's own line. The grader runs a module as written first and
falls back to this only when its top-level code fails; for a notebook it is the only way.
"""
import ast
import re
import symtable
from dataclasses import dataclass, field

from .safe_text import safe_text

_DEFINITION = re.compile(r"^(?:class|def)\s+([A-Za-z_]\w*)", re.MULTILINE)


@dataclass
class Index:
    defines: set[str] = field(default_factory=set)  # top-level names defined (class, def, assignment; not imports)
    complete: set[str] = field(default_factory=set)  # top-level classes/functions with a real body
    imports: set[str] = field(default_factory=set)  # top-level package names imported anywhere
    syntax_error: str | None = None
    tree: ast.Module | None = None


# What Python's parser raises on text it cannot read: the last two for an expression nested too deeply
# (``"-" * 100000 + "1"``, ``"a" + ".b" * 100000``). Every parse of a student's text catches all four.
PARSER_ERRORS = (SyntaxError, ValueError, RecursionError, MemoryError)


def index(text: str, label: str) -> Index:
    """What ``text`` defines. A file with a syntax error is indexed by its ``class``/``def`` lines,
    so the error is charged to the component it holds, not reported as "missing"."""
    try:
        tree = ast.parse(text, filename=label)
    except PARSER_ERRORS as exc:
        names = set(_DEFINITION.findall(text))
        return Index(defines=names, complete=names, syntax_error=_syntax_message(exc, label))
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
    names = set()
    for field_name in ("body", "orelse", "finalbody", "handlers"):
        for child in getattr(node, field_name, []) or []:
            if isinstance(child, ast.ExceptHandler):
                for inner in child.body:
                    names |= bound_names(inner)
            elif isinstance(child, ast.stmt):
                names |= bound_names(child)
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


def _binds_only(node: ast.stmt) -> bool:
    """Statements that only bind names: imports, assignments, and blocks made of them (an ``if``
    choosing a device, a ``try`` around an optional import)."""
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.Assign, ast.AnnAssign, ast.AugAssign)) or _is_definition(node):
        return True
    if isinstance(node, (ast.If, ast.Try)) and not _is_main_guard(node):
        children = [*node.body, *node.orelse, *getattr(node, "finalbody", [])]
        for handler in getattr(node, "handlers", []):
            children += handler.body
        return all(_binds_only(c) or isinstance(c, ast.Pass) for c in children)
    return False


def kept_statements(tree: ast.Module, roots: set[str] | None) -> list[ast.stmt]:
    """The top-level statements the definitions of ``roots`` need (all definitions when None).

    Starts from the definitions themselves, then adds whatever binds a module-level name they read
    (``module_names_read``) -- imports, helper functions, constants, an ``if`` that picks a device --
    until nothing new is needed.
    Expression statements, loops and the ``__main__`` block never bind what a definition needs.
    """
    candidates = [n for n in tree.body if _binds_only(n)]
    if roots is None:
        kept = [n for n in candidates if _is_definition(n)]
    else:
        kept = [n for n in candidates if _is_definition(n) and n.name in roots]
    kept += [n for n in candidates if isinstance(n, ast.ImportFrom) and any(a.name == "*" for a in n.names)]
    binders: dict[str, list[ast.stmt]] = {}  # name -> the candidates that bind it, found once
    for node in candidates:
        for name in bound_names(node):
            binders.setdefault(name, []).append(node)
    # Each statement read once and each name looked up once: a chain of ``a0 = a1``, ``a1 = a2``, ...
    # rescanned every candidate per link (4,000 links: 27 s of the grader's own time)
    chosen, looked_up, pending = set(map(id, kept)), set(), list(kept)
    while pending:
        node = pending.pop()
        for name in module_names_read(node) - looked_up:
            looked_up.add(name)
            for binder in binders.get(name, ()):
                if id(binder) not in chosen:
                    chosen.add(id(binder))
                    kept.append(binder)
                    pending.append(binder)
    return sorted(kept, key=lambda n: n.lineno)


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


def definitions_only(text: str, tree: ast.Module, roots: set[str] | None = None) -> str:
    """``text`` with every top-level statement but the kept ones blanked, line numbers unchanged."""
    lines = text.split("\n")
    keep = [False] * len(lines)
    for node in kept_statements(tree, roots):
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        for number in range(start, (node.end_lineno or node.lineno) + 1):
            keep[number - 1] = True
    return "\n".join(line if kept else "" for line, kept in zip(lines, keep))
