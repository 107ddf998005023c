"""A component whose checks ask long questions (the skip experiment) starts its child early, as soon
as every reference that child holds belongs to a component already graded, and is graded last; its
child answers while the others are graded. The lending rule holds in the order children start, a
child ended with another is started again, and the verdicts are the ones of grading in turn."""
import time

import pytest

from autograder.checks import AHEAD
from autograder.contract import COMPONENTS, component
from autograder.grader import Grader
from autograder.plan import grading_order, grading_schedule, lent_too_early, stand_ins
from autograder.sandbox.errors import SandboxFatal
from autograder.sandbox.launcher import STATIC, Budget, ChildConnection, Handover

from .conftest import SOLUTIONS
from .release_support import short_limits


@pytest.fixture(scope="module")
def early_grader(config):
    """Starts the experiment early whatever this machine's cores (``Grader.early_start``'s default)."""
    with Grader(config, early_start=True) as grader:
        yield grader


def _holds_its_rules(schedule, early: frozenset) -> None:
    assert sorted(schedule.turns) == sorted(grading_order())
    assert lent_too_early(schedule.turns) == [] and lent_too_early(schedule.started) == []
    assert schedule.turns[len(schedule.turns) - len(early):] == tuple(n for n in grading_order() if n in early)
    for name in early:
        start = schedule.started.index(name)
        for lent in stand_ins(component(name)):  # graded (its turn taken) before the child that holds it starts
            assert schedule.started.index(lent.name) < start and lent.name not in early
        after = [a for a, names in schedule.starts.items() if name in names]
        assert after == [schedule.started[start - 1] if start else None]


def test_the_experiment_starts_once_every_reference_it_holds_is_graded():
    early = frozenset(AHEAD)
    assert early, "no component asks ahead: the experiment would wait for its turn again"
    _holds_its_rules(grading_schedule(early), early)


@pytest.mark.parametrize("name", [c.name for c in COMPONENTS])
def test_any_component_starts_early_only_where_the_lending_rule_allows(name):
    """Each component as if it asked ahead: either a schedule that keeps every rule, or refused with why."""
    try:
        schedule = grading_schedule(frozenset({name}))
    except RuntimeError as refused:  # e.g. SimpleUNet: its turn would come after children that held it
        assert "starting early" in str(refused) and name in str(refused)
        return
    _holds_its_rules(schedule, frozenset({name}))


def test_simple_unet_may_not_start_early():
    """Graded last, SimpleUNet would come after the tasks' children, which hold its reference."""
    with pytest.raises(RuntimeError, match="SimpleUNet is graded after a child held the reference of SimpleUNet"):
        grading_schedule(frozenset({"SimpleUNet"}))


def test_ending_one_child_ends_every_other_and_the_parent_knows(grader, monkeypatch):
    zygote = grader._zygote()
    limits = grader.config.limits
    kills = []
    kill = type(zygote).kill
    monkeypatch.setattr(type(zygote), "kill", lambda self, pid: (kills.append(pid), kill(self, pid))[1])
    first, second, third = (ChildConnection(zygote, limits, Budget(limits)) for _ in range(3))
    for child in (first, second, third):
        child.connect(None, frozenset(), ())
    assert first.alive() and second.alive() and third.alive()
    with Handover(zygote) as handover:
        third.hand_over(handover)
        first.stop()
        assert not second.alive() and len(kills) == 1
        with pytest.raises(SandboxFatal):  # it really is gone: the fork server's reaper took it too
            second.request("reset", "forgetting", STATIC)
        assert handover.take() is None  # the waiting child went with them: the next component forks afresh
    second.stop()
    assert len(kills) == 1  # nothing left to kill: the fork server is never asked about a pid it reaped
    fresh = ChildConnection(zygote, limits, Budget(limits))
    fresh.connect(None, frozenset(), ())
    assert fresh.alive()
    fresh.stop()


def test_the_experiment_is_asked_right_after_its_references_are_graded(early_grader, monkeypatch):
    grader = early_grader
    log = []
    grade_component = Grader._grade_component

    def logged(self, name, *args, **kwargs):
        log.append(name)
        return grade_component(self, name, *args, **kwargs)

    ahead = dict(AHEAD)
    for name, ask in ahead.items():
        monkeypatch.setitem(AHEAD, name, lambda ctx, name=name, ask=ask: (log.append(f"ahead {name}"), ask(ctx)))
    monkeypatch.setattr(Grader, "_grade_component", logged)
    early, graded = _spy_on_children(monkeypatch)
    report = grader.grade(SOLUTIONS)
    assert report.score == report.max_score
    turns = [n for n in log if not n.startswith("ahead ")]
    assert turns == list(grader.schedule.turns)
    for after, names in grader.schedule.starts.items():
        for name in names:
            at = log.index(f"ahead {name}")
            assert log[at - 1] == after and log[-1] == name, log
            assert graded[name] is early[name]  # its turn took the child that answered ahead


def _spy_on_children(monkeypatch) -> tuple[dict, dict]:
    """(component -> the child started early for it, component -> the child its checks ran in)."""
    early, graded = {}, {}
    start_early, run = Grader._start_early, Grader._graded

    def spy_start(self, names, submission, handover, started):
        start_early(self, names, submission, handover, started)
        early.update((n, started[n]) for n in names if n in started)

    def spy_run(self, name, student, *args, **kwargs):
        graded[name] = student
        return run(self, name, student, *args, **kwargs)

    monkeypatch.setattr(Grader, "_start_early", spy_start)
    monkeypatch.setattr(Grader, "_graded", spy_run)
    return early, graded


