"""The Gradescope bundle: files at the zip's root, executable scripts, and a run_autograder that, run
against a temporary root standing in for /autograder, writes a results.json valid under Gradescope's
documented format (tests/data/gradescope_schema.json)."""
import json
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from autograder.cli import app

from .release_support import SOLUTIONS, fast_config

SCHEMA = json.loads((Path(__file__).parent / "data" / "gradescope_schema.json").read_text())


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gradescope")
    config = fast_config(folder)
    result = CliRunner().invoke(app, ["export", "gradescope", str(folder / "autograder.zip"), "--config", str(config)])
    assert result.exit_code == 0, result.output
    return folder / "autograder.zip", yaml.safe_load(config.read_text())


def _autograder_root(bundle_zip: Path, root: Path, submission_files) -> Path:
    (root / "source").mkdir(parents=True)
    (root / "submission").mkdir()
    with zipfile.ZipFile(bundle_zip) as archive:
        archive.extractall(root / "source")
    for path in submission_files:
        shutil.copy(path, root / "submission" / path.name)
    return root


def _run_autograder(root: Path) -> dict:
    env = {"AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable, "PATH": "/usr/bin:/bin",
           "HOME": str(root)}
    subprocess.run(["bash", str(root / "source" / "run_autograder")], cwd=root, env=env, check=True, timeout=600,
                   capture_output=True)
    return json.loads((root / "results" / "results.json").read_text())


def test_bundle_layout(bundle):
    bundle_zip, _ = bundle
    with zipfile.ZipFile(bundle_zip) as archive:
        infos = {info.filename: info for info in archive.infolist()}
        config = yaml.safe_load(archive.read("grading_config.yaml"))
    for script in ("setup.sh", "run_autograder"):
        assert stat.S_IMODE(infos[script].external_attr >> 16) & 0o111, f"{script} is not executable"
    assert {"autograder/cli.py", "autograder/grader.py", "pyproject.toml"} <= set(infos)
    assert {f"solutions/unet/{p.name}" for p in SOLUTIONS.glob("*.py")} <= set(infos)
    assert config["reference"] == "solutions/unet"
    assert not any("__pycache__" in name or name.startswith("/") for name in infos)
    setup = infos["setup.sh"]
    assert b"torch==2.13.0" in zipfile.ZipFile(bundle_zip).read(setup)


def test_run_autograder_grades_a_correct_submission(bundle, tmp_path):
    bundle_zip, config = bundle
    root = _autograder_root(bundle_zip, tmp_path / "autograder", SOLUTIONS.glob("*.py"))
    imported = subprocess.run([sys.executable, "-c", "import autograder; print(autograder.__file__)"],
                              cwd=root / "source", capture_output=True, text=True, check=True).stdout
    assert imported.startswith(str(root / "source")), "run_autograder must use the bundled grader"
    results = _run_autograder(root)
    jsonschema.validate(results, SCHEMA)
    total = sum(c["points"] for checks in config["components"].values() for c in checks.values())
    assert results["score"] == total
    assert len(results["tests"]) == sum(len(checks) for checks in config["components"].values())
    assert all(t["status"] == "passed" for t in results["tests"])
    hidden = {t["visibility"] for t in results["tests"] if t["visibility"] != "visible"}
    assert hidden == {config["gradescope"]["hidden_visibility"]}


def test_run_autograder_writes_valid_results_for_an_empty_submission(bundle, tmp_path):
    bundle_zip, _ = bundle
    results = _run_autograder(_autograder_root(bundle_zip, tmp_path / "autograder", []))
    jsonschema.validate(results, SCHEMA)
    assert results["score"] == 0
    assert "A person will look at this submission: the submission is empty" in results["output"]


def test_run_autograder_refuses_a_device_the_machine_lacks_without_a_grade(bundle, tmp_path):
    """Our own set-up is wrong, not the student's code: the student sees the neutral line, staff see the
    one error line in the hidden test, and no score that would pass for graded work."""
    from autograder.release.gradescope import NEUTRAL_LINE

    bundle_zip, _ = bundle
    root = _autograder_root(bundle_zip, tmp_path / "autograder", SOLUTIONS.glob("*.py"))
    env = {"AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable, "PATH": "/usr/bin:/bin",
           "HOME": str(root), "AUTOGRADER_DEVICE": "cuda:99"}  # no machine has a hundred GPUs
    ran = subprocess.run(["bash", str(root / "source" / "run_autograder")], cwd=root, env=env, timeout=600,
                         capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    errors = [line for line in ran.stdout.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "--device cuda:99" in errors[0], ran.stdout + ran.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(results, SCHEMA)
    assert "score" not in results and results["output"] == NEUTRAL_LINE
    hidden = [t for t in results["tests"] if t["visibility"] == "hidden"]
    assert len(hidden) == 1 and "--device cuda:99" in hidden[0]["output"]
    assert all("cuda" not in t["output"] for t in results["tests"] if t["visibility"] == "visible")


def test_the_schema_rejects_what_gradescope_would_reject():
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"score": 1, "tests": [{"name": "x", "score": 1, "status": "ok"}]}, SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"scores": 1}, SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"score": 1, "visibility": "students"}, SCHEMA)


