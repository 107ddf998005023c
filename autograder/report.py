"""What a batch leaves on disk and shows the TA: per-student records and feedback, grades.csv, the class table.

Everything here is rebuilt from the per-student ``report.json`` files under OUT/, so an interrupted
and resumed batch produces exactly what an uninterrupted one would.
"""
import csv
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .results import CheckResult, GradingReport

__all__ = ["StudentRecord", "feedback_markdown", "read_records", "grades_csv", "class_tables"]

RECORD_FILE = "report.json"
RESULTS_FILE = "results.json"
FEEDBACK_FILE = "feedback.md"


@dataclass
class StudentRecord:
    """One student's outcome: who, from which submission, graded or not (and why), and the report."""

    student: str
    name: str
    email: str
    source: str
    status: str  # "graded" or "error" (could not be graded: zero score, ``message`` says why)
    message: str
    report: GradingReport
    grading: dict = field(default_factory=dict)  # seconds, worker pid, peak memory: for the TA and benchmarks

    def to_json(self) -> str:
        data = asdict(self)
        data["report"] = self.report.to_dict()
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "StudentRecord":
        data = json.loads(text)
        raw = data.pop("report")
        report = GradingReport(
            submission=raw["submission"],
            checks=[CheckResult(**c) for c in raw["checks"]],
            notes=list(raw.get("notes", [])),
            figures=dict(raw.get("figures", {})),
            fingerprint=raw.get("fingerprint"),
        )
        return cls(report=report, **data)


def read_records(out: Path) -> list[StudentRecord]:
    """Every finished student under ``out`` (results.json present), sorted by student."""
    records = []
    for folder in sorted(Path(out).iterdir()) if Path(out).is_dir() else []:
        record_file = folder / RECORD_FILE
        if folder.is_dir() and (folder / RESULTS_FILE).is_file() and record_file.is_file():
            records.append(StudentRecord.from_json(record_file.read_text(encoding="utf-8")))
    return records


def _points(value: float) -> str:
    return f"{round(value, 6):g}"


def feedback_markdown(record: StudentRecord) -> str:
    """Readable feedback for course staff: failed checks first, each with its message; hidden checks included."""
    report = record.report
    lines = [f"# {record.student}: {_points(report.score)} / {_points(report.max_score)}", ""]
    if record.name or record.email:
        lines += [f"{record.name} {('<' + record.email + '>') if record.email else ''}".strip(), ""]
    lines += [f"Submission: `{record.source}`. This file shows hidden checks too; it is for course staff.", ""]
    if record.status != "graded":
        lines += [f"**Could not be graded:** {record.message}", ""]
    for note in report.notes:
        lines += [f"> {line}" for line in note.splitlines()] + [""]
    lines += ["| Component | Score |", "| --- | --- |"]
    lines += [f"| {name} | {_points(s)} / {_points(m)} |" for name, (s, m) in report.component_scores().items()]
    failed = [c for c in report.checks if not c.passed]
    passed = [c for c in report.checks if c.passed]
    lines += ["", f"## Failed checks ({len(failed)})", ""]
    for c in failed:
        hidden = " (hidden)" if c.visibility != "public" else ""
        lines += [f"### {c.name}{hidden}: 0 / {_points(c.max_score)}", ""]
        if c.output:
            lines += ["```text", c.output.replace("```", "'''"), "```", ""]
    lines += [f"## Passed checks ({len(passed)})", ""]
    lines += [f"- {c.name}: {_points(c.score)} / {_points(c.max_score)}" for c in passed]
    return "\n".join(lines).rstrip() + "\n"


def grades_csv(records: list[StudentRecord], components: list[str]) -> str:
    """One row per student: identity, one column per component, total, status. Sorted by student."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", "name", "email", *components, "total", "status"])
    for record in sorted(records, key=lambda r: r.student):
        scores = record.report.component_scores()
        writer.writerow([
            record.student, record.name, record.email,
            *(_points(scores.get(name, (0.0, 0.0))[0]) for name in components),
            _points(record.report.score), record.status,
        ])
    return buffer.getvalue()


def score_distribution(records: list[StudentRecord], bins: int = 10) -> list[tuple[str, int]]:
    """(label, count) per band of the total in percent; full marks get their own band."""
    counts = [0] * (bins + 1)
    width = 100 // bins
    for record in records:
        maximum = record.report.max_score or 1.0
        percent = 100.0 * record.report.score / maximum
        counts[bins if percent >= 100 - 1e-9 else min(int(percent // width), bins - 1)] += 1
    labels = [f"{i * width}–{(i + 1) * width}%" for i in range(bins)] + ["100%"]
    return list(zip(labels, counts))


def failure_rates(records: list[StudentRecord]) -> list[tuple[str, int, int]]:
    """(check name, failed, out of) for each check, most-failed first; ungradable submissions left out."""
    failed: dict[str, int] = {}
    seen: dict[str, int] = {}
    for record in records:
        if record.status != "graded":
            continue
        for c in record.report.checks:
            seen[c.name] = seen.get(c.name, 0) + 1
            failed[c.name] = failed.get(c.name, 0) + (not c.passed)
    return sorted(((n, failed[n], seen[n]) for n in seen), key=lambda t: (-t[1] / t[2], t[0]))


def class_tables(records: list[StudentRecord], top: int = 25):
    """Two rich tables: the score distribution, and the checks the class failed most."""
    from rich.table import Table

    distribution = Table(title=f"Score distribution ({len(records)} students)")
    distribution.add_column("total")
    distribution.add_column("students", justify="right")
    distribution.add_column("")
    peak = max([count for _, count in score_distribution(records)] + [1])
    for label, count in score_distribution(records):
        distribution.add_row(label, str(count), "█" * round(30 * count / peak))

    checks = Table(title="Checks the class failed (fraction of graded students)")
    checks.add_column("check")
    checks.add_column("failed", justify="right")
    checks.add_column("of", justify="right")
    checks.add_column("fraction", justify="right")
    rates = [r for r in failure_rates(records) if r[1] > 0]
    for name, count, total in rates[:top]:
        checks.add_row(name, str(count), str(total), f"{count / total:.0%}")
    if len(rates) > top:
        checks.caption = f"{len(rates) - top} more checks failed by fewer students"
    if not rates:
        checks.caption = "no check failed"
    return distribution, checks
