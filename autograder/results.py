"""Results of grading: per-check records, per-component totals, and the Gradescope results.json."""
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
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
    evidence: dict | None = None  # a failed value check's smallest case, cut down for a picture (pages/evidence.py)


@dataclass
class GradingReport:
    submission: str
    checks: list[CheckResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figures: dict = field(default_factory=dict)  # figure id -> data for a picture (pages/figure_data.py)
    fingerprint: dict | None = None  # the normalised source's hashes, for similarity (pages/similarity.py)

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
        data = {"submission": self.submission, "checks": [asdict(c) for c in self.checks], "notes": self.notes}
        if self.figures:
            data["figures"] = self.figures
        if self.fingerprint is not None:
            data["fingerprint"] = self.fingerprint
        return data


def gradescope_results(report: GradingReport, hidden_visibility: str = "after_published") -> dict:
    """Gradescope's autograder results.json: total score plus one test per check."""
    summary = "\n".join(
        f"{name}: {score:g}/{max_score:g}" for name, (score, max_score) in report.component_scores().items()
    )
    return {
        "score": report.score,
        "output": "\n".join(report.notes + [summary]),
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


def write_results_json(report: GradingReport, path, hidden_visibility: str = "after_published") -> None:
    write_atomically(path, json.dumps(gradescope_results(report, hidden_visibility), indent=2) + "\n")
