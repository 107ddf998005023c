"""``autograder doctor``: what this machine gives student code, before any grading.

Each finding says what holds, and when something is wrong the exact command that fixes it. The
answers come from the same code grading uses, never from a second opinion: ``isolation.detect`` picks
the sandbox mode, and a child made like every other (``Zygote.readable``, as the start-up exposure
check does) tries to read the reference, the config, the grader's checks and any other files named
(other students' hand-ins). The network is judged from the mode: bubblewrap gives a child no network
namespace at all, and seccomp refuses ``socket()`` in either mode.
"""
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Finding", "diagnose"]


@dataclass
class Finding:
    """One line of the doctor's answer: ``ok`` (fine), ``warn`` (works, weaker) or ``bad`` (fix before grading)."""

    topic: str
    level: str
    says: str
    fixes: list[str] = field(default_factory=list)  # commands, in the order to run them


def _sandbox(isolation) -> Finding:
    if isolation.mode == "bwrap":
        return Finding("sandbox", "ok", "bwrap: bubblewrap runs student code with no network and only /usr and "
                                        "Python visible" + ("" if isolation.uid is None else f", as uid {isolation.uid}"))
    why = "; ".join(isolation.notes) or "bubblewrap is not usable here"
    fixes = []
    if shutil.which("bwrap") is None:
        fixes.append("sudo apt-get install bubblewrap" if shutil.which("apt-get") else
                     "install bubblewrap with your system's package manager (Linux only)")
    elif "namespace" in why or "Operation not permitted" in why or "failed" in why:
        fixes.append("sudo sysctl -w kernel.unprivileged_userns_clone=1  # or run the grader as root, "
                     "or give the container user namespaces (docker run --security-opt seccomp=unconfined)")
    if isolation.uid is None:
        fixes.append("run the grader as root, so student code runs as a uid of its own")
    return Finding("sandbox", "warn", f"fallback ({why}): student code sees every file its uid may read", fixes)


def _network(isolation) -> Finding:
    if isolation.mode == "bwrap":
        return Finding("network", "ok", "unreachable: no network namespace (not even loopback)")
    if isolation.seccomp:
        return Finding("network", "ok", "unreachable: seccomp refuses socket() (no namespace: the host's network "
                                        "would be there for a call seccomp did not know)")
    return Finding("network", "bad", "reachable: no bubblewrap and no seccomp filter on this platform",
                   ["sudo apt-get install bubblewrap  # on Linux x86_64 or aarch64; elsewhere grade on such a machine"])


def _exposure(zygote, settings: dict, reference_dir: Path, config_file: str | None, others: list[Path]) -> list[Finding]:
    from .sandbox.exposure import PACKAGE, secret_paths

    secrets = secret_paths(reference_dir, config_file)
    readable = set(zygote.readable(secrets + [str(p) for p in others], settings))
    groups = [("the reference", [p for p in secrets if Path(p).is_relative_to(reference_dir)], reference_dir),
              ("the grading config", [config_file] if config_file else [], Path(config_file or ".").parent),
              ("the grader's checks", [p for p in secrets if Path(p).is_relative_to(PACKAGE)], PACKAGE),
              ("other students' files", [str(p) for p in others], None)]
    findings = []
    for what, paths, folder in groups:
        if not paths:
            continue
        reached = [p for p in paths if p in readable]
        if not reached:
            findings.append(Finding(what, "ok", f"out of reach ({len(paths)} file{'s' if len(paths) != 1 else ''} tried)"))
            continue
        if what == "other students' files":
            fixes = [f"chmod -R o-rwx {os.path.commonpath(reached) if len(reached) > 1 else Path(reached[0]).parent}"
                     "  # the folder of hand-ins, readable by you alone"]
        elif what == "the grading config":
            fixes = [f"chmod o-rwx {config_file}"]
        else:
            fixes = [f"chmod -R o-rwx {folder}"]
        if zygote.isolation.uid is None:
            fixes = ["sudo apt-get install bubblewrap  # children then see none of these files",
                     "or run the grader as root: children get a uid of their own, and then: " + fixes[0]]
        findings.append(Finding(what, "bad", f"readable by student code: {len(reached)} of {len(paths)} files, "
                                              f"e.g. {reached[0]}", fixes))
    return findings


def _gradescope(config) -> Finding:
    """Would the Gradescope bundle's set-up work: it builds, its scripts parse, its Python is new enough."""
    import zipfile

    from .release.gradescope import build_gradescope_bundle

    problems = []
    with tempfile.TemporaryDirectory(prefix="autograder-doctor-") as scratch:
        bundle = Path(scratch) / "bundle.zip"
        try:
            build_gradescope_bundle(bundle, config=config)
            with zipfile.ZipFile(bundle) as archive:  # the scripts as Gradescope will run them
                scripts = {name: archive.read(name).decode() for name in ("setup.sh", "run_autograder")}
        except Exception as error:  # noqa: BLE001 -- whatever stops the build is the finding
            problems.append(f"the bundle does not build ({error})")
            scripts = {}
        for name, script in scripts.items():
            path = Path(scratch) / name
            path.write_text(script)
            done = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
            if done.returncode != 0:
                problems.append(f"{name} does not parse ({done.stderr.strip().splitlines()[-1]})")
    if problems:
        return Finding("Gradescope bundle", "bad", "; ".join(problems),
                       ["autograder export gradescope autograder.zip  # after fixing the above, to see the whole error"])
    return Finding("Gradescope bundle", "ok", "builds; setup.sh and run_autograder parse; setup.sh installs "
                                              "bubblewrap with apt-get, Python 3.11+ and torch, and makes the "
                                              "reference and the grader root's alone")


def diagnose(config, others: list[Path] = ()) -> list[Finding]:
    """Every finding for this machine and ``config``; ``others``: files of other students to try to read."""
    from .sandbox.isolation import detect
    from .sandbox.launcher import child_settings
    from .sandbox.zygote_client import Zygote

    isolation = detect()
    findings = [_sandbox(isolation), _network(isolation)]
    zygote = Zygote(isolation=isolation, preload=config.packages.preload())
    try:
        findings += _exposure(zygote, child_settings(config.limits), config.reference_dir(), config.source_path,
                              list(others))
    finally:
        zygote.shutdown()
    findings.append(_gradescope(config))
    if sys.version_info < (3, 11):
        findings.append(Finding("python", "bad", f"Python {sys.version.split()[0]}: the grader needs 3.11+",
                                ["make setup PYTHON=python3.11"]))
    accepted = os.environ.get("AUTOGRADER_ACCEPT_RISK") == "1"
    if accepted:
        findings.append(Finding("risk", "warn", "AUTOGRADER_ACCEPT_RISK=1 is set: grading goes on even where student "
                                                "code could read the reference", ["unset AUTOGRADER_ACCEPT_RISK"]))
    return findings
