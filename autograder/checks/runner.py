"""How checks run: one Hypothesis run per group of checks that draw the same cases, then shrinking
runs for the checks that failed.

Checks of one component that share a strategy (and example budget) share one seed, so they see the
same cases: a case's reference is built once, and the student's answers to all of its checks come
back in one round trip. Per case the checks run *collecting* (a request whose answer is not known
yet raises ``Pending`` and is queued); after one ``flush`` they run again and find every answer
in the memo. A grader remembers each group's cases and what its checks asked on each, so a later
submission replays the cases and gets those questions answered before its checks run: one pass.
While the checks judge a replayed case, the child already works on the next case's questions.
Answers are keyed by content, so the order of asking changes no answer -- except for a student
module that changes itself as it runs (a counter, a layer made on first use): the child reuses a
built module across requests, so such a module's later answers can depend on that order.
Cases are drawn from the seed alone (``strategies.seed_only_draws``). Failed checks shrink
together, one failure mode at a time (``_shrunk``).

Checks that run a public rule (``Check.rule``) take the released cases instead, smallest first,
as students' check.py does: a group like any other, but its cases are fixed and its first failure
is already the smallest. A gated check first asks whether the component's forward does real work
(``public_checks.require_real_work``), in the same round trip as its own questions.
"""
import hashlib
import traceback
from dataclasses import dataclass, field

from hypothesis import given, seed

from ..compare import noting_first_rejected
from ..sandbox.launcher import Pending, SandboxFatal, StudentError
from ..strategies import hypothesis_settings, released_cases, seed_only_draws
from .public_checks import require_real_work
from .registry import Check, CheckContext, CheckFailed, failure_from_student


@dataclass
class Outcome:
    """A check's verdict: passed, failed with the (shrunk) case, or stopped by the sandbox."""

    passed: bool
    failure: CheckFailed | None = None
    fatal: str | None = None


def run_checks(checks: list[Check], ctx: CheckContext, max_examples: list[int], drawn: dict | None = None) -> list[Outcome]:
    """Outcomes of ``checks`` (in their order), each run over up to its ``max_examples`` cases.

    ``drawn`` remembers each group's cases across calls (a grader's lifetime): with a fixed seed
    and a test that never fails, Hypothesis draws the same cases every time, so later submissions
    take them from there instead of drawing them again.
    """
    outcomes: dict[int, Outcome] = {}
    groups: dict[tuple, list[int]] = {}
    for index, check_ in enumerate(checks):
        if check_.cases is None:
            outcomes[index] = _decide_alone(check_, ctx, None)
        else:
            groups.setdefault((id(check_.cases), max_examples[index], check_.rule is not None), []).append(index)
    drawn = {} if drawn is None else drawn
    ordered = [([checks[i] for i in members], examples, members) for (_, examples, _), members in groups.items()]
    for position, (group, examples, members) in enumerate(ordered):
        following = ordered[position + 1] if position + 1 < len(ordered) else None
        then_ask = _first_questions(drawn, *following[:2]) if following else None
        failures, known = _run_group(group, ctx, examples, drawn, then_ask)
        failed = [c for c in group if isinstance(failures.get(c.id), CheckFailed)
                  and not failures[c.id].about_component and c.rule is None]
        shrunk = _shrunk(failed, ctx, examples, known.shrinks) if failed else {}
        for index, check_ in zip(members, group):
            found = failures.get(check_.id)
            if found is None:
                outcomes[index] = Outcome(passed=True)
            elif isinstance(found, str):
                outcomes[index] = Outcome(passed=False, fatal=found)
            else:
                outcomes[index] = Outcome(passed=False, failure=shrunk.get(check_.id) or found)
    for outcome in outcomes.values():
        if outcome.failure is not None and outcome.failure.explain is not None:
            _explained(outcome.failure, ctx)
    return [outcomes[i] for i in range(len(checks))]


