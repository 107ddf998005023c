"""The reference gets full marks, deterministically; stubs and broken inputs score zero clearly."""
import json
import subprocess
import sys

from autograder.contract import GRADED
from autograder.results import gradescope_results

from .conftest import ROOT, SOLUTIONS, full_outputs


def test_reference_gets_full_marks_on_every_check(grader, config):
    report = grader.grade(SOLUTIONS)
    failed = {c.name: c.output for c in report.checks if not c.passed}
    assert failed == {}
    assert report.score == report.max_score == config.total_points


# What a notebook's first cell may set, at the top of a file, and the words of the note that names it
SET_AT_IMPORT = {
    "time_embedding": {"torch.set_default_dtype(torch.float64)": "calls torch.set_default_dtype(torch.float64)",
                       "torch.set_grad_enabled(False)": "calls torch.set_grad_enabled(False)",
                       "torch.autograd.set_detect_anomaly(True)": "calls torch.autograd.set_detect_anomaly(True)",
                       "torch.use_deterministic_algorithms(True)": "calls torch.use_deterministic_algorithms(True)",
                       "torch.set_num_threads(3)": "calls torch.set_num_threads(3)"},
    # kept entered for as long as the module lives
    "attention": {"_inference = torch.inference_mode()\n_inference.__enter__()": "enters torch.inference_mode() for good"},
}


def test_torch_settings_a_file_changes_at_import_are_put_back_and_said(grader, make_submission):
    """``torch.set_default_dtype(torch.float64)`` at the top of one file (a notebook habit) made every
    module built later float64, the stand-ins too, against the checks' float32 inputs; gradients switched
    off there cost every gradient check and the skip experiment's training. Each is put back after the
    import, with a note naming it (never hidden as a line of ours)."""
    edited = {}
    for module, lines in SET_AT_IMPORT.items():
        text = (SOLUTIONS / f"{module}.py").read_text()
        edited[module] = text.replace("import torch\n", "import torch\n" + "\n".join(lines) + "\n", 1)
    # a device grading does not run on, by default (a Colab habit): nothing changes, with a note; it
    # failed every import of unet.py and of analysis.py, which imports it
    edited["unet"] = (SOLUTIONS / "unet.py").read_text().replace("import torch.nn as nn\n", "import torch\n"
                                                                 "import torch.nn as nn\ntorch.set_default_device('cuda')\n", 1)
    report = grader.grade(make_submission(edited))
    assert {c.name: c.output for c in report.checks if not c.passed} == {}
    assert any("torch.set_default_device('cuda') did nothing while grading" in note for note in report.notes)
    for said in (said for lines in SET_AT_IMPORT.values() for said in lines.values()):
        assert any(f"your code {said} when imported: the grader put it back" in note for note in report.notes), \
            (said, report.notes)


def test_grading_twice_gives_identical_results(grader, make_submission):
    from .mutants import MUTANTS  # a real mistake, so failure messages (with shrunk inputs) are compared too

    mutant = next(m for m in MUTANTS if m.component == "SelfAttention")
    folder = make_submission(mutant.replacements())
    first = gradescope_results(grader.grade(folder))
    second = gradescope_results(grader.grade(folder))
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
    assert first["score"] < sum(t["max_score"] for t in first["tests"])


def test_stubs_score_zero_with_a_not_implemented_hint(grader):
    report = grader.grade(ROOT / "assignments" / "unet")
    assert report.score == 0
    outputs = full_outputs(report)
    assert all("not implemented yet" in text for text in outputs.values()), list(outputs.values())[:3]


def test_missing_module_costs_only_its_component(grader, make_submission):
    report = grader.grade(make_submission(remove=("down_block",)))
    scores = report.component_scores()
    assert scores["DownBlock"][0] == 0
    message = next(c.output for c in report.checks if c.component == "DownBlock")
    assert "DownBlock is not defined in your submission (expected in down_block.py)" in message
    assert "files found: __init__.py, analysis.py, attention.py, res_block.py" in message
    # SimpleUNet is graded with the reference DownBlock; the student's own UNet cannot run.
    assert scores["SimpleUNet"] == (16, 16)
    assert scores["Integration"][0] == 0
    others = {k: v for k, v in scores.items() if k not in ("DownBlock", "Integration")}
    assert all(score == max_score for score, max_score in others.values()), others


def test_syntax_error_is_reported_on_its_component(grader, make_submission):
    report = grader.grade(make_submission({"attention": "class SelfAttention(:\n    pass\n"}))
    outputs = full_outputs(report)
    attention = [c for c in report.checks if c.component in ("SelfAttention", "AttnResBlock")]
    assert all(not c.passed and "SyntaxError" in outputs[c.name] for c in attention)
    assert report.component_scores()["ResBlock"] == (18, 18)


def test_a_typo_in_a_one_file_hand_in_costs_only_what_it_breaks(grader, tmp_path):
    """One unclosed bracket in ResBlock.forward of hw3.py (every block in one file) graded 0/130 (red
    team): ResBlock is charged with Python's message, Integration runs the student's own (broken) blocks,
    and everything else in the file is graded in full."""
    from .classroom import one_file

    (tmp_path / "hw3.py").write_text(one_file().replace("time_mlp(t_emb)[:, :, None, None]",
                                                        "time_mlp(t_emb)[:, :, None, None"))
    report = grader.grade(tmp_path)
    scores = report.component_scores()
    assert [name for name, (score, top) in scores.items() if score < top] == ["ResBlock", "Integration"], scores
    assert scores["ResBlock"][0] == 0
    assert all("'[' was never closed" in full_outputs(report)[c.name] for c in report.checks if c.component == "ResBlock")


def test_broken_res_block_does_not_cost_self_attention(grader, make_submission):
    """attention.py imports res_block (for AttnResBlock): SelfAttention still gets the reference ResBlock."""
    report = grader.grade(make_submission({"res_block": "this is not python\n"}))
    scores = report.component_scores()
    assert scores["ResBlock"][0] == 0
    assert scores["SelfAttention"] == (18, 18)
    assert scores["AttnResBlock"] == (8, 8)


def test_results_json_is_readable_by_others(tmp_path):
    import os
    import stat

    from autograder.results import GradingReport, write_results_json

    target = tmp_path / "results.json"
    old = os.umask(0o022)
    try:
        write_results_json(GradingReport(submission="s"), target)
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_cli_grade_writes_results_json_and_exits_zero(tmp_path):
    results = tmp_path / "out" / "results.json"
    completed = subprocess.run(
        [sys.executable, "-m", "autograder.cli", "grade", str(ROOT / "assignments" / "unet"), "--results", str(results)],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stderr
    data = json.loads(results.read_text())
    assert data["score"] == 0
    assert all(t["name"].split(":")[0] in GRADED for t in data["tests"])
    assert {t["status"] for t in data["tests"]} == {"failed"}


def test_cli_reports_a_missing_path_as_one_line(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "autograder.cli", "grade", str(tmp_path / "nope")], capture_output=True, text=True
    )
    assert completed.returncode == 2
    assert completed.stderr.startswith("error: ") and "Traceback" not in completed.stderr
