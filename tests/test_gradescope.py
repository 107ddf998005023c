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
    """Our own set-up is wrong, not the student's code: exit 2 with one error line, and no results.json
    that Gradescope would show as a zero (it reports the autograder as failed instead)."""
    bundle_zip, _ = bundle
    root = _autograder_root(bundle_zip, tmp_path / "autograder", SOLUTIONS.glob("*.py"))
    env = {"AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable, "PATH": "/usr/bin:/bin",
           "HOME": str(root), "AUTOGRADER_DEVICE": "cuda:99"}  # no machine has a hundred GPUs
    ran = subprocess.run(["bash", str(root / "source" / "run_autograder")], cwd=root, env=env, timeout=600,
                         capture_output=True, text=True)
    assert ran.returncode == 2, ran.stderr
    errors = [line for line in ran.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "--device cuda:99" in errors[0], ran.stderr
    assert not (root / "results" / "results.json").exists()


def test_the_schema_rejects_what_gradescope_would_reject():
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"score": 1, "tests": [{"name": "x", "score": 1, "status": "ok"}]}, SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"scores": 1}, SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"score": 1, "visibility": "students"}, SCHEMA)
