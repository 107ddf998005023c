"""Hostile submissions are contained: only the attacked component loses points, nothing leaks.

Every attack in ``tests/hostile/`` is appended to the reference ``attention.py``, so it runs in the
children of SelfAttention and AttnResBlock (both live in that module). Each test asserts that the
other components keep full marks, that the attack did not win points it should not, that nothing
outside the output folder changed, and that no process of the sandbox uid is left behind.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from autograder.cli import app
from autograder.config import load_config
from autograder.grader import Grader
from autograder.sandbox.child.limits import landlock_abi
from autograder.sandbox.isolation import detect

from .conftest import SOLUTIONS, full_outputs
from .release_support import short_limits
from .test_trust import assert_safe_report

HOSTILE = Path(__file__).with_name("hostile")
ATTACKED = {"SelfAttention", "AttnResBlock"}
WRONG = '''
_reference_forward = SelfAttention.forward


def _wrong_forward(self, x, return_weights=False):
    result = _reference_forward(self, x, return_weights)
    if return_weights:
        return result[0] * 2, result[1]
    return result * 2


SelfAttention.forward = _wrong_forward
'''
MODE = detect().mode


@dataclass(frozen=True)
class Attack:
    name: str
    # "zero": both attacked components score 0; "loses": ``loser`` < max; "any"; "skipped": the
    # attack is top-level code, which is left out (the message is in the notes) -- the classes are graded
    outcome: str
    message: str = ""  # a phrase the student sees on the attacked checks (or, "skipped", in the notes)
    # contained only where children may open nothing outside what bubblewrap shows them: bwrap, or
    # a kernel with Landlock (``child.limits.confine_files``; see README "Security model")
    needs_confinement: bool = False
    loser: str = "SelfAttention"


ATTACKS = [
    Attack("hang", "skipped", "attention.py: its top-level code did not finish"),
    Attack("memory_bomb", "skipped", "its top-level code raised MemoryError"),
    Attack("fork_bomb", "skipped", "attention.py: its top-level code did not finish"),
    Attack("detached_grandchild", "any"),
    Attack("segfault", "skipped", "attention.py: its top-level code did not finish"),
    Attack("syntax_error", "skipped", "(SyntaxError): lines"),  # the broken statement alone is left out
    Attack("os_exit", "skipped", "attention.py: its top-level code did not finish"),
    Attack("system_exit", "skipped", "its top-level code raised SystemExit"),
    Attack("read_solutions", "skipped", "its top-level code raised RuntimeError: no reference found",
           needs_confinement=True),
    Attack("read_classmates", "skipped", "its top-level code raised RuntimeError: nothing of a classmate found",
           needs_confinement=True),
    Attack("write_files", "any"),
    Attack("loopback_socket", "any"),
    Attack("tamper_zygote", "any"),
    Attack("cheat_fake_json", "loses"),
    Attack("cheat_patch_compare", "loses"),
    Attack("cheat_torch_function_mode", "loses"),
    Attack("cheat_tensor_subclass", "loses"),
    Attack("cheat_find_reference", "loses"),
    # the door: replies that are not what was asked, or arrive too slowly, or are too large
    Attack("forge_reply", "loses", "malformed reply"),
    Attack("forge_tensor_shape", "loses", "malformed reply"),
    Attack("drip_reply", "loses", "killed after 3 s"),
    Attack("huge_reply", "loses"),
    Attack("odd_outputs", "loses"),
    Attack("exit_on_third_call", "loses", "exited with status 3"),
    # what a child holds: the reference of its dependencies, as code only
    Attack("leak_stand_in", "loses", "RuntimeError", loser="AttnResBlock"),
    Attack("flood_files", "any"),
    Attack("new_user_namespace", "skipped", "its top-level code raised RuntimeError: no namespace gained"),
    Attack("limit_another_process", "skipped", "its top-level code raised RuntimeError: no other process's limits changed"),
    # a lock on a file every child can read is a number another child reads while both run
    Attack("lock_a_file", "skipped", "its top-level code raised RuntimeError: locks: no lock taken"),
    # texts that would break a writer or a page: lone surrogates, NULs, RTL overrides, HTML, formulas, 1 MB
    Attack("hostile_strings", "loses", "ValueError"),
]


MODES = ["bwrap", "fallback"] if MODE == "bwrap" else ["fallback"]


@pytest.fixture(scope="module", params=MODES)
def hostile_grader(request, config):
    """A grader per sandbox mode this machine has: every attack is tried in both where bwrap works.

    The fallback mode here runs as root over a world-readable checkout, so it accepts the risk of
    readable files (that is tested on its own, in test_exposure.py); everything else holds.
    """
    from autograder.sandbox.launcher import Zygote

    isolation = detect(sys.executable, request.param)
    os.environ["AUTOGRADER_ACCEPT_RISK"] = "1"
    try:
        with Zygote(isolation=isolation, preload=config.packages.preload()) as zygote, \
                Grader(short_limits(config), zygote=zygote) as shared:
            yield shared
    finally:
        os.environ.pop("AUTOGRADER_ACCEPT_RISK", None)


@pytest.fixture
def listener():
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.5)
    yield server
    server.close()


@pytest.fixture(scope="module")
def classmate():
    """A class folder anyone may read (as a TA's often is), with another student's hand-in in it."""
    folder = Path(tempfile.mkdtemp(prefix="autograder-class-"))
    os.chmod(folder, 0o755)
    (folder / "alice").mkdir(mode=0o755)
    (folder / "alice" / "attention.py").write_text("# a classmate's work\n")
    os.chmod(folder / "alice" / "attention.py", 0o644)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def sandbox_processes(grader) -> list[int]:
    """Live processes of the sandbox uid (only meaningful when children run as a uid of their own)."""
    uid = grader.zygote.isolation.uid if grader.zygote else None
    if uid is None:
        return []
    found = []
    for entry in os.listdir("/proc"):
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except (OSError, ValueError):
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("Uid", "").split()[:1] == [str(uid)] and fields.get("State", "").split()[:1] != ["Z"]:
            found.append(int(entry))
    return found


def tree_snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.name)
def test_attack_is_contained(hostile_grader, make_submission, listener, classmate, tmp_path, attack):
    mode = hostile_grader.zygote.isolation.mode
    if attack.needs_confinement and mode != "bwrap" and not landlock_abi():
        pytest.skip("reading world-readable files is contained only with bubblewrap or Landlock")
    out = tmp_path / "out"
    out.mkdir()
    marker = f"hostile-{uuid.uuid4().hex}"
    source = (HOSTILE / f"{attack.name}.py").read_text()
    for key, value in {"@PORT@": str(listener.getsockname()[1]), "@SOLUTIONS@": str(SOLUTIONS),
                       "@OUT@": str(out), "@SUBMISSION@": str(tmp_path / "submission"), "@MARKER@": marker,
                       "@CLASSMATE@": str(classmate)}.items():
        source = source.replace(key, value)
    reference = (SOLUTIONS / "attention.py").read_text()
    wrong = WRONG if attack.name.startswith("cheat_") else ""
    submission = make_submission({"attention": reference + wrong + "\n" + source})
    solutions_before = tree_snapshot(SOLUTIONS)
    submission_before = tree_snapshot(submission)

    report = hostile_grader.grade(submission)

    scores = report.component_scores()
    for name, (score, max_score) in scores.items():
        if name not in ATTACKED:
            assert score == max_score, f"{attack.name}: {name} lost points ({score}/{max_score})"
    outputs = "\n".join(full_outputs(report)[c.name] for c in report.checks if c.component in ATTACKED)
    if attack.outcome == "skipped":
        notes = "\n".join(report.notes)
        assert attack.message in notes, f"{attack.name}: expected {attack.message!r} in the notes:\n{notes}"
    elif attack.outcome == "zero":
        assert [scores[n][0] for n in sorted(ATTACKED)] == [0, 0], f"{attack.name}: {scores}"
        assert attack.message in outputs, f"{attack.name}: expected {attack.message!r} in:\n{outputs[:2000]}"
    elif attack.outcome == "loses":
        score, max_score = scores[attack.loser]
        assert score < max_score, f"{attack.name}: the cheat won {attack.loser} {score}/{max_score}"
        assert attack.message in outputs, f"{attack.name}: expected {attack.message!r} in:\n{outputs[:2000]}"
    with pytest.raises(socket.timeout):
        listener.accept()  # the loopback listener heard nothing
    assert list(out.iterdir()) == []
    assert not Path("results.json").exists() or "stolen" not in Path("results.json").read_text()
    assert tree_snapshot(SOLUTIONS) == solutions_before
    assert tree_snapshot(submission) == submission_before
    if mode == "bwrap":
        assert not Path("/tmp", marker).exists()
    assert not any("flood: created" in note for note in report.notes), report.notes  # not even in a private /tmp
    for folder in ("/tmp", "/dev/shm", "/var/tmp"):  # no file may be made anywhere, in either mode
        assert not list(Path(folder).glob(f"{marker}*")), f"{attack.name} left files in {folder}"
    assert report.status in ("graded", "needs_review"), report.review  # whatever it did, it was graded
    assert_safe_report(report)  # every text a writer will see passed the safe-text boundary
    assert sandbox_processes(hostile_grader) == [], f"{attack.name}: processes left behind"


@pytest.mark.parametrize("attack", ["tamper_zygote", "exit_on_third_call", "forge_reply", "drip_reply", "huge_reply"])
def test_grading_goes_on_after_an_attack(hostile_grader, make_submission, attack):
    """After a hostile submission, the next (clean) one in the same grader gets full marks: a child
    that dies on a case asked ahead, or breaks the protocol, costs its own student only."""
    source = (SOLUTIONS / "attention.py").read_text() + (HOSTILE / f"{attack}.py").read_text()
    attacked = make_submission({"attention": source})
    hostile_grader.grade(attacked)
    shutil.rmtree(attacked)
    report = hostile_grader.grade(make_submission())
    assert report.score == report.max_score, [c.output for c in report.checks if not c.passed][:3]


def test_no_line_of_the_reference_reaches_the_feedback(hostile_grader, make_submission):
    """A child holding the reference SelfAttention (for AttnResBlock) raises its source, line cache,
    loader, disassembly and marshalled bytes: the feedback shows none of it."""
    from autograder.redact import HIDDEN, normalise
    from autograder.release.stubs import solution_lines

    source = (SOLUTIONS / "attention.py").read_text()
    report = hostile_grader.grade(make_submission({"attention": source + (HOSTILE / "leak_stand_in.py").read_text()}))
    shown = "\n".join([c.output for c in report.checks] + report.notes)
    secret = [line for line in map(normalise, solution_lines(source)) if len(line) >= 12]
    own_file = {normalise(line) for line in (SOLUTIONS / "attention.py").read_text().splitlines()}
    # the submission is the reference plus the attack, so its own lines may show; the stand-in's code,
    # which is all a child holds of the reference, must not (no source, no line numbers, no bytes)
    assert "built-in class" in shown or "could not get source" in shown  # no source to get
    assert HIDDEN in shown  # the disassembly and the marshalled code were taken out
    assert "<reference>" not in shown or "line None" not in shown
    assert [line for line in secret if line in shown and line not in own_file] == []


def test_what_a_child_sends_cannot_swamp_the_report(hostile_grader, make_submission, tmp_path):
    """A 3 MB error and millions of JSON items: each check's text is capped, results.json stays small."""
    from autograder.redact import MAX_OUTPUT_CHARS
    from autograder.results import write_results_json

    source = (SOLUTIONS / "attention.py").read_text() + (HOSTILE / "huge_reply.py").read_text()
    report = hostile_grader.grade(make_submission({"attention": source}))
    assert max(len(c.output) for c in report.checks) <= MAX_OUTPUT_CHARS + 100
    write_results_json(report, tmp_path / "results.json")
    assert (tmp_path / "results.json").stat().st_size < 5 << 20


# --- bad input to the CLI ------------------------------------------------------------------------

@pytest.fixture
def fast_config_file(config, tmp_path) -> Path:
    data = short_limits(config).model_dump(exclude={"source_path"}, exclude_none=True)
    data["reference"] = str(SOLUTIONS)
    path = tmp_path / "grading_config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def grade_cli(*args) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["grade", *map(str, args)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def results_of(path: Path) -> dict:
    return {t["name"]: t["score"] for t in json.loads(path.read_text())["tests"]}


def not_graded(path: Path) -> bool:
    """results.json of a hand-in nothing could be graded on: a zero, no tests, one notice saying why."""
    results = json.loads(path.read_text())
    return results["score"] == 0 and results["tests"] == [] and "Not graded: " in results["output"]


def test_a_zip_of_the_reference_gets_full_marks(tmp_path, fast_config_file):
    archive = tmp_path / "sub.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for module in SOLUTIONS.glob("*.py"):
            zipped.write(module, f"my_unet/{module.name}")
        zipped.writestr("__MACOSX/my_unet/._unet.py", b"\x00\x05\x16\x07junk")
    results = tmp_path / "out" / "results.json"
    code, stdout, _ = grade_cli(archive, "--results", results, "--config", fast_config_file)
    assert code == 0
    total = load_config(fast_config_file).total_points
    lines = stdout.splitlines()
    assert re.search(rf"^total +{total:g} / {total:g} ", lines[-1])
    assert len({line.index(" / ") for line in lines if " / " in line}) == 1  # every score in one column


@pytest.mark.parametrize("entry", ["../escaped.py", "/tmp/escaped.py"])
def test_a_zip_with_an_unsafe_path_is_refused_and_written_nowhere(tmp_path, fast_config_file, entry):
    archive = tmp_path / "inner" / "sub.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("unet.py", "x = 1\n")
        zipped.writestr(entry, "print('escaped')\n")
    results = tmp_path / "out" / "results.json"
    code, _, stderr = grade_cli(archive, "--results", results, "--config", fast_config_file)
    assert code == 0 and "unsafe path" in stderr
    assert set(results_of(results).values()) == {0}
    assert not (tmp_path / "escaped.py").exists() and not Path("/tmp/escaped.py").exists()


@pytest.mark.parametrize("junk", [b"PK\x03\x04 this is not really a zip", b"\x00" * 100])
def test_a_junk_zip_is_one_clear_message(tmp_path, fast_config_file, junk):
    archive = tmp_path / "sub.zip"
    archive.write_bytes(junk)
    results = tmp_path / "out" / "results.json"
    code, _, stderr = grade_cli(archive, "--results", results, "--config", fast_config_file)
    assert code == 0 and "not a readable zip file" in stderr
    assert not_graded(results)


def test_a_notebook_instead_of_modules_says_how_to_export(tmp_path, fast_config_file):
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "unet.ipynb").write_text('{"cells": []}')
    results = tmp_path / "out" / "results.json"
    for path in (folder, folder / "unet.ipynb"):
        code, _, stderr = grade_cli(path, "--results", results, "--config", fast_config_file)
        assert code == 0 and "unet.ipynb holds no code cells we could read" in stderr
        assert set(results_of(results).values()) == {0}


