"""Issue 14's pages: the data captured while grading, what each audience may see, Gradescope's HTML,
the class report's groups, and similarity. Expected values are computed here independently (numpy,
hand-made records), not read back from the code under test."""
import csv
import html as html_module
import io
import json
import re
import zipfile
from pathlib import Path
from types import SimpleNamespace

import jsonschema
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.compare import noting_first_rejected, value_problem
from autograder.config import Tolerance
from autograder.grading_data.arrays import MAX_PLANES, MAX_SIDE, pack, planes, unpack
from autograder.pages.class_report import build_class_report, write_class_report
from autograder.grading_data.evidence import compact
from autograder.pages.feedback import gradescope_results, split_output, student_page
from autograder.similarity import (base_hashes, exact_copies, fingerprint, matching_regions,
                                         similar_pairs)
from autograder.output_folder import StudentRecord
from autograder.results import CheckResult, GradingReport
from autograder.results import gradescope_results as plain_results

from .mutants import MUTANTS

SCHEMA = json.loads((Path(__file__).parent / "data" / "gradescope_schema.json").read_text())
TOLERANCE = Tolerance(relative_floor=1e-5, float_error_factor=50)


# --- arrays and evidence -------------------------------------------------------------------------

def test_packed_arrays_keep_values_to_a_255th_of_their_range_and_nan_as_nan():
    values = np.linspace(-3.0, 5.0, 77).reshape(7, 11)
    values[2, 3] = np.nan
    back = unpack(json.loads(json.dumps(pack(values))))
    assert back.shape == values.shape
    assert np.isnan(back[2, 3]) and np.isfinite(np.delete(back.ravel(), 2 * 11 + 3)).all()
    assert np.nanmax(np.abs(back - values)) <= 8.0 / 255 / 2 + 1e-12


def test_planes_follow_the_worst_place():
    array = np.zeros((3, 10, 80, 70))
    array[2, 7, 75, 1] = 1.0
    shown, kept = planes(array, (2, 7, 75, 1))
    assert shown.shape == (MAX_PLANES, MAX_SIDE, MAX_SIDE)
    assert shown.max() == 1.0  # the worst value is inside what is shown
    assert "sample 2" in kept and "channels 4-7 of 10" in kept
    assert planes(np.ones(5))[0].shape == (1, 1, 5)


def test_the_first_rejected_comparison_is_the_evidence():
    truth = torch.arange(12, dtype=torch.float64).reshape(3, 4)
    wrong_first, wrong_later = truth.clone(), truth.clone() * 2
    wrong_first[1, 2] += 5
    with noting_first_rejected() as noted:
        assert value_problem(truth.float(), truth, truth.float(), TOLERANCE, "output") is None
        assert value_problem(wrong_first.float(), truth, truth.float(), TOLERANCE, "output") is not None
        assert value_problem(wrong_later.float(), truth, truth.float(), TOLERANCE, "variant") is not None
    assert noted.found.what == "output" and torch.equal(noted.found.got, wrong_first)
    with noting_first_rejected() as outside:
        pass
    assert outside.found is None  # nothing leaks from one block into the next

    evidence = json.loads(json.dumps(compact(noted.found)))
    assert evidence["worst_at"] == [1, 2] and evidence["worst"] == pytest.approx(5.0)
    difference = unpack(evidence["difference"])[0]
    assert difference[1, 2] == pytest.approx(5.0) and np.delete(difference.ravel(), 6).max() == pytest.approx(0.0)


# --- similarity ------------------------------------------------------------------------------------

CODE = '''
def attention(q, k, v, scale):
    """Scaled dot-product attention."""
    scores = q @ k.transpose(-2, -1) * scale  # (B, N, N)
    weights = scores.softmax(dim=-1)
    out = weights @ v
    for _ in range(3):
        out = out + 0.5 * torch.tanh(out) - out.mean(dim=1, keepdim=True)
    return out, weights
'''
DISGUISED = '''
def attend(query, key, value, s):
    # my own version

    logits = query @ key.transpose(-2, -1) * s
    probs = logits.softmax(dim=-1)
    result = probs @ value
    for _ in range(3):
        result = result + 0.5 * torch.tanh(result) - result.mean(dim=1, keepdim=True)
    return result, probs
'''
OTHER = '''
class Net:
    def forward(self, x):
        y = torch.relu(self.conv(x))
        while y.abs().max() > 1:
            y = y / 2
        return [y[i] for i in range(len(y)) if i % 2 == 0]
'''


def test_renamed_and_recommented_code_has_the_same_fingerprint():
    assert fingerprint({"m": CODE})["hashes"] == fingerprint({"m": DISGUISED})["hashes"]
    kept = fingerprint({"m": CODE})
    assert "scores" not in json.dumps({k: v for k, v in kept.items() if k != "source"})  # the source only as itself


def test_similar_pairs_flags_copies_not_shared_starter_code():
    prints = {"ann": fingerprint({"m": CODE}), "bob": fingerprint({"m": DISGUISED}), "cy": fingerprint({"m": OTHER})}
    pairs = similar_pairs(prints, min_shared=1)
    assert [p["students"] for p in pairs] == [["ann", "bob"]] and pairs[0]["similarity"] == 1.0
    assert similar_pairs(prints, base_hashes([{"given": CODE}]), min_shared=1) == []  # everyone was given it


def _dead_code(functions: int) -> str:
    """Padding a copier might add: distinct functions nobody calls (each its own token stream)."""
    return "".join(f"\n\ndef unused_{i}(a):\n    b = a * {i} + {i * 7 % 13}\n    while b > {i + 2}:\n"
                   f"        b = b - {i % 5 + 1}\n    return [b] * {i + 3}\n" for i in range(functions))


def test_a_copy_padded_with_dead_code_is_still_flagged():
    """Containment: the shared part of the *smaller* side. Padding grows one side only, so the Jaccard
    index falls (well below the threshold here) while the copy stays whole in the padded side."""
    prints = {"ann": fingerprint({"m": CODE}), "bob": fingerprint({"m": DISGUISED + _dead_code(40)})}
    own = [len(set(p["hashes"])) for p in prints.values()]
    shared = len(set(prints["ann"]["hashes"]) & set(prints["bob"]["hashes"]))
    assert shared == own[0] and shared / (own[0] + own[1] - shared) < 0.25  # Jaccard alone would miss it
    pairs = similar_pairs(prints, min_shared=1)
    assert [p["students"] for p in pairs] == [["ann", "bob"]] and pairs[0]["containment"] == 1.0
    assert pairs[0]["similarity"] < 0.25 and not pairs[0]["exact"]


