"""How much room `tolerance` in grading_config.yaml leaves on both sides.

For every correct-but-different implementation in tests/mutants.py (EQUIVALENTS) and every known
mistake (MUTANTS), run the student's module in float32 and the reference in float32 and float64
with the same weights on many inputs from the grader's own strategies, and print

    ratio = max |student - reference64| / allowed,   allowed = floor * max|ref64| + factor * |ref32 - ref64|

over the outputs (SelfAttention: also the weights; TimeEmbedding: also sinusoidal_embedding),
the input gradients and every parameter's gradient. The public sinusoid check compares with the
docstring's formula instead, within ``rules.SINUSOID_ALLOWED``: its margins are printed too. An equivalent must stay below 1 everywhere
(margin = 1 / its worst ratio; code that rounds exactly like the float32 reference scores
1 / float_error_factor = 0.02); a mistake that changes values goes above 1 somewhere (margin = its
best ratio). Mistakes whose values equal the reference's (in-place edits, batch mixing at B = 1)
are caught by other checks and are listed separately.

Usage: .venv/bin/python benchmarks/measure_tolerances.py [--cases 40]
This runs the submissions in-process, without the sandbox: they are our own test files.
"""
import argparse
import copy
import importlib.util
import shutil
import sys
import tempfile
from pathlib import Path

import torch
from hypothesis import HealthCheck, given, settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder import rules, strategies  # noqa: E402
from autograder.checks.common import randomize_norms  # noqa: E402
from autograder.compare import allowed_error  # noqa: E402
from autograder.config import load_config  # noqa: E402
from autograder.contract import COMPONENTS, component  # noqa: E402
from tests.mutants import EQUIVALENTS, MUTANTS, SOLUTIONS  # noqa: E402

CASES = {
    "TimeEmbedding": strategies.time_embedding_cases,
    "ResBlock": strategies.res_block_cases,
    "DownBlock": strategies.down_block_cases,
    "UpBlock": strategies.up_block_cases,
    "SimpleUNet": strategies.unet_cases,
    "SelfAttention": strategies.attention_cases,
    "AttnResBlock": strategies.attn_res_block_cases,
}


