"""The public checks as data: what a student's ``check.py`` needs, computed once from the reference.

A public check runs a rule of ``autograder/rules/`` (``Check.rule``), the very function the
grader runs, on the very cases the grader runs it on (``strategies.released_cases``, smallest
first). What a rule needs besides the student's code is public: shapes, names, constructor
settings, and for the "does real work" gate whether each output of the reference depends on its
inputs and weights (``checks.public_checks.expectation`` and ``gate_data``) -- never the reference's
weights or outputs. A rule compares with closed forms (the sinusoid's formula), properties
(attention rows sum to 1) and the student's own submodules, on weights of its own.

Only the checks ``grading_config.yaml`` marks ``public`` are exported; a public check that runs no
rule is a ``ReleaseError``, so "public" never silently means "skipped".
"""
import json
from pathlib import Path

from ..checks.public_checks import case_record, expectation, gate_data
from ..config import GradingConfig
from ..contract import BY_NAME, GRADED, INTEGRATION, is_task
from ..errors import ReleaseError
from ..reference import Reference
from ..rules import RULES
from ..strategies import default_unet_case, released_cases

FORMAT_VERSION = 5  # 3: homework tasks, and the graded components check.py cannot check; 4: points; 5: per component
DATA_FILE = "public_checks.json"


def _component_record(name: str, reference: Reference) -> dict:
    """Where the student's class lives, what it is built from, and the gate's cases.

    A homework task has no class and no gate: ``class`` is its first function, the one check.py
    looks for before running the task's rules (which call its functions by name)."""
    if is_task(name):
        found = BY_NAME[name]
        return {"module": found.module, "class": found.symbols[0], "depends_on": list(found.depends_on),
                "gate": None, "checks": []}
    gate = gate_data(name, reference)
    if name == INTEGRATION:
        return {"module": "unet", "class": "SimpleUNet", "depends_on": ["SimpleUNet"], "gate": gate, "checks": []}
    found = BY_NAME[name]
    return {"module": found.module, "class": name, "depends_on": list(found.depends_on), "gate": gate, "checks": []}


def public_checks(config: GradingConfig, bound=None) -> dict:
    """The ``public_checks.json`` document for ``config``: per component, its public checks and cases."""
    if bound is None:
        from ..checks import bind

        bound = bind(config)
    reference = Reference(config.reference_dir())
    components: dict[str, dict] = {}
    for check_, settings_ in bound:
        if settings_.visibility != "public":
            continue
        if check_.rule is None:
            raise ReleaseError(
                f"grading_config.yaml: components.{check_.component}.{check_.id} is public, but students' "
                f"check.py has no reference-free version of it (public checks run a rule of autograder/rules/: "
                f"{', '.join(sorted(RULES))}); make it hidden, or give it a rule"
            )
        cases = [default_unet_case()] if check_.cases is None else released_cases(check_.cases, config.max_examples(settings_))
        if check_.component not in components:
            components[check_.component] = _component_record(check_.component, reference)
        components[check_.component]["checks"].append({
            "id": check_.id,
            "name": check_.name,
            "kind": check_.rule,
            "gated": check_.gated,
            "points": settings_.points,
            "cases": [dict(case_record(c), expect=expectation(check_.rule, c, reference, **check_.extra)) for c in cases],
        })
    ordered = {name: components[name] for name in GRADED if name in components}
    worth = component_points(config)
    for name, record in ordered.items():  # check.py says each component's points, not only its checks
        record["points"] = {"public": sum(check["points"] for check in record["checks"]), "total": worth.get(name, 0)}
    # graded components without a public check: check.py names them, so its summary never says "all pass"
    unchecked = {name: points for name, points in worth.items() if name not in components}
    # what the public checks are worth of the whole grade: check.py's summary says it, so passing them never
    # reads as passing everything
    public = sum(record["points"]["public"] for record in ordered.values())
    # the third-party packages the grader lets student code import: check.py says the same about the others
    return {"format": FORMAT_VERSION, "packages": list(config.packages.allowed), "components": ordered,
            "unchecked": {name: points for name, points in unchecked.items() if points > 0},
            "points": {"public": public, "total": config.total_points}}


def component_points(config: GradingConfig) -> dict[str, float]:
    """Each graded component's points (public and hidden checks together), in contract order."""
    points = {name: sum(s.points for s in config.components.get(name, {}).values()) for name in GRADED}
    return {name: total for name, total in points.items() if total > 0}


def public_component_points(config: GradingConfig) -> dict[str, float]:
    """Each graded component's points from its public checks (what ``check.py`` can show)."""
    return {name: sum(s.points for s in config.components.get(name, {}).values() if s.visibility == "public")
            for name in component_points(config)}


def write_public_checks(config: GradingConfig, path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(public_checks(config), indent=1, sort_keys=False) + "\n", encoding="utf-8")
    return path