def test_an_early_child_ended_by_another_is_started_again(early_grader, make_submission, monkeypatch):
    """SelfAttention's forward ends its child while the experiment's child trains: the fork server's
    reaper ends that one too, and the experiment is graded in a fresh child, in full."""
    early, graded = _spy_on_children(monkeypatch)
    source = (SOLUTIONS / "attention.py").read_text()
    marker = "    def forward(self, x"
    assert source.count(marker) >= 1
    exiting = source.replace(marker, "    def forward(self, x, *args, **kwargs):\n        import os\n        os._exit(3)\n\n"
                                     "    def _unused(self, x", 1)
    report = early_grader.grade(make_submission({"attention": exiting}))
    scores = report.component_scores()
    assert scores["SelfAttention"][0] < scores["SelfAttention"][1]
    for name in AHEAD:
        assert scores[name][0] == scores[name][1], [c.output for c in report.checks if c.component == name
                                                    and not c.passed]
        assert early[name] is not graded[name] and not early[name].connection.open  # ended, and not killed twice


@pytest.mark.grading
def test_an_answer_read_late_is_no_hang(config, monkeypatch):
    """The components graded while the experiment trains may take longer than its limit: an answer
    that came in time is read whenever its turn comes, and is no hang."""
    quick = _handing_on(short_limits(config), experiment_timeout_s=3)
    grade_component = Grader._grade_component

    def slow_parent(self, name, *args, **kwargs):
        result = grade_component(self, name, *args, **kwargs)
        if name == "SelfAttention":
            time.sleep(4)  # longer than the experiment's limit, after it was asked
        return result

    with Grader(quick, early_start=True) as grader:
        grader.grade(SOLUTIONS)  # its cases drawn
        monkeypatch.setattr(Grader, "_grade_component", slow_parent)
        report = grader.grade(SOLUTIONS)
    assert report.score == report.max_score, [c.output for c in report.checks if not c.passed]


def _handing_on(quick, **limits):
    """``quick`` with limits at which children are handed on, as in a real grading (a child over half
    its memory limit is not, and its end would end the early one), and ``limits``."""
    return quick.model_copy(update={"limits": quick.limits.model_copy(update={
        "memory_mb": 4096, "component_timeout_s": 60, "cpu_s": 120, **limits})})


def _verdicts(report) -> tuple:
    return report.score, report.status, [(c.check_id, c.passed) for c in report.checks]


SLOW_EXPERIMENT = """

import time as _time

_reference_run = skip_ablation


def skip_ablation(steps=STEPS, seed=0):
    _time.sleep(4)  # each run well within the experiment limit (7 s), both together over it
    return _reference_run(steps, seed)
"""

HANGS = """

while True:  # a top-level run that never ends
    pass
"""

ENDLESS_EXPERIMENT = """

def skip_ablation(steps=STEPS, seed=0):
    while True:
        pass
"""


@pytest.mark.grading
def test_starting_early_changes_no_verdict(config, make_submission):
    """The same submissions graded with the experiment started early and in its turn: the same verdicts,
    also for an experiment that is slow but within its limit each run, and one that never ends (which
    costs its own checks only, NoSkipUNet's not). Limits at which children are handed on, as in a
    real grading (a child over half its memory limit is not, and its end would end the early one)."""
    analysis = (SOLUTIONS / "analysis.py").read_text()
    folders = {"reference": SOLUTIONS,
               "learning rate": make_submission(
                   {"analysis": analysis.replace("LEARNING_RATE = 5e-3", "LEARNING_RATE = 2e-2")}, name="lr"),
               "slow": make_submission({"analysis": analysis + SLOW_EXPERIMENT}, name="slow"),
               "endless": make_submission({"analysis": analysis + ENDLESS_EXPERIMENT}, name="endless"),
               # its top-level code hangs: met first by ShapeTrace in turn, and so also with the early start
               "hangs on import": make_submission({"analysis": analysis + ENDLESS_EXPERIMENT + HANGS}, name="import"),
               # three files whose top-level code hangs: the early start meets a child that has hung 3 times
               "hangs thrice": make_submission({"analysis": "from .helpers import *\nfrom .helpers2 import *\n"
                                                + analysis + HANGS, "helpers": HANGS, "helpers2": HANGS}, name="thrice")}
    quick = _handing_on(short_limits(config), experiment_timeout_s=7)
    with Grader(quick, early_start=True) as grader:
        assert grader.schedule.starts
        early = {name: grader.grade(folder) for name, folder in folders.items()}
    with Grader(quick, early_start=False) as grader:  # as a batch with a worker per core grades
        assert grader.schedule.turns == grading_order() and not grader.schedule.starts
        in_turn = {name: grader.grade(folder) for name, folder in folders.items()}
    for name in folders:
        assert _verdicts(early[name]) == _verdicts(in_turn[name]), name
    for name in ("reference", "learning rate", "slow"):  # the same words too (a hang's may name another check first)
        assert [c.output for c in early[name].checks] == [c.output for c in in_turn[name].checks], name
    assert early["reference"].score == early["slow"].score == early["reference"].max_score
    assert early["learning rate"].score < early["reference"].score
    lost = {c.check_id for c in early["endless"].checks if not c.passed}
    assert lost and all(c.component == "SkipAblation" for c in early["endless"].checks if not c.passed)
    assert "no_skip_matches" not in lost