def test_a_missing_path_is_one_error_line(tmp_path):
    code, _, stderr = grade_cli(tmp_path / "nope", "--results", tmp_path / "r.json")
    assert code == 2 and stderr.count("\n") == 1 and stderr.startswith("error: ")
    assert "Traceback" not in stderr


def test_bad_files_zero_only_their_component(hostile_grader, make_submission, tmp_path):
    """Non-UTF-8 source, a 2 GB (sparse) module and a link to a file outside: each a clear message."""
    submission = make_submission()
    (submission / "attention.py").write_bytes(b"# caf\xe9\nx = 1\n")
    big = submission / "up_block.py"
    big.unlink()
    with open(big, "wb") as handle:
        handle.truncate(2 << 30)
    (submission / "down_block.py").unlink()
    (submission / "down_block.py").symlink_to(SOLUTIONS / "down_block.py")
    report = hostile_grader.grade(submission)
    scores = report.component_scores()
    outputs = full_outputs(report)
    messages = {c.component: outputs[c.name] for c in report.checks if not c.passed}
    assert "SelfAttention is not defined" in messages["SelfAttention"]  # a comment in Windows-1252: read as such
    assert any("attention.py is not UTF-8 (byte 5); it was read as Windows-1252" in n for n in report.notes)
    assert "over the 512 KiB limit" in messages["UpBlock"]
    assert "is a link" in messages["DownBlock"]
    for name in ("SelfAttention", "AttnResBlock", "UpBlock", "DownBlock", "Integration"):
        assert scores[name][0] == 0, name
    for name in ("TimeEmbedding", "ResBlock", "SimpleUNet"):
        assert scores[name][0] == scores[name][1], name