def _explained(failure: CheckFailed, ctx: CheckContext) -> None:
    """Let the failure look closer at the case it reports (see ``CheckFailed.explain``); what that
    costs is the failure's own business: an error on the way leaves the message as it was."""
    explain, failure.explain = failure.explain, None
    try:
        better = explain()
    except (StudentError, SandboxFatal, Pending):
        return
    except Exception:  # a bug of ours in the explanation: the verdict stands, its text stays plain
        failure.internal = f"explaining {failure.message[:200]}:\n" + traceback.format_exc()
        return
    if better is not None:
        failure.message, failure.hint = better


def _group_seed(check_: Check) -> int:
    """One seed per component and strategy: same cases for the group and for each check's own run."""
    text = f"{check_.component}:{check_.cases!r}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def _given(test, check_: Check, examples: int, shrink: bool, profile: str = "ci"):
    """``test`` as a Hypothesis test over the cases of ``check_``'s group: seeded, no database."""
    chosen = hypothesis_settings(examples, profile=profile, shrink=shrink)
    return chosen(seed(_group_seed(check_))(given(check_.cases)(test)))


def _run_given(test, check_: Check, examples: int, shrink: bool, profile: str = "ci") -> None:
    """Run ``_given``'s test, its cases drawn from the seed alone (see ``seed_only_draws``)."""
    with seed_only_draws():
        _given(test, check_, examples, shrink, profile)()


@dataclass
class _Drawn:
    """A group's cases as Hypothesis drew them, per case the questions its checks last asked, and
    per set of failing checks their last shrinking run (see ``_smallest_failure``)."""

    strategy: str  # ``_strategy_name`` of the strategy the cases came from
    cases: list = field(default_factory=list)
    questions: list = field(default_factory=list)
    shrinks: dict = field(default_factory=dict)


def _run_group(group: list[Check], ctx: CheckContext, examples: int, drawn: dict,
               then_ask=None) -> tuple[dict, "_Drawn"]:
    """check id -> first CheckFailed (with its case) or fatal message (passing checks are absent),
    and what the grader remembers of the group. ``then_ask``: the next group's first questions,
    asked ahead while this group's last case is judged."""
    failures: dict = {}
    strategy = group[0].cases
    name = _strategy_name(strategy)
    key = _group_key(group[0], examples)
    known = drawn.get(key)
    if group[0].rule is not None and (known is None or known.strategy != name):
        cases = released_cases(strategy, examples)
        known = drawn[key] = _Drawn(name, cases, [None] * len(cases))
    if known is not None and known.strategy == name:
        for index, case in enumerate(known.cases):
            undecided = [c for c in group if c.id not in failures]
            ask_next = known.questions[index + 1] if index + 1 < len(known.cases) else then_ask
            ask_next = ask_next if undecided else None
            known.questions[index] = _decide_case(undecided, ctx, case, failures, known.questions[index], ask_next)
        return failures, known
    known = _Drawn(name)

    def test(case):
        known.cases.append(case)
        known.questions.append(_decide_case([c for c in group if c.id not in failures], ctx, case, failures))

    _run_given(test, group[0], examples, shrink=False, profile=_profile(ctx))
    drawn[key] = known
    return failures, known


def _profile(ctx: CheckContext) -> str:
    config = getattr(ctx, "config", None)
    return config.hypothesis.profile if config is not None else "ci"


def _group_key(check_: Check, examples: int) -> tuple:
    """The same in every process (a grader may start from another's cases: ``warm_start.py``)."""
    return (check_.component, check_.id, examples, check_.rule is not None)


_NAMES: dict[int, tuple] = {}


def _strategy_name(strategy) -> str:
    """What a strategy draws, as text that is the same in every process (Hypothesis writes lambdas by
    their source); remembered per live strategy, as writing a composed one takes milliseconds."""
    known = _NAMES.get(id(strategy))
    if known is None or known[0] is not strategy:
        known = _NAMES[id(strategy)] = (strategy, repr(strategy))
    return known[1]


