"""Check your UNet modules with the public checks, on your own machine, in a few seconds.

    python check.py            # checks the unet/ folder next to this file
    python check.py PATH       # or the folder holding your modules (or one folder above it)

For each component it prints pass/fail, the smallest input that failed and a hint. The expected
shapes and counts come from public_checks.json (next to this file), computed from the instructor's
reference when the exercise was released; no reference code is needed or shipped. These are the
*public* checks only: your grade also depends on hidden checks of the values and gradients.

Needs only Python 3.10+ and torch. Your code runs in this process, as when you run it yourself.
"""
import argparse
import json
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import torch

DATA_FILE = "public_checks.json"
SUPPORT = "check_support"  # beside this file: the grader's own code that finds and loads your modules

# BEGIN HINTS -- `autograder release` puts a copy of autograder/checks/hints.py here
try:
    from autograder.checks.hints import explain
except ImportError:  # pragma: no cover - only without the autograder package
    def explain(error, component, case=None):
        return None
# END HINTS


class Failed(Exception):
    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass
class CheckOutcome:
    name: str
    passed: bool
    message: str = ""
    case: str = ""
    hint: str | None = None


@dataclass
class ComponentOutcome:
    component: str
    checks: list = field(default_factory=list)
    note: str = ""

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


# --- finding and importing the student's modules: the grader's own code (check_support/) ----------

class Submission:
    """The student's modules, found and loaded exactly as the grader finds and loads them."""

    def __init__(self, path: Path, allowed_packages=()):
        here = str(Path(__file__).resolve().parent)
        if here not in sys.path:
            sys.path.insert(0, here)
        from check_support.contract import COMPONENTS
        from check_support.importer import SourceImporter
        from check_support.intake import PackagePolicy, Refused, read_submission

        self.components = {c.name: c.symbols for c in COMPONENTS}
        path = Path(path)
        if not path.exists():
            raise SystemExit(f"error: {path}: no such folder; pass the folder that holds your modules")
        try:
            self.found = read_submission(path, policy=PackagePolicy(tuple(allowed_packages)))
        except Refused as refused:
            raise SystemExit(f"error: {refused}") from None
        self.importer = SourceImporter(
            {name: entry.plan_entry() for name, entry in self.found.modules.items()},
            aliases=self.found.aliases, packages=self.found.packages, symbols=self.found.symbols,
            refused=self.found.refused, protected=set(sys.modules))
        self.importer.install()

    def symbol(self, name: str):
        return self.importer.symbol(name)

    def problem(self, symbols) -> str | None:
        """Why these contract symbols cannot be found, as the grader would say it."""
        missing = [s for s in symbols if s not in self.found.symbols]
        if not missing:
            return None
        component = next((c for c, symbols in self.components.items() if missing[0] in symbols), None)
        return self.found.component_problem(component) if component else f"{missing[0]} is not defined"

    def close(self) -> None:
        self.importer.forget()


class Symbols:
    """What a check calls ``module_of``: the submission's contract names, wherever they are defined."""

    def __init__(self, submission: Submission):
        self._submission = submission

    def __getattr__(self, name: str):
        try:
            return self._submission.symbol(name)
        except (LookupError, AttributeError):
            raise AttributeError(f"your submission does not define {name}") from None


def error_text(error: BaseException, submission: Submission) -> str:
    """The error and the line of *your* code it came from, without the checker's own frames."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename in submission.importer.labels]
    where = ""
    if frames:
        place = submission.importer.where(frames[-1].filename, frames[-1].lineno)
        where = f"{place}, in {frames[-1].name}: "
    what = "".join(traceback.format_exception_only(type(error), error)).strip()
    return where + what


# --- the checks -----------------------------------------------------------------------------------

def make_inputs(case: dict) -> list:
    """The same tensors the grader would build from this case's seed."""
    generator = torch.Generator().manual_seed(case["seed"])
    tensors = []
    for name, shape in case["inputs"].items():
        if name == "t":
            if case.get("float_timesteps"):
                tensors.append(torch.rand(shape, generator=generator) * 999)
            else:
                tensors.append(torch.randint(0, 1000, shape, generator=generator))
        else:
            tensors.append(torch.randn(shape, generator=generator))
    return tensors


def describe(class_name: str, case: dict) -> str:
    args = ", ".join(f"{k}={v}" for k, v in case["init"].items())
    inputs = ", ".join(f"{name} of shape {tuple(shape)}" for name, shape in case["inputs"].items())
    return f"{class_name}({args}) with {inputs}" + (" (float timesteps)" if case.get("float_timesteps") else "")


def shape_problem(value, expected, what: str) -> str | None:
    expected = tuple(expected)
    if not isinstance(value, torch.Tensor):
        kind = f"a tuple/list of {len(value)} items" if isinstance(value, (tuple, list)) else type(value).__name__
        return f"{what}: expected a tensor of shape {expected}, got {kind}"
    if tuple(value.shape) != expected:
        return f"{what}: expected shape {expected}, got {tuple(value.shape)}"
    if not value.is_floating_point():
        return f"{what}: expected floating-point values, got dtype {value.dtype}"
    return None


