"""What each component's child receives: the student's modules, with the reference standing in for
the component's dependencies only -- so one mistake costs points once, on the component that has it."""
from .contract import COMPONENTS, INTEGRATION, Component, component, dependencies
from .intake import Submission
from .reference import Reference
from .sandbox.launcher import LoadPlan


def load_plan(name: str, submission: Submission, reference: Reference) -> LoadPlan:
    targets = component("SimpleUNet").symbols if name == INTEGRATION else component(name).symbols
    references = [] if name == INTEGRATION else stand_ins(component(name), submission)
    replaced = tuple(symbol for dep in references for symbol in dep.symbols)
    return LoadPlan(
        modules={canonical: entry.plan_entry() for canonical, entry in submission.modules.items()},
        symbols=dict(submission.symbols),
        target_symbols=tuple(targets),
        required=tuple(sorted({submission.symbols[s] for s in targets if s in submission.symbols})),
        aliases=dict(submission.aliases),
        packages=tuple(submission.packages),
        exports=dict(submission.exports),
        refused=dict(submission.refused),
        stand_in_code=reference.stand_in_code(replaced) if replaced else None,
        replaced=replaced,
        stand_in_modules=_missing_modules(submission, replaced),
        references=tuple(dep.name for dep in references),
    )


def must_not_have_seen(name: str) -> frozenset[str]:
    """The references a child must never have held before it runs ``name``'s student code.

    A child can serve several components of one submission in turn (``launcher.Handover``), and
    student code could keep what an earlier component's stand-ins brought in. A component's own
    reference would let it pass without the work; for Integration, any block's would.
    """
    return frozenset(c.name for c in COMPONENTS) if name == INTEGRATION else frozenset({name})


def grading_order() -> tuple[str, ...]:
    """Integration first, then the contract's order (dependencies before dependents): no component
    then meets a reference it must not have seen, and one child can serve them all."""
    return (INTEGRATION,) + tuple(c.name for c in COMPONENTS)


def stand_ins(graded: Component, submission: Submission | None = None) -> list[Component]:
    """The components whose reference replaces the student's in ``graded``'s child.

    That is ``graded``'s dependencies, plus those of every other component that lives in the same
    file as ``graded`` (its *siblings*): ``attention.py`` imports ``res_block`` for AttnResBlock,
    so a broken ``res_block.py`` must not stop SelfAttention from being graded; in a one-file
    submission every component is a sibling. The component under test is never among them.
    """
    homes = _homes(submission)
    files = {homes.get(s, graded.module) for s in graded.symbols}
    siblings = [c for c in COMPONENTS if {homes.get(s, c.module) for s in c.symbols} & files]
    needed = {d.name for d in dependencies(graded.name)}
    for sibling in siblings:
        needed.update(d.name for d in dependencies(sibling.name) if {homes.get(s, d.module) for s in d.symbols} - files)
    return [c for c in COMPONENTS if c.name in needed and c.name != graded.name]


def _missing_modules(submission: Submission, replaced: tuple) -> dict[str, list[str]]:
    """Contract modules with no file (and no alias) whose symbols are stood in: the child serves them."""
    missing = {}
    for c in COMPONENTS:
        if c.module in submission.modules or c.module in submission.aliases:
            continue
        stood_in = [s for s in c.symbols if s in replaced]
        if stood_in:
            missing.setdefault(c.module, []).extend(stood_in)
    return missing


def _homes(submission: Submission | None) -> dict[str, str]:
    return dict(submission.symbols) if submission is not None else {}


def module_under_test(name: str) -> str:
    return "unet" if name == INTEGRATION else component(name).module
