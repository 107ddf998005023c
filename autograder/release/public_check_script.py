"""Check your UNet modules with the public checks, on your own machine, in a few seconds.

    python check.py            # checks the unet/ folder next to this file
    python check.py PATH       # or the folder holding your modules (or one folder above it)

For each component it prints pass/fail, the smallest input that failed and a hint. The checks
run the same rules as the grader's public checks, on the same inputs: shapes and the contract's
constructor settings (from public_checks.json, next to this file, written when the exercise was
released), the sinusoid's formula, and properties any correct module has, on random weights of
their own. No reference code or output is needed or shipped. Your grade also depends on hidden
checks that compare values and gradients with the reference.

Needs only Python 3.10+ and torch. Your code runs in this process, as when you run it yourself.
"""
import time

STARTED = time.monotonic()  # before torch is imported: the time printed is the whole run's

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

DATA_FILE = "public_checks.json"
SUPPORT = "check_support"  # beside this file: the grader's own rules and the code that finds and loads your modules

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
# the grader's own public rules (a copy of autograder/rules/); ``plural`` is for the hints below
from check_support.rules import RAISED, RULES, Failed, LocalView, case_text, plural, real_work  # noqa: E402
from check_support import torch_settings  # noqa: E402 -- what importing your files may change, put back as the grader does

# BEGIN HINTS -- `autograder release` puts a copy of autograder/checks/hints.py here
try:
    from autograder.checks.hints import explain
except ImportError:  # pragma: no cover - only without the autograder package
    def explain(error, component, case=None):
        return None
# END HINTS


@dataclass
class CheckOutcome:
    name: str
    passed: bool
    message: str = ""
    case: str = ""
    hint: str | None = None
    points: float = 0.0  # what the grader gives this check when it passes


@dataclass
class ComponentOutcome:
    component: str
    checks: list = field(default_factory=list)
    note: str = ""
    total_points: float = 0.0  # the component's points, public and hidden checks together

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def public_points(self) -> float:
        return sum(c.points for c in self.checks)

    @property
    def earned_points(self) -> float:
        return sum(c.points for c in self.checks if c.passed)


# --- finding and importing the student's modules: the grader's own code (check_support/) ----------

class Submission:
    """The student's modules, found and loaded exactly as the grader finds and loads them."""

    def __init__(self, path: Path, allowed_packages=()):
        from check_support.contract import COMPONENTS
        from check_support.importer import SourceImporter
        from check_support.intake import PackagePolicy, Refused, read_submission

        self.components = {c.name: c.symbols for c in COMPONENTS}
        self.question_settings = None  # torch's settings before the first question (``fresh_settings``)
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
            refused=self.found.refused, exports=self.found.exports, protected=set(sys.modules))
        self.importer.install()
        with self.importing():
            self.importer.run_package_inits()

    @contextlib.contextmanager
    def importing(self):
        """Around code that may run your files' top-level code: torch's settings put back afterwards, with a
        note, as the grader puts them back (``torch.set_grad_enabled(False)`` at the top of a file would
        otherwise stop every check's gradients)."""
        settings = torch_settings.snapshot()
        try:
            yield
        finally:
            self.importer.notes.extend(torch_settings.put_back(settings))

    def fresh_settings(self) -> None:
        """Before each question: torch's settings as the first question found them, as the grader's child
        asks each (a call that changed one for good, skip_ablation's set_default_dtype, is its own)."""
        if self.question_settings is None:
            self.question_settings = torch_settings.snapshot()
        else:
            torch_settings.put_back(self.question_settings)

    def symbol(self, name: str):
        with self.importing():  # the first use of a file imports it
            return self.importer.symbol(name)

    def problem(self, symbols) -> str | None:
        """Why these contract symbols cannot be found, as the grader would say it."""
        missing = [s for s in symbols if s not in self.found.symbols]
        if not missing:
            return None
        component = next((c for c, symbols in self.components.items() if missing[0] in symbols), None)
        whole = self.found.component_problem(component) if component else None
        return whole or f"your submission does not define {', '.join(missing)} (check the spelling of the name)"

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


# --- the checks: the rules above, on your code ----------------------------------------------------

CRASHED = "your code raised an error"  # how a check's message starts when the student's code raised


def _crash(error: BaseException, submission: Submission, component: str) -> tuple[str, str | None]:
    text = error_text(error, submission)
    return f"{CRASHED}: {text}", explain(text, component)


def _real_work(component: str, entry: dict, view, submission: Submission, gates: dict):
    """The gate's verdict for ``component``, decided once: None, or (message, hint)."""
    if component not in gates:
        try:
            real_work(view, entry["gate"])
            gates[component] = None
        except Failed as failure:
            gates[component] = (failure.message, failure.hint)
        except Exception as error:  # noqa: BLE001 - any error in the student's module is feedback
            gates[component] = _crash(error, submission, component)
    return gates[component]


