"""Shared fixtures: one grader (one fork server, one torch import) per test worker; and the test tiers.

Tiers (README "Set up and test"), applied here so that no test file has to remember them:

- ``fast``: a test that starts no grading process (no Grader, no fork server, no subprocess). While a
  fast test runs, starting any process fails it: a test that needs one belongs in ``GRADING_FIXTURES``
  or ``GRADING_MODULES`` below.
- ``grading``: every other test (and one marked ``@pytest.mark.grading`` by hand: a single test that
  starts a process in a module whose other tests are fast).
- ``--quick``: every test, but only every ``QUICK_EVERY``-th case of each bank (mutants, field code,
  hostile attacks, classroom layouts, ...) and only this machine's own sandbox mode.

With ``-n 2 --dist loadgroup`` (``make test``): the tests that share a fixture in ``ONE_WORKER_FIXTURES``
run on one worker, so that fixture (a graded class, a deployment) is built once, not once per worker;
those groups start first and the fast tests come last, so the two workers end together.
"""
import multiprocessing.process
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from autograder.config import load_config
from autograder.grader import Grader
from autograder.sandbox.isolation import detect

ROOT = Path(__file__).resolve().parent.parent

# Without bubblewrap this checkout's reference is world-readable, so the grader would refuse to start
# (sandbox/exposure.py). The tests then accept that risk, as an operator could; test_exposure.py
# tests the refusal itself.
if detect().mode == "fallback":
    os.environ.setdefault("AUTOGRADER_ACCEPT_RISK", "1")
SOLUTIONS = ROOT / "solutions" / "unet"

# A test whose fixtures include one of these grades (it starts the fork server, a batch or the CLI).
GRADING_FIXTURES = {"grader", "hostile_grader", "quick_grader", "experiment_grader", "res_block_child", "local_check",
                    "bundle", "classroom", "class_folder", "graded_class", "course", "released", "release_and_class",
                    "small_class", "cluster", "deployed"}
# Modules whose tests start processes in their own body (subprocess, CliRunner on `grade`/`batch`, Zygote).
GRADING_MODULES = {"test_batch", "test_browser", "test_budget", "test_check_script_intake", "test_classroom",
                   "test_exposure", "test_gradescope", "test_hostile", "test_nbgrader", "test_reference", "test_sandbox",
                   "test_trust", "test_doctor"}
# Banks of cases: ``--quick`` keeps every QUICK_EVERY-th of each (by collection order, so always the same).
# A module listed with None is one bank as a whole (its tests are the cases); otherwise each
# parametrised test in it is a bank.
BANKS = {"test_mutants": "each", "test_field_code": "each", "test_hostile": "each", "test_classroom": None,
         "test_check_script_intake": "each", "test_verdict_attacks": "each", "test_sandbox": "each"}
QUICK_EVERY = 4
# Module-scoped fixtures that grade a class or deploy the grader (a minute or more each): under
# xdist the tests using one are one group, run by one worker.
ONE_WORKER_FIXTURES = {"graded_j2", "graded_class", "course", "deployed"}


def pytest_addoption(parser):
    parser.addoption("--quick", action="store_true", default=False,
                     help="a sample of each bank of cases (every %d-th) and one sandbox mode: `make test-quick`"
                          % QUICK_EVERY)


def _module(item) -> str:
    return item.path.stem


def _grades(item) -> bool:
    """A test marked ``grading`` by hand (one subprocess in an otherwise fast module) counts too."""
    return (_module(item) in GRADING_MODULES or bool(GRADING_FIXTURES & set(item.fixturenames))
            or item.get_closest_marker("grading") is not None)


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group marks added here
def pytest_collection_modifyitems(config, items):
    for item in items:
        if not _grades(item):
            item.add_marker(pytest.mark.fast)
        elif item.get_closest_marker("grading") is None:
            item.add_marker(pytest.mark.grading)
        if ONE_WORKER_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.xdist_group(_module(item)))
    # Fast tests last (stable: each module's tests keep their order): seconds in all, they fill the
    # gap while the other worker finishes its last grading test.
    items.sort(key=lambda item: item.get_closest_marker("fast") is not None)
    if not config.getoption("--quick"):
        return
    kept, dropped, seen, mode = [], [], {}, detect().mode
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if params.get("hostile_grader", mode) != mode:  # one sandbox mode: this machine's
            dropped.append(item)
            continue
        bank = BANKS.get(_module(item), "none")
        if bank == "each" and not params:
            bank = "none"  # a test of its own, not a case of a bank
        if bank != "none":
            key = _module(item) if bank is None else (_module(item), item.originalname)
            position = seen[key] = seen.get(key, -1) + 1
            if position % QUICK_EVERY:
                dropped.append(item)
                continue
        kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


class _StartedAProcess(AssertionError):
    pass


def _refuse(*args, **kwargs):
    raise _StartedAProcess("a test marked fast started a process: add its fixture to GRADING_FIXTURES or its "
                           "module to GRADING_MODULES in tests/conftest.py")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    with _no_processes(item):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    with _no_processes(item):
        yield


class _no_processes:
    """While a fast test sets up and runs, every way of starting a process raises."""

    def __init__(self, item):
        self.active = item.get_closest_marker("fast") is not None
        self.patch = pytest.MonkeyPatch()

    def __enter__(self):
        if self.active:
            self.patch.setattr(subprocess.Popen, "_execute_child", _refuse)
            self.patch.setattr(os, "fork", _refuse)
            self.patch.setattr(os, "posix_spawn", _refuse)
            self.patch.setattr(multiprocessing.process.BaseProcess, "start", _refuse)

    def __exit__(self, *exc):
        self.patch.undo()


@pytest.fixture(scope="session")
def config():
    return load_config(ROOT / "grading_config.yaml")


@pytest.fixture(scope="session")
def grader(config):
    with Grader(config) as shared:
        yield shared


@pytest.fixture
def make_submission(tmp_path):
    """Copy the reference into a temporary submission folder, with some modules replaced."""
    def make(replacements: dict[str, str] | None = None, remove: tuple = (), name: str = "submission") -> Path:
        folder = tmp_path / name
        shutil.copytree(SOLUTIONS, folder)
        for module, source in (replacements or {}).items():
            (folder / f"{module}.py").write_text(source, encoding="utf-8")
        for module in remove:
            (folder / f"{module}.py").unlink()
        return folder

    return make


def full_outputs(report) -> dict[str, str]:
    """Each check's output, with "The same error as ..." references followed to the text they name."""
    by_name = {c.name: c.output for c in report.checks}
    resolved = {}
    for name, output in by_name.items():
        if output.startswith('The same error as "'):
            output = by_name[output.split('"')[1]]
        resolved[name] = output
    return resolved