# --- nothing passes from one child to a later one ------------------------------------------------

CHANNELS = {"SysV shm", "SysV msg", "SysV sem", "POSIX mqueue", "keyring", "abstract socket", "process", "/tmp",
            "/dev/shm", "shared file", "access time", "stdio lock", "stdio flags", "fork server's counts",
            "PID counter", "machine-wide counters"}
# What a child may still do, on what is its own alone and dies with it: start a process (killed), lock
# or flag its own /dev/null, move the counts of whoever reaps it (which no later child can read).
ITS_OWN = {"process", "stdio lock", "stdio flags", "fork server's counts"}
# Closed only where the grader is root: a /proc and a PID namespace of the child's own (README "Security model").
ONLY_AS_ROOT = {"fork server's counts", "PID counter", "machine-wide counters"}


@pytest.fixture
def channels():
    """A marker for leave_behind.py and look_behind.py, a file that any uid may write (0666, in a
    folder anyone may enter): an existing file is a channel too, and a file a child may read, not read
    since it changed (in the virtualenv, which children see): on a ``relatime`` file system its first
    read sets its access time, for a later child to ``stat``. Whatever escaped is removed after."""
    marker = f"hostile-{uuid.uuid4().hex[:12]}"
    folder = Path(tempfile.mkdtemp(prefix="autograder-shared-"))
    folder.chmod(0o755)
    shared = folder / "shared.txt"
    shared.write_text("")
    shared.chmod(0o666)
    fresh = Path(sys.prefix) / f"{marker}.txt"
    fresh.write_text("never read\n")
    fresh.chmod(0o644)
    changed = fresh.stat().st_mtime_ns
    os.utime(fresh, ns=(changed - 10 ** 9, changed))  # accessed before it changed: the next read updates it
    yield marker, shared
    _remove_channels(marker)
    fresh.unlink(missing_ok=True)
    shutil.rmtree(folder, ignore_errors=True)


