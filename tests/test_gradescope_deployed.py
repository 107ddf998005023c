"""The Gradescope bundle deployed as Gradescope deploys it, end to end.

As root, in an /autograder-shaped folder (``AUTOGRADER_ROOT``): the zip unpacked into ``source/``,
``setup.sh`` from a local folder of wheels (no network), twice, then ``run_autograder`` on the
reference, a mistake and an attacker that goes after the installed grader, the reference and the
config, in both sandbox modes. Everything a student can see must hold none of them; a grader
whose installed copy is readable again must refuse, and say so to staff alone. One deployment
(a virtualenv with torch, about a minute on an idle machine) serves the whole module.
"""
import html
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from autograder.cli import app
from autograder.release.gradescope import NEUTRAL_LINE, WHEELS_VARIABLE
from autograder.release.stubs import solution_lines
from autograder.sandbox.isolation import detect

from .mutants import MUTANTS
from .release_support import ROOT, SOLUTIONS, fast_config

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="Gradescope runs setup.sh and run_autograder as root")
SCHEMA = json.loads((Path(__file__).parent / "data" / "gradescope_schema.json").read_text())
MODES = [pytest.param("fallback"),
         pytest.param("bwrap", marks=pytest.mark.skipif(detect().mode != "bwrap", reason="bubblewrap is not usable here"))]
COSINES_FIRST = next(m for m in MUTANTS if m.name == "cosines before sines")


def _run(argv, **kwargs):
    done = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{argv[:3]} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


class Deployment:
    """An /autograder folder with the bundle set up in it, and a way to grade one submission there."""

    def __init__(self, root: Path, config: dict, wheels: Path, home: Path):
        self.root, self.config, self.wheels, self.home = root, config, wheels, home

    @property
    def site_packages(self) -> Path:
        return next((self.root / "venv" / "lib").glob("python3*/site-packages"))

    @property
    def installed(self) -> Path:
        """The grader's copy in the virtualenv (run_autograder runs the one in source/)."""
        return self.site_packages / "autograder"

    def setup(self) -> None:
        # the base interpreter first on PATH, as an image's python3 would be; pip configured by nothing
        # but the wheel folder, so a network or a machine-wide index cannot make it pass
        env = {"PATH": f"{Path(sys.base_prefix) / 'bin'}:/usr/bin:/bin", "HOME": str(self.home),
               "AUTOGRADER_ROOT": str(self.root), WHEELS_VARIABLE: str(self.wheels), "PIP_CONFIG_FILE": os.devnull}
        _run(["bash", str(self.root / "source" / "setup.sh")], env=env, cwd=self.root, timeout=1800)

    def grade(self, files: dict[str, str], mode: str) -> tuple[dict, str]:
        """results.json and the run's output (what instructors see) for a submission of ``files``."""
        submission = self.root / "submission"
        shutil.rmtree(submission, ignore_errors=True)
        submission.mkdir()
        for name, text in files.items():
            (submission / name).write_text(text)
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.home), "AUTOGRADER_ROOT": str(self.root),
               "AUTOGRADER_ISOLATION": mode}
        done = _run(["bash", str(self.root / "source" / "run_autograder")], env=env, cwd=self.root, timeout=900)
        results = json.loads((self.root / "results" / "results.json").read_text())
        jsonschema.validate(results, SCHEMA)
        return results, done.stdout + done.stderr

    def secret_lines(self) -> list[str]:
        """Lines that would show a secret: the reference's solutions, the hidden checks' code, the config."""
        lines = [line.strip() for path in sorted(SOLUTIONS.glob("*.py")) for line in solution_lines(path.read_text())]
        for path in sorted((ROOT / "autograder" / "checks").glob("*.py")):
            lines += [line.strip() for line in path.read_text().splitlines()
                      if len(line.strip()) >= 30 and not line.strip().startswith(("#", '"', "'"))
                      and any(code in line for code in (" = ", "return ", "def "))]
        lines += [line.strip() for line in (self.root / "source" / "grading_config.yaml").read_text().splitlines()
                  if ":" in line and not line.strip().startswith("#") and len(line.strip()) >= 16
                  and not line.strip().endswith(":")]  # a settings line; "ComponentName:" is a public name
        return [line for line in dict.fromkeys(lines) if len(line) >= 16]


