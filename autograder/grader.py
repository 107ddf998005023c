"""Grade one submission: student code in sandboxed children, every check in the trusted process."""
import ast
import dataclasses
import gc
import re
import sys
import time
import traceback
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch

from .checks import AHEAD, CheckContext, CheckFailed, Outcome, bind, run_checks
from .checks.common import ReferenceCache
from .checks.hints import explain
from .config import CheckSettings, GradingConfig, load_config
from .contract import GRADED, INTEGRATION, PACKAGE_MODULES, component
from .errors import SubmissionError
from .intake import Limits, PackagePolicy, Refused, Submission, read_submission
from .intake.safe_text import failure_message, safe_name_text, safe_text
from .machine import MACHINE_FAULT_OUTPUT, machine_fault, require_device, usable_cores
from . import similarity, warm_start
from .grading_data import caps, figure_data
from .grading_data import evidence as pages_evidence
from .plan import grading_schedule, load_plan, must_not_have_seen, stand_ins
from .redact import Redactor, own_lines
from .reference import Reference
from .results import CheckResult, GradingReport
from .sandbox.exposure import SecretsInReach, check_exposure
from .sandbox.child.codec import FROM_REFERENCE, IN_REFERENCE
from .sandbox.child.importer import PACKAGE as STUDENT_PACKAGE
from .sandbox.launcher import (STATIC, Budget, Handover, Pending, SandboxFatal, StudentComponent, StudentError, Zygote,
                               child_settings)

ENVIRONMENT_SAID = 8  # environment problems named in the review line; the rest counted