def _remove_channels(marker: str) -> None:
    import ctypes
    import signal
    import zlib

    libc = ctypes.CDLL(None, use_errno=True)
    key = zlib.crc32(marker.encode()) & 0x7FFFFFFF
    for get, remove in ((lambda: libc.shmget(key, 0, 0), lambda i: libc.shmctl(i, 0, None)),
                        (lambda: libc.msgget(key, 0), lambda i: libc.msgctl(i, 0, None)),
                        (lambda: libc.semget(key, 0, 0), lambda i: libc.semctl(i, 0, 0))):
        ident = get()
        if ident >= 0:
            remove(ident)
    libc.mq_unlink(f"/{marker}".encode())
    for folder in ("/tmp", "/var/tmp", "/dev/shm"):
        Path(folder, marker).unlink(missing_ok=True)
    for entry in os.listdir("/proc"):
        try:
            if Path(f"/proc/{entry}/comm").read_text().strip() == marker[:15]:
                os.kill(int(entry), signal.SIGKILL)
        except (OSError, ValueError):
            pass


def channel_attack(name: str, marker: str, shared: Path) -> str:
    fresh = Path(sys.prefix) / f"{marker}.txt"
    return (HOSTILE / f"{name}.py").read_text().replace("@MARKER@", marker).replace("@SHARED@", str(shared)) \
        .replace("@FRESH@", str(fresh))


