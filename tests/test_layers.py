"""Imports go one way, top to bottom (STYLE.md, README "How it works"): this file keeps the list of
layers, reads every module's imports with ``ast`` (those inside functions too) and fails on an import
that runs back up, on a circle, and on a known violation that has been fixed but is still listed."""
import ast
import functools
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "autograder"

# Top to bottom. A module may import its own layer and the layers below it. A module belongs to the
# longest prefix that names it (``sandbox.child`` before ``sandbox``). ``pages/`` sits under batch and
# the output folder (``output_folder.py``), which render through it, and over grading, which must not.
LAYERS = [
    ("front ends", ["cli", "nbgrader_course", "public_check", "doctor"]),
    ("batch, output folder, release; what a resume grades again", ["batch", "output_folder", "release", "staleness"]),
    ("grading workers, local or on a Dask cluster", ["cluster", "worker"]),
    ("pages: renders only", ["pages"]),
    ("one submission", ["grader", "plan", "warm_start"]),
    ("the data behind the pictures: grading data", ["grading_data"]),
    ("checks, in the trusted process", ["checks"]),
    ("tolerances, strategies, rules, the reference", ["compare", "strategies", "rules", "reference", "redact",
                                                      "solution_markers"]),
    # the door, split by job: the coordinator over the proxies, the questions' memo over the connection,
    # and under them the time budget, the replies' parser, the fork server's client and the isolation
    ("the door: one component's code in a child, coordinated", ["sandbox.launcher"]),
    ("the door: the proxies the checks hold", ["sandbox.student_module"]),
    ("the door: the questions asked of a child and the memo of their answers", ["sandbox.questions"]),
    ("the door: the connection to one child", ["sandbox.connection"]),
    ("the door: time budget, replies, fork server, isolation", ["sandbox"]),
    ("intake, and similarity fingerprints beside it; integrity events from both", ["intake", "similarity", "integrity"]),
    ("models, settings, the contract, the machine", ["results", "config", "contract", "fingerprint", "machine"]),
    ("errors", ["errors"]),
]
# The child side imports the standard library, torch and the submission: nothing of ours outside it.
SEALED = "sandbox.child"

# Known imports that run back up (importer, imported), each a debt with its way out (issue 21). The test
# fails when one of them is gone, so that this list only shrinks.
KNOWN_VIOLATIONS = {
    # the class report reads the output folder and the stubs' markers: pages/ should be handed data
    ("pages.class_report", "output_folder"),
    ("pages.class_report", "release.notebook"),  # the notebook's code cells: given to everyone
}
# Known circles, each as the set of modules in it.
KNOWN_CIRCLES: list[set] = []  # none left; a new one fails test_no_new_circles_and_known_ones_are_still_there


def _name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _exists(name: str) -> bool:
    path = PACKAGE.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports(path: Path) -> set[str]:
    """Our modules that ``path`` imports anywhere in it (``from .pages import evidence`` -> pages.evidence)."""
    name = _name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name.removeprefix("autograder.") for a in node.names if a.name.startswith("autograder.")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[:len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            elif node.module and (node.module == "autograder" or node.module.startswith("autograder.")):
                module = node.module.removeprefix("autograder").lstrip(".")
            else:
                continue
            for alias in node.names:
                sub = f"{module}.{alias.name}" if module else alias.name
                found.add(sub if _exists(sub) else module)
    return {m for m in found if m and m != name}


@functools.cache
def _graph() -> dict[str, set[str]]:
    return {_name(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py")) if _name(p)}


def _layer(module: str) -> int:
    best = max(((len(prefix), index) for index, (_, prefixes) in enumerate(LAYERS) for prefix in prefixes
                if module == prefix or module.startswith(prefix + ".")), default=None)
    assert best is not None, f"autograder/{module.replace('.', '/')} is in no layer: add it to LAYERS in {__file__}"
    return best[1]


def _violations(graph) -> set[tuple[str, str]]:
    found = set()
    for module, imported in graph.items():
        for target in imported:
            upward = _layer(target) < _layer(module)
            leaves_child = module.startswith(SEALED) and not target.startswith(SEALED)
            if upward or leaves_child:
                found.add((module, target))
    return found


def _circles(graph) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(component)

    for node in graph:
        if node not in index:
            visit(node)
    return circles


def test_every_module_has_a_layer():
    for module in _graph():
        _layer(module)


def test_no_import_runs_back_up():
    found = _violations(_graph())
    new = sorted(found - KNOWN_VIOLATIONS)
    assert new == [], ("these imports run back up (LAYERS in tests/test_layers.py): "
                       + "; ".join(f"{a} imports {b}" for a, b in new))


def test_known_violations_are_still_there():
    fixed = sorted(KNOWN_VIOLATIONS - _violations(_graph()))
    assert fixed == [], f"fixed, well done: remove {fixed} from KNOWN_VIOLATIONS in tests/test_layers.py"


def test_no_new_circles_and_known_ones_are_still_there():
    circles = _circles(_graph())
    assert [c for c in circles if c not in KNOWN_CIRCLES] == []
    assert [c for c in KNOWN_CIRCLES if c not in circles] == [], "a known circle is gone: remove it from KNOWN_CIRCLES"


def test_the_checker_sees_what_it_should(tmp_path):
    """The reader finds a lazy import inside a function and resolves relative ones; the layer and circle
    rules catch a made-up upward import and a made-up circle (cases not taken from the package)."""
    module = PACKAGE / "checks" / "common.py"
    assert "checks.diagnose" in _imports(module)
    source = tmp_path / "lazy.py"
    source.write_text("def f():\n    from autograder.pages import feedback\n    import autograder.cli\n")
    original = PACKAGE
    globals()["PACKAGE"] = tmp_path
    try:
        assert _imports(source) >= {"cli", "pages"}
    finally:
        globals()["PACKAGE"] = original
    assert _violations({"errors": {"cli"}}) == {("errors", "cli")}
    assert _violations({"sandbox.child.server": {"config"}}) == {("sandbox.child.server", "config")}
    assert _violations({"cli": {"errors"}}) == set()
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