@dataclass
class Grader:
    """Holds what is shared between submissions: config, reference, bound checks, the fork server."""

    config: GradingConfig
    device: str = "cpu"
    zygote: Zygote | None = None
    figures: bool = True  # data for the feedback pages' pictures (pages/): evidence of failed values, figure data
    warm_start: bool = True  # start from the reference's results saved beside it, and save them (warm_start.py)
    # Start the experiment's child early, to train on a core the grading leaves idle (plan.grading_schedule).
    # Where every core is busy already (one core; a batch with a worker per core) it only contends: off
    # there. None: on where this process may keep two cores busy (``machine.usable_cores``).
    early_start: bool | None = None

    def __post_init__(self):
        if self.early_start is None:  # the grading keeps about one core busy, the early child another
            self.early_start = usable_cores() >= 2
        require_device(self.device)  # a device this machine lacks is the caller's mistake: before any grading
        self._own_zygote = self.zygote is None
        if self.zygote is None:  # started first: it imports torch while we load the reference and its results
            self.zygote = Zygote(preload=self.config.packages.preload())
        try:
            self._prepare()
        except BaseException:
            self.close()
            raise
        self._notes = {}  # the current submission's feedback beyond pass/fail (CheckContext.notes)
        self._early_start_failed = False  # a bug of ours on the early start, said once (``_start_early``)
        self._deadline: float | None = None  # when the current submission's time budget ends (time.monotonic())
        self._out_of_time = False

    def _prepare(self) -> None:
        """The reference, the bound checks and the saved results, while the fork server starts."""
        # The reference runs on tiny tensors: extra intra-op threads only spin against the children
        # (and other workers) for the same cores, which made grading several times slower under load.
        torch.set_num_threads(1)
        torch.backends.mkldnn.enabled = False  # slower than plain kernels on tiny tensors, as in the child
        self.reference = Reference(self.config.reference_dir())
        self.checks = bind(self.config)
        early = frozenset(AHEAD) & {c.component for c, _ in self.checks} if self.early_start else frozenset()
        self.schedule = grading_schedule(early)
        self.redactor = Redactor.for_grading(self.reference.secret_lines)
        self._internal: list[str] = []
        self._machine: list[str] = []  # this submission's checks that the grading machine failed (not the student)
        self._drawn_cases = {}  # each check group's Hypothesis cases, drawn once (see checks/runner.py)
        self._references = ReferenceCache()  # the reference's models and runs on those cases
        self._saved_groups = 0  # how many groups' cases the results file beside the reference holds
        self.started_warm = False  # from the reference's results saved beside it
        self._questions_learned = False  # see ``_learn_questions``
        self._learning = False  # grading the reference now (``_grade``)
        if self.warm_start:
            saved = warm_start.load(self.config.reference_results(), self._results_key, self.reference)
            self.started_warm = saved is not None
            if saved is not None:
                self._drawn_cases, references = saved
                self._references.update(references)
                self._saved_groups = len(self._drawn_cases)
        # torch, Hypothesis and the saved results leave ~250k long-lived objects: a full collection over
        # them took 0.15-0.2 s of every grading. They live as long as the process: out of its sight.
        gc.freeze()
        self._check_exposure()  # now: a sandbox that cannot keep the reference secret stops us before any grading

    def _zygote(self) -> Zygote:
        if self.zygote is None:
            self.zygote = Zygote(preload=self.config.packages.preload())
            self._check_exposure()
        return self.zygote

    def _check_exposure(self) -> None:
        """Refuse to grade where a child could read the reference, the config or the checks."""
        settings = child_settings(self.config.limits, self.device)
        try:
            warning = check_exposure(self.zygote, settings, self.config.reference_dir(), self.config.source_path)
        except SecretsInReach:
            self.close()
            raise
        if warning:
            print(warning, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.zygote is not None and self._own_zygote:
            self.zygote.shutdown()
            self.zygote = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def read(self, path) -> Submission:
        """The hand-in at ``path`` as the grader will load it (raises ``SubmissionError`` if it cannot be read)."""
        limits = self.config.limits
        packages = self.config.packages
        try:
            return read_submission(path, Limits(max_source_bytes=limits.max_source_kb * 1024,
                                                max_total_bytes=limits.max_submission_mb << 20),
                                   PackagePolicy(tuple(packages.allowed), tuple(packages.refused.items())))
        except Refused as refused:
            raise SubmissionError(safe_text(refused)) from None

    def grade(self, path) -> GradingReport:
        """Grade the hand-in at ``path``: always a report, whatever the submission does.

        ``SubmissionError`` only when ``path`` does not exist. Anything else -- an unreadable zip,
        nothing gradable, a crash of ours on one check -- is in the report, with its status.
        """
        path = Path(path)
        if not path.exists():
            raise SubmissionError(f"{safe_text(path, 1000)}: no such file or folder; pass the folder that holds your modules")
        name = safe_name_text(path.name)
        learning = path.resolve() == self.config.reference_dir()
        if not learning:
            self._learn_questions()
        try:
            submission = self.read(path)
        except SubmissionError as error:
            return GradingReport.without_results(name, self.checks, safe_text(error), status="needs_review")
        try:
            report = self._grade(path, submission, learning)
            self._save_results()
            return report
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as error:  # a bug of ours: this submission's report says so, the next is graded
            return GradingReport.without_results(
                name, self.checks, failure_message("the grader failed on this submission", error),
                status="error", detail=safe_text(traceback.format_exc(), 16000))

    def _learn_questions(self) -> None:
        """Grade the reference once, before the first student, where no saved results gave what its
        checks ask: each submission's children are asked those questions ahead (``checks/runner.py``),
        and only the reference's may be (a student's can hold text their code chose)."""
        if self._questions_learned:
            return
        self._questions_learned = True
        if self.started_warm:  # saved by a grader that learned them so
            return
        reference = self.config.reference_dir()
        try:
            self._grade(reference, self.read(reference), learning=True)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # then nothing is asked ahead: slower, never wrong
            print("autograder: grading the reference to learn its questions failed:\n" + traceback.format_exc(),
                  file=sys.stderr, flush=True)
            return
        self._save_results()

    def _save_results(self) -> None:
        """Save the reference's side for the next fresh grader once this one drew cases the file lacks:
        only when a group is new, so a batch worker writes it a few times at most, then never."""
        if self.warm_start and len(self._drawn_cases) > self._saved_groups:
            self.save_results()

    def save_results(self) -> Path | None:
        """Write what this grader knows of the reference's side beside the reference (``warm_start.py``)."""
        self._saved_groups = len(self._drawn_cases)
        return warm_start.save(self.config.reference_results(), self._results_key, self._drawn_cases,
                               self._references)

    def _changed_constants(self, submission: Submission) -> list[str]:
        """The experiment's given constants (``BASE_CHANNELS = 8``) that the student's file sets otherwise:
        its rules assume the given values, and a failure they cause names something else (the seed, the
        images), so the note says which constant differs."""
        home = submission.symbols.get("skip_ablation")
        tree = submission.modules[home].index.tree if home in submission.modules else None
        if tree is None:
            return []
        given = self.reference.symbol("analysis", "skip_ablation").__globals__
        changed = []
        for node in tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                name = node.targets[0].id
                if name.isupper() and isinstance(given.get(name), (int, float)) and not isinstance(given[name], bool):
                    try:
                        value = ast.literal_eval(node.value)
                    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                        continue
                    if value != given[name]:
                        changed.append(f"{name} = {safe_text(repr(value), 40)} (given: {given[name]!r})")
        return [f"{submission.modules[home].label} changes the experiment's given constants: {', '.join(changed)}; "
                "the experiment's checks assume the given values, so keep them"] if changed else []

    @cached_property
    def _results_key(self) -> str:
        """The saved results' key (``warm_start.key``): it reads every file of the grader and the reference."""
        return warm_start.key(self.config, self.device)

    def _grade(self, path: Path, submission: Submission, learning: bool = False) -> GradingReport:
        # capped where made: every note is redacted, and the environment joins into one review line
        report = GradingReport(submission=safe_name_text(path.name),
                               notes=caps.capped_list(list(dict.fromkeys(submission.notes))),
                               review=caps.capped_list(list(submission.review)),
                               environment=caps.capped_list(list(dict.fromkeys(submission.environment)), ENVIRONMENT_SAID))
        own = own_lines(submission.sources.values())
        self._internal = []  # tracebacks of checks that crashed on this submission (bugs of ours)
        self._machine = []
        results = {}
        figures = {} if self.figures else None
        self._notes = {}
        self._learning = learning  # the reference's grading: its checks' questions are kept (``_learn_questions``)
        budget_s = self.config.limits.submission_timeout_s
        self._deadline = time.monotonic() + budget_s  # every component's Budget ends here (limits.submission_timeout_s)
        self._out_of_time = False
        started: dict[str, StudentComponent] = {}  # components whose child started ahead of their turn
        try:
            with Handover(self._zygote()) as handover:
                self._start_early(self.schedule.starts.get(None, ()), submission, handover, started)
                for name in self.schedule.turns:
                    results[name], notes = self._grade_component(name, submission, handover, figures,
                                                                  started.pop(name, None))
                    report.notes.extend(n for n in notes if n not in report.notes)
                    # at once, before any child holds this component's reference (``plan.lent_too_early``)
                    if self._stand_ins_failed(name, results[name]):
                        results[name], notes = self._with_own_dependencies(name, submission, results, figures)
                        report.notes.extend(n for n in notes if n not in report.notes)
                    self._start_early(self.schedule.starts.get(name, ()), submission, handover, started)
        finally:  # Ctrl-C, or a bug of ours: no child outlives the grading
            for student in started.values():
                student.stop()
        for name in GRADED:
            report.checks.extend(self._cleaned(r, own) for r in results[name])
        late = time.monotonic() > self._deadline and report.score < report.max_score  # a last call cut short
        if self._out_of_time or late:
            report.review.append(f"this submission used up its {budget_s:g} s time budget "
                                 "(limits.submission_timeout_s): the checks it did not reach scored 0")
        report.notes.extend(self._notes.values())
        report.notes = [self.redactor.clean(note, own) for note in report.notes]
        if self.figures:  # issue 14: what the feedback pages draw (texts from the child cleaned like the outputs)
            report.figures = caps.bounded(figure_data.cleaned(figures, lambda text: self.redactor.clean(text, own)))
            report.checks, dropped = pages_evidence.capped(report.checks)
            if dropped:
                report.notes.append(f"{dropped} failed checks have no picture (this report's pictures are full)")
        report.fingerprint = similarity.fingerprint(submission.sources)  # for the class report's similar pairs
        if report.fingerprint.get("cut"):  # else padding a copy past the cap would hide it
            report.review.append(f"the hand-in holds {report.fingerprint['cut']:,} characters of Python; the "
                                 f"similarity check compares the first {similarity.MAX_FINGERPRINT_CHARS:,}: "
                                 "compare the rest by hand")
        report.refer_repeated_outputs()
        if self._internal:
            report.review.append(f"the grader failed on {len(self._internal)} check(s) of this submission "
                                 "(a bug of ours; those checks scored 0): see detail")
            report.detail = "\n".join(self._internal)
        compiled = sorted({c.component for c in report.checks if not c.passed and _COMPILED.search(c.output)})
        if compiled:
            report.notes.append(f"compiled code (torch.compile, inductor, triton) could not run in the sandbox "
                                      f"({', '.join(compiled)}): an environment problem, not a coding mistake")
            report.review.append("compiled code could not run in the sandbox and cost points on "
                                 f"{', '.join(compiled)}: check the code runs without compiling (remove torch.compile "
                                 "or the triton kernel), then regrade with --only, or grade those checks by hand")
        in_reference = sorted({c.component for c in report.checks if not c.passed and IN_REFERENCE in c.output})
        if in_reference:
            report.review.append(f"an error was raised inside the reference code standing in for a dependency "
                                 f"({', '.join(in_reference)}): check whether the student's call was one the "
                                 "docstrings allow (then it is our bug: regrade after fixing the stand-in)")
        if self._machine:
            faults = "; ".join(dict.fromkeys(self._machine))
            report.review.append(f"the grading machine failed on {len(self._machine)} check(s) ({faults}), not the "
                                 "student's code: those checks scored 0; fix the machine and grade again")
        report.environment += _missing_packages(submission, [*report.notes, *(c.output for c in report.checks
                                                                                if not c.passed)])
        if any(not c.passed for c in report.checks if c.component == "SkipAblation"):
            report.notes += self._changed_constants(submission)
        if report.environment and report.score < report.max_score:
            report.review.append("what the grading environment cannot run (a package, newer Python syntax) may have cost points: "
                                 + "; ".join(report.environment))
        report.notes, report.review = caps.capped_list(report.notes), caps.capped_list(report.review)
        report.environment = caps.capped_list(report.environment)
        report.status = "needs_review" if report.review else "graded"
        return report

    def _cleaned(self, result: CheckResult, own) -> CheckResult:
        if not result.output:
            return result
        from dataclasses import replace

        return replace(result, output=self.redactor.clean(result.output, own))

    def _start_early(self, names: tuple, submission: Submission, handover: Handover,
                     started: dict[str, StudentComponent]) -> None:
        """Start the children of ``names`` now and ask them their long questions (``checks.AHEAD``), so
        they answer while the next components are graded (``plan.grading_schedule``: only once every
        reference they hold belongs to a component already graded). Where that fails, nothing is
        kept, nothing is learned (a file whose top-level code hangs is met first by the component
        whose turn meets it in turn), and the budget it used is dropped: the component's turn starts
        it afresh and meets the failure there, where it is judged."""
        for name in names:
            budget = self._budget()
            if submission.component_problem(name) or budget.exhausted(STATIC):
                continue
            student = self._student(name, submission, handover, budget)
            context = CheckContext(student=student, reference=self.reference, config=self.config,
                                   references=self._references, notes=self._notes, learns_questions=self._learning)
            try:
                student.start(retry=False)
                student.collect()
                try:
                    AHEAD[name](context)
                except Pending:
                    pass
                student.flush(wait=False)
            except (KeyboardInterrupt, SystemExit):
                student.stop()
                raise
            except (StudentError, SandboxFatal, CheckFailed):  # the student's: met again at the turn
                student.stop()
                continue
            except BaseException:  # a bug of ours: said once, and the turn grades as usual
                student.stop()
                if not self._early_start_failed:
                    self._early_start_failed = True
                    print(f"autograder: starting {name} early failed (a bug of ours; graded in turn):\n"
                          + traceback.format_exc(), file=sys.stderr, flush=True)
                continue
            started[name] = student

    def _grade_component(self, name: str, submission: Submission, handover: Handover | None = None,
                         figures: dict | None = None, started: StudentComponent | None = None):
        """The component's check results, and the notes its loading produced; with ``figures``, also
        its pictures' data (``grading_data/figure_data.py``) into it. ``started``: its child, started
        early (``_start_early``)."""
        bound = self._bound(name)
        if started is not None and not started.connection.alive():  # ended with another child
            started.stop()  # (nothing left to kill) and started again below, as in turn
            started = None
        problem = submission.component_problem(name)
        if problem:
            hint = explain(problem, name)
            output = problem + (f"\nHint: {hint}" if hint else "")
            if figures is not None:
                figures.update(figure_data.collect(name, None, skip="this component's code could not be found"))
            return [self._result(c, s, False, output) for c, s in bound], []
        budget = started.budget if started is not None else self._budget()
        out_of_time = budget.exhausted(STATIC)
        if out_of_time:  # no child, no fork: the component is not started at all (an early one, stopped)
            if started is not None:
                started.stop()
            self._out_of_time = True
            if figures is not None:
                figures.update(figure_data.collect(name, None, skip="this submission used up its time budget"))
            return [self._result(c, s, False, out_of_time) for c, s in bound], []
        if started is not None:
            started.handover = None  # graded last (plan.grading_schedule): its end ends the hand-over's child too
            return self._graded(name, started, bound, figures)
        return self._graded(name, self._student(name, submission, handover, budget), bound, figures)

    def _stand_ins_failed(self, name: str, results: list[CheckResult]) -> bool:
        """Whether ``name`` failed where the reference stood in for what it uses, in a way that says the
        student's code expected something else of it: an attribute or method, an argument's name or
        place, the shape of what it returns (``_STAND_IN_MISMATCH``)."""
        if name == INTEGRATION or not stand_ins(component(name)) or self._learning or self._out_of_time:
            return False
        return any(not r.passed and _STAND_IN_MISMATCH.search(r.output) for r in results)

    def _with_own_dependencies(self, name: str, submission: Submission, graded: dict[str, list[CheckResult]],
                               figures: dict | None) -> tuple[list[CheckResult], list[str]]:
        """``name`` graded again with the student's own versions of what it uses (nothing lent, as for
        Integration). Stand-ins keep one mistake in one component; but code that relies on what the
        student's own blocks offer beyond the contract (an attribute, a helper method) or calls them as
        they are written (another argument order, a renamed keyword) is not wrong itself, and a
        mistake in those blocks is theirs to pay: a check that failed so with stand-ins and passes with
        the student's own blocks counts as passed. Right after ``name``'s turn: no child has held its
        reference yet, and the grading that decides it is done before any does."""
        results = graded[name]
        budget = self._budget()
        if budget.exhausted(STATIC):
            return results, []
        student = self._student(name, submission, None, budget, own_dependencies=True)
        own_figures = {} if figures is not None else None
        again, _ = self._graded(name, student, self._bound(name), own_figures)
        recovered = [i for i, (first, second) in enumerate(zip(results, again))
                     if not first.passed and _STAND_IN_MISMATCH.search(first.output) and second.passed]
        if not recovered:
            return results, []
        if figures is not None:
            figures.update(own_figures)
        uses = [c.name for c in stand_ins(component(name))]
        differ = [used for used in uses if any(not r.passed for r in graded.get(used, ()))]
        where = (f"yours that differ from the contract: {', '.join(differ)}, whose own checks say how" if differ else
                 "where yours differ from the contract, their own checks say so")
        note = (f"{name} was graded again with your own {', '.join(uses)} in place of the contract's: {len(recovered)} "
                f"of its checks failed with the contract's and pass with yours, so your {name} relies on something of "
                "yours the contract does not promise (an attribute or a method, an argument's name or place, the order "
                f"of what is returned). Those checks count as passed; {where}.")
        return [again[i] if i in recovered else r for i, r in enumerate(results)], [note]

    def _budget(self) -> Budget:
        """A component's time with the student's code, ending with the submission's (limits.submission_timeout_s)."""
        return Budget(self.config.limits, deadline=self._deadline, budget_s=self.config.limits.submission_timeout_s)

    def _student(self, name: str, submission: Submission, handover: Handover | None, budget: Budget,
                 own_dependencies: bool = False) -> StudentComponent:
        """The student's code for ``name`` behind the door, its child not started yet (``own_dependencies``:
        ``plan.load_plan``'s)."""
        plan = load_plan(name, submission, self.reference, own_dependencies=own_dependencies)
        return StudentComponent(self._zygote(), plan, self.config.limits, device=self.device, handover=handover,
                                must_not_have_seen=must_not_have_seen(name), budget=budget)

    def _bound(self, name: str) -> list:
        """``name``'s checks with their settings."""
        return [(c, s) for c, s in self.checks if c.component == name]

    def _graded(self, name: str, student: StudentComponent, bound: list, figures: dict | None):
        try:
            results = self._run_component(name, student, bound, figures)
        except BaseException:  # Ctrl-C, or a bug of ours: no waiting on the child to tidy up
            student.stop()
            raise
        student.release()
        self._out_of_time |= student.budget.out_of_time
        return results, student.notes

    def _run_component(self, name: str, student: StudentComponent, bound: list,
                       figures: dict | None = None) -> list[CheckResult]:
        try:
            student.start()
        except (StudentError, SandboxFatal) as error:
            files = ", ".join(student.labels()) or "your module"
            message = f"{files} could not be imported:\n{error}"
            hint = explain(str(error), name)
            output = self._unless_machine(str(error), message + (f"\nHint: {hint}" if hint else ""), len(bound))
            if figures is not None:
                figures.update(figure_data.collect(name, None, skip=f"{files} could not be imported"))
            return [self._result(c, s, False, output) for c, s in bound]
        context = CheckContext(student=student, reference=self.reference, config=self.config,
                               references=self._references, notes=self._notes, learns_questions=self._learning)
        outcomes = run_checks([c for c, _ in bound], context, [self.config.max_examples(s) for _, s in bound],
                              self._drawn_cases)
        if figures is not None:  # after the checks: a picture can never change a verdict
            crashed = any(o.fatal is not None for o in outcomes)
            figures.update(figure_data.collect(name, context, skip="your code timed out or crashed in the checks"
                                               if crashed else None))
        return [self._from_outcome(c, s, o) for (c, s), o in zip(bound, outcomes)]

    def _from_outcome(self, check_, settings_: CheckSettings, outcome: Outcome) -> CheckResult:
        if outcome.fatal is not None:
            output = self._unless_machine(outcome.fatal, f"{outcome.fatal} (in {check_.name})")
            return self._result(check_, settings_, False, output)
        if outcome.failure is not None:
            if outcome.failure.internal:
                self._internal.append(outcome.failure.internal)
            output = self._unless_machine(outcome.failure.message, _feedback(outcome.failure))
            result = self._result(check_, settings_, False, output)
            if self.figures and outcome.failure.evidence is not None:
                result = dataclasses.replace(result, evidence=pages_evidence.compact(outcome.failure.evidence))
            return result
        return self._result(check_, settings_, True, "")

    def _unless_machine(self, error: str, output: str, checks: int = 1) -> str:
        """``output`` for a failure of the student's code; for one of the grading machine's (its disk,
        its GPU: ``machine.machine_fault``), a message that does not blame the student, noted for review."""
        fault = machine_fault(error, self.device)
        if fault is None:
            return output
        self._machine.extend([fault] * checks)
        return MACHINE_FAULT_OUTPUT.format(fault=fault)

    @staticmethod
    def _result(check_, settings_: CheckSettings, passed: bool, output: str) -> CheckResult:
        return CheckResult(
            component=check_.component,
            check_id=check_.id,
            name=check_.name,
            score=settings_.points if passed else 0.0,
            max_score=settings_.points,
            passed=passed,
            output=output,
            visibility=settings_.visibility,
        )


_MISSING_MODULE = re.compile(r"No module named '([A-Za-z_][\w.]*)'")


def _missing_packages(submission: Submission, texts: list[str]) -> list[str]:
    """Packages the student's code needed that are neither handed in nor installed, found where their
    import failed: also those an allowed package imports for them (``torch.utils.tensorboard`` needs
    ``tensorboard``), which intake, reading only the student's own imports, cannot see."""
    missing = sorted({m.group(1).split(".")[0] for text in texts for m in _MISSING_MODULE.finditer(text)})
    if not missing:  # nearly every grading: no module tree walked for it
        return []
    relative = {node.module.split(".")[0] for m in submission.modules.values() if m.index.tree is not None
                for node in ast.walk(m.index.tree) if isinstance(node, ast.ImportFrom) and node.level and node.module}
    # the hand-in's own files, the assignment's (a file not handed in is no package), what intake refused
    known = {n.lower() for n in [*submission.modules, *submission.aliases, *submission.packages, *submission.refused,
                                 *PACKAGE_MODULES, *relative, STUDENT_PACKAGE]}
    return [f"the code needs {name} (directly or through a package it uses), which is neither in the hand-in nor "
            "installed where grading runs" for name in missing
            if name.lower() not in known and name not in sys.stdlib_module_names]


# An error that only compiling code raises: inductor's or triton's, or their cache folders refused.
_COMPILED = re.compile(r"torchinductor|torch\._inductor|InductorError|BackendCompilerFailed|\btriton\b|"
                       r"torch\._dynamo\.exc|TorchRuntimeError", re.IGNORECASE)


# A failure with the reference standing in that says the student's code expected another interface of
# it: raised inside the stand-in from what the student passed, an attribute it lacks, an argument it
# does not take, a value unpacked into another number of names.
_STAND_IN_MISMATCH = re.compile("|".join(re.escape(text) for text in (IN_REFERENCE, FROM_REFERENCE))
                                + r"|has no attribute|unexpected keyword argument|positional argument|values to unpack")


def _feedback(failure: CheckFailed) -> str:
    lines = [failure.message]
    if failure.case is not None:
        lines.append(f"Smallest failing input: {failure.case.describe()}")
    if failure.hint:
        lines.append(f"Hint: {failure.hint}")
    return "\n".join(lines)


def grade_submission(path, config: GradingConfig | None = None, device: str = "cpu", figures: bool = True,
                     zygote: Zygote | None = None) -> GradingReport:
    """Grade one submission folder (with its own fork server unless given one, started early)."""
    with Grader(config or load_config(), device=device, figures=figures, zygote=zygote) as grader:
        return grader.grade(path)