def build(cls, case: dict):
    torch.manual_seed(case["seed"])
    return cls(**case["init"])


def as_list(output) -> list:
    return list(output) if isinstance(output, (tuple, list)) else [output]


def check_output_shapes(module_of, cls, case, expect) -> None:
    with torch.no_grad():
        output = build(cls, case)(*make_inputs(case))
    expected, names = expect["outputs"], expect["names"]
    got = as_list(output) if len(expected) > 1 else [output]
    if len(got) != len(expected):
        raise Failed(f"expected {len(expected)} outputs ({', '.join(names)}), got {len(got)}",
                     hint="forward returns the pair (down(h), h)" if len(expected) == 2 else None)
    shapes = [tuple(g.shape) if isinstance(g, torch.Tensor) else None for g in got]
    if len(expected) == 2 and shapes == [tuple(e) for e in reversed(expected)] and shapes[0] != shapes[1]:
        raise Failed(f"the pair is in the wrong order: got shapes {shapes[0]} then {shapes[1]}",
                     hint=f"The pair is ({names[0]}, {names[1]}): the downsampled tensor first, the skip second.")
    for value, shape, name in zip(got, expected, names):
        problem = shape_problem(value, shape, name)
        if problem:
            raise Failed(problem)


def check_sinusoid_shape(module_of, cls, case, expect) -> None:
    (t,) = make_inputs(case)
    problem = shape_problem(module_of.sinusoidal_embedding(t, case["init"]["dim"]), expect["shape"],
                            "sinusoidal_embedding(t, dim)")
    if problem:
        raise Failed(problem)


def check_weights_shape(module_of, cls, case, expect) -> None:
    with torch.no_grad():
        output = build(cls, case)(*make_inputs(case), return_weights=True)
    if not isinstance(output, (tuple, list)) or len(output) != 2:
        raise Failed("forward(x, return_weights=True) must return a pair (output, weights)",
                     hint="With return_weights=True, forward returns the pair (output, weights).")
    problem = shape_problem(output[1], expect["weights"], "attention weights")
    if problem:
        raise Failed(problem)


def per_submodule(module, expect) -> str:
    lines = []
    children = dict(module.named_children())
    for name, count in expect["per_submodule"].items():
        got = sum(p.numel() for p in children[name].parameters()) if name in children else 0
        if got != count:
            lines.append(f"{name}: {got:,} (expected {count:,})")
    return (" Per submodule: " + "; ".join(lines) + ".") if lines else ""


def check_structure(module_of, cls, case, expect) -> None:
    module = build(cls, case)
    expected = {name: tuple(shape) for name, shape in expect["state_dict"].items()}
    got = {name: tuple(t.shape) for name, t in module.state_dict().items()}
    if got != expected:
        parts = []
        missing = sorted(set(expected) - set(got))
        unexpected = sorted(set(got) - set(expected))
        wrong = [n for n in expected if n in got and got[n] != expected[n]]
        if missing:
            parts.append("missing: " + ", ".join(f"{n} {list(expected[n])}" for n in missing[:8]))
        if unexpected:
            parts.append("unexpected: " + ", ".join(f"{n} {list(got[n])}" for n in unexpected[:8]))
        if wrong:
            parts.append("wrong shape: " + ", ".join(
                f"{n} is {list(got[n])}, expected {list(expected[n])}" for n in wrong[:8]))
        count = sum(p.numel() for p in module.parameters())
        raise Failed(
            f"your {cls.__name__} has {count:,} parameters, expected {expect['parameters']:,}: " + "; ".join(parts),
            hint="Submodule names and sizes must match the docstring of the assignment." + per_submodule(module, expect),
        )
    modules = dict(module.named_modules())
    for name, groups in expect["groups"].items():
        found = modules.get(name)
        if isinstance(found, torch.nn.GroupNorm) and found.num_groups != groups:
            channels = found.num_channels
            raise Failed(f"{name} is GroupNorm({found.num_groups}, {channels}); expected GroupNorm({groups}, {channels})",
                         hint=f"Use math.gcd(8, C) groups: for C={channels} that is {groups}.")


def check_parameter_count(module_of, cls, case, expect) -> None:
    module = build(cls, case)
    count = sum(p.numel() for p in module.parameters())
    if count != expect["parameters"]:
        raise Failed(
            f"{describe(cls.__name__, case).split(' with ')[0]} has {count:,} parameters; expected "
            f"{expect['parameters']:,}." + per_submodule(module, expect),
            hint="Check each submodule's channels against the wiring in the docstring; "
            "up1 needs skip_channels=2 * base_channels.",
        )


RUNNERS = {
    "output_shapes": check_output_shapes,
    "sinusoid_shape": check_sinusoid_shape,
    "weights_shape": check_weights_shape,
    "structure": check_structure,
    "parameter_count": check_parameter_count,
}


