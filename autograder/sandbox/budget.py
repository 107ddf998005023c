"""A component's time with the student's code: how long each request may take, and when to stop asking.

``Pace`` says what a request runs (builds and describes only, a call that trains, which classes and
functions); ``Budget`` turns that into a time limit and keeps the count: time used, the slowest
answer, the hangs and what ran in them.
"""
import time
from dataclasses import dataclass, field

from ..config import Limits

SUSPECT_LIMIT_S = 1.0  # after a hang, each later request may take this long (or 10x the slowest answer so far)
STATIC_LIMIT_S = 10.0  # a build/describe/load may always take this long, budget or not
MAX_HANGS = 3  # then the component's student code is not run again


@dataclass(frozen=True)
class Pace:
    """What one request runs, which decides how long it may take (``Budget.timeout``)."""

    static: bool = False  # builds, loads and describes only: none of the student's forwards
    experiment: bool = False  # trains models (the homework's skip experiment): ``experiment_timeout_s``
    runs: frozenset = frozenset()  # the student's classes and functions it runs


STATIC = Pace(static=True)


@dataclass
class Budget:
    """A component's time with the student's code: ``component_timeout_s`` in all, ``call_timeout_s``
    a request, ``experiment_timeout_s`` a request that trains.

    After a request hangs, later ones that run the same class or function get a short limit
    (``SUSPECT_LIMIT_S``, or ten times the slowest answer so far), and after ``MAX_HANGS`` the
    student's code of this component is not run again: one endless loop costs about one call
    timeout, not one per check. A hang in one function says nothing of another (an endless
    ``skip_ablation`` and a sound ``NoSkipUNet``), so the other keeps its full limit. Requests that
    run no student code of the component (build, describe, load) still go through, within a limit
    of their own, so the checks that need no forward pass are still decided."""

    limits: Limits
    used_s: float = 0.0
    slowest_s: float = 0.0
    hangs: int = 0
    first_hang: str = ""  # what the first hang was, said again in the later ones' messages
    hung_in: set = field(default_factory=set)  # the classes and functions that ran in a request that hung
    deadline: float | None = None  # time.monotonic() when the whole submission's budget ends (Grader sets it)
    budget_s: float = 0.0  # that budget, for the message
    out_of_time: bool = False  # a request was refused or cut short because the submission's budget ended

    def _submission_left(self) -> float:
        return float("inf") if self.deadline is None else self.deadline - time.monotonic()

    @property
    def hung(self) -> bool:
        return self.hangs > 0

    def suspect(self, pace: Pace) -> bool:
        """Whether ``pace`` runs code that hung before: it gets the short limit."""
        return not pace.static and bool(pace.runs & self.hung_in)

    def timeout(self, pace: Pace) -> float:
        left = self._submission_left()
        remaining = min(self.limits.component_timeout_s - self.used_s, left)
        if pace.static:  # no student forward runs here: the suspect limit is not for it
            limit = min(self.limits.call_timeout_s, STATIC_LIMIT_S) if self.hung else self.limits.call_timeout_s
            return min(limit, max(remaining, STATIC_LIMIT_S), max(left, 0.0))
        if self.hangs >= MAX_HANGS:
            return 0.0
        limit = self.limits.experiment_timeout_s if pace.experiment else self.limits.call_timeout_s
        if self.suspect(pace):
            limit = min(limit, max(SUSPECT_LIMIT_S, 10 * self.slowest_s))
        return min(limit, remaining)

    def exhausted(self, pace: Pace) -> str | None:
        """Why a request may not be sent at all, or None."""
        if self._submission_left() <= 0:
            self.out_of_time = True
            return (f"not run: this submission used up its {self.budget_s:g} s time budget "
                    "(limits.submission_timeout_s); the remaining checks score 0")
        if pace.static:
            return None
        if self.hangs >= MAX_HANGS:
            return f"not run: this component's code already hung {self.hangs} times (first: {self.first_hang})"
        if self.limits.component_timeout_s - self.used_s <= 0:
            return f"this component used up its {self.limits.component_timeout_s:g} s time budget"
        return None

    def record(self, seconds: float, timed_out: bool, pace: Pace) -> None:
        self.used_s += seconds
        if timed_out:
            self.hangs += 1
            self.hung_in |= pace.runs
        else:
            self.slowest_s = max(self.slowest_s, seconds)