def _own_helper(name: str, variable: str, dead: bool = False) -> str:
    """A student's own helper of 24 long statements; ``dead``: a dead ``if`` between every two of them."""
    lines = [f"def {name}(images, strength=0.5):", f"    {variable} = images.clone()"]
    for i in range(24):
        if dead:
            lines += [f"    if strength > {1000 + i}:", f"        strength = strength - {i + 1}"]
        lines.append(f"    {variable} = {variable}.clamp(min=-{i + 1}, max={i + 2})" if i % 2 else
                     f"    {variable} = {variable}.roll(shifts={i + 1}, dims=-{i % 2 + 1})")
    return "\n".join(lines + [f"    return {variable}", ""])


def test_a_copy_with_dead_code_between_its_statements_is_still_flagged():
    """Interleaving cuts every k-gram that spans two statements; the statements themselves stay whole."""
    prints = {"ann": fingerprint({"m": _own_helper("augment", "out")}),
              "bob": fingerprint({"m": _own_helper("jitter", "res", dead=True)}),
              "cat": fingerprint({"m": OTHER})}
    grams = len(set(prints["ann"]["hashes"]) & set(prints["bob"]["hashes"])) / len(prints["ann"]["hashes"])
    assert grams < 0.5  # the k-grams alone miss it
    pairs = similar_pairs(prints)
    assert [p["students"] for p in pairs] == [["ann", "bob"]] and pairs[0]["by"] == ["statements"]
    assert pairs[0]["statements"][0] >= 24 and not pairs[0]["exact"]  # its 24 statements (and its signature)
    given = base_hashes([{"handout": _own_helper("augment", "out")}])  # handed out: nobody's own code
    assert similar_pairs(prints, given) == []


def _padded_on_every_line(source: str) -> str:
    """What a copier's script does to every line: ``; pass`` after each simple statement, the value of
    each assignment and return in redundant parentheses, a dead ``if 0:`` and a bare constant between."""
    lines = []
    for line in source.splitlines():
        indent = line[:len(line) - len(line.lstrip())]
        if " = " in line and not line.rstrip().endswith(":"):
            target, value = line.split(" = ", 1)
            line = f"{target} = (({value}))"
        elif line.lstrip().startswith("return "):
            line = f"{indent}return ({line.strip()[7:]})"
        if line.strip() and not line.rstrip().endswith(":") and not line.lstrip().startswith(("#", '"')):
            line += "; pass"
            lines += [line, f"{indent}if 0:", f"{indent}    y = 1", f"{indent}...", f"{indent}None"]
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def test_a_copy_padded_on_every_line_is_still_an_exact_copy():
    """Padding inside each line cuts every k-gram and every statement the tokens show; Python reads the
    same program, and so does the fingerprint (``similarity._canonical``)."""
    padded = _padded_on_every_line(_own_helper("jitter", "res"))
    assert compile(padded, "padded", "exec") and padded.count("; pass") >= 24
    prints = {"ann": fingerprint({"m": _own_helper("augment", "out")}), "bob": fingerprint({"m": padded}),
              "cat": fingerprint({"m": OTHER})}
    assert exact_copies(prints) == [["ann", "bob"]]
    pairs = similar_pairs(prints)
    assert [p["students"] for p in pairs] == [["ann", "bob"]] and pairs[0]["containment"] == 1.0
    regions = matching_regions(prints["ann"], prints["bob"])  # still pointing at lines of what was handed in
    assert regions and max(r["right"][2] for r in regions) > max(r["left"][2] for r in regions)


def test_what_a_fingerprint_reads_is_bounded_and_a_cut_is_said():
    """A hand-in of 2 MB of distinct code would cost the parent minutes and report.json megabytes: only
    the first MAX_FINGERPRINT_CHARS are read, and ``cut`` names the size so a person compares the rest."""
    from autograder.similarity import MAX_FINGERPRINT_CHARS

    line = "v{i} = w{i} * {i} + u[{m}] - 1\n"
    huge = {f"m{j}": "".join(line.format(i=i * 7 + j, m=i % 13) for i in range(20_000)) for j in range(3)}
    total = sum(map(len, huge.values()))
    kept = fingerprint(huge)
    assert total > 2 * MAX_FINGERPRINT_CHARS and kept["cut"] == total
    assert len(kept["hashes"]) < MAX_FINGERPRINT_CHARS // 10 and len(json.dumps(kept)) < 4 << 20
    assert "cut" not in fingerprint({"m": CODE})


def test_a_group_of_identical_copies_is_flagged_and_listed_on_its_own():
    """Six students with the same code, in a class of eight: what many share is no excuse; only what
    they were *given* is left out."""
    prints = {f"copy{i}": fingerprint({"m": CODE if i % 2 else DISGUISED}) for i in range(6)}
    prints["own1"], prints["own2"] = fingerprint({"m": OTHER}), fingerprint({"m": _dead_code(6)})
    assert exact_copies(prints, min_shared=1) == [[f"copy{i}" for i in range(6)]]
    flagged = {tuple(p["students"]) for p in similar_pairs(prints, min_shared=1)}
    assert len(flagged) == 15 and all(a.startswith("copy") and b.startswith("copy") for a, b in flagged)
    assert exact_copies(prints, base_hashes([{"given": CODE}]), min_shared=1) == []  # given code is no copy


def test_matching_regions_point_at_the_copied_lines_on_both_sides():
    padded = _dead_code(3) + "\n" + DISGUISED  # the copy moved down, below other code
    first, second = fingerprint({"m": CODE}), fingerprint({"m": padded})
    regions = matching_regions(first, second)
    offset = padded.splitlines().index("def attend(query, key, value, s):") - CODE.splitlines().index(
        "def attention(q, k, v, scale):")
    assert regions and all(r["left"][0] == "m" == r["right"][0] for r in regions)
    for region in regions:  # the copy's lines, moved by the padding (the comment line in DISGUISED adds one)
        assert 2 <= region["left"][1] <= region["left"][2] <= 10
        assert offset + 2 <= region["right"][1] <= region["right"][2] <= offset + 12
    assert second["source"]["m"] == padded  # kept for the side-by-side view (staff-only report.json)