def run_check(component: str, entry: dict, spec: dict, submission: Submission, gates: dict | None = None) -> CheckOutcome:
    """Every case of one check, smallest first; the first that fails is the one reported.

    A gated check first needs a forward that does real work (see ``real_work``), as in the grader.
    """
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
    from check_support import watch  # the grader's own watcher, for the homework rules that watch a call

    view = LocalView(cls, module_of, watching=watch, error_text=lambda error: error_text(error, submission),
                     fresh=submission.fresh_settings)
    if spec.get("gated"):
        verdict = _real_work(component, entry, view, submission, {} if gates is None else gates)
        if verdict is not None:
            return CheckOutcome(title, False, verdict[0], "", verdict[1])
    rule = RULES[spec["kind"]]
    for case in spec["cases"]:
        try:
            rule(view, case, case["expect"])
        except Failed as failure:
            hint = failure.hint
            if hint is None and failure.message.startswith(RAISED):  # a watched call's error: the usual diagnosis
                hint = explain(failure.message, component)
            return CheckOutcome(title, False, failure.message, case_text(entry["class"], case, spec["kind"]), hint)
        except Exception as error:  # noqa: BLE001
            message, hint = _crash(error, submission, component)
            return CheckOutcome(title, False, message, case_text(entry["class"], case, spec["kind"]), hint)
    return CheckOutcome(title, True)


def load_data(path=None) -> dict:
    path = Path(path) if path else Path(__file__).resolve().parent / DATA_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SystemExit(f"error: {path} is missing; it comes with the exercise (keep it next to check.py)") from None


@contextlib.contextmanager
def small_tensor_settings():
    """One thread and plain kernels, as in the grader: the checks' tensors are tiny, and thread
    start-up and oneDNN's per-call set-up would cost more than the maths. Restored afterwards."""
    threads, onednn = torch.get_num_threads(), torch.backends.mkldnn.enabled
    torch.set_num_threads(1)
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.backends.mkldnn.enabled = onednn


def run_checks(folder, data: dict, only: str | None = None) -> list[ComponentOutcome]:
    submission = Submission(Path(folder), data.get("packages", ()))
    try:
        with small_tensor_settings():
            return _run_components(submission, data, only)
    finally:
        for note in dict.fromkeys(submission.importer.notes):  # what loading had to do, as the grader says it
            print(f"note: {note}")
        submission.close()


def _run_components(submission: Submission, data: dict, only: str | None) -> list[ComponentOutcome]:
    found = submission.found
    for note in summarised_notes(found.notes) + found.environment + found.review:
        print(f"note: {note}")
    outcomes: dict[str, ComponentOutcome] = {}
    for component, entry in data["components"].items():
        if only is not None and component != only:
            continue
        outcome = ComponentOutcome(component, total_points=entry.get("points", {}).get("total", 0.0))
        gates: dict = {}
        outcome.checks = [run_check(component, entry, spec, submission, gates) for spec in entry["checks"]]
        for check, spec in zip(outcome.checks, entry["checks"]):
            check.points = spec.get("points", 0.0)
        needs = _needs(component, data)
        failing = [d for d in needs if d in outcomes and not outcomes[d].passed]
        if failing and not outcome.passed:
            # the diagnosed cause is the failing block, and the note below names it: a hint of this component's
            # own (its wiring, or the error it met inside that block) would repeat or outlive that fix and mislead
            for check in outcome.checks:
                check.hint = None
            which = "which fails its" if len(failing) == 1 else "which fail their"
            outcome.note = (f"{component} uses your {', '.join(failing)}, {which} public checks: fix "
                            f"{'it' if len(failing) == 1 else 'them'} first (the grader grades {component} "
                            "with correct versions of what it uses).")
        elif needs and any(not c.passed and c.message.startswith(RAISED) and "NotImplementedError" not in c.message
                           for c in outcome.checks):  # a stub of its own is not its blocks' doing
            # e.g. a block that changes a tensor in place breaks the experiment's backward pass: its own
            # public checks pass, and the grader (correct blocks) would not see the error at all
            outcome.note = (f"{component} ran with your own {', '.join(needs)} here; the grader runs it with "
                            "correct versions of them, so if the error above comes from one of them, fix that "
                            "block (its hidden checks will find it too).")
        outcomes[component] = outcome
    return list(outcomes.values())


_SEVERAL = re.compile(r"several files are (\S+): graded (\S+) \((.+?)\), not (\S+) \(%%writefile \S+\)$")
# the reason, minus what differs per module ("3 against 1"): several modules with one reason are said once
_PER_MODULE = re.compile(r": \d+ against \d+$")