def _first_questions(drawn: dict, group: list[Check], examples: int):
    """What a remembered group's checks asked on its first case; None for a group not drawn yet."""
    known = drawn.get(_group_key(group[0], examples))
    if known is None or known.strategy != _strategy_name(group[0].cases) or not known.questions:
        return None
    return known.questions[0]


def _decide_case(checks: list[Check], ctx: CheckContext, case, failures: dict, ask_first=None, ask_next=None):
    """Run ``checks`` on one case: collect what they ask, one round trip, run them again.

    ``ask_first``: the questions the reference's checks asked on this case, asked before the
    checks run, so a submission that behaves alike needs a single pass. Returns the questions to ask
    first next time: these checks' while grading the reference (``CheckContext.learns_questions``),
    else ``ask_first`` unchanged -- the one place that keeps questions, so no student's (which can hold
    text their code chose: parameter names, as weights are loaded by position) is ever asked of
    another student's child.
    """
    waiting = checks
    ctx.student.record()
    try:
        if ask_first is not None and checks:
            ctx.student.ask(ask_first, wait=False)  # the reference is built and run meanwhile
            if ask_next is not None:  # once these are answered, the child works on the next case
                ctx.student.ask(ask_next, wait=False)  # while the checks judge this one
        while waiting:
            ctx.student.collect()
            still = []
            for check_ in waiting:
                try:
                    _verdict(check_, ctx, case)
                except Pending:
                    still.append(check_)
                except CheckFailed as failure:
                    failures[check_.id] = failure
            waiting = still
            if not ctx.student.flush() and waiting:
                raise RuntimeError(f"checks {[c.id for c in waiting]} are waiting for answers nobody asked for")
    except SandboxFatal:
        # The child died or hung on a batch (perhaps one asked ahead, read while collecting): stop
        # collecting, and ask again check by check, to blame the right one.
        ctx.student.stop_collecting()
        ctx.student.recorded()
        for check_ in waiting:
            outcome = _decide_alone(check_, ctx, case)
            if not outcome.passed:
                failures[check_.id] = outcome.fatal or outcome.failure
        return ask_first
    asked = ctx.student.recorded()
    return asked if ctx.learns_questions else ask_first


def _verdict(check_: Check, ctx: CheckContext, case) -> None:
    """Run one check on one case; raise CheckFailed (with the case, and the comparison it rejected) if it fails."""
    try:
        with noting_first_rejected() as rejected:
            _gated(check_, ctx, case)
    except CheckFailed as failure:
        if not failure.about_component:
            failure.case = case
        if failure.evidence is None:
            failure.evidence = rejected.found
        raise
    except StudentError as error:
        failure = failure_from_student(error, check_.component, case)
        failure.case = case
        raise failure from None
    except Exception as error:  # a bug of ours, met on this student's output: it costs this check only
        failure = CheckFailed(f"the grader could not judge this check ({type(error).__name__}); "
                              "course staff have been told and will look at it")
        failure.internal = f"{check_.name} on {case.describe() if case is not None else 'its fixed case'}:\n" \
                           + traceback.format_exc()
        failure.case = case
        raise failure from None


def _gated(check_: Check, ctx: CheckContext, case) -> None:
    """``check_.run``, after the gate when the check is gated. While the gate waits for answers the
    check still runs, to queue its own questions in the same round trip; its verdict waits too."""
    if not check_.gated:
        check_.run(ctx, case)
        return
    try:
        require_real_work(ctx, check_.component)
    except Pending:
        try:
            check_.run(ctx, case)
        except (Pending, CheckFailed, StudentError):
            pass
        raise Pending from None
    check_.run(ctx, case)


def _decide_alone(check_: Check, ctx: CheckContext, case) -> Outcome:
    try:
        _verdict(check_, ctx, case)
    except CheckFailed as failure:
        return Outcome(passed=False, failure=failure)
    except SandboxFatal as fatal:
        return Outcome(passed=False, fatal=str(fatal))
    return Outcome(passed=True)


class _SomeCheckFailed(Exception):
    """Raised from one place for any check's failure, so Hypothesis sees one bug to shrink, not one per line."""

    def __init__(self, failure: CheckFailed):
        super().__init__(failure.message)
        self.failure = failure


