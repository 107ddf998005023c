"""Checks: what they are and how they are registered (``runner.py`` runs them with Hypothesis).

A check is a function ``(ctx, case) -> None`` that raises ``CheckFailed``; with a strategy it runs
over many derandomised cases and Hypothesis shrinks a failure to the smallest case. The checks
run here, in the trusted process; they reach student code only through ``ctx.student``. A check
may run more than once on a case (see ``runner.py``), so it must not keep state of its own.
"""
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Callable, Optional

from hypothesis.strategies import SearchStrategy

from ..config import CheckSettings, GradingConfig, did_you_mean
from ..contract import is_task
from ..errors import ConfigError
from ..reference import Reference
from ..sandbox.child.codec import FROM_REFERENCE, IN_REFERENCE
from ..sandbox.child.plain import RETURNED
from ..sandbox.launcher import StudentComponent, StudentError
from .hints import explain


class CheckFailed(Exception):
    """A check's verdict: what was expected and what came back, in the student's terms.

    ``explain``: a function that looks closer (which intermediate first differs, which known
    variant the output matches) and returns a better (message, hint), or None. It may ask the
    child more, so the runner calls it once, on the case finally reported, not on every case
    tried while shrinking.
    """

    def __init__(self, message: str, hint: str | None = None, explain: Callable | None = None, evidence=None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.explain = explain
        self.case = None
        self.check_id = None  # set where a failure must be told apart from others of its group
        self.internal = None  # our traceback, when the check itself crashed (a bug of ours): for the TA
        # What the student's value and the reference's were (compare.Rejected), for a picture of where
        # they differ. The runner fills it from the verdict's first rejected comparison when not given.
        self.evidence = evidence
        # the same on every case (the component's forward does no real work, or the check failed on a fixed
        # input of its own): no case is named or shrunk
        self.about_component = False


@dataclass
class CheckContext:
    student: StudentComponent
    reference: Reference
    config: GradingConfig
    # The reference side's models and runs. A grader shares one (bounded) between its submissions:
    # the reference is deterministic, so what it computed for one student holds for the next.
    references: MutableMapping = field(default_factory=dict)
    # Verdicts about this student's component as a whole (does its forward do real work?).
    verdicts: dict = field(default_factory=dict)
    # Text for the student's feedback beyond pass/fail, one entry per topic (the skip experiment's
    # numbers and pictures); the grader adds them to the report's notes.
    notes: dict = field(default_factory=dict)
    # Whether the questions these checks ask may be kept and asked of later submissions' children
    # (``runner``): only while grading the reference. A student's questions can hold text their code
    # chose (parameter names, as weights are loaded by position), which a later child must never see.
    learns_questions: bool = False


@dataclass(frozen=True)
class Check:
    """``rule``: the public rule (``autograder/rules/``) the check runs, on the released cases
    instead of Hypothesis's; ``gated``: it scores only if the component's forward does real work
    (``public_checks.require_real_work``) -- every check of a block but those that read the constructor
    alone; never a homework task's."""

    component: str
    id: str
    title: str
    run: Callable
    cases: Optional[SearchStrategy] = None
    rule: str | None = None
    extra: dict = field(default_factory=dict)
    gated: bool = True

    @property
    def name(self) -> str:
        return f"{self.component}: {self.title}"


REGISTRY: list[Check] = []
AHEAD: dict[str, Callable] = {}  # component -> what its checks will ask that takes long (see ``ask_ahead``)


def check(component: str, check_id: str, title: str, cases: SearchStrategy | None = None, *,
          rule: str | None = None, extra: dict | None = None, gated: bool | None = None):
    """Register ``fn(ctx, case)`` as check ``check_id`` of ``component`` (see ``Check``; ``gated``
    defaults to whether the component is a block)."""
    gated = not is_task(component) if gated is None else gated

    def register(fn):
        if any(c.component == component and c.id == check_id for c in REGISTRY):
            raise RuntimeError(f"check {component}.{check_id} is registered twice")
        REGISTRY.append(Check(component, check_id, title, fn, cases, rule, dict(extra or {}), gated))
        return fn

    return register


def ask_ahead(component: str):
    """Register ``fn(ctx)``: a question ``component``'s checks will ask whose answer takes long (the
    skip experiment's full training run). The grader asks it as soon as the component's child may
    start (``plan.grading_schedule``) and grades other components while that child answers; the
    checks then find the answer in the memo. ``fn`` asks through ``ctx.student`` while collecting,
    exactly what a check will ask, and one question only: its time limit counts from the turn, when
    it is read (``QuestionMemo.flush(wait=False)``), so a slow or endless answer is judged as that
    question asked alone in turn."""

    def register(fn):
        if component in AHEAD:
            raise RuntimeError(f"{component} asks ahead twice")
        AHEAD[component] = fn
        return fn

    return register


def bind(config: GradingConfig, components=None) -> list[tuple[Check, CheckSettings]]:
    """Pair every registered check with its settings; unknown or missing config entries are errors."""
    known: dict[str, dict[str, Check]] = {}
    for c in REGISTRY:
        known.setdefault(c.component, {})[c.id] = c
    for component, checks in config.components.items():
        if component not in known:
            raise ConfigError(f"grading_config.yaml: components.{component}: unknown component{did_you_mean(component, known)}")
        for check_id in checks:
            if check_id not in known[component]:
                raise ConfigError(
                    f"grading_config.yaml: components.{component}.{check_id}: unknown check"
                    f"{did_you_mean(check_id, known[component])}"
                )
    bound = []
    for c in REGISTRY:
        if components is not None and c.component not in components:
            continue
        settings_ = config.components.get(c.component, {}).get(c.id)
        if settings_ is None:
            raise ConfigError(
                f"grading_config.yaml: components.{c.component}.{c.id} is missing; "
                "give it points and a visibility (every check must be configured)"
            )
        bound.append((c, settings_))
    return bound


def who_raised(error) -> str:
    """"your code raised an error", unless the child says it was raised inside a stand-in: then not the student's."""
    text = str(error)
    return "an error was raised" if IN_REFERENCE in text or FROM_REFERENCE in text else "your code raised an error"


def failure_from_student(error: StudentError, component: str, case=None, during: str | None = None) -> CheckFailed:
    """Student code raised, or returned what the grader cannot read (``plain.NotPlain``, "returned a ..."):
    the check fails with the student's traceback, or the value named, and a hint."""
    text = str(error)
    if text.startswith(RETURNED):  # nothing was raised: the value was not one of the documented kinds
        return CheckFailed(f"{during or 'your code'} {text}",
                           hint="Return what the docstring says, itself: tensors, numbers and strings, in the "
                           "documented lists, tuples or dicts (keep models and figures in your notebook).")
    where = f" during {during}" if during else ""
    return CheckFailed(f"{who_raised(error)}{where}:\n{error}", hint=explain(text, component, case))