# --- the student's pages: who may see what ----------------------------------------------------------

HIDDEN_MESSAGE = "output: differs from the reference by up to 0.5 (allowed 1e-05); at index (0, 1) expected 0.1, got 0.6"
PUBLIC_MESSAGE = "output shape: expected shape (2, 8), got (2, 4)"


def _figure(check: str, component: str = "TimeEmbedding") -> dict:
    return {"component": component, "check": check, "title": "sinusoidal_embedding(t, 64)", "kind": "heatmaps",
            "rows": "timestep t", "row_values": [0, 10], "columns": "feature",
            "student": pack(np.zeros((2, 4))), "reference": pack(np.ones((2, 4))), "difference": pack(np.ones((2, 4)))}


def _report() -> GradingReport:
    evidence = compact(type("R", (), {"what": "output", "got": torch.zeros(2, 3), "truth": torch.ones(2, 3),
                                      "allowed": 1e-5})())
    feedback = "\n".join([HIDDEN_MESSAGE, "Smallest failing input: TimeEmbedding(dim=4) with t of shape (1,)",
                          "Hint: the sines come first"])
    checks = [
        CheckResult("TimeEmbedding", "sinusoid_values", "TimeEmbedding: secret formula check", 0, 3, False, feedback,
                    "hidden", evidence),
        CheckResult("TimeEmbedding", "output_shape", "TimeEmbedding: output shape", 0, 1, False, PUBLIC_MESSAGE, "public"),
        CheckResult("TimeEmbedding", "structure", "TimeEmbedding: structure", 1, 1, True, "", "public"),
        CheckResult("TimeEmbedding", "gradients", "TimeEmbedding: another secret", 1, 1, True, "", "hidden"),
    ]
    return GradingReport("sub", checks, figures={"time_embedding": _figure("sinusoid_values")})


def _record(report: GradingReport, student: str = "ann", status: str = "graded") -> StudentRecord:
    return StudentRecord(student=student, name="Ann", email="ann@example.edu", source="ann", status=status,
                         message="" if status == "graded" else "broken zip", report=report,
                         grading={"seconds": 1.5, "worker_peak_rss_kb": 2048})


def _visible_text(html: str) -> str:
    html = re.sub(r"<style>.*?</style>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>|data:image/png;base64,[A-Za-z0-9+/=]+", " ", html))


def test_the_student_page_shows_hidden_checks_only_as_a_count():
    html = student_page(_record(_report()), published=False)
    text = _visible_text(html)
    assert PUBLIC_MESSAGE.split(": ", 1)[1] in text
    for secret in ("secret formula", "another secret", "differs from the reference", "the sines come first",
                   "allowed"):
        assert secret not in text, secret
    # as results.json's visible output: the public checks' score (1 of 2), no total with hidden checks in it (2 of 6)
    assert "1 / 2 on the public checks" in text and "2 / 6" not in text and " of 2 passed" not in text
    # the picture tied to a hidden check: the student's own side only -- one tile, no reference
    tiles = html.count('class="tile"') - html.count('alt="colour scale')  # a colour bar is no picture of the values
    assert tiles == 1 and "the reference's embedding" not in html
    record = _record(_report())
    record.source = "/home/ta/grading/unet-2026/submissions/ann.zip"
    mine, staff = student_page(record, published=False), student_page(record, published=True)
    assert "ann.zip" in mine and "/home/ta" not in mine  # the grading machine's paths are not the student's
    assert record.source in staff


def test_the_staff_page_shows_everything():
    html = student_page(_record(_report()), published=True)
    text = _visible_text(html)
    for shown in ("secret formula check", "another secret", "the sines come first", PUBLIC_MESSAGE.split(": ", 1)[1]):
        assert shown in text, shown
    # evidence: yours | reference | difference, and the figure's three tiles
    assert html.count('class="tile"') - html.count('alt="colour scale') == 3 + 3 and "the reference&#39;s embedding" in html


def test_gradescope_html_keeps_scores_and_visibility_and_puts_hidden_pictures_under_hidden_tests():
    report = _report()
    plain = plain_results(report, "after_published")
    results = json.loads(json.dumps(gradescope_results(plain, report)))
    jsonschema.validate(results, SCHEMA)
    assert results["output_format"] == "html" and all(t["output_format"] == "html" for t in results["tests"])
    assert [(t["name"], t["score"], t["visibility"]) for t in results["tests"]] == \
        [(t["name"], t["score"], t["visibility"]) for t in plain["tests"]]
    top = _visible_text(results["output"])
    assert "secret" not in top and "differs from the reference" not in top
    assert all(line in results["output"] for line in plain["output"].splitlines())  # what results.py says, and more
    assert _images(results["output"]) == 1  # the student's side of the embedding
    hidden = next(t for t in results["tests"] if t["name"].endswith("secret formula check"))
    assert hidden["visibility"] == "after_published" and _images(hidden["output"]) == 3 + 3
    assert "Hint:" in hidden["output"] and "the sines come first" in hidden["output"]


def _images(html: str) -> int:
    """Pictures of values in ``html``: colour bars (their alt text says so) do not count."""
    return html.count("<img") - html.count('alt="colour scale')


def test_split_output_reads_what_the_grader_writes():
    from autograder.checks.registry import CheckFailed
    from autograder.grader import _feedback
    from autograder.strategies import Case

    failure = CheckFailed("line one\nline two", hint="do this\nand that")
    failure.case = Case("ResBlock", {"in_channels": 1}, {"x": (1, 1, 2, 2)})
    assert split_output(_feedback(failure)) == ("line one\nline two", failure.case.describe(), "do this\nand that")


# --- the class report --------------------------------------------------------------------------------

def _write_student(folder: Path, record: StudentRecord, extra: dict | None = None) -> None:
    folder.mkdir(parents=True)
    data = json.loads(record.to_json())
    data.update(extra or {})
    (folder / "report.json").write_text(json.dumps(data))
    (folder / "results.json").write_text("{}")