def run_check(component: str, entry: dict, spec: dict, submission: Submission) -> CheckOutcome:
    """Every case of one check, smallest first; the first that fails is the one reported."""
    title = spec["name"].split(": ", 1)[-1]
    problem = submission.problem([entry["class"]])
    if problem:
        return CheckOutcome(title, False, problem, "", explain(problem, component))
    try:
        module_of = Symbols(submission)
        cls = getattr(module_of, entry["class"])
    except Exception as error:  # noqa: BLE001 - any error in the student's module is feedback
        text = error_text(error, submission)
        return CheckOutcome(title, False, f"{entry['module']}.py could not be used: {text}", "",
                            explain(text, component))
    runner = RUNNERS[spec["kind"]]
    for case in spec["cases"]:
        try:
            runner(module_of, cls, case, case["expect"])
        except Failed as failure:
            return CheckOutcome(title, False, failure.message, describe(entry["class"], case), failure.hint)
        except Exception as error:  # noqa: BLE001
            text = error_text(error, submission)
            return CheckOutcome(title, False, f"your code raised an error: {text}", describe(entry["class"], case),
                                explain(text, component))
    return CheckOutcome(title, True)


def load_data(path=None) -> dict:
    path = Path(path) if path else Path(__file__).resolve().parent / DATA_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SystemExit(f"error: {path} is missing; it comes with the exercise (keep it next to check.py)") from None


def run_checks(folder, data: dict, only: str | None = None) -> list[ComponentOutcome]:
    submission = Submission(Path(folder), data.get("packages", ()))
    try:
        return _run_components(submission, data, only)
    finally:
        for note in dict.fromkeys(submission.importer.notes):  # what loading had to do, as the grader says it
            print(f"note: {note}")
        submission.close()


def _run_components(submission: Submission, data: dict, only: str | None) -> list[ComponentOutcome]:
    found = submission.found
    for note in found.notes + found.environment + found.review:
        print(f"note: {note}")
    outcomes: dict[str, ComponentOutcome] = {}
    for component, entry in data["components"].items():
        if only is not None and component != only:
            continue
        outcome = ComponentOutcome(component)
        outcome.checks = [run_check(component, entry, spec, submission) for spec in entry["checks"]]
        failing = [d for d in _needs(component, data) if d in outcomes and not outcomes[d].passed]
        if failing and not outcome.passed:
            outcome.note = (f"{component} uses your {', '.join(failing)}, which fail their public checks: "
                            "fix those first.")
        outcomes[component] = outcome
    return list(outcomes.values())


def _needs(component: str, data: dict) -> list[str]:
    seen, stack = [], list(data["components"].get(component, {}).get("depends_on", []))
    while stack:
        name = stack.pop(0)
        if name not in seen:
            seen.append(name)
            stack.extend(data["components"].get(name, {}).get("depends_on", []))
    return seen


def format_report(outcomes: list[ComponentOutcome]) -> str:
    lines = []
    for outcome in outcomes:
        passed = sum(c.passed for c in outcome.checks)
        status = "ok  " if outcome.passed else "FAIL"
        lines.append(f"{status} {outcome.component:<14} {passed}/{len(outcome.checks)} public checks pass")
        failed: dict[tuple, list[str]] = {}  # one cause often fails several checks: say it once
        for check in outcome.checks:
            if not check.passed:
                failed.setdefault((check.message, check.case, check.hint), []).append(check.name)
        for (message, case, hint), names in failed.items():
            lines.append(f"     x {'; '.join(names)}")
            lines.extend(f"         {line}" for line in message.splitlines())
            if case:
                lines.append(f"         Smallest failing input: {case}")
            if hint:
                lines.append(f"         Hint: {hint}")
        if outcome.note:
            lines.append(f"     Note: {outcome.note}")
    good = sum(o.passed for o in outcomes)
    lines.append(f"{good}/{len(outcomes)} components pass their public checks. "
                 "Public checks look at shapes and structure only; hidden checks grade the values and gradients.")
    return "\n".join(lines)


def assert_component(component: str, folder=None, data_path=None) -> None:
    """For a notebook cell: print one component's report; raise AssertionError if a check fails."""
    here = Path(data_path).parent if data_path else Path.cwd()
    outcomes = run_checks(folder or here, load_data(data_path or here / DATA_FILE), only=component)
    print(format_report(outcomes))
    if not all(o.passed for o in outcomes):
        raise AssertionError(f"{component} fails a public check (see above)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Run the public checks on your UNet modules.")
    parser.add_argument("path", nargs="?", default=str(Path(__file__).resolve().parent),
                        help="folder with your modules (default: next to check.py)")
    parser.add_argument("--data", default=None, help=f"the checks' data (default: {DATA_FILE} next to check.py)")
    parser.add_argument("--only", default=None, help="check just this component, e.g. ResBlock")
    args = parser.parse_args(argv)
    data = load_data(args.data)
    if args.only is not None and args.only not in data["components"]:
        raise SystemExit(f"error: --only {args.only!r}: expected one of {', '.join(data['components'])}")
    started = time.monotonic()
    outcomes = run_checks(args.path, data, args.only)
    print(format_report(outcomes) + f" ({time.monotonic() - started:.1f} s)")
    return 0 if all(o.passed for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
