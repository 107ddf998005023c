"""The instructor's reference solution, loaded in the trusted process only.

Children never import this module. They receive, as source text, only the reference code of the
*dependencies* of the component they are graded on (``dependency_source``), with every other
component's definition cut out.
"""
import ast
import importlib
import importlib.util
import sys
from functools import cached_property
from pathlib import Path

from .contract import COMPONENTS, PACKAGE_MODULES
from .errors import ReferenceError_

_PACKAGE = "_autograder_reference"
_ALL_SYMBOLS = {symbol for c in COMPONENTS for symbol in c.symbols}


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

    def symbol(self, module: str, name: str):
        """A class or function of the reference, e.g. ``symbol("res_block", "ResBlock")``."""
        self._package  # noqa: B018 -- make sure the package is imported first
        return getattr(importlib.import_module(f"{_PACKAGE}.{module}"), name)

    def dependency_source(self, module: str, keep: set[str]) -> str:
        """``module``'s reference source with every contract definition not in ``keep`` removed."""
        source = self.sources[module]
        lines = source.splitlines(keepends=True)
        drop: set[int] = set()
        for node in ast.parse(source).body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name in _ALL_SYMBOLS - keep:
                start = min([node.lineno] + [d.lineno for d in node.decorator_list])
                drop.update(range(start - 1, node.end_lineno))
        return "".join(line for i, line in enumerate(lines) if i not in drop)
