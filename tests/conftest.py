"""Shared fixtures: one grader (one fork server, one torch import) per test worker; and the test tiers.

Tiers (README "Set up and test"), applied here so that no test file has to remember them:

- ``fast``: a test that starts no grading process (no Grader, no fork server, no subprocess). While a
  fast test runs, starting any process fails it: a test that needs one belongs in ``GRADING_FIXTURES``
  or ``GRADING_MODULES`` below.
- ``grading``: every other test (and one marked ``@pytest.mark.grading`` by hand: a single test that
  starts a process in a module whose other tests are fast).
- ``--quick`` (``make test-quick``, under 5 minutes): every ``QUICK_EVERY``-th case of each bank
  (mutants, field code, hostile attacks, ...), only this machine's own sandbox mode, and each
  end-to-end path once: ``QUICK_LEAVES_OUT`` names what runs a path again that a kept test takes.

With ``-n 2 --dist loadgroup`` (``make test``): the tests that share a fixture in ``ONE_WORKER_FIXTURES``
run on one worker, so that fixture (a graded class, a deployment) is built once, not once per worker;
those groups start first and the fast tests come last, so the two workers end together. Under pytest
9.2 that grouping needs ``tests/xdist_groups.py`` (registered below; see its docstring).
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
GRADING_FIXTURES = {"grader", "hostile_grader", "quick_grader", "experiment_grader", "early_grader", "res_block_child",
                    "local_check", "bundle", "classroom", "class_folder", "graded_class", "course", "released", "release_and_class",
                    "small_class", "cluster", "deployed"}
# Modules whose tests start processes in their own body (subprocess, CliRunner on `grade`/`batch`, Zygote).
GRADING_MODULES = {"test_batch", "test_browser", "test_budget", "test_check_script_intake", "test_classroom",
                   "test_exposure", "test_gradescope", "test_hostile", "test_nbgrader", "test_reference", "test_sandbox",
                   "test_trust", "test_doctor"}
# Banks of cases: ``--quick`` keeps every QUICK_EVERY-th of each (by collection order, so always the same).
# A module listed with None is one bank as a whole (its tests are the cases); otherwise each
# parametrised test in it is a bank.
BANKS = {"test_mutants": "each", "test_field_code": "each", "test_hostile": "each", "test_classroom": None,
         "test_check_script_intake": "each", "test_verdict_attacks": "each", "test_sandbox": "each",
         "test_homework_rules": "each", "test_analysis": "each"}
QUICK_EVERY = 12
# ``--quick`` runs each end-to-end path once (grade, batch, Dask, release, Gradescope, pages). These
# take a path again that a test kept in the tier already takes -- named after the ";" -- or are slow
# variants of one; ``make test`` runs them all. A name with "::" is a test (all its cases), any other a
# fixture (every test that uses it). Seconds: their share of the quick tier, measured with
# ``--durations`` on 2 cores under load (2026-12-06), of about 2300 s of tests in all.
QUICK_LEAVES_OUT = {
    "deployed": "the Gradescope bundle deployed as root, setup.sh twice (400 s); test_gradescope.py runs "
                "the bundle's run_autograder",
    "small_class": "a class graded on Dask and locally, a worker killed, Ctrl-C (200 s); "
                   "test_a_submission_past_its_limit_is_an_error... grades on a real cluster",
    "course": "the nbgrader round trip (170 s); test_batch.py reads an nbgrader course, test_release_student.py "
              "releases",
    "graded_class": "the pages in Chromium (125 s); test_pages.py renders every page, test_batch.py's class writes them",
    "classroom": "a realistic class in every layout (120 s); test_batch.py grades a mixed class",
    "experiment_grader": "an endless and a slow experiment (50 s); test_a_forward_that_never_returns... keeps the "
                         "budget",
    "test_runner::test_a_batch_worker_and_a_fresh_grader_give_the_same_feedback":
        "13 submissions graded four ways (137 s); test_a_module_that_changes_as_it_runs... compares warm and fresh",
    "test_runner::test_a_remembered_shrink_ends_where_hypothesis_would":
        "(21 s); test_remembered_cases_give_the_verdicts_hypothesis_gives replays what a grader remembers",
    "test_release_student::test_notebook_runs_top_to_bottom_with_the_reference":
        "the student notebook run by Jupyter (15 s); test_notebook_module_cells_are_the_stubs reads it, and "
        "the check.py tests run the release",
    "test_early_start::test_starting_early_changes_no_verdict":
        "six submissions graded early and in turn, hangs included (103 s); "
        "test_the_experiment_is_asked_right_after_its_references_are_graded grades with the early child",
    "test_tiers::test_the_quick_tier_keeps_a_grading_test_of_each_end_to_end_path":
        "collects the whole suite (9 s): a check of this list, not of the code",
    "test_batch::test_killed_then_resumed_batch_equals_uninterrupted":
        "(43 s); test_a_resume_with_nothing_left_still_names_who_needs_a_person resumes",
    "test_batch::test_one_job_gives_the_same_grades_as_two": "(32 s); the class is graded with -j 2",
    "test_batch::test_identities_never_collide_and_cells_never_run": "(32 s); test_gradescope_export_maps_folders_"
                                                                     "to_students reads the identities",
    "test_batch::test_a_hang_up_stops_workers_and_children": "SIGHUP and SIGTERM mid-batch (50 s)",
    "test_batch::test_only_regrades_one_student": "(25 s); the class is graded",
    "test_trust::test_a_class_with_attacks_gets_a_row_for_everyone_and_honest_grades_unchanged":
        "(27 s); test_hostile.py's attacks and test_batch.py's class",
    "test_trust::test_a_slow_but_legal_submission_stops_at_its_budget":
        "(12 s); test_a_forward_that_never_returns_waits_one_full_call_timeout keeps a time budget",
    "test_trust::test_a_worker_past_its_limit_is_stopped_and_the_class_goes_on":
        "(21 s); test_a_submission_past_its_limit_is_an_error... stops one on Dask",
}
# The other sandbox mode's tests, left out by ``--quick`` on a machine with bubblewrap (which grades
# in bwrap): they force the fallback mode.
FALLBACK_MODE_TESTS = {
    "test_batch::test_one_students_kill_all_never_reaches_another_student",  # 51 s
    "test_doctor::test_without_bubblewrap_landlock_keeps_a_world_readable_repository_out_of_reach",  # 13 s
    "test_exposure::test_without_bubblewrap_private_files_keep_the_reference_secret",  # 13 s
}
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


def pytest_configure(config):
    from . import xdist_groups

    config.pluginmanager.register(xdist_groups, "autograder-xdist-groups")


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
        if _left_out_by_quick(item, params, mode):
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


def _left_out_by_quick(item, params: dict, mode: str) -> bool:
    """Whether ``--quick`` leaves ``item`` out whatever bank it is in: another sandbox mode than this
    machine's, or a path that a kept test takes already (``QUICK_LEAVES_OUT``)."""
    test = f"{_module(item)}::{item.originalname}"
    if params.get("hostile_grader", mode) != mode or (mode == "bwrap" and test in FALLBACK_MODE_TESTS):
        return True
    return test in QUICK_LEAVES_OUT or bool(QUICK_LEAVES_OUT.keys() & set(item.fixturenames))


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