def said(notes, prefix: str) -> set[str]:
    """The channels a note ``<prefix>: a, b`` names (the attack's last words, kept in the notes)."""
    found = set()
    for note in notes:
        if prefix + ": " in note:
            listed = note.split(prefix + ": ", 1)[1].split(";")[0]
            found |= {item.strip() for item in listed.split(",")} - {"nothing"}
    return found


def _mount_options(path: str) -> list[str]:
    """The options of the mount ``path`` lies on (the longest mount point above it)."""
    best, options = "", []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if (path == fields[1] or path.startswith(fields[1].rstrip("/") + "/")) and len(fields[1]) >= len(best):
            best, options = fields[1], fields[3].split(",")
    return options


def test_the_probes_find_what_is_left_without_a_sandbox(channels, tmp_path):
    """Calibration: outside any sandbox, what leave_behind.py leaves, look_behind.py finds -- so
    "found nothing" in the sandboxed test below means the channels were closed, not that the probes are blind."""
    marker, shared = channels
    with open(os.devnull, "rb") as null:  # one open file description, held here, as a fork server holds its own
        for name in ("leave_behind", "look_behind"):
            done = subprocess.run([sys.executable, "-c", channel_attack(name, marker, shared)], cwd=tmp_path,
                                  stdin=null, capture_output=True, text=True, timeout=60)
        assert "behind: " in done.stderr, done.stderr[-2000:]
    found = said(done.stderr.splitlines(), "looked behind")
    missing = CHANNELS - found
    if os.geteuid() != 0 or not Path("/dev/mqueue").is_dir():
        missing -= {"POSIX mqueue", "keyring"}  # where a container hides them, the sandbox cannot be tested on them
    if any(option in ("noatime", "strictatime") for option in _mount_options(sys.prefix)):
        missing -= {"access time"}  # never updated, or updated on every read: no such one-way channel to test
    assert not missing, f"the probes missed {sorted(missing)} even unsandboxed (found {sorted(found)})"


