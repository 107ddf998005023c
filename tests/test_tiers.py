"""The test tiers' own settings in conftest.py name things that exist: a renamed fixture there would
not fail a test, it would silently cost minutes (a graded class built once per xdist worker again)."""
import ast
from pathlib import Path

from .conftest import ONE_WORKER_FIXTURES

TESTS = Path(__file__).resolve().parent


def _fixtures(scope: str) -> set[str]:
    """The names of the fixtures of ``scope`` defined in tests/, read from the source."""
    names = set()
    for path in TESTS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef):
                continue
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Call) and ast.unparse(decorator.func) == "pytest.fixture" and any(
                        k.arg == "scope" and isinstance(k.value, ast.Constant) and k.value.value == scope
                        for k in decorator.keywords):
                    names.add(node.name)
    return names


def test_each_one_worker_fixture_is_a_module_fixture_of_the_tests():
    module_fixtures = _fixtures("module")
    assert {"graded_j2", "classroom"} <= module_fixtures  # the reading above finds them at all
    assert ONE_WORKER_FIXTURES <= module_fixtures, ONE_WORKER_FIXTURES - module_fixtures
