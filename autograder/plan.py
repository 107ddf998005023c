"""What each component's child receives: the student's modules, with reference stand-ins for the
component's dependencies only -- so one mistake costs points once, on the component that has it."""
from .contract import COMPONENTS, INTEGRATION, Component, component, dependencies
from .reference import Reference
from .sandbox.launcher import LoadPlan
from .submission import Submission


def load_plan(name: str, submission: Submission, reference: Reference) -> LoadPlan:
    if name == INTEGRATION:
        return LoadPlan(sources=dict(submission.sources), target_module="unet")
    graded = component(name)
    sources = dict(submission.sources)
    patches = []
    keep_by_module: dict[str, set[str]] = {}
    references = stand_ins(graded)
    for dep in references:
        keep_by_module.setdefault(dep.module, set()).update(dep.symbols)
    for module, keep in keep_by_module.items():
        text = reference.dependency_source(module, keep)
        if module == graded.module:
            # The dependency shares the student's file (AttnResBlock uses SelfAttention): load the
            # reference under a private name and point the student's module at it.
            private = f"_reference_{module}"
            sources[private] = text
            patches.extend((symbol, private) for symbol in sorted(keep))
        else:
            sources[module] = text
    return LoadPlan(sources=sources, target_module=graded.module, patches=tuple(patches),
                    references=tuple(dep.name for dep in references))


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


def stand_ins(graded: Component) -> list[Component]:
    """The components whose reference replaces the student's in ``graded``'s child.

    That is ``graded``'s dependencies, plus those of the other components in its file that live in
    *other* files: attention.py imports res_block for AttnResBlock, so a broken res_block.py must
    not stop SelfAttention from being graded. The component under test is never among them.
    """
    own = {d.name for d in dependencies(graded.name)}
    siblings = [c for c in COMPONENTS if c.module == graded.module]
    needed = set(own)
    for sibling in siblings:
        needed.update(d.name for d in dependencies(sibling.name) if d.module != graded.module)
    return [c for c in COMPONENTS if c.name in needed and c.name != graded.name]


def module_under_test(name: str) -> str:
    return "unet" if name == INTEGRATION else component(name).module