def test_nothing_passes_from_one_child_to_any_later_child(hostile_grader, make_submission, channels):
    """A child leaves a marker in every channel we can name; later children of the same submission
    and of the next one look for it, and find nothing -- in both sandbox modes."""
    marker, shared = channels
    reference = {module: (SOLUTIONS / f"{module}.py").read_text() for module in ("attention", "analysis")}
    looking = reference["analysis"] + "\n" + channel_attack("look_behind", marker, shared)
    first = make_submission({"attention": reference["attention"] + "\n" + channel_attack("leave_behind", marker, shared),
                             "analysis": looking}, name="first")
    second = make_submission({"analysis": looking}, name="second")

    reports = [hostile_grader.grade(first), hostile_grader.grade(second)]

    assert "left behind: " in "\n".join(reports[0].notes), reports[0].notes  # the attack ran
    hidden = hostile_grader.zygote.isolation.uid is not None  # a uid and a /proc of its own (README: not root)
    for report in reports:
        found = said(report.notes, "looked behind") - (set() if hidden else ONLY_AS_ROOT)
        assert found == set(), f"{report.submission}: a later child found {sorted(found)}"
        assert ("looked behind: nothing" if hidden else "looked behind: ") in "\n".join(report.notes), report.notes
    left = said(reports[0].notes, "left behind")
    assert left <= ITS_OWN, f"a child made {sorted(left)}"  # the sandbox refused every channel but its own things
    for report in reports:
        for name in ("TimeEmbedding", "ResBlock", "SelfAttention", "ShapeTrace"):
            score, max_score = report.component_scores()[name]
            assert score == max_score, f"{name}: {score}/{max_score}"
    assert shared.read_text() == ""
    assert hostile_grader.zygote.swept == []  # the allow-list held: the reaper found nothing to remove
    assert sandbox_processes(hostile_grader) == []