def test_the_skip_experiments_table_and_image_keep_their_columns_in_gradescope_html():
    """Gradescope collapses the spaces of a paragraph: laid-out lines go in one <pre> each block."""
    from autograder.pages.feedback import _summary_blocks, environment

    rows = ["                                 MSE      PSNR   training loss",
            "yours, with skips             0.0072   21.4 dB   ▇▅▄▄▄",
            "yours, without skips          0.0301   15.2 dB   ▇▆▆▅▅"]
    image = ["input              ref +skips", "  .:-=+*#%@        .:-=+*#%@", "                   @@@@"]
    output = "\n".join(["note: attention.py: found SelfAttention in model.py",
                        "Skip-connection experiment, skip_ablation(50, seed=1): reconstruction of 16 held-out images",
                        *rows, "", "The first held-out image and its reconstructions:", *image,
                        "Public checks: TimeEmbedding 4/4. Hidden checks are shown when grades are published."])
    page = environment().get_template("gradescope.html.j2").render(
        part="summary", blocks=_summary_blocks(output), components=[], budget=None)
    assert page.count("<pre>") == 2
    assert "<pre>" + "\n".join(rows) + "</pre>" in page
    assert "<pre>" + "\n".join(image) + "</pre>" in page
    assert page.count("<p>") == 4  # the note, the two titles and the public totals: one line each


def test_grading_that_cannot_start_is_no_grade_and_staff_alone_see_why(bundle, tmp_path):
    """No submission folder at all: the grader stops with its one error line. The student sees one
    neutral line and a failed test, never a silent 0 or our paths; the reason is in a hidden test."""
    from autograder.release.gradescope import NEUTRAL_LINE

    bundle_zip, config = bundle
    root = _autograder_root(bundle_zip, tmp_path / "autograder", [])
    (root / "submission").rmdir()
    results = _run_autograder(root)
    jsonschema.validate(results, SCHEMA)
    assert "score" not in results and results["output"] == NEUTRAL_LINE and results["visibility"] == "visible"
    seen, staff = ([t for t in results["tests"] if (t["visibility"] == "hidden") is hidden] for hidden in (False, True))
    total = sum(c["points"] for checks in config["components"].values() for c in checks.values())
    assert [(t["output"], t["status"], t["score"], t["max_score"]) for t in seen] == [(NEUTRAL_LINE, "failed", 0, total)]
    assert len(staff) == 1 and staff[0]["max_score"] == 0
    assert staff[0]["output"].startswith(f"{root / 'submission'}: no such file or folder")


@pytest.mark.parametrize("status, log, reason", [
    ("124", "autograder: sandbox mode fallback\n", "grading did not finish within 540 s"),
    ("1", "Traceback (most recent call last):\nMemoryError\n", "the grader stopped with exit status 1"),
])
def test_a_run_that_never_finishes_or_crashes_is_no_grade_either(bundle, tmp_path, status, log, reason):
    bundle_zip, _ = bundle
    with zipfile.ZipFile(bundle_zip) as archive:
        script = tmp_path / "could_not_run.py"
        script.write_bytes(archive.read("could_not_run.py"))
    (tmp_path / "log").write_text(log)
    subprocess.run([sys.executable, "-I", "-S", str(script), str(tmp_path / "results.json"), str(tmp_path / "log"),
                    status, "541", "540", "130"], check=True)
    results = json.loads((tmp_path / "results.json").read_text())
    jsonschema.validate(results, SCHEMA)
    assert results["execution_time"] == 541 and results["extra_data"] == {"grading_failed": True}
    staff = next(t["output"] for t in results["tests"] if t["visibility"] == "hidden")
    assert staff.startswith(reason) and log.splitlines()[-1] in staff
    assert reason not in _visible_text(results)


def _visible_text(results: dict) -> str:
    return "\n".join([results["output"]] + [t["output"] for t in results["tests"] if t["visibility"] == "visible"])
