"""The public checks as data: what a student's ``check.py`` needs, computed once from the reference.

Public checks ask only for shapes, names and counts (output shapes, parameter names and shapes,
GroupNorm group counts, parameter totals). Those need the reference at release time but reveal
nothing the stubs' docstrings do not already say, so we precompute them for a fixed set of cases and
ship the numbers (``public_checks.json``), never the reference's weights or outputs. The cases are
drawn from the grader's own Hypothesis strategies (derandomised, so a release is reproducible) and
sorted smallest first: the first failing case a student sees is the smallest one we shipped.

Only the checks ``grading_config.yaml`` marks ``public`` are exported; a public check that has no
reference-free form here is a ``ReleaseError``, so "public" never silently means "skipped".
"""
import json
from pathlib import Path

import torch
from hypothesis import HealthCheck, Phase, given, settings

from ..checks.common import output_names
from ..config import GradingConfig
from ..contract import BY_NAME, GRADED, INTEGRATION, component
from ..errors import ReleaseError
from ..reference import Reference
from ..strategies import Case, default_unet_case, seed_only_draws

FORMAT_VERSION = 1
DATA_FILE = "public_checks.json"

# check id -> what the student-side runner does with it (see student_check.py)
KINDS = {
    "output_shape": "output_shapes",
    "runs_end_to_end": "output_shapes",
    "returns_pair": "output_shapes",
    "structure": "structure",
    "sinusoid_shape": "sinusoid_shape",
    "weights_shape": "weights_shape",
    "parameter_count": "parameter_count",
}


def draw_cases(strategy, count: int) -> list[Case]:
    """``count`` distinct cases from ``strategy``, the same on every run, smallest first."""
    found: dict[str, Case] = {}

    @settings(max_examples=max(count * 3, 10), derandomize=True, database=None, deadline=None,
              phases=(Phase.generate,), suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(case):
        found.setdefault(repr(case), case)

    with seed_only_draws():
        collect()
    return sorted(found.values(), key=_size)[:count]


def _size(case: Case) -> tuple:
    elements = sum(_product(shape) for shape in case.shapes.values())
    return (sum(v for v in case.init.values() if isinstance(v, int)), elements, case.seed)


def _product(shape) -> int:
    total = 1
    for n in shape:
        total *= n
    return total


def _class_of(case: Case, reference: Reference):
    name = "SimpleUNet" if case.component == INTEGRATION else case.component
    return reference.symbol(component(name).module, name)


def _outputs(module, case: Case, **kwargs) -> list:
    with torch.no_grad():
        result = module(*case.inputs(), **kwargs)
    return list(result) if isinstance(result, (tuple, list)) else [result]


def _structure(module: torch.nn.Module) -> dict:
    return {
        "state_dict": {name: list(t.shape) for name, t in module.state_dict().items()},
        "groups": {name: sub.num_groups for name, sub in module.named_modules() if isinstance(sub, torch.nn.GroupNorm)},
        "parameters": sum(p.numel() for p in module.parameters()),
        "per_submodule": {name: sum(p.numel() for p in sub.parameters()) for name, sub in module.named_children()},
    }


def expectation(kind: str, case: Case, reference: Reference) -> dict:
    """What a correct module gives on ``case`` for a check of ``kind``: shapes and counts only."""
    if kind == "sinusoid_shape":
        return {"shape": [case.shapes["t"][0], case.init["dim"]]}
    torch.manual_seed(case.seed)
    module = _class_of(case, reference)(**case.init)
    if kind == "output_shapes":
        shapes = [list(o.shape) for o in _outputs(module, case)]
        return {"outputs": shapes, "names": output_names(case.component, len(shapes))}
    if kind == "weights_shape":
        return {"weights": list(_outputs(module, case, return_weights=True)[1].shape)}
    if kind in ("structure", "parameter_count"):
        return _structure(module)
    raise ReleaseError(f"unknown public check kind {kind!r}")


def _case_record(case: Case) -> dict:
    return {"init": case.init, "inputs": {k: list(v) for k, v in case.shapes.items()}, "seed": case.seed,
            "float_timesteps": case.float_timesteps}


def _component_record(name: str) -> dict:
    """Where the student's class lives and what it is built from (Integration: the whole SimpleUNet)."""
    if name == INTEGRATION:
        return {"module": "unet", "class": "SimpleUNet", "depends_on": ["SimpleUNet"], "checks": []}
    found = BY_NAME[name]
    return {"module": found.module, "class": name, "depends_on": list(found.depends_on), "checks": []}


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
        kind = KINDS.get(check_.id)
        if kind is None:
            raise ReleaseError(
                f"grading_config.yaml: components.{check_.component}.{check_.id} is public, but students' "
                f"check.py has no reference-free version of it (public checks can be: {', '.join(sorted(KINDS))}); "
                "make it hidden, or add it to autograder/release/public.py"
            )
        if check_.cases is None:
            cases = [default_unet_case()]
        else:
            cases = draw_cases(check_.cases, config.max_examples(settings_))
        entry = components.setdefault(check_.component, _component_record(check_.component))
        entry["checks"].append({
            "id": check_.id,
            "name": check_.name,
            "kind": kind,
            "points": settings_.points,
            "cases": [dict(_case_record(c), expect=expectation(kind, c, reference)) for c in cases],
        })
    ordered = {name: components[name] for name in GRADED if name in components}
    # the third-party packages the grader lets student code import: check.py says the same about the others
    return {"format": FORMAT_VERSION, "packages": list(config.packages.allowed), "components": ordered}


def write_public_checks(config: GradingConfig, path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(public_checks(config), indent=1, sort_keys=False) + "\n", encoding="utf-8")
    return path