def _failed(component: str, check_id: str, output: str, visibility: str = "hidden") -> CheckResult:
    return CheckResult(component, check_id, f"{component}: {check_id}", 0, 2, False, output, visibility)


def test_class_report_groups_mistakes_and_puts_people_first(tmp_path):
    swapped = "output: differs by up to 1.00000001 at index (0,)\nHint: sin and cos swapped"
    students = {
        "ann": [_failed("TimeEmbedding", "sinusoid_values", swapped)],
        "bob": [_failed("TimeEmbedding", "sinusoid_values", swapped.replace("1.00000001", "1.00000002"))],
        "cy": [_failed("TimeEmbedding", "sinusoid_values", "output: differs by up to 7.5\nHint: wrong frequencies")],
        "dee": [_failed("SelfAttention", "output_shape",
                        "attention.py could not be imported:\nModuleNotFoundError: No module named 'einops'")],
        "eve": [_failed("UpBlock", "output_shape",
                        "up_block.py could not be imported:\nModuleNotFoundError: No module named 'res_block'\n"
                        "Hint: Import sibling modules relatively")],
    }
    for name, checks in students.items():
        layout = tmp_path / ("students" if name == "bob" else "") / name  # both layouts at once
        _write_student(layout, _record(GradingReport(name, checks), name))
    _write_student(tmp_path / "zed", _record(GradingReport("zed"), "zed", "error"))
    _write_student(tmp_path / "max", _record(GradingReport("max"), "max", "needs_review"), {"reason": "a person should look"})
    _write_student(tmp_path / "odd", _record(GradingReport("odd"), "odd", "quarantined"))
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "report.json").write_text("{}")  # no results.json: not finished, not counted

    data = build_class_report(tmp_path)
    assert data["students"] == 8
    groups = [(g["size"], g["label"], g["students"]) for g in data["mistakes"]]
    assert groups[0] == (2, "sin and cos swapped", ["ann", "bob"])  # numbers to 3 digits: one mistake
    assert (1, "wrong frequencies", ["cy"]) in groups
    assert (1, "Import sibling modules relatively", ["eve"]) in groups  # a relative import is the student's
    assert data["environment_problems"] == {"einops": ["dee"]}  # a missing package is not
    assert not any("dee" in g["students"] for g in data["mistakes"])
    assert [(p["student"], p["status"], p["reason"]) for p in data["needs_attention"]] == [
        ("zed", "error", "broken zip"), ("max", "needs_review", "a person should look"),
        ("odd", "quarantined", "broken zip")]
    assert data["pages"]["bob"] == "students/bob/feedback.staff.html"

    html = write_class_report(tmp_path).read_text()
    assert "2 students: sin and cos swapped" in html and "quarantined" in html
    assert json.loads((tmp_path / "report.json").read_text())["students"] == 8


# --- pictures and evidence from a real grading ---------------------------------------------------------

def test_grading_captures_evidence_and_figures(grader, make_submission):
    mutant = next(m for m in MUTANTS if m.name == "cosines before sines")
    report = grader.grade(make_submission(mutant.replacements()))
    failed = {c.check_id: c for c in report.checks if c.component == "TimeEmbedding" and not c.passed}
    evidence = failed["sinusoid_values"].evidence
    assert evidence is not None and evidence["what"].startswith("sinusoidal_embedding")
    student, reference = unpack(evidence["student"]), unpack(evidence["reference"])
    # cosines first: the student's first half is the reference's second half
    half = student.shape[-1] // 2
    assert np.allclose(student[..., :half], reference[..., half:], atol=2 / 255 * 2)
    assert {k: v.get("kind") for k, v in report.figures.items()} == {
        "time_embedding": "heatmaps", "parameters": "parameters", "attention_map": "attention",
        "shape_trace": "shape_trace", "skip_ablation": "curves", "skip_training": "curves"}
    training = report.figures["skip_training"]  # analysis.py is the reference's: its run is the reference run
    assert list(training["student"]) == list(training["reference"]) == ["with skips", "without skips"]
    for label, losses in training["student"].items():
        assert len(losses) == len(training["x"]) and np.allclose(losses, training["reference"][label], rtol=1e-3)
    assert unpack(report.figures["time_embedding"]["difference"]).max() > 0.5
    assert unpack(report.figures["attention_map"]["difference"]).max() == 0  # SelfAttention is the reference's
    assert report.fingerprint["hashes"]


def test_figures_never_change_a_grade(grader, make_submission, monkeypatch):
    from autograder.grader import Grader
    from autograder.grading_data import figure_data

    folder = make_submission(next(m for m in MUTANTS if m.name == "softmax over the queries").replacements())
    with_pictures = grader.grade(folder)

    def broken(ctx, scratch):
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(figure_data, "FIGURES", tuple(spec.__class__(spec.id, spec.component, spec.shown_with,
                                                                      spec.title, broken)
                                                      for spec in figure_data.FIGURES))
    with Grader(grader.config, zygote=grader.zygote, figures=False) as plain:
        without = plain.grade(folder)
    broken_report = grader.grade(folder)
    scores = [(c.name, c.score) for c in with_pictures.checks]
    assert scores == [(c.name, c.score) for c in without.checks] == [(c.name, c.score) for c in broken_report.checks]
    assert without.figures == {} and all(c.evidence is None for c in without.checks)
    assert all("a problem in the grader" in f["note"] for f in broken_report.figures.values())


def test_the_gradescope_bundle_carries_the_templates(tmp_path):
    from autograder.release.gradescope import build_gradescope_bundle

    bundle = build_gradescope_bundle(tmp_path / "autograder.zip")
    names = set(zipfile.ZipFile(bundle).namelist())
    templates = {f"autograder/pages/templates/{p.name}"
                 for p in (Path(__file__).parent.parent / "autograder" / "pages" / "templates").glob("*.j2")}
    assert templates and templates <= names


def test_report_command_rebuilds_the_class_report_from_disk(tmp_path):
    from typer.testing import CliRunner

    from autograder.cli import app

    _write_student(tmp_path / "ann", _record(_report(), "ann"))
    _write_student(tmp_path / "zed", _record(GradingReport("zed"), "zed", "error"))
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["students"] == 2 and data["statuses"] == {"graded": 1, "error": 1}
    html = (tmp_path / "report.html").read_text()
    assert "zed" in html and html.count("<img") == 3  # distribution, component means, failure rates
    assert CliRunner().invoke(app, ["report", str(tmp_path / "nowhere")]).exit_code == 2