def _modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.lstat().st_mode) for p in sorted(root.rglob("*"))}


@pytest.fixture(scope="module")
def deployed():
    # Beside /autograder's own kind of parents (pytest's temporary folders are private to root, which
    # would keep students out whatever setup.sh did): only the permissions setup.sh sets may do that.
    folder = Path(tempfile.mkdtemp(prefix="gradescope-deployed-", dir="/tmp"))
    os.chmod(folder, 0o755)
    try:
        yield _deploy(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _deploy(folder: Path) -> "Deployment":
    config_path = fast_config(folder)
    bundle = folder / "autograder.zip"
    exported = CliRunner().invoke(app, ["export", "gradescope", str(bundle), "--config", str(config_path)])
    assert exported.exit_code == 0, exported.output
    root = folder / "autograder"
    for unpacked in (folder / "unpacked", root / "source"):
        with zipfile.ZipFile(bundle) as archive:
            archive.extractall(unpacked)
    wheels = folder / "wheels"  # every wheel setup.sh needs, from wherever this machine's pip finds them
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(wheels), str(folder / "unpacked"),
          "setuptools>=68"], timeout=1800)
    home = folder / "home"
    home.mkdir()
    deployment = Deployment(root, yaml.safe_load(config_path.read_text()), wheels, home)
    deployment.setup()
    first = {**_modes(root / "source"), **_modes(root / "venv")}
    deployment.setup()
    deployment.modes_after_each_setup = first, {**_modes(root / "source"), **_modes(root / "venv")}
    return deployment


def _visible(results: dict) -> str:
    """Every field a student sees before grades are published, as text."""
    shown = [results.get("output", "")] if results.get("visibility", "visible") == "visible" else []
    for test in results.get("tests", []):
        if test.get("visibility", results.get("visibility", "visible")) == "visible":
            shown += [test.get("name", ""), test.get("output", "")]
    return html.unescape("\n".join(shown))


def _total(config: dict) -> float:
    return sum(c["points"] for checks in config["components"].values() for c in checks.values())


def _attacker(deployment: Deployment) -> str:
    """time_embedding.py whose sinusoidal_embedding reads every secret it can name and raises what it
    read, reversed (so redaction of copied lines cannot catch it), into a public check's output."""
    targets = {
        "installed_check": deployment.installed / "checks" / "analysis.py",
        "installed_pyc": next((deployment.installed / "checks" / "__pycache__").glob("analysis*.pyc"),
                              deployment.installed / "checks" / "__pycache__" / "analysis.pyc"),
        "source_check": deployment.root / "source" / "autograder" / "checks" / "analysis.py",
        "reference": deployment.root / "source" / "solutions" / "unet" / "attention.py",
        "config": deployment.root / "source" / "grading_config.yaml",
    }
    pattern = str(deployment.root / "venv" / "lib" / "*" / "site-packages" / "autograder" / "**" / "*.py")
    attack = f'''
import glob as _glob

_TARGETS = {{{", ".join(f"{label!r}: {str(path)!r}" for label, path in targets.items())}}}


def _steal():
    found = []
    for label, path in _TARGETS.items():
        try:
            with open(path, "rb") as handle:
                found.append(label + "=READ:" + handle.read(300).decode(errors="replace")[::-1])
        except OSError as error:
            found.append(label + "=denied:" + type(error).__name__)
    found.append("listed=" + str(len(_glob.glob({pattern!r}, recursive=True))))
    return "; ".join(found)


def sinusoidal_embedding(t, dim):
    raise RuntimeError("ATTACK-REPORT " + _steal())
'''
    return (SOLUTIONS / "time_embedding.py").read_text() + attack