def _shrunk(checks: list[Check], ctx: CheckContext, examples: int, shrinks: dict) -> dict:
    """check id -> its failure on the smallest case found; a check whose failure did not recur is absent.

    One mistake usually fails several checks of a group on the same small cases, so they shrink
    together: Hypothesis looks for the smallest case where any of them fails, and every check that
    fails there takes that case (a smaller one where it fails would have been a smaller case where
    one of them fails). The others shrink together again, until none is left.
    """
    shrunk, remaining = {}, list(checks)
    while remaining:
        smallest = _smallest_failure(remaining, ctx, examples, shrinks)
        if smallest is None:
            break
        for check_ in list(remaining):
            failures: dict = {}
            _decide_case([check_], ctx, smallest.case, failures)
            found = failures.get(check_.id)
            if check_.id == smallest.check_id and not isinstance(found, CheckFailed):
                found = smallest  # it failed there a moment ago: keep that verdict
            if isinstance(found, CheckFailed):
                shrunk[check_.id] = found
                remaining.remove(check_)
    return shrunk


@dataclass
class _Shrink:
    """One shrinking run as Hypothesis made it: per case it tried, in order, whether the checks
    failed there and what they asked."""

    steps: list = field(default_factory=list)  # (case, failed, questions)


_DIVERGED = object()


def _smallest_failure(checks: list[Check], ctx: CheckContext, examples: int, shrinks: dict) -> CheckFailed | None:
    """The first of ``checks`` to fail on the smallest case where one fails; None if none failed again.

    The group's seed replays its cases up to the first failure (answered from the memo); each case
    Hypothesis then tries is decided like a group's: collect, one round trip, run again.

    Hypothesis's shrinking is a function of the seed and of which cases fail, nothing else. So a
    grader remembers the last shrinking run of these checks, and a later submission first walks
    the same cases (asked ahead, like a group's): if it fails exactly where that one did, Hypothesis
    would try the same cases and end on the same one, so that is the answer. At the first case where
    it differs, Hypothesis runs as usual.
    """
    key = tuple(c.id for c in checks)
    known = shrinks.get(key)
    if known is not None:
        replayed = _replay_shrink(known, checks, ctx)
        if replayed is not _DIVERGED:
            return replayed
    record = _Shrink()

    def test(case):
        failures: dict = {}
        questions = _decide_case(checks, ctx, case, failures)
        found = _first_failure(checks, failures)
        if isinstance(found, str):
            raise SandboxFatal(found)
        record.steps.append((case, found is not None, questions))
        if found is not None:
            raise _SomeCheckFailed(found)

    try:
        _run_given(test, checks[0], examples, shrink=True, profile=_profile(ctx))
    except _SomeCheckFailed as failed:
        shrinks[key] = record
        return failed.failure
    except SandboxFatal:
        return None  # shrinking reached a case that hangs or crashes: report the case found first
    return None


def _replay_shrink(known: _Shrink, checks: list[Check], ctx: CheckContext):
    """``known``'s cases decided for this submission: its last failure, None, or ``_DIVERGED``."""
    found = None
    for index, (case, failed, questions) in enumerate(known.steps):
        ask_next = known.steps[index + 1][2] if index + 1 < len(known.steps) else None
        failures: dict = {}
        asked = _decide_case(checks, ctx, case, failures, questions, ask_next)
        found = _first_failure(checks, failures)
        if isinstance(found, str):
            return None  # where Hypothesis would have stopped too
        if (found is not None) != failed:
            return _DIVERGED
        known.steps[index] = (case, failed, asked)
    return found


def _first_failure(checks: list[Check], failures: dict):
    """The failure of the first of ``checks`` that failed (its ``check_id`` set), a fatal message, or None."""
    found = next((failures[c.id] for c in checks if c.id in failures), None)
    if isinstance(found, CheckFailed):
        found.check_id = next(c.id for c in checks if failures.get(c.id) is found)
    return found