def test_a_mistake_group_is_headlined_by_the_diagnosis_not_the_generic_hint():
    from autograder.pages.class_report import _label
    from autograder.results import CheckResult

    def failed(output: str) -> CheckResult:
        return CheckResult("TimeEmbedding", "sinusoid_values", "TimeEmbedding: values", 0.0, 3.0, False, output, "hidden")

    generic = "Hint: The contract's features are [sin(t*f), cos(t*f)], the 32 sines first."
    named = failed("sinusoidal_embedding(t, dim): the cosines come first; the result differs by up to 2; at index "
                   f"(0, 1) expected 1, got 0\nSmallest failing input: t=[0]\n{generic}")
    assert _label([named]) == ("sinusoidal_embedding(t, dim): the cosines come first", generic[len("Hint: "):])
    unnamed = failed(f"sinusoidal_embedding(t, dim) differs by up to 2; at index (0, 1) expected 1, got 0\n{generic}")
    assert _label([unnamed]) == (generic[len("Hint: "):], "")  # nothing named: the hint says most
    # the whole module's check fails first, with a hint about its wiring; the hint shown is the diagnosing check's
    wiring = failed("output: differs from the reference by up to 0.46; at index (0, 11) expected 0.4, got 0\n"
                    "Hint: Feed mlp.0 with sinusoidal_embedding(t, dim).")
    assert _label([wiring, named]) == ("sinusoidal_embedding(t, dim): the cosines come first", generic[len("Hint: "):])
    # no check names the mistake, but the diagnoser found where inside it starts: that, not the hint, is the headline
    feed = "Hint: Feed conv1 with relu(norm1(x)), as the docstring's forward says."
    located = failed("output: differs from the reference by up to 0.097; at index (0, 0, 0, 1) expected 0.7, got 0.6\n"
                     "The first difference inside: conv1 receives SiLU(norm1's output); the contract feeds it "
                     f"relu(norm1(x)).\nSmallest failing input: x of shape (1, 1, 1, 2)\n{feed}")
    assert _label([located]) == ("conv1 receives SiLU(norm1's output); the contract feeds it relu(norm1(x))",
                                 feed[len("Hint: "):])
    assert _label([located, named])[0] == "sinusoidal_embedding(t, dim): the cosines come first"  # a named mistake first
    skip = failed("output: differs from the reference by up to 0.437; at index (0, 0, 2, 6) expected -0.28, got 0.15\n"
                  "The first difference inside: up2's input 2 is other values (off by up to 2.51); the contract's is "
                  "skip1 (down1's skip output h).\nHint: Feed up2 with skip1 (down1's skip output h).")
    assert _label([skip])[0] == "up2's input 2 is other values; the contract's is skip1 (down1's skip output h)"


def _class_on_disk(tmp_path, records) -> Path:
    from autograder.output_folder import OutputFolder

    out = OutputFolder(tmp_path / "out")
    out.prepare()
    for record in records:
        out.write_student(record, "after_published", figures=False)
    return out.path


def test_statistics_count_graded_students_only_and_an_exit_is_an_integrity_event(tmp_path):
    """An unreadable zip is no student who failed everything: the mean, bars and rates leave it out
    and say n. A submission that ended the grading process is listed apart, with where it did so, and
    its lost checks are no measure of the class either: left out too, and said so."""
    from autograder.integrity import IntegrityEvent
    from autograder.output_folder import grades_csv

    def scored(student: str, points: float, output: str = "", source: str = "") -> StudentRecord:
        checks = [CheckResult("TimeEmbedding", "a", "TimeEmbedding: a", points, 4, points == 4, output, "public"),
                  CheckResult("ResBlock", "b", "ResBlock: b", 6, 6, True, "", "hidden")]
        report = GradingReport(student, checks, fingerprint={"source": {"attention": source}} if source else None)
        return _record(report, student)

    exit_message = "your code exited with status 0 (does your code call sys.exit or os._exit?) during SelfAttention.forward"
    zed = GradingReport.without_results("zed.zip", [(SimpleNamespace(component=c, id=i, name=f"{c}: {i}"),
                                                     SimpleNamespace(points=p, visibility="public"))
                                                    for c, i, p in (("TimeEmbedding", "a", 4), ("ResBlock", "b", 6))],
                                        "zed.zip is not a readable zip file", status="needs_review")
    records = [scored("ann", 4), scored("bob", 0, "output: wrong"),
               scored("max", 0, exit_message, "class SelfAttention:\n    def forward(self, x):\n        os._exit(0)\n"),
               _record(zed, "zed", "needs_review")]
    data = build_class_report(_class_on_disk(tmp_path, records))
    assert data["students"] == 4 and data["graded"] == 2 and data["left_out"] == "1 not graded, 1 with an integrity event"
    assert data["mean_score"] == pytest.approx((10 + 6) / 2, abs=1e-3)  # zed's zeros are no grade, nor max's exit
    assert sum(count for _, count in data["distribution"]) == 2
    assert {r["check"]: (r["failed"], r["of"]) for r in data["failure_rates"]}["TimeEmbedding: a"] == (1, 2)
    assert data["scores"]["zed"][0] is None
    people = {(p["student"], p["status"]): p["reason"] for p in data["needs_attention"]}
    assert set(people) == {("max", "integrity"), ("zed", "needs_review")}  # bob's is an honest mistake
    assert "ended the grading process" in people["max", "integrity"]
    assert "attention.py, line 3: os._exit(0)" in people["max", "integrity"]
    events = [IntegrityEvent.from_dict(e) for e in data["integrity"]]
    rows = list(csv.reader(io.StringIO(grades_csv(records, ["TimeEmbedding", "ResBlock"], events))))
    assert rows[0][-3:] == ["status", "reason", "integrity"]
    assert rows[0][:4] == ["student", "name", "email", "id"]
    assert rows[1] == ["Points Possible", "", "", "", "4", "6", "10", "", "the maximum of each column", ""]
    assert next(r for r in rows if r[0] == "zed")[4:7] == ["", "", ""]  # not graded: empty, not 0
    integrity = {r[0]: r[-1] for r in rows[2:]}
    assert integrity["max"] == people["max", "integrity"] and integrity["bob"] == integrity["ann"] == ""