def test_setup_leaves_every_copy_private_and_running_it_twice_changes_nothing(deployed):
    first, second = deployed.modes_after_each_setup
    assert set(first) <= set(second)
    assert {path: mode for path, mode in second.items() if path in first} == first
    private_roots = [deployed.root / "source", deployed.installed]
    for root in private_roots:
        assert root.is_dir()
        leaks = [p for p in [root, *root.rglob("*")] if stat.S_IMODE(p.lstat().st_mode) & 0o077]
        assert leaks == [], f"readable by other users: {leaks[:3]}"
    torch = deployed.site_packages / "torch" / "__init__.py"
    assert stat.S_IMODE(torch.stat().st_mode) & 0o004  # the rest of the venv stays readable: children import it
    assert not (deployed.root / "source" / "build").exists()  # no third copy left by the build
    # the reference's results, saved once by setup.sh (private: under source/, checked above)
    assert len(list((deployed.root / "source" / "solutions" / ".unet.reference-results").glob("*.pickle"))) == 1


@pytest.mark.parametrize("mode", MODES)
def test_run_autograder_grades_and_shows_no_secret(deployed, mode):
    total = _total(deployed.config)
    secrets = deployed.secret_lines()
    reference = {p.name: p.read_text() for p in SOLUTIONS.glob("*.py")}

    graded, log = deployed.grade(reference, mode)
    assert f"sandbox mode {mode}" in log
    assert graded["score"] == total
    assert all(t["status"] == "passed" for t in graded["tests"])

    mistake = {**reference, "time_embedding.py": COSINES_FIRST.replacements()["time_embedding"]}
    marked, _ = deployed.grade(mistake, mode)
    failed = [t for t in marked["tests"] if t["status"] == "failed"]
    # the mistake's own component, and Integration, which runs the student's own blocks together
    assert {t["name"].split(":")[0] for t in failed} == {"TimeEmbedding", "Integration"}
    assert "TimeEmbedding: sinusoidal_embedding matches the formula" in {t["name"] for t in failed}
    assert marked["score"] == pytest.approx(total - sum(t["max_score"] for t in failed))
    assert COSINES_FIRST.shows in _visible(marked)

    attack = _attacker(deployed)
    attacked, _ = deployed.grade({"time_embedding.py": attack}, mode)
    shown = _visible(attacked)
    assert "ATTACK-REPORT" in shown  # the attack ran, and what it found is in a visible output
    assert "=READ:" not in shown
    for label in ("installed_check", "installed_pyc", "source_check", "reference", "config"):
        assert f"{label}=denied:" in shown
    assert "listed=0" in shown
    assert attacked["score"] < total

    own = {line.strip() for line in attack.splitlines()}
    for results in (graded, marked, attacked):
        visible = _visible(results)
        assert [line for line in secrets if line in visible and line not in own] == []


@pytest.mark.parametrize("mode", MODES)
def test_a_readable_installed_grader_is_not_graded_and_staff_are_told_why(deployed, mode):
    package_modes = _modes(deployed.installed)
    try:
        subprocess.run(["chmod", "-R", "go+rX", str(deployed.installed)], check=True)
        results, log = deployed.grade({p.name: p.read_text() for p in SOLUTIONS.glob("*.py")}, mode)
    finally:
        subprocess.run(["chmod", "-R", "go-rwx", str(deployed.installed)], check=True)
    assert _modes(deployed.installed) == package_modes
    assert results["output"] == NEUTRAL_LINE
    assert _visible(results).replace("Grading could not run", "").split() == NEUTRAL_LINE.split() * 2
    assert sum(t["score"] for t in results["tests"]) == 0 and "score" not in results
    assert all(t["status"] == "failed" for t in results["tests"])
    shown_to_staff = [t["output"] for t in results["tests"] if t["visibility"] == "hidden"]
    assert len(shown_to_staff) == 1 and "student code could read" in shown_to_staff[0]
    assert str(deployed.installed) in shown_to_staff[0]
    assert "student code could read" in log
