"""What each component's child receives: the student's modules, with the reference standing in for
the component's dependencies only -- so one mistake costs points once, on the component that has it."""
from dataclasses import dataclass

from .contract import COMPONENTS, INTEGRATION, Component, component, dependencies
from .intake import Submission
from .reference import Reference
from .sandbox.launcher import LoadPlan


def load_plan(name: str, submission: Submission, reference: Reference, own_dependencies: bool = False) -> LoadPlan:
    """``own_dependencies``: the student's own versions of what ``name`` uses, as Integration has them,
    instead of the reference standing in (``Grader._with_own_dependencies``): nothing is lent."""
    targets = component("SimpleUNet").symbols if name == INTEGRATION else component(name).symbols
    own = name == INTEGRATION or own_dependencies
    references = [] if own else stand_ins(component(name))
    replaced = tuple(symbol for dep in references for symbol in dep.symbols)
    # The rest of the contract, neither graded here nor lent: where its file is missing or broken, a
    # placeholder that raises when used lets the graded file import. Integration (and a component with
    # its own dependencies) gets none: it runs the student's own blocks, so their files' errors are its own.
    unavailable = () if own else tuple(
        s for c in COMPONENTS for s in c.symbols if s not in replaced and s not in targets)
    return LoadPlan(
        modules={canonical: entry.plan_entry() for canonical, entry in submission.modules.items()},
        symbols=_homes(submission, replaced + unavailable),
        target_symbols=tuple(targets),
        required=tuple(sorted({submission.symbols[s] for s in targets if s in submission.symbols})),
        aliases=dict(submission.aliases),
        packages=tuple(submission.packages),
        exports=dict(submission.exports),
        refused=dict(submission.refused),
        stand_in_code=reference.stand_in_code(replaced) if replaced else None,
        replaced=replaced,
        stand_in_modules=_missing_modules(submission, replaced + unavailable),
        references=tuple(dep.name for dep in references),
        unavailable=unavailable,
    )


def must_not_have_seen(name: str) -> frozenset[str]:
    """The references a child must never have held before it runs ``name``'s student code.

    A child can serve several components of one submission in turn (``launcher.Handover``), and
    student code could keep what an earlier component's stand-ins brought in. A component's own
    reference would let it pass without the work; for Integration, any block's would.
    """
    return frozenset(c.name for c in COMPONENTS) if name == INTEGRATION else frozenset({name})


def stand_ins(graded: Component) -> list[Component]:
    """The components whose reference replaces the student's in ``graded``'s child: its dependencies
    in the contract, and nothing else.

    Never by where the student put a class: a file that holds other components too does not earn
    their dependencies' references (a broken or missing file that ``graded``'s file imports gets
    placeholders instead, ``LoadPlan.unavailable``). So what a child holds depends on the contract
    alone, and ``grading_order`` can be checked once, for every submission (``lent_too_early``).
    """
    needed = {d.name for d in dependencies(graded.name)}
    return [c for c in COMPONENTS if c.name in needed]


def lent_too_early(order: tuple[str, ...]) -> list[str]:
    """Where ``order`` breaks the rule that no child, in any order of children, ever held the reference
    of a component that is graded later: ``must_not_have_seen`` across children, not only within one.

    A child could pass what it holds to a later child only through the kernel, which the sandbox
    closes (README, "Security model"); this rule makes even such a channel carry nothing useful
    within a submission: every reference is lent only after its own component was graded.
    """
    lent, problems = set(), []
    for name in order:
        early = sorted(lent & must_not_have_seen(name))
        if early:
            problems.append(f"{name} is graded after a child held the reference of {', '.join(early)}")
        if name != INTEGRATION:
            lent.update(c.name for c in stand_ins(component(name)))
    return problems


def grading_order() -> tuple[str, ...]:
    """Integration first, then the contract's order (dependencies before dependents): no component
    then meets a reference it must not have seen, and one child can serve them all."""
    return GRADING_ORDER


@dataclass(frozen=True)
class Schedule:
    """Which component is graded when (``turns``), and which start their child ahead of their turn:
    ``starts`` maps a component to those starting right after it is graded (None: before the first);
    ``started`` is the order children start in."""

    turns: tuple[str, ...]
    starts: dict
    started: tuple[str, ...]


def grading_schedule(early: frozenset[str] = frozenset()) -> Schedule:
    """``grading_order``, with the components in ``early`` starting their child ahead of their turn.

    An early child starts as soon as every reference it holds (``stand_ins``) belongs to a component
    already graded, and runs beside the components graded meanwhile as if it were graded right there:
    ``lent_too_early`` holds for that order too (checked here, for every submission at once). Its turn
    comes last: ending any child ends every child of the fork server (its reaper kills all it has
    started), so a child that lives on while others end would not.
    """
    turns = tuple(n for n in GRADING_ORDER if n not in early) + tuple(n for n in GRADING_ORDER if n in early)
    starts: dict[str | None, list[str]] = {}
    for name in sorted(early):
        lent = {c.name for c in stand_ins(component(name))}
        before = [n for n in turns if n in lent]
        starts.setdefault(before[-1] if before else None, []).append(name)
    started = [n for n in turns if n not in early]
    for after, names in starts.items():
        at = 0 if after is None else started.index(after) + 1
        started[at:at] = names
    problems = lent_too_early(turns) + lent_too_early(tuple(started))
    if problems:
        raise RuntimeError("starting early: " + "; ".join(problems))
    return Schedule(turns, {after: tuple(names) for after, names in starts.items()}, tuple(started))


def _homes(submission: Submission, served: tuple) -> dict[str, str]:
    """Where each symbol lives: the file that defines it, or, for one the child serves (a stand-in or a
    placeholder) that no file defines, its contract module when the submission has that file (a
    ``unet.py`` whose code is all a test at the bottom, say): the child then serves it there once the
    file has run, so a file that imports it still imports."""
    homes = dict(submission.symbols)
    for c in COMPONENTS:
        canonical = c.module if c.module in submission.modules else submission.aliases.get(c.module)
        if canonical in submission.modules:
            homes.update((s, canonical) for s in c.symbols if s in served and s not in homes)
    return homes


def _missing_modules(submission: Submission, served: tuple) -> dict[str, list[str]]:
    """Contract modules with no file (and no alias) whose symbols the child serves: stand-ins or placeholders."""
    missing = {}
    for c in COMPONENTS:
        if c.module in submission.modules or c.module in submission.aliases:
            continue
        stood_in = [s for s in c.symbols if s in served]
        if stood_in:
            missing.setdefault(c.module, []).extend(stood_in)
    return missing


GRADING_ORDER = (INTEGRATION,) + tuple(c.name for c in COMPONENTS)
if lent_too_early(GRADING_ORDER):  # the contract changed so that a reference would be lent before its grading
    raise RuntimeError("; ".join(lent_too_early(GRADING_ORDER)))


def module_under_test(name: str) -> str:
    return "unet" if name == INTEGRATION else component(name).module