def draw_cases(name: str, count: int) -> list:
    """``count`` derandomised cases of ``name``'s strategy, batches of 1 to 3 included."""
    drawn = []

    @settings(max_examples=count, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(CASES[name]())
    def collect(case):
        drawn.append(case)

    collect()
    return drawn


def load_package(replacements: dict[str, str], tag: str):
    """The reference package with some modules replaced, imported under a fresh name."""
    folder = Path(tempfile.mkdtemp()) / f"submission_{tag}"
    shutil.copytree(SOLUTIONS, folder)
    for module, source in replacements.items():
        (folder / f"{module}.py").write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(folder.name, folder / "__init__.py",
                                                  submodule_search_locations=[str(folder)])
    package = importlib.util.module_from_spec(spec)
    sys.modules[folder.name] = package
    spec.loader.exec_module(package)
    return lambda module: importlib.import_module(f"{folder.name}.{module}")


REFERENCE = load_package({}, "reference")


def load_by_position(module: torch.nn.Module, state: dict) -> dict | None:
    """The grader's transplant: by name, else by position when shapes line up one-to-one.

    Returns the reference-name -> student-name mapping, or None when the weights do not fit."""
    try:
        module.load_state_dict(state)
        return {name: name for name in state}
    except RuntimeError:
        pass
    theirs = list(module.state_dict().items())
    if len(theirs) != len(state) or any(t.shape != s.shape for (_, t), s in zip(theirs, state.values())):
        return None
    module.load_state_dict({name: s for (name, _), s in zip(theirs, state.values())})
    return {ours: name for ours, (name, _) in zip(state, theirs)}


def flat_results(model, inputs, kwargs, grad_seed, dtype, names):
    """Outputs, then input gradients and parameter gradients for a fixed random grad_output."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        args = [x.detach().to(dtype).requires_grad_() if x.is_floating_point() else x for x in inputs]
        outputs = model(*args, **kwargs)
        outputs = list(outputs) if isinstance(outputs, (tuple, list)) else [outputs]
        generator = torch.Generator().manual_seed(grad_seed)
        grads = [torch.randn(o.shape, generator=generator).to(dtype) for o in outputs]
        torch.autograd.backward(outputs, grads)
    finally:
        torch.set_default_dtype(previous)
    values = [o.detach() for o in outputs]
    values += [a.grad if a.grad is not None else torch.zeros_like(a)
               for a in args if isinstance(a, torch.Tensor) and a.is_floating_point()]
    parameters = dict(model.named_parameters())
    values += [parameters[n].grad if parameters[n].grad is not None else torch.zeros_like(parameters[n])
               for n in names]
    return values


def ratio_on_case(student_module, name: str, case, tolerance) -> float | None:
    """Worst error ratio of one case; None when the student's code cannot be compared here."""
    class_name = name
    reference_class = getattr(REFERENCE(component(name).module), class_name)
    torch.manual_seed(case.seed)
    ref32 = reference_class(**case.init)
    randomize_norms(ref32, case.seed)
    ref64 = copy.deepcopy(ref32).double()
    try:
        student = getattr(student_module, class_name)(**case.init)
    except Exception:  # noqa: BLE001 -- a crash is caught by other checks, not by tolerance
        return None
    mapping = load_by_position(student, ref32.state_dict())
    if mapping is None:
        return None
    parameters = [n for n, _ in ref32.named_parameters()]
    kwargs = {"return_weights": True} if name == "SelfAttention" else {}
    inputs = case.inputs()
    try:
        got = flat_results(student, inputs, kwargs, case.seed, torch.float32, [mapping[n] for n in parameters])
    except Exception:  # noqa: BLE001
        return None
    r32 = flat_results(ref32, inputs, kwargs, case.seed, torch.float32, parameters)
    r64 = flat_results(ref64, inputs, kwargs, case.seed, torch.float64, parameters)
    if name == "TimeEmbedding":
        (t,) = inputs
        try:
            got.append(student_module.sinusoidal_embedding(t, case.init["dim"]))
        except Exception:  # noqa: BLE001
            return None
        function = REFERENCE("time_embedding").sinusoidal_embedding
        r32.append(function(t, case.init["dim"]))
        torch.set_default_dtype(torch.float64)
        try:
            r64.append(function(t.double() if t.is_floating_point() else t, case.init["dim"]))
        finally:
            torch.set_default_dtype(torch.float32)
    if len(got) != len(r64) or any(g.shape != r.shape for g, r in zip(got, r64)):
        return None
    worst = 0.0
    for g, a, b in zip(got, r32, r64):
        if g.numel():
            difference = (g.double() - b).abs().max().item()
            worst = max(worst, difference / allowed_error(b, a, tolerance))
    return worst


def sinusoid_ratio(entry, cases) -> float | None:
    """Worst |student's sinusoid - the formula in float64| over the allowed error; None if it never runs."""
    package = load_package(entry.replacements(), f"sin{abs(hash(entry.name))}")
    function = package("time_embedding").sinusoidal_embedding
    worst = None
    for case in cases:
        (t,) = case.inputs()
        try:
            got = function(t, case.init["dim"])
        except Exception:  # noqa: BLE001
            continue
        if got.shape == (t.shape[0], case.init["dim"]):
            ratio = rules.largest_difference(got, rules.sinusoid(t, case.init["dim"]))[0] / rules.SINUSOID_ALLOWED
            worst = ratio if worst is None else max(worst, ratio)
    return worst


def submission_ratios(entry, names, cases, tolerance) -> dict[str, float | None]:
    package = load_package(entry.replacements(), f"{abs(hash(entry.name))}")
    modules = {component(n).module: package(component(n).module) for n in names}
    ratios = {}
    for name in names:
        values = [ratio_on_case(modules[component(name).module], name, case, tolerance) for case in cases[name]]
        values = [v for v in values if v is not None]
        ratios[name] = max(values) if values else None
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=40, help="inputs per component (default 40)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    tolerance = load_config(ROOT / "grading_config.yaml").tolerance
    all_names = [c.name for c in COMPONENTS]
    cases = {name: draw_cases(name, args.cases) for name in all_names}
    print(f"tolerance: relative_floor={tolerance.relative_floor}, float_error_factor={tolerance.float_error_factor}; "
          f"{args.cases} cases per component\n")

    print("EQUIVALENTS (worst ratio over all components; must be < 1)")
    worst_equivalent = 0.0
    for entry in EQUIVALENTS:
        ratios = submission_ratios(entry, all_names, cases, tolerance)
        broken = [n for n, r in ratios.items() if r is None]
        worst_name, worst = max(((n, r) for n, r in ratios.items() if r is not None), key=lambda item: item[1])
        worst_equivalent = max(worst_equivalent, worst)
        note = f"  (could not run: {', '.join(broken)})" if broken else ""
        print(f"  {worst:9.3g}  {worst_name:<14} {entry.name}{note}")

    print("\nMUTANTS (worst ratio on their own component; a value mistake is > 1)")
    caught = []
    for entry in MUTANTS:
        ratio = submission_ratios(entry, [entry.component], cases, tolerance)[entry.component]
        if ratio is None:
            print(f"  {'crash':>9}  {entry.component:<14} {entry.name} (never comparable: a shape, load or runtime error on every case)")
        elif ratio <= 1:
            print(f"  {ratio:9.3g}  {entry.component:<14} {entry.name} (values match wherever it runs: caught by a crash or a non-value check)")
        else:
            caught.append((ratio, entry))
            print(f"  {ratio:9.3g}  {entry.component:<14} {entry.name}")

    print("\nPUBLIC SINUSOID (max |sinusoidal_embedding - formula| / rules.SINUSOID_ALLOWED)")
    for entry in EQUIVALENTS + MUTANTS:  # the MLP's mistakes keep the exact sinusoid: ratios near 0 there
        if "time_embedding" in entry.replacements():
            ratio = sinusoid_ratio(entry, cases["TimeEmbedding"])
            if ratio is not None:
                print(f"  {ratio:9.3g}  {'ok' if entry.component is None else 'mistake':<8} {entry.name}")

    smallest, weakest = min(caught, key=lambda item: item[0])
    print(f"\nworst equivalent: {worst_equivalent:.3g} of the allowed error -> {1 / worst_equivalent:.3g}x headroom")
    print(f"weakest value mistake: {smallest:.3g} x the allowed error ({weakest.name})")


if __name__ == "__main__":
    main()
