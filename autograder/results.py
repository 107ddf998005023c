"""Results of grading: per-check records, per-component totals, and the Gradescope results.json."""
import json
import math
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from .contract import GRADED


@dataclass(frozen=True)
class CheckResult:
    component: str
    check_id: str
    name: str
    score: float
    max_score: float
    passed: bool
    output: str
    visibility: str  # "public" or "hidden"
    evidence: dict | None = None  # a failed value check's smallest case, cut down for a picture (grading_data/evidence.py)


STATUSES = ("graded", "needs_review", "error")
NOT_GRADED = "Could not be graded: "  # the note of every report from GradingReport.without_results
REFERRAL = "The same error as "  # an output that points at another check's, where the text is in full


@dataclass
class GradingReport:
    """One submission's grade: every check's result, and what the student and the TA should know.

    ``status``: ``graded``; ``needs_review`` -- graded as far as it could be, but a person should
    look (``review`` says why: an empty hand-in, nothing gradable, an ambiguous layout, imports the
    grading environment lacks); ``error`` -- the grader itself failed (``detail``: our traceback).
    """

    submission: str
    checks: list[CheckResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # for the student and the TA
    status: str = "graded"
    review: list[str] = field(default_factory=list)
    environment: list[str] = field(default_factory=list)  # what the grading environment cannot run: imports, newer Python syntax
    detail: str = ""  # for the TA only: our traceback when the grader failed
    figures: dict = field(default_factory=dict)  # figure id -> data for a picture (grading_data/figure_data.py)
    fingerprint: dict | None = None  # the normalised source's hashes, for similarity (similarity.py)

    @classmethod
    def without_results(cls, submission: str, checks, message: str, status: str = "error",
                        detail: str = "") -> "GradingReport":
        """Zero on every check, each saying why: the one way a submission is reported as not graded.

        ``checks``: (check, settings) pairs as ``checks.bind`` makes them, or anything with the same
        ``component``, ``id``, ``name`` and ``points``/``visibility`` -- the names are the same as a
        normal run's, so a check keeps its name whatever happened (results.json lists none of them:
        ``gradescope_results`` gives such a report ``not_graded_notice`` alone).
        """
        report = cls(submission=submission, notes=[f"{NOT_GRADED}{message}"], status=status,
                     review=[message] if status == "needs_review" else [], detail=detail)
        for check_, settings_ in checks:
            report.checks.append(CheckResult(
                component=check_.component, check_id=check_.id, name=check_.name, score=0.0,
                max_score=settings_.points, passed=False, output=message, visibility=settings_.visibility,
            ))
        return report

    def refer_repeated_outputs(self) -> None:
        """One cause (an import error, a traceback) often fails every check of a component with the
        same text, or the same text on different cases: say it in full once per component -- on a
        visible check where there is one, so that every reader can follow the reference -- and
        refer to it from the others, with their own case where it differs."""
        anchors: dict[tuple[str, str], CheckResult] = {}
        for check in self.checks:
            key = (check.component, _essence(check.output, check.name))
            if check.output and len(key[1]) >= 80:
                if key not in anchors or (anchors[key].visibility != "public" and check.visibility == "public"):
                    anchors[key] = check
        for index, check in enumerate(self.checks):
            anchor = anchors.get((check.component, _essence(check.output, check.name)))
            if anchor is not None and anchor is not check:
                case = _case_line(check.output)
                own_case = f"\n{case}" if case and case != _case_line(anchor.output) else ""
                self.checks[index] = replace(check, output=f'{REFERRAL}"{anchor.name}" (shown there).{own_case}')

    @property
    def graded_nothing(self) -> bool:
        """No check ran (``without_results``): its zeros are no grade, so statistics leave it out,
        grades.csv leaves its total empty and the pages show one box instead of every check."""
        return self.status == "error" or any(note.startswith(NOT_GRADED) for note in self.notes[:1])

    @property
    def score(self) -> float:
        return round(sum(c.score for c in self.checks), 6)

    @property
    def max_score(self) -> float:
        return round(sum(c.max_score for c in self.checks), 6)

    def component_scores(self) -> dict[str, tuple[float, float]]:
        """component -> (score, max score), in contract order."""
        totals = {name: [0.0, 0.0] for name in GRADED}
        for c in self.checks:
            totals.setdefault(c.component, [0.0, 0.0])
            totals[c.component][0] += c.score
            totals[c.component][1] += c.max_score
        return {name: (round(s, 6), round(m, 6)) for name, (s, m) in totals.items() if m > 0}

    def to_dict(self) -> dict:
        data = {"submission": self.submission, "status": self.status, "checks": [asdict(c) for c in self.checks],
                "notes": self.notes, "review": self.review, "environment": self.environment, "detail": self.detail}
        if self.figures:  # issue 14: the pictures' data and the similarity fingerprint (pages/)
            data["figures"] = self.figures
        if self.fingerprint is not None:
            data["fingerprint"] = self.fingerprint
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "GradingReport":
        return cls(submission=data["submission"], checks=[CheckResult(**c) for c in data["checks"]],
                   notes=list(data.get("notes", [])), status=data.get("status", "graded"),
                   review=list(data.get("review", [])), environment=list(data.get("environment", [])),
                   detail=data.get("detail", ""), figures=dict(data.get("figures", {})),
                   fingerprint=data.get("fingerprint"))


def not_graded_notice(report: GradingReport) -> str:
    """The one thing every output says of a report that graded nothing (``graded_nothing``): why, and
    what to do -- instead of a list of checks that never ran. The student's page, Gradescope's
    results.json and feedback.md all say this, in these words."""
    reason = next((n[len(NOT_GRADED):] for n in report.notes if n.startswith(NOT_GRADED)), "")
    reason = (reason or "; ".join(report.review) or "the grader could not read this hand-in").strip().rstrip(".")
    if report.status == "error":  # ours, not the student's: resubmitting would change nothing
        todo = "Your course staff have been told and will grade it; you need not resubmit."
    else:
        todo = ("Please resubmit (for example a readable zip of your .py files, or your notebook); "
                "your course staff can see this too.")
    return f"Not graded: {reason}. No check ran, so there is no score yet. {todo}"


CASE_LINE = "Smallest failing input: "
_DURING = re.compile(r"^(your code raised an error|an error was raised) (during|on) [^\n]*:$", re.MULTILINE)


def _case_line(output: str) -> str:
    return next((line for line in output.splitlines() if line.startswith(CASE_LINE)), "")


def _essence(output: str, check_name: str = "") -> str:
    """An output without what differs between checks that failed for one cause: the case, which
    call of the student's code raised, and which check a fatal error (an exit, a crash) cost
    (grader.py ends such an output with " (in <check name>)")."""
    lines = [line for line in output.splitlines() if not line.startswith(CASE_LINE)]
    return _DURING.sub(lambda match: match.group(1) + ":", "\n".join(lines)).removesuffix(f" (in {check_name})")


def gradescope_results(report: GradingReport, hidden_visibility: str = "after_published") -> dict:
    """Gradescope's autograder results.json: total score plus one test per check.

    The top-level ``output`` is visible at once, so it says only what visible tests say: the notes,
    what a person will look at, and the public checks' totals -- never a total that includes hidden
    checks (it would tell a student that a hidden check failed before results are published).
    A report that graded nothing has no tests: only ``not_graded_notice``, and a score of 0 (Gradescope
    needs a number; grades.csv leaves the total empty).
    """
    if report.graded_nothing:
        return {"score": 0.0, "output": not_graded_notice(report), "visibility": "visible",
                "stdout_visibility": "hidden", "tests": []}
    public = {}
    for c in report.checks:
        if c.visibility == "public":
            earned, possible = public.get(c.component, (0.0, 0.0))
            public[c.component] = (earned + c.score, possible + c.max_score)
    lines = list(report.notes)
    lines += [f"A person will look at this submission: {reason}" for reason in report.review]
    if public:
        lines.append("Public checks: " + ", ".join(f"{name} {s:g}/{m:g}" for name, (s, m) in public.items())
                     + ". Hidden checks are shown when grades are published.")
    return {
        "score": report.score,
        "output": "\n".join(lines),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [
            {
                "name": c.name,
                "score": c.score,
                "max_score": c.max_score,
                "status": "passed" if c.passed else "failed",
                "output": c.output,
                "visibility": "visible" if c.visibility == "public" else hidden_visibility,
            }
            for c in report.checks
        ],
    }


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomically(path, text: str) -> None:
    """Write to a temporary file beside ``path`` and rename it: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; results are for the TA's tools too
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def json_text(data) -> str:
    """``data`` as strict JSON (RFC 8259), for every file the grader writes.

    Python's json writes a non-finite float as a bare ``NaN``/``Infinity``, which Gradescope's and
    most other readers refuse; a student's value can be one (an attention map of NaNs, a loss that
    diverged). Such a number is written as ``null``, as JavaScript's JSON.stringify does.
    """
    return json.dumps(_finite(data), indent=2, allow_nan=False) + "\n"


def _finite(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def write_results_json(report: GradingReport, path, hidden_visibility: str = "after_published") -> None:
    write_atomically(path, json_text(gradescope_results(report, hidden_visibility)))
