"""A realistic class, graded through `autograder batch` in all three layouts: every way of handing in
correct code gets full marks, the undecidable ones are flagged for a person (tests/classroom.py)."""
import csv
import io
import json
import subprocess
import sys

import pytest
import yaml

from autograder.discover import safe_name
from autograder.report import MAX_ROW

from .classroom import as_gradescope_export, as_nbgrader, make_class
from .release_support import ROOT, fast_config

POINTS = {component: sum(c["points"] for c in checks.values())
          for component, checks in yaml.safe_load((ROOT / "grading_config.yaml").read_text())["components"].items()}
TOTAL = sum(POINTS.values())


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    base = tmp_path_factory.mktemp("classroom")
    expectations = make_class(base / "class")
    config = fast_config(base, examples=2)
    raw = yaml.safe_load(config.read_text())
    raw["limits"].update(call_timeout_s=5, component_timeout_s=60, experiment_timeout_s=60)  # a hang: 5 s, not 30
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    return base, expectations, config


def _batch(source, out, config, *extra) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder.cli", "batch", str(source), "--out", str(out),
                           "--config", str(config), "-j", "2", *extra],
                          capture_output=True, text=True, timeout=1500, cwd=ROOT)


def _graded(out):
    rows = {row["student"]: row for row in csv.DictReader(io.StringIO((out / "grades.csv").read_text()))
            if row["student"] != MAX_ROW}  # (an empty total: not graded at all)
    records = {name: json.loads((out / "staff" / name / "report.json").read_text()) for name in rows}
    return rows, records


def _check(rows, records, expectations, key=safe_name):
    problems = []
    for name, expected in expectations.items():
        if key(name) not in rows:
            problems.append(f"{name}: no row in grades.csv")
            continue
        row, record = rows[key(name)], records[key(name)]
        report = record["report"]
        said = "\n".join(report["notes"] + report["review"] + [c["output"] for c in report["checks"]])
        if row["status"] != expected.status:
            problems.append(f"{name}: status {row['status']} ({row['reason']}), expected {expected.status}")
        if expected.full_marks is True and float(row["total"] or 0) != TOTAL:
            lost = {c["name"]: c["output"][:300] for c in report["checks"] if not c["passed"]}
            problems.append(f"{name}: {row['total']}/{TOTAL}; lost {lost}; notes {report['notes']}")
        if expected.full_marks is False and float(row["total"] or 0) >= TOTAL:
            problems.append(f"{name}: full marks, expected a loss")
        for component, points in POINTS.items():
            if expected.losing and component not in expected.losing and float(row[component] or 0) != points:
                problems.append(f"{name}: lost points on {component}, which it got right")
        for component in expected.losing:
            if float(row[component] or 0) >= POINTS[component]:
                problems.append(f"{name}: {component} should lose points")
        for component in expected.keeping:  # a missing helper costs its checks, not the component
            if float(row[component] or 0) == 0:
                problems.append(f"{name}: {component} scored 0; its working parts should keep their points")
        if expected.name and row["name"] != expected.name:
            problems.append(f"{name}: the name column says {row['name']!r}, expected {expected.name!r}")
        if expected.says and expected.says not in said:
            problems.append(f"{name}: expected {expected.says!r} in its notes; got {report['notes'] + report['review']}")
    return problems


def test_folders_layout(classroom, tmp_path):
    base, expectations, config = classroom
    result = _batch(base / "class", tmp_path / "out", config)
    assert result.returncode == 4, result.stdout[-3000:] + result.stderr[-3000:]  # some need a person
    rows, records = _graded(tmp_path / "out")
    assert sorted(rows) == sorted(map(safe_name, expectations))  # every entry has a row
    assert _check(rows, records, expectations) == []
    review = [name for name, e in expectations.items() if e.status == "needs_review"]
    for name in review:  # listed by name at the end, with the reason
        assert f"  {name}: " in result.stdout


def test_gradescope_export_layout(classroom, tmp_path):
    base, expectations, config = classroom
    export = as_gradescope_export(base / "class", tmp_path / "assignment_7_export")
    result = _batch(export, tmp_path / "out", config)
    assert result.returncode == 4, result.stdout[-3000:] + result.stderr[-3000:]
    rows, records = _graded(tmp_path / "out")
    assert _check(rows, records, expectations) == []


def test_nbgrader_layout(classroom, tmp_path):
    base, expectations, config = classroom
    course = as_nbgrader(base / "class", tmp_path / "course")
    result = _batch(course, tmp_path / "out", config, "--assignment", "unet")
    assert result.returncode == 4, result.stdout[-3000:] + result.stderr[-3000:]
    rows, records = _graded(tmp_path / "out")
    assert _check(rows, records, expectations) == []
