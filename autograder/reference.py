"""The instructor's reference solution, loaded in the trusted process only.

Children never import this module or see the reference's text. Where a child needs the reference
of a component's dependencies (a DownBlock is graded with the reference ResBlock inside), it gets
``stand_in_code``: those definitions compiled here, without docstrings, line numbers or a source
file, so a traceback through them reads ``<reference>`` and there is no text to print or read back.
"""
import ast
import base64
import functools
import marshal
import importlib
import importlib.util
import sys
import types
from functools import cached_property
from pathlib import Path

from .contract import COMPONENTS, PACKAGE_MODULES
from .errors import ReferenceError_

_PACKAGE = "_autograder_reference"
_ALL_SYMBOLS = {symbol: c.module for c in COMPONENTS for symbol in c.symbols}
STAND_IN_LABEL = "<reference>"  # the child's traceback formatter knows this name (child/server.py)


class Reference:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        missing = [m for m in PACKAGE_MODULES if not (self.directory / f"{m}.py").is_file()]
        if missing:
            raise ReferenceError_(
                f"reference solution at {self.directory} lacks {', '.join(m + '.py' for m in missing)}; "
                "set 'reference:' in grading_config.yaml to the folder with the solution modules"
            )
        self.sources = {m: (self.directory / f"{m}.py").read_text(encoding="utf-8") for m in PACKAGE_MODULES}

    @cached_property
    def _package(self):
        spec = importlib.util.spec_from_file_location(
            _PACKAGE, self.directory / "__init__.py", submodule_search_locations=[str(self.directory)]
        )
        package = importlib.util.module_from_spec(spec)
        sys.modules[_PACKAGE] = package
        spec.loader.exec_module(package)
        return package

    def import_all(self) -> None:
        """Import every module of the reference (under its package's name), e.g. before unpickling its models."""
        self._package  # noqa: B018
        for module in PACKAGE_MODULES:
            importlib.import_module(f"{_PACKAGE}.{module}")

    def symbol(self, module: str, name: str):
        """A class or function of the reference, e.g. ``symbol("res_block", "ResBlock")``."""
        self._package  # noqa: B018 -- make sure the package is imported first
        return getattr(importlib.import_module(f"{_PACKAGE}.{module}"), name)

    def stand_in_source(self, symbols) -> str:
        """One module's worth of reference code defining ``symbols`` (and what they need): each
        module's imports and the kept definitions, the package's own relative imports left out
        (every definition lands in the same namespace)."""
        wanted = set(symbols)
        parts: list[str] = []
        seen_imports: set[str] = set()
        for module in PACKAGE_MODULES:
            keep = {s for s, m in _ALL_SYMBOLS.items() if m == module and s in wanted}
            if not keep:
                continue
            tree = ast.parse(self.sources[module])
            from .intake.python_source import kept_statements

            for node in kept_statements(tree, keep):
                if isinstance(node, ast.ImportFrom) and node.level > 0:
                    continue
                if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name in _ALL_SYMBOLS and node.name not in keep:
                    continue
                text = ast.unparse(node)
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    if text in seen_imports:
                        continue
                    seen_imports.add(text)
                parts.append(text)
        return "\n\n".join(parts) + "\n"

    @functools.lru_cache(maxsize=64)
    def stand_in_code(self, symbols: tuple[str, ...]) -> str:
        """``stand_in_source(symbols)`` compiled for a child -- no docstrings, no line numbers, no
        file -- marshalled and base64-encoded (a ``LoadPlan``'s ``stand_in_code``)."""
        code = compile(self.stand_in_source(symbols), STAND_IN_LABEL, "exec", optimize=2, dont_inherit=True)
        return base64.b64encode(marshal.dumps(_without_lines(code))).decode()

    @cached_property
    def secret_lines(self) -> frozenset[str]:
        """The reference's solution lines, whitespace-normalised: text that must never reach a student."""
        from .solution_markers import solution_lines

        return frozenset(" ".join(line.split()) for source in self.sources.values() for line in solution_lines(source))


def _without_lines(code: types.CodeType) -> types.CodeType:
    """``code`` and every code object inside it, with every instruction mapped to no line."""
    consts = tuple(_without_lines(c) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    units, table = len(code.co_code) // 2, bytearray()
    while units > 0:  # Python 3.11+ location table: entries of kind 15 ("no location"), up to 8 units each
        chunk = min(8, units)
        table.append(0x80 | (15 << 3) | (chunk - 1))
        units -= chunk
    return code.replace(co_consts=consts, co_linetable=bytes(table), co_firstlineno=1)