def test_two_students_of_one_name_differ_in_grades_csv_by_who_the_batch_knew_them_as():
    """Two Canvas logins ``wangwei`` (two people) get folders wangwei and wangwei_2 and the same name: the
    ``id`` column says which LMS user each row is, so the TA puts each grade on the right person."""
    from dataclasses import replace

    from autograder.output_folder import grades_csv

    report = GradingReport("sub", [CheckResult("ResBlock", "b", "ResBlock: b", 6, 6, True, "", "hidden")])
    records = [replace(_record(report, "wangwei"), name="wangwei", identity="canvas:1001"),
               replace(_record(report, "wangwei_2"), name="wangwei", identity="canvas:2002")]
    rows = {r["student"]: r for r in csv.DictReader(io.StringIO(grades_csv(records, ["ResBlock"])))}
    assert rows["wangwei"]["name"] == rows["wangwei_2"]["name"] == "wangwei"
    assert (rows["wangwei"]["id"], rows["wangwei_2"]["id"]) == ("canvas:1001", "canvas:2002")


# --- the output folder: what may be handed out ----------------------------------------------------------

def test_the_hand_out_folder_gets_only_the_students_page_and_no_hidden_value(tmp_path, monkeypatch):
    """OUT/students/ is what a TA hands out: its only file per student is the student's page, with no
    hidden check's name, message, hint or picture; everything else is under OUT/staff/."""
    from autograder.output_folder import HANDOUT_FILES, STAFF_FILES, OutputFolder

    out = OutputFolder(tmp_path / "out")
    out.prepare()
    record = _record(_report())
    out.write_student(record, "after_published")
    handed_out = [p for p in out.students.rglob("*") if p.is_file()]
    assert [p.relative_to(out.students).as_posix() for p in handed_out] == ["ann/feedback.html"]
    text = _visible_text(handed_out[0].read_text())
    for secret in ("secret formula", "another secret", "differs from the reference", "the sines come first", "allowed"):
        assert secret not in text, secret
    assert "the reference&#39;s embedding" not in handed_out[0].read_text()
    assert sorted(p.name for p in out.staff_dir("ann").iterdir()) == sorted(STAFF_FILES)
    assert "secret formula check" in (out.staff_dir("ann") / "feedback.staff.html").read_text()
    assert out.is_done(["ann"]) and [r.student for r in out.records()] == ["ann"]
    with pytest.raises(ValueError, match="hand-out folder"):
        out._hand_out("ann", {"results.json": "{}"})  # the door refuses a staff file by name
    assert set(HANDOUT_FILES) == {"feedback.html"}

    import autograder.pages.feedback as feedback_module

    def broken(*args, **kwargs):
        raise RuntimeError("a page that cannot be drawn")

    monkeypatch.setattr(feedback_module, "components", broken)
    out.write_student(record, "after_published")  # regraded, and this time the pages fail
    assert not out.student_dir("ann").joinpath("feedback.html").exists()  # no out-of-date page to hand out
    assert "could not be written" in json.loads((out.staff_dir("ann") / "results.json").read_text())["output"]


def test_an_older_versions_folder_is_moved_apart_and_resumes_without_losing_a_result(tmp_path):
    """Before the split every file of a student lay in OUT/students/<student>/. A batch run over such a
    folder moves the staff files to OUT/staff/, counts those students as done, and loses nothing; a file
    someone left in a student's folder is moved to staff/ too (never handed out); a newer copy keeps its name."""
    from autograder.output_folder import OutputFolder

    out = OutputFolder(tmp_path / "out")
    old = {"ann": _record(_report()), "bob": _record(_report(), "bob")}
    for key, record in old.items():
        folder = out.students / key
        folder.mkdir(parents=True)
        for name, text in (("report.json", record.to_json()), ("feedback.md", "# old"), ("feedback.html", "<p>student"),
                           ("feedback.staff.html", "<p>staff"), ("results.json", '{"score": 1}'), ("notes.txt", "TA")):
            (folder / name).write_text(text)
    (out.students / "cy").mkdir()
    (out.students / "cy" / "report.json").write_text(old["ann"].to_json())  # cut short: no results.json, not done
    out.staff_dir("bob").mkdir(parents=True)
    (out.staff_dir("bob") / "feedback.md").write_text("# newer")
    import os
    os.utime(out.staff_dir("bob") / "feedback.md", (2e9, 2e9))  # newer than the copy in students/

    assert out.upgrade() == 3
    assert sorted(p.relative_to(out.students).as_posix() for p in out.students.rglob("*") if p.is_file()) == \
        ["ann/feedback.html", "bob/feedback.html"]
    assert out.is_done(["ann"]) and out.is_done(["bob"]) and not out.is_done(["cy"])
    assert [r.student for r in out.records()] == ["ann", "bob"]
    assert (out.staff_dir("ann") / "notes.txt").read_text() == "TA"
    assert (out.staff_dir("bob") / "feedback.md").read_text() == "# newer"
    assert [p.read_text() for p in (out.staff_dir("bob") / "superseded").iterdir()] == ["# old"]
    assert out.upgrade() == 0  # done once: nothing left to move
    assert build_class_report(out.path)["pages"]["ann"] == "staff/ann/feedback.staff.html"


def test_pictures_of_failing_checks_come_first_and_a_repeated_picture_is_shown_once():
    """What explains lost points is seen first; before publication only public failures may order the
    pictures (a hidden failure must not show through). Two checks failing on the same case show one picture."""
    from autograder.pages.feedback import component_pictures, components

    evidence = compact(type("R", (), {"what": "output", "got": torch.zeros(2, 3), "truth": torch.ones(2, 3),
                                      "allowed": 1e-5})())
    checks = [
        CheckResult("TimeEmbedding", "structure", "TimeEmbedding: structure", 1, 1, True, "", "public"),
        CheckResult("TimeEmbedding", "values", "TimeEmbedding: values", 0, 2, False, "output: wrong", "public", evidence),
        CheckResult("TimeEmbedding", "gradients", "TimeEmbedding: gradients", 0, 1, False,
                    'The same error as "TimeEmbedding: values" (shown there).', "public", evidence),
        CheckResult("TimeEmbedding", "secret", "TimeEmbedding: secret", 0, 1, False, "secret: wrong", "hidden"),
    ]
    figures = {"first": _figure("structure"), "about_values": _figure("values"), "about_secret": _figure("secret")}
    report = GradingReport("sub", checks, figures=figures)
    for published in (False, True):
        order = [p.id for p in component_pictures(report, "TimeEmbedding", published)]
        expected = ["about_values", "about_secret", "first"] if published else ["about_values", "first", "about_secret"]
        assert order == expected, (published, order)
    view = next(v for v in components(report, published=True) if v.name == "TimeEmbedding")
    pictured = {c.title: len(c.pictures) for c in view.checks}
    assert pictured == {"values": 1, "gradients": 0, "secret": 0, "structure": 0}


