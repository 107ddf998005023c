"""The committed stubs are exactly what `autograder release` generates, and leak no solution line."""
import re

import pytest

from autograder.errors import ReleaseError
from autograder.release import make_stub, release_stubs
from autograder.release.stubs import solution_lines

from .conftest import ROOT, SOLUTIONS

COMMITTED = ROOT / "assignments" / "unet"


def test_committed_stubs_match_a_fresh_release(tmp_path):
    fresh = tmp_path / "unet"
    release_stubs(SOLUTIONS, fresh)
    names = sorted(p.name for p in fresh.glob("*.py"))
    assert names == sorted(p.name for p in COMMITTED.glob("*.py"))
    for name in names:
        assert (COMMITTED / name).read_text() == (fresh / name).read_text(), f"{name} drifted: run `autograder release`"


def test_no_solution_line_leaks_into_the_stubs():
    for solution in SOLUTIONS.glob("*.py"):
        stub_lines = {line.strip() for line in (COMMITTED / solution.name).read_text().splitlines()}
        # a bare keyword (`try:`, `finally:`, `else:`) says nothing: given code around a solution may use it too
        leaked = [line for line in solution_lines(solution.read_text())
                  if line in stub_lines and len(re.findall(r"\w+", line)) >= 2]
        assert leaked == [], f"{solution.name} leaks {leaked}"


def test_every_solution_region_becomes_not_implemented():
    source = "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n"
    assert make_stub(source) == "def f():\n    raise NotImplementedError()\n"


@pytest.mark.parametrize(
    "source, message",
    [
        ("### BEGIN SOLUTION\nx = 1\n", "never closed"),
        ("x = 1\n### END SOLUTION\n", "without a matching"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "inside the region"),
    ],
)
def test_bad_markers_fail_loudly(source, message):
    with pytest.raises(ReleaseError, match=message):
        make_stub(source, "m.py")