def summarised_notes(notes: list) -> list:
    """The intake's notes, with "several files are X: graded unet/X, not the notebook's cell" said once
    for all modules: a student who edits the files beside the released notebook has all of them."""
    several = [match for match in map(_SEVERAL.match, notes) if match]
    reasons = {(_PER_MODULE.sub("", m.group(3)), m.group(4)) for m in several}
    if len(several) < 2 or len(reasons) != 1:
        return list(notes)
    (reason, notebook), = reasons
    files = ", ".join(m.group(2) for m in several)
    return [n for n in notes if not _SEVERAL.match(n)] + [
        f"{len(several)} modules are both a file and a %%writefile cell of {notebook}: graded the files "
        f"({files}; {reason}), not the cells"]


def _needs(component: str, data: dict) -> list[str]:
    seen, stack = [], list(data["components"].get(component, {}).get("depends_on", []))
    while stack:
        name = stack.pop(0)
        if name not in seen:
            seen.append(name)
            stack.extend(data["components"].get(name, {}).get("depends_on", []))
    return seen


# Where a student's error was raised: "unet/res_block.py", line 46 ... ValueError (the numbers in its
# message may differ from one component's case to the next; the place and the kind do not).
_RAISED_AT = re.compile(r'"([^"]+)", line (\d+), in [^:\n]+: (\w+)')


def format_report(outcomes: list[ComponentOutcome], unchecked: dict | None = None, points: dict | None = None) -> str:
    lines = []
    hinted: dict[str, str] = {}  # hint -> the component it was first given for: one cause, one hint a run
    raised: dict[tuple, str] = {}  # (file, line, error) -> the component it was first shown for: one cause, shown once
    width = max([14, *(len(o.component) for o in outcomes)])  # the longest name sets the column
    for outcome in outcomes:
        passed = sum(c.passed for c in outcome.checks)
        status = "ok  " if outcome.passed else "FAIL"
        worth = (f"; public: {outcome.earned_points:g} of {outcome.public_points:g} points "
                 f"({outcome.total_points:g} in all)") if outcome.total_points else ""
        lines.append(f"{status} {outcome.component:<{width}} {passed}/{len(outcome.checks)} public checks pass{worth}")
        failed: dict[tuple, list[str]] = {}  # one cause often fails several checks: say it once
        for check in outcome.checks:
            if not check.passed:
                failed.setdefault((check.message, check.case, check.hint), []).append(check.name)
        for (message, case, hint), names in failed.items():
            lines.append(f"     x {'; '.join(names)}")
            place = _RAISED_AT.search(message)
            where = place.groups() if place else None
            if where in raised and raised[where] != outcome.component:  # shown in full for an earlier component
                lines.append(f"         the same error as {raised[where]}'s above ({where[0]}, line {where[1]}: "
                             f"{where[2]})")
                continue
            if where:
                raised[where] = outcome.component
            lines.extend(f"         {line}" for line in message.splitlines())
            if case:
                lines.append(f"         Smallest failing input: {case}")
            if hint and hint in hinted:
                where = "" if hinted[hint] == outcome.component else f" for {hinted[hint]}"
                lines.append(f"         Hint: the same as{where} above.")
            elif hint:
                hinted[hint] = outcome.component
                lines.append(f"         Hint: {hint}")
        if outcome.note:
            lines.append(f"     Note: {outcome.note}")
    good = sum(o.passed for o in outcomes)
    # one sentence: the count, the points that pass of the public checks' points (said apart from the count:
    # "1/13 ... worth 52.5" misleads), and what the hidden checks grade of the whole
    summary, hidden = f"{good}/{len(outcomes)} components pass their public checks", ", the rest of the grade,"
    if points:
        earned = sum(o.earned_points for o in outcomes)
        summary += (f": {earned:g} of the {points['public']:g} public points; the hidden checks grade the other "
                    f"{points['total'] - points['public']:g} of the {points['total']:g} points")
        hidden = ""
    lines.append(f"{summary}.")
    lines.append("Public checks test shapes, the "
                 "contract's settings and properties of the forward pass and of the homework's functions; the hidden "
                 f"checks{hidden} also compare values and gradients with the reference and check the "
                 "homework's other rules (the full skip experiment, the trace's names and shapes).")
    if unchecked:  # graded parts this script cannot check: never let the summary read as "everything passes"
        parts = ", ".join(f"{name} ({points:g} points)" for name, points in unchecked.items())
        lines.append(f"Not checked here: {parts} -- no public checks; run the notebook's tasks to test them.")
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
    outcomes = run_checks(args.path, data, args.only)
    unchecked, points = (data.get("unchecked", {}), data.get("points")) if args.only is None else ({}, None)
    print(format_report(outcomes, unchecked, points) + f" ({time.monotonic() - STARTED:.1f} s)")
    return 0 if all(o.passed for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