def test_integrity_events_are_one_json_file_that_the_class_report_renders(tmp_path):
    """What the sandbox saw and what similarity found, as data (integrity.py): one file per batch with
    a schema, each event with its kind, students, where and the first check it cost; the page shows them."""
    from autograder.integrity import IntegrityEvent, read_integrity

    def student(name: str, output: str, source: str) -> StudentRecord:
        checks = [CheckResult("SelfAttention", "a", "SelfAttention: a", 0 if output else 2, 2, not output, output, "public")]
        return _record(GradingReport(name, checks, fingerprint={"source": {"attention": source}}), name)

    exit_output = "your code exited with status 3 (does your code call sys.exit or os._exit?)"
    records = [student("max", exit_output, "import os\nclass SelfAttention:\n    def f(self):\n        os._exit(3)\n"),
               student("ned", "during forward the child sent back a malformed reply (a str where a tensor belongs)", "x = 1\n"),
               student("oli", "the child was killed (likely over the 2048 MiB memory limit)", "y = 2\n")]
    out = _class_on_disk(tmp_path, records)
    write_class_report(out)
    events = read_integrity((out / "integrity.json").read_text())
    assert json.loads((out / "integrity.json").read_text())["schema"] == 1
    by_student = {e.students: e for e in events}
    assert set(by_student) == {("max",), ("ned",), ("oli",)}
    assert (by_student["max",].kind, by_student["max",].where, by_student["max",].check) == \
        ("process_exit", "attention.py, line 4: os._exit(3)", "SelfAttention: a")
    assert by_student["ned",].kind == "malformed_reply" and by_student["oli",].kind == "memory_limit"
    data = json.loads((out / "report.json").read_text())
    people = {p["student"] for p in data["needs_attention"]}
    assert people == {"max", "ned"}  # a memory limit is listed as an event, not as an attack
    html = (out / "report.html").read_text()
    assert "attention.py, line 4: os._exit(3)" in html and "memory limit" in html and 'id="integrity"' in html
    with pytest.raises(ValueError, match="kind='telepathy'"):
        IntegrityEvent("telepathy", ("max",))
    with pytest.raises(ValueError, match="schema=99"):
        read_integrity('{"schema": 99, "events": []}')


def test_an_integration_failure_a_blocks_mistake_explains_is_no_second_mistake_group(tmp_path):
    """Integration runs the student's own blocks: ann's ResBlock mistake fails it too, and the report
    says so in ResBlock's group; bob's Integration fails with every block right, a mistake of its own."""
    records = [
        _record(GradingReport("ann", [_failed("ResBlock", "values", "output: wrong\nHint: relu before conv1"),
                                      _failed("Integration", "matches", "Your ResBlock computes something else")]), "ann"),
        _record(GradingReport("bob", [_failed("Integration", "matches", "the forward wires the skips wrongly")]), "bob"),
    ]
    data = build_class_report(_class_on_disk(tmp_path, records))
    groups = {(g["component"], tuple(g["students"])): g for g in data["mistakes"]}
    assert set(groups) == {("ResBlock", ("ann",)), ("Integration", ("bob",))}
    assert groups["ResBlock", ("ann",)]["same_cause"] == ["Integration"]
    assert groups["Integration", ("bob",)]["same_cause"] == []


def test_checks_that_failed_with_the_same_error_are_one_line_under_the_card_that_shows_it():
    """A traceback that fails five checks is one card and one line naming the other four, not five cards."""
    error = ("an error was raised on SimpleUNet(4, 4, 64):\nRuntimeError: Expected number of channels in input to "
             "be divisible by num_groups, but got input of shape [2, 12, 2, 6]")
    checks = [CheckResult("SimpleUNet", f"c{i}", f"SimpleUNet: check {i}", 0, 1, False, error,
                          "public" if i == 0 else "hidden") for i in range(5)]
    report = GradingReport("eli", checks)
    report.refer_repeated_outputs()
    assert sum(c.output.startswith("The same error as") for c in report.checks) == 4  # the grader's referrals
    html = student_page(_record(report, "eli"), published=True)
    assert html.count('<div class="check">') == 1 and html.count("num_groups") == 1
    same = html_module.unescape(_visible_text(html[html.index('class="check same"'):]))
    assert "Failed with the same error as “check 0”" in same
    assert all(f"check {i}" in same for i in range(1, 5))


def test_feedback_md_says_an_error_in_full_before_the_checks_that_refer_to_it():
    """Stubs left in: the hidden checks come first in the component's order and only point at the
    public check that holds the traceback; feedback.md lists that one first, then those pointing at it."""
    from autograder.output_folder import feedback_markdown
    from autograder.results import REFERRAL

    full = "your code raised an error during shape_trace(...):\n  raise NotImplementedError()\nNotImplementedError"
    leaves = "ShapeTrace: leaves the model as it found it"
    refer = f'{REFERRAL}"{leaves}" (shown there).\nSmallest failing input: SimpleUNet(1, 1, 4)'
    checks = [CheckResult("ShapeTrace", "entries", "ShapeTrace: one entry per submodule", 0, 2, False, refer, "hidden"),
              CheckResult("ShapeTrace", "shapes", "ShapeTrace: shapes match", 0, 1, False, refer, "hidden"),
              CheckResult("ShapeTrace", "restores", leaves, 0, 1, False, full, "public"),
              CheckResult("SkipAblation", "steps", "SkipAblation: same steps", 0, 1, False, "it raised", "public")]
    text = feedback_markdown(_record(GradingReport("sub", checks)))
    headings = [line.split(" (hidden)")[0].split(": 0 /")[0] for line in text.splitlines() if line.startswith("### ")]
    assert headings == [f"### {leaves}", "### ShapeTrace: one entry per submodule", "### ShapeTrace: shapes match",
                        "### SkipAblation: same steps"]
    assert text.count("NotImplementedError()") == 1


