"""``autograder doctor`` says what student code could reach on this machine, and how to fix it.

Its answers come from a child made like every other (the start-up exposure check's probe), so a
test that hides bubblewrap on a kernel without Landlock must see the reference, the config, the checks
and other students' files turn readable, each with a command that fixes it; in bubblewrap, or where
Landlock confines children to what bubblewrap would show them, all of them out of reach.
"""
import os
import subprocess
import sys

import pytest

from autograder.sandbox.child.limits import landlock_abi
from autograder.sandbox.isolation import detect

from .conftest import ROOT, SOLUTIONS


def _doctor(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder.cli", "doctor", "--submissions", str(SOLUTIONS)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT, env=dict(os.environ, **env))


@pytest.mark.skipif(os.geteuid() != 0, reason="children get a uid of their own only when the grader is root")
@pytest.mark.skipif(landlock_abi() > 0, reason="Landlock keeps this world-readable repository out of children's reach")
def test_without_bubblewrap_the_doctor_names_each_readable_secret_and_its_fix():
    done = _doctor({"AUTOGRADER_ISOLATION": "fallback", "AUTOGRADER_ACCEPT_RISK": ""})
    lines = done.stdout.splitlines()
    assert done.returncode == 1, done.stdout + done.stderr
    assert any(line.startswith("WARN sandbox: fallback") for line in lines)
    for topic in ("the reference", "the grader's checks", "other students' files"):  # the repository is world-readable
        index = next(i for i, line in enumerate(lines) if line.startswith(f"FIX  {topic}: readable by student code"))
        assert lines[index + 1].strip().startswith("$ chmod -R o-rwx "), lines[index:index + 2]
    assert lines[-1].endswith("to fix before grading")


@pytest.mark.skipif(detect().mode != "bwrap", reason="bubblewrap is not usable here")
def test_in_bubblewrap_the_doctor_finds_nothing_in_reach():
    done = _doctor({})
    assert done.returncode == 0, done.stdout + done.stderr
    for topic in ("sandbox: bwrap", "network: unreachable", "the reference: out of reach",
                  "other students' files: out of reach", "Gradescope bundle: builds"):
        assert any(line.startswith(f"ok   {topic}") for line in done.stdout.splitlines()), topic
    assert done.stdout.splitlines()[-1] == "ready to grade"


@pytest.mark.skipif(os.geteuid() != 0, reason="children get a uid of their own only when the grader is root")
@pytest.mark.skipif(landlock_abi() == 0, reason="this kernel has no Landlock")
def test_without_bubblewrap_landlock_keeps_a_world_readable_repository_out_of_reach():
    """The repository is world-readable, yet a child opens only what bubblewrap would show it."""
    done = _doctor({"AUTOGRADER_ISOLATION": "fallback", "AUTOGRADER_ACCEPT_RISK": ""})
    lines = done.stdout.splitlines()
    for topic in ("the reference: out of reach", "the grader's checks: out of reach", "other students' files: out of reach"):
        assert any(line.startswith(f"ok   {topic}") for line in lines), (topic, done.stdout)
