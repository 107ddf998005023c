"""The test tiers' own settings in conftest.py name things that exist: a renamed fixture there would
not fail a test, it would silently cost minutes (a graded class built once per xdist worker again, or
a whole deployment back in the quick tier). And what they promise holds: the quick tier still takes
every kind of end-to-end path, and a group of tests runs on one xdist worker."""
import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import FALLBACK_MODE_TESTS, ONE_WORKER_FIXTURES, QUICK_LEAVES_OUT

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


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


def _test_functions(module: str) -> set[str]:
    tree = ast.parse((TESTS / f"{module}.py").read_text(encoding="utf-8"))
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


def test_each_name_the_quick_tier_leaves_out_is_a_fixture_or_a_test_of_the_suite():
    fixtures = _fixtures("module") | _fixtures("session") | _plain_fixtures()
    for name in [*QUICK_LEAVES_OUT, *FALLBACK_MODE_TESTS]:
        if "::" in name:
            module, function = name.split("::")
            assert function in _test_functions(module), name
        else:
            assert name in fixtures, name


def _plain_fixtures() -> set[str]:
    """Fixtures declared with a bare ``@pytest.fixture``."""
    names = set()
    for path in TESTS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and any(ast.unparse(d) == "pytest.fixture" for d in node.decorator_list):
                names.add(node.name)
    return names


# Each kind of end-to-end path, and the module whose grading tests take it: a change that breaks one
# must fail `make test-quick` too, so each keeps a grading test there.
END_TO_END = {"grade": "test_reference", "batch": "test_batch", "batch on Dask": "test_cluster",
              "release": "test_release_student", "Gradescope": "test_gradescope", "pages": "test_pages",
              "homework": "test_analysis", "attacks": "test_hostile", "mistakes": "test_mutants"}


@pytest.mark.grading  # collects the suite in a subprocess
def test_the_quick_tier_keeps_a_grading_test_of_each_end_to_end_path():
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "--quick", "-m", "grading",
                           "-p", "no:xdist"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    kept = {line.split("::")[0].removeprefix("tests/").removesuffix(".py") for line in done.stdout.splitlines()
            if "::" in line}
    assert {kind: module for kind, module in END_TO_END.items() if module not in kept} == {}
    left_out = re.search(r"(\d+)/(\d+) tests collected", done.stdout)
    assert left_out and int(left_out.group(1)) < int(left_out.group(2))  # and it does leave some out


GROUPED = """
import pytest

@pytest.mark.xdist_group("together")
@pytest.mark.parametrize("case", range(6))
def test_grouped(case):
    pass

@pytest.mark.parametrize("case", range(6))
def test_free(case):
    pass
"""


@pytest.mark.grading  # runs pytest with two xdist workers
def test_a_group_of_tests_runs_on_one_xdist_worker(tmp_path):
    (tmp_path / "test_grouped.py").write_text(GROUPED)
    done = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v", "-p",
                           "tests.xdist_groups", "-p", "no:cacheprovider", str(tmp_path)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    ran = re.findall(r"^\[(gw\d)\] .*PASSED \S*::(test_\w+)\[\d\]", done.stdout, re.MULTILINE)
    assert len(ran) == 12, done.stdout[-2000:]
    assert len({worker for worker, test in ran if test == "test_grouped"}) == 1, done.stdout[-2000:]