@pytest.mark.parametrize("status", ["needs_review", "error"])
def test_an_ungraded_hand_in_says_the_same_one_thing_in_every_output(tmp_path, status):
    """Whatever the output -- the student's page, Gradescope's results.json (plain and HTML),
    feedback.md, the nbgrader cell -- a report that graded nothing says why and what to do, in the
    same words, and lists no check that never ran."""
    from autograder.nbgrader_course import _feedback_text
    from autograder.output_folder import feedback_markdown
    from autograder.results import not_graded_notice

    checks = [(SimpleNamespace(component=c, id=i, name=f"{c}: the {i} check"), SimpleNamespace(points=3, visibility=v))
              for c, i, v in (("TimeEmbedding", "first", "public"), ("ResBlock", "second", "hidden"))]
    report = GradingReport.without_results("zed.zip", checks, "zed.zip is not a readable zip file", status=status)
    record = _record(report, "zed", status)
    notice = not_graded_notice(report)
    assert notice.startswith("Not graded: zed.zip is not a readable zip file. No check ran")
    assert ("Please resubmit" in notice) is (status == "needs_review")  # the grader's own failure is not the student's to fix
    plain = plain_results(report)
    outputs = {"student page": _visible_text(student_page(record, published=False)),
               "results.json": plain["output"],
               "results.json (HTML)": html_module.unescape(_visible_text(gradescope_results(plain, report)["output"])),
               "feedback.md": feedback_markdown(record).replace("\\", ""),
               "nbgrader cell": _feedback_text(record, "TimeEmbedding")}
    assert plain["tests"] == []
    for where, text in outputs.items():
        assert " ".join(notice.removeprefix("Not graded: ").split()) in " ".join(text.split()), where
        assert "the first check" not in text and "the second check" not in text, where


def _strict_json(text: str):
    """What a strict reader (RFC 8259: no NaN or Infinity) makes of ``text``; raises where one would."""
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")
    return json.loads(text, parse_constant=refuse)


def test_every_file_a_student_value_reaches_is_strict_json(tmp_path):
    """A student's NaN attention map or diverging losses reach report.json, record and class report."""
    from typer.testing import CliRunner

    from autograder.cli import app
    from autograder.results import write_results_json

    figures = {"attention_map": {"student_row_sum": float("nan"), "losses": [1.0, float("inf"), -float("inf")]}}
    report = GradingReport("ann", [_failed("SelfAttention", "softmax", "row sums nan")], figures=figures)
    record = _record(report)
    stored = _strict_json(record.to_json())["report"]["figures"]["attention_map"]
    assert stored == {"student_row_sum": None, "losses": [1.0, None, None]}
    write_results_json(report, tmp_path / "results.json")
    assert _strict_json((tmp_path / "results.json").read_text())["tests"][0]["output"] == "row sums nan"
    (tmp_path / "ann").mkdir()
    (tmp_path / "ann" / "report.json").write_text(record.to_json())
    (tmp_path / "ann" / "results.json").write_text("{}")
    assert CliRunner().invoke(app, ["report", str(tmp_path)]).exit_code == 0
    for written in ("report.json", "integrity.json"):
        _strict_json((tmp_path / written).read_text())


_DIFFERENCE_AS_A_PATTERN = r"[;,]?\s*[^;:]*\bdiffers? (?:from the reference )?by up to .*$"  # cubic on spaces


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.lists(st.sampled_from([" ", ";", ":", ",", "x", "a b", "differs by up to 2", "differ by up to ",
                                 "differs from the reference by up to 0.1", "xdiffers by up to 1"]), max_size=12))
def test_the_diagnosis_cuts_the_difference_clause_as_the_pattern_did_in_one_pass(parts):
    """The clause that says how far off a value is, cut from the separator before it to the end: the same
    text as the pattern that matched the clause (which took minutes on a student's run of spaces)."""
    from autograder.pages.class_report import _without_difference

    line = "".join(parts)
    assert _without_difference(line) == re.sub(_DIFFERENCE_AS_A_PATTERN, "", line)
    spaces = "name: " + " " * 20_000 + "x differs by up to 1"  # a trace entry's name, as a student may spell it
    assert _without_difference(spaces) == "name:"


_OFF_BY_BEFORE = r"\s*\(off by up to [^)]*\)"  # tried inside a run of spaces: quadratic


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.lists(st.sampled_from([" ", "  ", "x", "(", ")", "(off by up to 2)", "(off by up to ", "."]), max_size=12))
def test_the_class_report_cuts_how_far_off_as_before(parts):
    """A failure's "(off by up to ...)" cut from where the diagnosis located it: the same text as before, on
    text a student's exception can hold (one of 3,300 spaces and a full stop was retried at every space)."""
    from autograder.pages.class_report import _OFF_BY

    text = "".join(parts)
    assert _OFF_BY.sub("", text) == re.sub(_OFF_BY_BEFORE, "", text)
    assert _OFF_BY.sub("", "conv1" + " " * 100_000 + ".") == "conv1" + " " * 100_000 + "."


_NUMBER_BEFORE = r"-?\d+\.\d+(?:[eE][-+]?\d+)?|-?\d+[eE][-+]?\d+"  # tried inside a run of digits: quadratic


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.lists(st.sampled_from(["1", "23", ".", "-", "e", "E", "+", " ", "x", "4.5", "6e7", "٣"]), max_size=14))
def test_the_class_report_finds_the_same_numbers_as_before(parts):
    """The numbers a failure's text holds (read to group failures that differ only in them): the same as
    before, on text a student's exception can hold."""
    from autograder.pages.class_report import _NUMBER

    text = "".join(parts)
    assert _NUMBER.findall(text) == re.findall(_NUMBER_BEFORE, text, flags=re.ASCII)
    assert _NUMBER.findall("7" * 100_000 + "!") == []
