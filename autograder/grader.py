"""Grade one submission: student code in sandboxed children, every check in the trusted process."""
import gc
from dataclasses import dataclass
from pathlib import Path

import torch

from .checks import CheckContext, CheckFailed, Outcome, bind, run_checks
from .checks.common import ReferenceCache
from .checks.hints import explain
from .config import CheckSettings, GradingConfig, load_config
from .contract import GRADED
from .errors import SubmissionError
from .plan import grading_order, load_plan, module_under_test, must_not_have_seen
from .reference import Reference
from .results import CheckResult, GradingReport
from .sandbox.launcher import Handover, SandboxFatal, StudentComponent, StudentError, Zygote
from .submission import read_submission


@dataclass
class Grader:
    """Holds what is shared between submissions: config, reference, bound checks, the fork server."""

    config: GradingConfig
    device: str = "cpu"
    zygote: Zygote | None = None

    def __post_init__(self):
        # The reference runs on tiny tensors: extra intra-op threads only spin against the children
        # (and other workers) for the same cores, which made grading several times slower under load.
        torch.set_num_threads(1)
        torch.backends.mkldnn.enabled = False  # slower than plain kernels on tiny tensors, as in the child
        self.reference = Reference(self.config.reference_dir())
        self.checks = bind(self.config)
        # torch and Hypothesis leave ~250k long-lived objects: a full collection over them took
        # 0.15-0.2 s of every grading. They live as long as the process, so take them out of its sight.
        gc.freeze()
        self._own_zygote = self.zygote is None
        self._drawn_cases = {}  # each check group's Hypothesis cases, drawn once (see checks/runner.py)
        self._references = ReferenceCache()  # the reference's models and runs on those cases
        self._notes = {}  # the current submission's feedback beyond pass/fail (CheckContext.notes)

    def _zygote(self) -> Zygote:
        if self.zygote is None:
            self.zygote = Zygote()
        return self.zygote

    def close(self) -> None:
        if self.zygote is not None and self._own_zygote:
            self.zygote.close()
            self.zygote = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def grade(self, path) -> GradingReport:
        path = Path(path)
        report = GradingReport(submission=path.name)
        try:
            limits = self.config.limits
            submission = read_submission(path, limits.max_source_kb * 1024, limits.max_submission_mb << 20)
        except SubmissionError as error:
            if not path.exists():
                raise
            report.notes.append(str(error))
            for check_, settings_ in self.checks:
                report.checks.append(self._result(check_, settings_, False, str(error)))
            return report
        results = {}
        self._notes = {}
        with Handover(self._zygote()) as handover:
            for name in grading_order():
                results[name] = self._grade_component(name, submission, handover)
        for name in GRADED:
            report.checks.extend(results[name])
        report.notes.extend(self._notes.values())
        return report

    def _grade_component(self, name: str, submission, handover: Handover | None = None) -> list[CheckResult]:
        bound = [(c, s) for c, s in self.checks if c.component == name]
        module = module_under_test(name)
        problem = submission.module_problem(module)
        if problem:
            return [self._result(c, s, False, problem) for c, s in bound]
        student = StudentComponent(self._zygote(), load_plan(name, submission, self.reference),
                                   self.config.limits, device=self.device, handover=handover,
                                   must_not_have_seen=must_not_have_seen(name))
        try:
            results = self._run_component(name, student, bound)
        except BaseException:  # Ctrl-C, or a bug of ours: no waiting on the child to tidy up
            student.stop()
            raise
        student.release()
        return results

    def _run_component(self, name: str, student: StudentComponent, bound: list) -> list[CheckResult]:
        try:
            student.start()
        except (StudentError, SandboxFatal) as error:
            message = f"{module_under_test(name)}.py could not be imported:\n{error}"
            hint = explain(str(error), name)
            output = message + (f"\nHint: {hint}" if hint else "")
            return [self._result(c, s, False, output) for c, s in bound]
        context = CheckContext(student=student, reference=self.reference, config=self.config,
                               references=self._references, notes=self._notes)
        outcomes = run_checks([c for c, _ in bound], context, [self.config.max_examples(s) for _, s in bound],
                              self._drawn_cases)
        return [self._from_outcome(c, s, o) for (c, s), o in zip(bound, outcomes)]

    def _from_outcome(self, check_, settings_: CheckSettings, outcome: Outcome) -> CheckResult:
        if outcome.fatal is not None:
            return self._result(check_, settings_, False, f"{outcome.fatal} (in {check_.name})")
        if outcome.failure is not None:
            return self._result(check_, settings_, False, _feedback(outcome.failure))
        return self._result(check_, settings_, True, "")

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


def _feedback(failure: CheckFailed) -> str:
    lines = [failure.message]
    if failure.case is not None:
        lines.append(f"Smallest failing input: {failure.case.describe()}")
    if failure.hint:
        lines.append(f"Hint: {failure.hint}")
    return "\n".join(lines)


def grade_submission(path, config: GradingConfig | None = None, device: str = "cpu") -> GradingReport:
    """Grade one submission folder (convenience wrapper that starts and stops its own fork server)."""
    with Grader(config or load_config(), device=device) as grader:
        return grader.grade(path)
