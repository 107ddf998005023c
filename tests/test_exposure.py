"""A child can read neither the reference, nor grading_config.yaml, nor the grader's checks -- or
grading does not start (sandbox/exposure.py). In bubblewrap they are not there at all; without it,
file permissions must hide them, and the grader looks before grading anyone."""
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.sandbox.child.limits import landlock_abi
from autograder.sandbox.exposure import secret_paths
from autograder.sandbox.isolation import CHILD_FOLDER, Isolation, detect
from autograder.sandbox.launcher import Zygote, child_settings

from .conftest import ROOT, SOLUTIONS

HOSTILE = Path(__file__).with_name("hostile")


def _grade(folder, *, env=None, cwd=ROOT, python_path=None):
    environment = dict(os.environ, **(env or {}))
    if python_path:
        environment["PYTHONPATH"] = str(python_path)
    return subprocess.run([sys.executable, "-m", "autograder.cli", "grade", str(folder), "--results",
                           str(Path(folder).parent / "results.json"), *(["--config", str(cwd / "grading_config.yaml")])],
                          capture_output=True, text=True, timeout=900, cwd=cwd, env=environment)


@pytest.mark.skipif(detect().mode != "bwrap", reason="bubblewrap is not usable here")
def test_in_bubblewrap_no_secret_is_there_to_read(config):
    with Zygote(isolation=detect()) as zygote:
        assert zygote.readable(secret_paths(config.reference_dir(), config.source_path), child_settings(config.limits)) == []
        assert zygote.readable([sys.executable], child_settings(config.limits)) == [sys.executable]  # the probe works


def test_an_installed_grader_package_is_hidden_inside_bubblewrap(tmp_path, monkeypatch):
    """Installed (not editable) into the venv bubblewrap shows: an empty folder is mounted over it."""
    venv = tmp_path / "venv"
    package = venv / "lib" / "python3.11" / "site-packages" / "autograder"
    (package / "sandbox" / "child").mkdir(parents=True)
    (venv / "bin").mkdir()
    (venv / "bin" / "python").symlink_to(sys.executable)
    monkeypatch.setattr("autograder.sandbox.isolation.CHILD_FOLDER", package / "sandbox" / "child")
    monkeypatch.setattr("autograder.sandbox.isolation._python_roots", lambda python: [venv])
    argv = Isolation("bwrap", 65001, 65001, True).command(str(venv / "bin" / "python"), 3, "{}")
    hidden = argv.index(str(package.resolve()))
    assert argv[hidden - 1] == "--tmpfs" and hidden > argv.index(str(venv))  # after the venv's bind
    assert "/sandbox/child" in argv  # the child's own code is still there, at its own place


@pytest.mark.skipif(os.geteuid() != 0, reason="children get a uid of their own only when the grader is root")
@pytest.mark.skipif(landlock_abi() > 0, reason="Landlock keeps a world-readable reference out of children's reach")
def test_without_bubblewrap_a_readable_reference_stops_grading(tmp_path):
    shutil.copytree(SOLUTIONS, tmp_path / "submission")
    refused = _grade(tmp_path / "submission", env={"AUTOGRADER_ISOLATION": "fallback", "AUTOGRADER_ACCEPT_RISK": ""})
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert lines[-1].startswith("error: student code could read ") and "AUTOGRADER_ACCEPT_RISK=1" in lines[-1]
    assert str(SOLUTIONS) in lines[-1]
    accepted = _grade(tmp_path / "submission", env={"AUTOGRADER_ISOLATION": "fallback", "AUTOGRADER_ACCEPT_RISK": "1"})
    assert accepted.returncode == 0 and "WARNING: student code could read" in accepted.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="children get a uid of their own only when the grader is root")
def test_without_bubblewrap_landlock_keeps_a_world_readable_reference_out_of_reach(config):
    """Children open only what bubblewrap would show them (``child.limits.confine_files``), so the
    world-readable checkout is as hidden as in bubblewrap, and grading needs no accepted risk."""
    if os.geteuid() != 0 or not landlock_abi():
        pytest.skip("needs root (a uid of the children's own) and a kernel with Landlock")
    with Zygote(isolation=detect(sys.executable, "fallback")) as zygote:
        settings = child_settings(config.limits)
        assert zygote.readable(secret_paths(config.reference_dir(), config.source_path), settings) == []
        readable = str(Path(shutil.which("env")).resolve())  # under /usr, world-readable: the probe works
        assert zygote.readable([readable, "/etc/passwd"], settings) == [readable]


@pytest.mark.skipif(os.geteuid() != 0, reason="children get a uid of their own only when the grader is root")
def test_without_bubblewrap_private_files_keep_the_reference_secret(tmp_path):
    """A deployment as setup.sh makes it (the grader's files readable by root only): grading starts,
    and a stub that goes looking for the reference finds nothing."""
    private = tmp_path / "private"
    shutil.copytree(ROOT / "autograder", private / "autograder", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(SOLUTIONS, private / "solutions" / "unet")
    shutil.copy(ROOT / "grading_config.yaml", private / "grading_config.yaml")
    os.chmod(private, 0o700)
    attack = (HOSTILE / "read_solutions.py").read_text().replace("@SOLUTIONS@", str(private / "solutions" / "unet"))
    submission = tmp_path / "submission"
    shutil.copytree(SOLUTIONS, submission)
    (submission / "attention.py").write_text((SOLUTIONS / "attention.py").read_text() + "\n" + attack)
    os.chmod(tmp_path, 0o755)
    graded = _grade(submission, env={"AUTOGRADER_ISOLATION": "fallback", "AUTOGRADER_ACCEPT_RISK": ""}, cwd=private,
                    python_path=private)
    assert graded.returncode == 0, graded.stderr[-2000:]
    assert "WARNING" not in graded.stderr
    assert "no reference found" in graded.stderr  # the attack's own words, in the note on its top-level code


def test_every_copy_of_the_grader_on_the_path_is_a_secret(tmp_path, monkeypatch):
    """A bundle holds two copies: the one it runs (its source folder) and the one installed in its
    venv. Both are walked, bytecode and data files included, and the child's own code too."""
    from autograder.sandbox import exposure

    other = tmp_path / "site-packages" / "autograder"
    (other / "checks" / "__pycache__").mkdir(parents=True)
    (other / "__init__.py").write_text("")
    (other / "checks" / "__pycache__" / "analysis.cpython-311.pyc").write_bytes(b"\0")
    (other / "pages" / "templates").mkdir(parents=True)
    (other / "pages" / "templates" / "page.html.j2").write_text("")
    monkeypatch.setattr(sys, "path", [*sys.path, str(tmp_path / "site-packages")])
    reference = tmp_path / "reference"
    (reference / "__pycache__").mkdir(parents=True)
    (reference / "__pycache__" / "attention.cpython-311.pyc").write_bytes(b"\0")
    paths = exposure.secret_paths(reference, str(ROOT / "grading_config.yaml"))
    assert other.resolve() in exposure.grader_copies() and exposure.PACKAGE in exposure.grader_copies()
    for wanted in [other / "checks" / "__pycache__" / "analysis.cpython-311.pyc",
                   other / "pages" / "templates" / "page.html.j2",
                   reference / "__pycache__" / "attention.cpython-311.pyc",
                   ROOT / "grading_config.yaml", ROOT / "autograder" / "checks" / "analysis.py"]:
        assert str(wanted.resolve()) in paths, wanted


def test_making_secrets_private_locks_every_folder_and_file_and_twice_is_once(tmp_path, monkeypatch):
    from autograder.sandbox import exposure

    copy = tmp_path / "venv" / "autograder"
    (copy / "checks").mkdir(parents=True)
    (copy / "__init__.py").write_text("")
    (copy / "checks" / "analysis.py").write_text("SECRET = 1\n")
    reference = tmp_path / "reference"
    reference.mkdir()
    (reference / "attention.py").write_text("x = 1\n")
    config = tmp_path / "grading_config.yaml"
    config.write_text("reference: reference\n")
    monkeypatch.setattr(exposure, "grader_copies", lambda: [copy])
    for path in [copy, copy / "checks", *copy.rglob("*.py"), reference, config]:
        os.chmod(path, 0o777 if path.is_dir() else 0o666)

    def modes():
        return {p: stat.S_IMODE(p.stat().st_mode) for p in [*tmp_path.rglob("*")] if p != tmp_path / "venv"}

    exposure.make_private(reference, str(config))
    once = modes()
    exposure.make_private(reference, str(config))
    assert modes() == once
    assert {p: m & 0o077 for p, m in once.items()} == {p: 0 for p in once}
    assert once[copy / "checks" / "analysis.py"] == 0o600 and once[copy / "checks"] == 0o700


def test_the_probe_asks_in_requests_the_zygote_accepts():
    """Thousands of long paths (two installed copies with bytecode) go in several requests, none over
    the zygote's 64 KiB, and every readable one comes back."""
    from autograder.sandbox.exposure import PROBE_BYTES, readable_by_child

    class Zygote:
        sizes = []

        def readable(self, paths, settings):
            self.sizes.append(len(json.dumps({"op": "probe", "paths": paths, "settings": settings})))
            return [p for p in paths if p.endswith("7.py")]

    paths = [f"/autograder/venv/lib/python3.11/site-packages/autograder/checks/module_{i:05d}.py" for i in range(3000)]
    zygote = Zygote()
    assert readable_by_child(zygote, paths, {}) == [p for p in paths if p.endswith("7.py")]
    assert len(zygote.sizes) > 1 and max(zygote.sizes) < 64 * 1024 and PROBE_BYTES < 64 * 1024
