"""What students hand in, read without grading (issue 18): every archive kind under the same safety
rules, unreadable formats said with what to do, notebooks limited by their code not their plots,
names kept as written, and a package resolved as ``python -c "import unet"`` resolves it."""
import contextlib
import io
import json
import math
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import types
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autograder.intake import lms
from autograder.intake.discover import discover, safe_name
from autograder.intake import Limits, Refused, read_submission
from autograder.intake.notebooks import exported_cells, loads_as_imports
from autograder.sandbox.child.importer import SourceImporter

from .classroom import MODULES, notebook, one_file, package, plot_output, reference, star_package, tarred, write, zipped

CONTRACT = {"sinusoidal_embedding", "TimeEmbedding", "ResBlock", "DownBlock", "UpBlock", "SimpleUNet",
            "SelfAttention", "AttnResBlock"}


def _read(tmp_path, name: str, content: bytes, limits: Limits = Limits()):
    path = tmp_path / name
    path.write_bytes(content)
    return read_submission(path, limits)


@pytest.mark.parametrize("name,pack", [
    ("hw.zip", lambda files: zipped(files)),
    ("hw.tar", lambda files: tarred(files)),
    ("hw.tar.gz", lambda files: tarred(files, "gz")),
    ("hw.tgz", lambda files: tarred(files, "gz")),
    ("hw.tar.bz2", lambda files: tarred(files, "bz2")),
    ("hw.tar.xz", lambda files: tarred(files, "xz")),
    ("misnamed.zip", lambda files: tarred(files, "gz")),  # what it is, not what it is called
])
def test_every_archive_kind_gives_the_modules_a_folder_gives(tmp_path, name, pack):
    files = package("unet/", reference())
    folder = read_submission(write(tmp_path / "folder", files))
    packed = _read(tmp_path, name, pack(files))
    assert packed.sources == folder.sources and packed.symbols == folder.symbols
    assert set(packed.symbols) >= CONTRACT and not packed.review


@pytest.mark.parametrize("where", ["hw.zip", "folder/hw.zip"])
def test_a_zip_larger_than_the_limit_gives_its_code_and_leaves_out_its_checkpoint(tmp_path, where):
    """A checkpoint saved beside the code makes the zip larger than everything the grader reads of a
    hand-in: the zip is read member by member, so its code is graded and the checkpoint never read."""
    files = package("unet/", reference()) | {"unet/model.pt": os.urandom(3 << 20)}  # stored, not compressed
    limits = Limits(max_total_bytes=2 << 20)
    path = write(tmp_path, {where: zipped(files)}) / where
    submission = read_submission(path if where == "hw.zip" else path.parent, limits)
    assert set(submission.symbols) >= CONTRACT and not submission.review
    assert submission.sources == read_submission(write(tmp_path / "plain", package("unet/", reference()))).sources


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="Python 3.12 reads such f-strings")
def test_an_f_string_that_python_3_12_reads_is_the_environments_problem(tmp_path):
    """Quotes reused inside an f-string's braces (PEP 701, Python 3.12, as Colab runs it): still the
    component's syntax error, with a hint that says why, and a problem of the environment for the TA."""
    from autograder.checks.hints import explain

    files = package("", reference())
    files["analysis.py"] += '\ndef skip_ablation(steps=50):\n    return f"{EXPERIMENT_SETTINGS["steps"]} steps"\n'
    submission = read_submission(write(tmp_path / "hand-in", files))
    assert submission.component_problem("ShapeTrace") is None  # the rest of analysis.py is graded
    problem = submission.component_problem("SkipAblation")
    assert problem.startswith("SyntaxError: analysis.py") and "f-string" in problem
    assert [e for e in submission.environment if "analysis.py" in e and "valid from Python 3.12" in e]
    assert "3.12" in explain(problem, "SkipAblation")
    assert "3.12" not in (explain("SyntaxError: unet.py, line 3: invalid syntax", "SimpleUNet") or "")


def _hostile_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        def add(name, data=b"", kind=tarfile.REGTYPE, target=""):
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.size = kind, target, len(data)
            archive.addfile(info, io.BytesIO(data))
        for module, text in reference().items():
            add(f"unet/{module}.py", text.encode())
        add("../escape.py", b"print('outside')\n")
        add("/etc/absolute.py", b"print('absolute')\n")
        add("unet/link.py", kind=tarfile.SYMTYPE, target="/etc/passwd")
        add("unet/hard.py", kind=tarfile.LNKTYPE, target="unet/unet.py")
        add("unet/fifo", kind=tarfile.FIFOTYPE)
    return buffer.getvalue()


def test_a_tar_obeys_the_zip_rules(tmp_path):
    submission = _read(tmp_path, "hw.tar.gz", _hostile_tar())
    assert set(submission.symbols) >= CONTRACT
    assert all("escape" not in f and "absolute" not in f for f in submission.files)
    left_out = dict(submission.left_out)
    assert "outside" in left_out["../escape.py"] and "outside" in left_out["etc/absolute.py"]
    assert "a link" in left_out["unet/link.py"] and "a link" in left_out["unet/hard.py"]
    assert "not a regular file" in left_out["unet/fifo"]


def test_archives_nest_three_deep_of_any_kind_and_no_deeper(tmp_path):
    code = package("unet/", reference())
    three = tarred({"b.tar.bz2": tarred({"c.tar.xz": tarred(code, "xz")}, "bz2")})
    assert set(_read(tmp_path, "a.tar", three).symbols) >= CONTRACT
    four = zipped({"b.tar": tarred({"c.tgz": tarred({"d.zip": zipped(code)}, "gz")})})
    too_deep = _read(tmp_path, "a.zip", four)
    assert not too_deep.symbols and "nested more than 3 deep" in dict(too_deep.left_out)["b.tar/c.tgz/d.zip"]


def test_a_tar_bomb_and_too_many_members_are_refused(tmp_path):
    bomb = tarred({"unet/data.bin": bytes(8 << 20)}, "gz")  # 8 MiB of zeros: a few KiB packed
    assert len(bomb) < 100_000
    with pytest.raises(Refused, match="unpack to more than 4 MiB"):
        _read(tmp_path, "bomb.tar.gz", bomb, Limits(max_unpacked_bytes=4 << 20))
    small = tarred({"data.bin": bytes(3 << 20)}, "bz2")  # each under the limit; together over it
    many = zipped({**package("unet/", reference()), **{f"data/part{i}.tar.bz2": small for i in range(3)}})
    with pytest.raises(Refused, match="unpack to more than 4 MiB"):
        _read(tmp_path, "many_bombs.zip", many, Limits(max_unpacked_bytes=4 << 20))
    with pytest.raises(Refused, match="more than 20 files"):
        _read(tmp_path, "many.tar", tarred({f"f{i}.py": "" for i in range(30)}), Limits(max_files=20))


def test_what_zip_members_inflate_to_counts_against_what_a_hand_in_may_read(tmp_path):
    """A deflated member of 3 MiB of JSON is a few KiB: read uncounted, ten thousand of them cost hours.
    What each member inflates to counts, as a tar's members do: the code is read, the notebooks past the
    limit are not (each says why), and nothing else is lost."""
    padding = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5, "x": " " * (3 << 20)})
    notebooks = {f"notes/n{i}.ipynb": padding for i in range(3)}
    packed = zipped({**package("unet/", reference()), **notebooks})
    assert len(packed) < 200_000
    submission = _read(tmp_path, "hw.zip", packed, Limits(max_total_bytes=4 << 20, max_notebook_bytes=(3 << 20) + 4096))
    assert set(submission.symbols) >= CONTRACT
    over = [why for why in submission.unreadable.values() if "inflate to more than 4 MiB" in why]
    assert len(over) == 2, submission.unreadable
    # one notebook at its own limit always fits, whatever the hand-in's (a 57 MB notebook of plots, zipped)
    big = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5, "x": " " * (5 << 20)})
    alone = _read(tmp_path, "big.zip", zipped({**package("unet/", reference()), "big.ipynb": big}),
                  Limits(max_total_bytes=4 << 20, max_notebook_bytes=6 << 20))
    assert not any("inflate" in why for why in alone.unreadable.values()), alone.unreadable


def test_a_damaged_archive_inside_the_hand_in_is_left_out_and_everything_else_read(tmp_path):
    """A nested zip whose compressed bytes are damaged (a broken download): that archive is named with
    what to do, the modules beside it are graded."""
    outer = bytearray(zipped({"inner.zip": zipped({"notes.txt": "old notes"}) + b"x" * 4000}))
    start = outer.index(b"inner.zip") + len(b"inner.zip")  # the local header's name, then the deflated bytes
    for at in range(start + 20, start + 60):
        outer[at] ^= 0x5A
    submission = read_submission(write(tmp_path / "hand-in", {**package("unet/", reference()),
                                                              "old.zip": bytes(outer)}))
    assert set(submission.symbols) >= CONTRACT
    assert "could not be unpacked" in dict(submission.left_out)["old.zip/inner.zip"], submission.left_out
    assert any("old.zip/inner.zip" in reason for reason in submission.review), submission.review


def test_a_hand_ins_notebooks_hold_a_bounded_number_of_code_cells(tmp_path, monkeypatch):
    """Each code cell costs the same to read however short: 125,000 one-line cells cost 7 s, and a zip
    holds many such notebooks. Past the hand-in's number, a notebook is said and not read."""
    from autograder.intake import notebooks

    monkeypatch.setattr(notebooks, "MAX_CODE_CELLS", 30)
    cells = [f"x{i} = {i}" for i in range(20)]
    files = {**package("unet/", reference()), "a.ipynb": notebook(cells), "b.ipynb": notebook(cells)}
    submission = read_submission(write(tmp_path / "hand-in", files))
    assert set(submission.symbols) >= CONTRACT
    assert "past the 30 a hand-in's notebooks may have in all" in submission.unreadable["b.ipynb"]
    assert "a.ipynb" not in submission.unreadable


def test_a_member_name_no_file_system_holds_is_left_out_before_anything_reads_it(tmp_path):
    """A tar's PAX header holds a name of any length; every step after reads names whole (one regular
    expression was quadratic in it: 11.6 s for 40,000 spaces)."""
    long_name = "unet/a" + " " * 40_000 + "b0.py"
    submission = _read(tmp_path, "hw.tar.gz", tarred({**package("unet/", reference()), long_name: ""}, "gz"))
    assert set(submission.symbols) >= CONTRACT and not submission.review
    assert any("a name longer than 255 characters" in why for why in submission.left_out.values())


def test_a_unet_folder_of_the_released_stubs_is_no_rival_to_the_work(tmp_path):
    """Work uploaded flat beside the released stubs in unet/ (the released notebook's cells, untouched):
    the stubs' given code implements only part of what the work does, so nothing needs a person."""
    stubs = Path(__file__).resolve().parent.parent / "assignments" / "unet"
    files = {**package("", reference()), **{f"unet/{p.name}": p.read_text() for p in stubs.glob("*.py")}}
    submission = read_submission(write(tmp_path / "hand-in", files))
    assert submission.review == []
    assert submission.modules["unet"].label == "unet.py"


def test_writefile_cells_append_with_a_and_start_over_without_it():
    """``%%writefile -a`` adds to what earlier cells wrote (each cell's text once: joined at the end,
    as copying the file so far per cell made 40,000 such cells minutes of work); without -a a cell
    starts the file again."""
    from autograder.intake.notebooks import extract

    cells = ["%%writefile -a unet/a.py\nx = 1", "%%writefile -a unet/a.py\ny = 2\n", "%%writefile unet/b.py\nold = 0",
             "%%writefile unet/b.py\nnew = 1", "%%writefile -a unet/b.py\nmore = 2"]
    found = extract(notebook(cells), "hw.ipynb")
    assert found.files == {"unet/a.py": "x = 1\ny = 2\n", "unet/b.py": "new = 1\nmore = 2\n"}


def test_a_format_we_cannot_open_says_what_to_do(tmp_path):
    rar = b"Rar!\x1a\x07\x01\x00" + bytes(32)
    with pytest.raises(Refused, match=r"unet.rar is a RAR archive, which the grader cannot open: unpack it"):
        _read(tmp_path, "unet.rar", rar)
    inside = read_submission(write(tmp_path / "student", {"hw.7z": b"7z\xbc\xaf\x27\x1c" + bytes(32),
                                                          "readme.md": "my code is in the archive"}))
    assert any("hw.7z is a 7-Zip archive, which the grader cannot open" in r and "--only" in r for r in inside.review)
    alone = read_submission(write(tmp_path / "alone", {"unet.rar": rar}))
    assert len(alone.review) == 1 and "unet.rar is a RAR archive" in alone.review[0]  # not "empty": a person opens it


def test_a_notebooks_plots_do_not_count_against_its_code(tmp_path):
    ref = reference()
    cells = ["import math\nimport torch\nimport torch.nn as nn"] + [
        "\n".join(line for line in ref[m].splitlines() if not line.startswith("from .")) for m in MODULES]
    plots = [[plot_output(3), plot_output(3)]] + [[] for _ in MODULES]
    colab = notebook(cells, plots)
    assert len(colab) > 6 << 20
    found = read_submission(write(tmp_path / "colab", {"UNet.ipynb": colab}))
    assert set(found.symbols) >= CONTRACT and not found.unreadable
    too_much_code = notebook(["x = 1\n" * 100_000])  # 600 KB of code, over the 512 KiB limit for one file
    unread = read_submission(write(tmp_path / "big", {"UNet.ipynb": too_much_code}))
    assert "the code in its code cells is over the 512 KiB limit" in unread.unreadable["UNet.ipynb"]


def test_a_name_is_kept_as_written_and_its_folder_is_safe(tmp_path):
    for entry in ("Nadia Müller", "Nadia Muller", "Zoë Ørsted.tar.gz", "李雷.zip", "notes.pdf"):
        target = tmp_path / entry
        if "." not in entry:
            target.mkdir()
        else:
            target.write_bytes(b"%PDF-1.4" if entry.endswith(".pdf") else b"PK\x05\x06" + bytes(18))
    found = discover(tmp_path)
    rows = {i.submitters[0].name: i for i in found.submissions}
    assert sorted(rows) == ["Nadia Muller", "Nadia Müller", "Zoë Ørsted", "notes", "李雷"]  # every entry: a row
    keys = [i.key for i in found.submissions]
    assert len(set(keys)) == len(keys)  # Müller and Muller are two people, said aloud
    assert all(k.isascii() and "/" not in k and not k.startswith(".") for k in keys)
    assert rows["Nadia Müller"].key in ("Nadia_Muller", "Nadia_Muller-2") and rows["Zoë Ørsted"].key == "Zoe_rsted"
    assert rows["notes"].problem.startswith("notes.pdf is neither a folder")
    assert safe_name("../../etc") == "etc"


def test_canvas_downloads_are_one_submission_per_student_under_the_names_they_uploaded(tmp_path):
    """Canvas's "Download Submissions": each student's files flat, prefixed with who sent them."""
    ref = reference()
    for module, text in ref.items():
        (tmp_path / f"doejane_123456_7890101_{module}.py").write_text(text)
    (tmp_path / "doejane_LATE_555_42_unet-1.py").write_text(ref["unet"])  # another doejane: another student
    (tmp_path / "alice").mkdir()
    (tmp_path / "notes.pdf").write_bytes(b"%PDF-1.4")
    found = discover(tmp_path)
    try:
        rows = {(i.submitters[0].name, i.submitters[0].identity): i for i in found.submissions}
        assert sorted(rows) == [("alice", "student:alice"), ("doejane", "canvas:123456"), ("doejane", "canvas:555"),
                                ("notes", "student:notes")]
        first = rows["doejane", "canvas:123456"].source
        assert sorted(p.name for p in first.iterdir()) == sorted(f"{m}.py" for m in ref)
        assert (first / "unet.py").read_text() == ref["unet"]
        assert [p.name for p in rows["doejane", "canvas:555"].source.iterdir()] == ["unet-1.py"]
        assert len({i.key for i in found.submissions}) == 4  # the second doejane gets a key of her own
        assert rows["notes", "student:notes"].problem
    finally:
        found.cleanup()
    assert not first.exists()


def test_blackboard_downloads_grade_each_students_latest_attempt_under_the_names_they_uploaded(tmp_path):
    """Blackboard's "Download assignment": flat, ``<assignment>_<user>_attempt_<time>_<file>`` beside a
    ``.txt`` receipt per attempt; a student who tried twice is graded on the latest attempt, said aloud."""
    ref = reference()
    early, late = "Homework 3_jdoe_attempt_2026-12-04-09-00-00", "Homework 3_jdoe_attempt_2026-12-05-23-14-07"
    (tmp_path / f"{early}_unet.py").write_text("broken")
    (tmp_path / f"{early}.txt").write_text("Name: Jane Doe (jdoe)\n")
    for module, text in ref.items():
        (tmp_path / f"{late}_{module}.py").write_text(text)
    (tmp_path / f"{late}_notes.txt").write_text("my notes")  # an upload that happens to be .txt: hers
    (tmp_path / f"{late}.txt").write_text("Name: Jane Doe (jdoe)\n")
    (tmp_path / "Homework 3_asmith_attempt_2026-12-06-10-02-55.txt").write_text("Name: Al Smith (asmith)\n")  # typed text only
    (tmp_path / "Homework 3_kim_attempt_2026-13-45-99-99-99_unet.py").write_text("")  # no such date: not Blackboard's
    for user in ("a_smith", "b_smith"):  # user names with "_": the assignment's name is what every name starts with
        (tmp_path / f"Homework 3_{user}_attempt_2026-12-06-08-00-00_unet.py").write_text(ref["unet"])
    found = discover(tmp_path)
    try:
        rows = {(i.submitters[0].name, i.submitters[0].identity): i for i in found.submissions}
        kim = "Homework 3_kim_attempt_2026-13-45-99-99-99_unet"
        assert sorted(rows) == [(kim, f"student:{kim}"), ("a_smith", "blackboard:a_smith"), ("asmith", "blackboard:asmith"),
                                ("b_smith", "blackboard:b_smith"), ("jdoe", "blackboard:jdoe")]
        jdoe = rows["jdoe", "blackboard:jdoe"]
        assert not jdoe.problem and jdoe.key == "jdoe"
        assert sorted(p.name for p in jdoe.source.iterdir()) == sorted([f"{m}.py" for m in ref] + ["notes.txt"])
        assert (jdoe.source / "unet.py").read_text() == ref["unet"]  # the latest attempt's, not the broken one
        earlier = [why for where, why in found.skipped if where == f"{early}_unet.py"]
        assert len(earlier) == 1 and "(2026-12-04-09-00-00)" in earlier[0]
        assert "graded their latest attempt only (2026-12-05-23-14-07)" in earlier[0]
        assert "uploaded no files" in rows["asmith", "blackboard:asmith"].problem  # a row for a person, never dropped
    finally:
        found.cleanup()


def test_moodle_downloads_are_one_submission_per_student_named_by_their_full_name(tmp_path):
    """Moodle's "Download all submissions": ``<full name>_<id>_assignsubmission_<plugin>_`` folders (or, before
    Moodle 3.1, file-name prefixes); a student's typed-in text is theirs, never a second row."""
    ref = reference()
    jane_files = tmp_path / "Jane Doe_123456_assignsubmission_file_"
    write(jane_files / "hw", {f"{m}.py": text for m, text in ref.items()})
    (tmp_path / "Jane Doe_123456_assignsubmission_onlinetext_").mkdir()
    (tmp_path / "Jane Doe_123456_assignsubmission_onlinetext_" / "onlinetext.html").write_text("<p>done</p>")
    for module, text in ref.items():
        (tmp_path / f"Zoë Ørsted_123457_assignsubmission_file_{module}.py").write_text(text)
    (tmp_path / "Participant_777_assignsubmission_onlinetext_").mkdir()  # blind marking, typed text only
    (tmp_path / "Bob_1_assignsubmission_file_").write_text("a file named like a folder")  # not Moodle's
    found = discover(tmp_path)
    try:
        rows = {(i.submitters[0].name, i.submitters[0].identity): i for i in found.submissions}
        assert sorted(rows) == [("Bob_1_assignsubmission_file_", "student:Bob_1_assignsubmission_file_"),
                                ("Jane Doe", "moodle:123456"), ("Participant", "moodle:777"),
                                ("Zoë Ørsted", "moodle:123457")]
        assert rows["Jane Doe", "moodle:123456"].source == jane_files and not rows["Jane Doe", "moodle:123456"].problem
        assert rows["Jane Doe", "moodle:123456"].key == "Jane_Doe"
        zoe = rows["Zoë Ørsted", "moodle:123457"].source
        assert sorted(p.name for p in zoe.iterdir()) == sorted(f"{m}.py" for m in ref)
        assert "uploaded no files" in rows["Participant", "moodle:777"].problem
    finally:
        found.cleanup()


_UPLOADED = st.text(st.characters(blacklist_characters="/\\\0", blacklist_categories=("Cs", "Cc")), min_size=1,
                    max_size=30).filter(lambda f: f.strip(" .") == f and f not in (".", ".."))
_WORD = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZéØ李", min_size=1, max_size=12)
_WHEN = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)).map(lambda t: t.replace(microsecond=0))
_LMS_NAMES = st.one_of(  # (what the LMS writes, whose, uploaded as): built as each LMS's documentation says
    st.builds(lambda n, u, late, f: (f"{n}{'_LATE' if late else ''}_{u}_{u + 7}_{f}", ("Canvas", str(u), n), f),
              _WORD, st.integers(1, 10**9), st.booleans(), _UPLOADED),
    st.builds(lambda a, u, t, f: (f"{a}_{u}_attempt_{t:%Y-%m-%d-%H-%M-%S}_{f}", ("Blackboard", u, u), f),
              st.lists(_WORD, min_size=1, max_size=3).map(" ".join), _WORD, _WHEN, _UPLOADED),
    st.builds(lambda n, u, f: (f"{n}_{u}_assignsubmission_file_{f}", ("Moodle", str(u), n), f),
              st.lists(_WORD, min_size=1, max_size=3).map(" ".join), st.integers(1, 10**9), _UPLOADED),
    st.builds(lambda s, n, t, f: (f"{s}-{s + 1} - {n} - {t:%b %-d, %Y %-I%M %p} - {f}", ("D2L", n, n), f),
              st.integers(1, 10**9), st.lists(_WORD, min_size=1, max_size=3).map(" ".join), _WHEN, _UPLOADED),
)


@settings(max_examples=200, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
@given(_LMS_NAMES, st.text(st.characters(blacklist_characters="/\\\0", blacklist_categories=("Cs", "Cc", "Nd")),
                            min_size=1, max_size=60).filter(lambda f: f.strip(" .") == f))
def test_lms_names_are_read_back_as_written_and_no_others_are_claimed(written, undigited):
    """What each LMS writes is read back as whose it is and the name it was uploaded as; a name no LMS
    writes (none without a digit: every LMS writes an id or a date) is claimed by none."""
    (name, (lms_name, user, shown), uploaded) = written
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_text("")
        got = lms.claim(path)
        assert got is not None, name
        assert (got.convention.lms, got.user, got.name, got.file, got.other) == (lms_name, user, shown, uploaded, False)
        other = Path(folder) / undigited
        other.write_text("") if not other.exists() else None
        assert lms.claim(other) is None, undigited


@pytest.mark.grading  # a fresh interpreter
def test_a_package_exports_what_python_says_it_does(tmp_path):
    """The names ``import unet`` binds, from the parent's reading of ``__init__.py`` and ``__all__``,
    equal what Python itself binds (less the submodules, which the importer serves by name)."""
    root = write(tmp_path / "star", star_package())
    exported = set(read_submission(root).exports["unet"]) - {"__init__.py"}
    script = "import json, unet; print(json.dumps(sorted(n for n in vars(unet) if not n.startswith('_'))))"
    python = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=300)
    assert python.returncode == 0, python.stderr
    assert exported == set(json.loads(python.stdout)) - set(MODULES)
    assert "math" not in exported  # up_block.py's leftover is not in its __all__


def test_repeated_star_imports_in_init_read_each_module_once_and_the_last_binding_wins(tmp_path, monkeypatch):
    """``from .a import *`` and ``from .b import *`` a hundred times each, then ``from .a import shared``:
    as Python runs them, ``shared`` is a's and ``only_b`` b's; each module's star names are read once (300
    star lines of one large module cost 41 s when each line re-read them)."""
    from autograder.intake import layout

    read = []
    real = layout._module_exports
    monkeypatch.setattr(layout, "_module_exports", lambda submission, home: read.append(home) or real(submission, home))
    files = {f"unet/{m}.py": text for m, text in reference().items()}
    files["unet/a.py"] = "shared = 1\nonly_a = 1\n"
    files["unet/b.py"] = "shared = 2\nonly_b = 2\n"
    files["unet/__init__.py"] = "from .a import *\nfrom .b import *\n" * 100 + "from .a import shared\n"
    exports = read_submission(write(tmp_path / "stars", files)).exports["unet"]
    assert (exports["shared"], exports["only_a"], exports["only_b"]) == ("a", "a", "b")
    assert list(exports).index("only_a") < list(exports).index("only_b")  # the order the modules are imported in
    assert sorted(read) == ["a", "b"]


def test_a_symbol_taken_from_outside_the_graded_folder_is_found_without_comparing_files_by_value(tmp_path, monkeypatch):
    """Files are told apart by identity: comparing candidates by value compared their whole texts, once
    per outside file per kept file (10,000 notebook targets: 85 s)."""
    from autograder.intake import layout

    def refuse(*_):
        raise AssertionError("candidates compared by value")

    monkeypatch.setattr(layout._Candidate, "__eq__", refuse)
    files = {f"unet/{m}.py": text for m, text in reference().items() if m != "attention"}
    files["attention.py"] = reference()["attention"]
    submission = read_submission(write(tmp_path / "outside", files))
    assert set(submission.symbols) >= CONTRACT
    assert any("taken from attention.py" in note for note in submission.notes), submission.notes


def test_what_packages_export_is_bounded_for_the_whole_hand_in(tmp_path, monkeypatch):
    """Every dotted prefix of an import is a package, each with its own __init__.py exporting a module's
    names: what they export together is capped (each child's load request carries it; 100 packages of
    35,000 names made 76 MiB a child), with a reason for a person."""
    from autograder.intake import layout

    monkeypatch.setattr(layout, "EXPORTED_NAMES", 20)
    files = {f"unet/{m}.py": text for m, text in reference().items()}
    files["unet/helpers.py"] = "".join(f"name_{i} = {i}\n" for i in range(8))
    files["unet/unet.py"] += "\nif False:\n    from p0.p1.p2.p3.p4.helpers import name_0\n"
    for depth in range(5):
        files["/".join(f"p{i}" for i in range(depth + 1)) + "/__init__.py"] = "from .helpers import *\n"
    submission = read_submission(write(tmp_path / "packages", files))
    assert sum(len(names) for package, names in submission.exports.items() if package != ".") <= 20
    assert any("export over 20 names" in reason for reason in submission.review), submission.review


@pytest.mark.parametrize("folder", ["unet/", ""])  # "": the package's files uploaded without their folder
def test_star_imports_inside_the_package_honour_all(tmp_path, folder):
    """The child's importer, in this process: attention.py's ``from unet import *`` brings
    ResBlock but not up_block.py's unexported ``math = None``."""
    files = {name.replace("unet/", folder, 1): text for name, text in star_package().items()}
    submission = read_submission(write(tmp_path / "star", files))
    plan = {name: entry.plan_entry() for name, entry in submission.modules.items()}
    importer = SourceImporter(plan, aliases=submission.aliases, packages=submission.packages,
                              symbols=submission.symbols, exports=submission.exports, protected=set(sys.modules))
    importer.install()
    try:
        importer.run_package_inits()  # as the child and check.py do first: the package's __init__.py, in its order
        attention = importer.module(submission.symbols["SelfAttention"])
        assert attention.math is math and attention.ResBlock is importer.symbol("ResBlock")
        network = importer.module(submission.symbols["SimpleUNet"])
        assert network.DownBlock is importer.symbol("DownBlock")
    finally:
        importer.forget()


def test_of_two_complete_copies_the_file_named_as_its_module_is_graded(tmp_path):
    """``attention copy.py`` (Finder's copy, newer and changed) beside ``attention.py``: the student's
    own ``import attention`` runs attention.py, so the grader reads that one, and says so."""
    import os

    files = package("", reference())
    files["attention copy.py"] = files["attention.py"].replace("math.sqrt(C)", "C")
    root = write(tmp_path / "hand-in", files)
    os.utime(root / "attention.py", (1_600_000_000, 1_600_000_000))
    submission = read_submission(root)
    assert submission.modules["attention"].label.endswith("attention.py")
    assert "attention copy.py" not in submission.modules["attention"].label
    assert any("is what `import attention` runs" in note and "not attention copy.py" in note for note in submission.notes)


def test_only_a_replaced_object_itself_is_pointed_at_its_stand_in(tmp_path):
    """A student's class that a stand-in replaces is dropped once patched; objects made later (a
    class of another file, allocated where it was) are the student's own and stay as written."""
    files = {"res_block.py": "class ResBlock:\n    pass\n",
             "analysis.py": "import gc\nfrom res_block import ResBlock\ngc.collect()\n"
                            "for i in range(200):\n    globals()[f'Made{i}'] = type(f'Made{i}', (), {})\n"}
    submission = read_submission(write(tmp_path / "hand-in", files))
    stand_in = type("ResBlock", (), {"__module__": "<reference>"})
    importer = SourceImporter({name: entry.plan_entry() for name, entry in submission.modules.items()},
                              symbols=submission.symbols, stand_ins={"ResBlock": stand_in}, protected=set(sys.modules))
    importer.install()
    try:
        importer.module(submission.symbols["ResBlock"])
        analysis = importer.module("analysis")
        importer.patch_all()
        assert analysis.ResBlock is stand_in
        replaced = [name for name in vars(analysis) if name.startswith("Made") and getattr(analysis, name) is stand_in]
        assert replaced == []
    finally:
        importer.forget()


@pytest.mark.parametrize("body,flagged", [
    ("return t.device", True),  # an int where the stand-in expected a tensor: maybe a call the docstring allows
    ("return torch.ones(2, 3) @ torch.ones(4, 5)", False),  # a shape the student's code built: theirs
])
def test_an_error_inside_a_stand_in_is_never_the_students_own(body, flagged):
    from autograder.checks.registry import failure_from_student
    from autograder.sandbox.child.codec import FROM_REFERENCE, IN_REFERENCE
    from autograder.sandbox.child.server import REFERENCE_LABEL, Child
    from autograder.sandbox.launcher import StudentError

    namespace = {"torch": __import__("torch")}
    exec(compile(f"def stand_in(t):\n    {body}\n", REFERENCE_LABEL, "exec"), namespace)
    try:
        namespace["stand_in"](5)
    except Exception as error:  # noqa: BLE001
        text = Child.traceback_of(SimpleNamespace(importer=None), error)  # no child: its set-up would change torch here
    assert (IN_REFERENCE in text) is flagged and (FROM_REFERENCE in text) is not flagged
    assert "(the reference's code, in stand_in)" in text
    message = failure_from_student(StudentError(text), "TimestepEmbeddings").message
    assert message.startswith("an error was raised:") and "your code raised" not in message


def test_the_notes_about_files_and_notebook_cells_say_the_true_reason(tmp_path):
    """A file and a %%writefile cell of the same module: no note while the cell implements nothing (a
    student who never touched the notebook), else the criterion that really decided; a notebook alone
    is said to be one."""
    from autograder.solution_markers import make_stub

    ref = reference()
    stubs = {m: make_stub(text) for m, text in ref.items()}

    def cells(sources):
        return notebook([f"%%writefile unet/{m}.py\n{text}" for m, text in sources.items()])

    untouched = read_submission(write(tmp_path / "untouched", {**package("unet/", ref), "hw.ipynb": cells(stubs)}))
    assert not [n for n in untouched.notes if "several files" in n], untouched.notes

    # the same code, one comment apart: as complete as each other, so the file wins because it is a file
    commented = {m: text + "# my change in the cell\n" for m, text in ref.items()}
    both = read_submission(write(tmp_path / "both", {**package("unet/", ref), "hw.ipynb": cells(commented)}))
    several = [n for n in both.notes if n.startswith("several files are res_block.py")]
    assert several == ["several files are res_block.py: graded unet/res_block.py (both implement as much; a .py file "
                       "comes before a notebook cell), not hw.ipynb (%%writefile unet/res_block.py); the notebook's "
                       "cell holds other code: make them the same (run the cell, or copy the file into it) so both "
                       "hold your final code"], both.notes
    assert both.review == []  # a comment apart: the same code

    # other code in the cell (a fix not run, or the file edited after): either may be the final work
    fixed = dict(ref, res_block=ref["res_block"].replace("return h + self.skip(x)", "return self.skip(x) + h"))
    differ = read_submission(write(tmp_path / "differ", {**package("unet/", ref), "hw.ipynb": cells(fixed)}))
    assert [r for r in differ.review if "unet/res_block.py and the notebook's %%writefile cell for it differ" in r]

    # the cells implement more than the files (still the stubs): they are graded, and nothing is lost to say
    more = read_submission(write(tmp_path / "more", {**package("unet/", stubs), "hw.ipynb": cells(ref)}))
    assert "%%writefile" in more.modules["res_block"].label and not [n for n in more.notes if "several files" in n]

    alone = read_submission(write(tmp_path / "alone", {"hw.ipynb": cells(ref)}))
    assert "graded the modules that the notebook's %%writefile cells write to unet/" in alone.notes, alone.notes
    assert "graded the modules in unet/" not in alone.notes


def test_the_notebooks_own_record_of_its_cells_is_left_out_without_a_word(tmp_path):
    """A student who ran a module cell has the release's record of what it wrote beside the notebook:
    intake leaves it out as it does other hidden files, but says nothing of it; any other hidden file
    is still named."""
    from autograder.intake.files import RELEASE_RECORDS
    from autograder.release.notebook_cells import WRITTEN

    assert RELEASE_RECORDS == {WRITTEN.name}  # the two names are one
    folder = write(tmp_path / "s", {**package("unet/", reference()), WRITTEN.name: "{}", ".secret": "x"})
    notes = read_submission(folder).notes
    assert not [n for n in notes if WRITTEN.name in n], notes
    assert [n for n in notes if ".secret" in n and "hidden" in n], notes


def test_ipython_lines_are_read_as_ipython_reads_them(tmp_path):
    """Help lines (``SimpleUNet?``) in a cell, ``%%file`` (``%%writefile``'s other name), and a notebook
    saved as .py by Colab (its ``!pip`` and ``%matplotlib`` lines kept): the code is read, with a note;
    a line that only looks like help inside a string stays as written where the cell parses."""
    from autograder.intake.notebooks import extract

    ref = reference()
    cells = [ref["time_embedding"] + "\nTimeEmbedding?\n", "%%file unet/res_block.py\n" + ref["res_block"],
             'NOTE = """\nwhy?\n"""\n']
    found = extract(notebook(cells), "hw.ipynb")
    assert "class TimeEmbedding" in found.module_text and "TimeEmbedding?" not in found.module_text
    assert found.files == {"unet/res_block.py": ref["res_block"]}
    assert "\nwhy?\n" in found.module_text and not found.syntax_errors
    exported = "# -*- coding: utf-8 -*-\n!pip install -q einops\n%matplotlib inline\n" + "\n".join(
        _RELATIVE_IMPORT.sub("", ref[m]) for m in MODULES)
    submission = read_submission(write(tmp_path / "colab", {"unet_chapter.py": exported}))
    assert set(submission.symbols) >= CONTRACT and not any(m.index.syntax_error for m in submission.modules.values())
    assert [n for n in submission.notes if "IPython lines" in n and "unet_chapter.py" in n]


_RELATIVE_IMPORT = __import__("re").compile(r"^from \.\w+ import .*\n", __import__("re").MULTILINE)


# Cells a Colab notebook holds; each breaks a line-by-line reading of IPython's syntax in its own way.
_IPYTHON_CELLS = [
    "IN_COLAB = False\nif IN_COLAB:\n    !pip install einops\n",  # a block whose only line is a shell line
    "!pip install einops \\\n    tqdm\nimport math\n",  # a shell line continued with a backslash
    "def differs(a, b):\n    return (\n        a\n        != b\n    )\n",  # Black puts != at a line's start
    "def shows(x):\n    !echo hi\n    display(x)\n    return x\n",  # IPython inside a kept definition; display
    "SimpleUNet?\ndef last():\n    return 7\n",
]


@pytest.mark.parametrize("with_ipython", [True, False], ids=["ipython", "standard_library_only"])
def test_notebook_cells_are_read_as_ipython_runs_them(monkeypatch, with_ipython):
    """With IPython's own transformation (the grader) and without it (check.py on a student's machine):
    every cell is kept, in its cell, and runs -- its top-level IPython lines do nothing, those inside a
    definition do nothing when called, and ``display`` is there without an import, as in Jupyter."""
    from autograder.intake import notebooks

    if with_ipython:
        assert notebooks._ipython_transform() is not None
    else:
        monkeypatch.setattr(notebooks, "_ipython_transform", lambda: None)
    found = notebooks.extract(notebook(_IPYTHON_CELLS), "hw.ipynb")
    assert not found.syntax_errors and [cell for _, cell in found.cells] == [1, 2, 3, 4, 5]
    namespace = {}
    exec(compile(found.module_text, "hw.ipynb", "exec"), namespace)
    assert namespace["differs"](1, 2) is True and namespace["differs"](2, 2) is False
    assert namespace["shows"](5) == 5 and "math" in namespace and namespace["last"]() == 7
    lines = found.module_text.split("\n")

    def cell_of(text: str) -> int:
        line = next(number for number, written in enumerate(lines, start=1) if text in written)
        return max(first_and_cell for first_and_cell in found.cells if first_and_cell[0] <= line)[1]

    assert (cell_of("import math"), cell_of("def differs"), cell_of("def shows"), cell_of("def last")) == (2, 3, 4, 5)
    first_of_cell_2 = next(first for first, cell in found.cells if cell == 2)
    assert lines.index("import math") + 1 - first_of_cell_2 == 2  # its line in the cell, after the joined ``\\``


@contextlib.contextmanager
def _importing(submission, *targets: str):
    """The child's importer for ``submission``, in this process, installed while the block runs."""
    plan = {name: entry.plan_entry() for name, entry in submission.modules.items()}
    importer = SourceImporter(plan, aliases=submission.aliases, packages=submission.packages,
                              symbols=submission.symbols, exports=submission.exports, protected=set(sys.modules),
                              targets=set(targets))
    importer.install()
    try:
        yield importer
    finally:
        importer.forget()


def test_run_magic_a_renamed_notebook_and_a_colab_export_are_read_as_ipython_reads_them(tmp_path):
    """``%run blocks.py`` brings the blocks' names into the notebook (as IPython's %run does); a notebook
    renamed unet.py is read as the notebook it is, with a note; a Colab .py export keeps Black's ``!=`` lines."""
    ref = reference()
    plain = {m: _RELATIVE_IMPORT.sub("", ref[m]) for m in MODULES}
    blocks = "\n".join(plain[m] for m in MODULES if m not in ("unet", "analysis"))
    runs = {"%run blocks.py": "blocks.py", "%run blocks": "blocks.py", "%run -i ./blocks.ipynb": "blocks.ipynb",
            "%run blocks.py  # my editor's file": "blocks.py", "exec(open('blocks.py').read())": "blocks.py",
            "exec(open('blocks.py', encoding='utf-8').read(), globals())": "blocks.py",
            "with open('blocks.py') as f:\n    exec(f.read())": "blocks.py",
            "exec(compile(open('blocks.py').read(), 'blocks.py', 'exec'))": "blocks.py",
            "import pathlib\nexec(pathlib.Path('blocks.py').read_text())": "blocks.py",
            "import runpy\nglobals().update(runpy.run_path('blocks.py'))": "blocks.py"}
    for number, (line, blocks_file) in enumerate(runs.items()):
        cells = [line + "\n", plain["unet"], plain["analysis"]]
        files = {blocks_file: notebook([blocks]) if blocks_file.endswith(".ipynb") else blocks, "hw.ipynb": notebook(cells)}
        submission = read_submission(write(tmp_path / f"run{number}", files))
        with _importing(submission, "SimpleUNet") as importer:
            module = importer.module(submission.symbols["SimpleUNet"])
            assert module.SimpleUNet(1, 1, 4).time_embed.__class__.__name__ == "TimeEmbedding", line

    renamed = read_submission(write(tmp_path / "renamed", {"unet.py": notebook([plain[m] for m in MODULES])}))
    assert set(renamed.symbols) >= CONTRACT and [n for n in renamed.notes if "unet.ipynb" in n]

    differs = "def differs(a, b):\n    return (\n        a\n        != b\n    )\n"
    exported = "!pip install -q einops\n" + "\n".join(plain.values()) + "\n" + differs
    colab = read_submission(write(tmp_path / "colab", {"unet_chapter.py": exported}))
    assert set(colab.symbols) >= CONTRACT
    assert [m for m in colab.modules.values() if "        != b\n" in m.text]


def test_a_sibling_module_not_handed_in_is_named_as_the_file_to_hand_in(tmp_path):
    """``from .utils import x`` with no utils.py: the error names utils.py, never the grader's own package."""
    files = {f"{m}.py": text for m, text in reference().items()}
    files["res_block.py"] = "from .utils import groups_for\n" + files["res_block.py"]
    submission = read_submission(write(tmp_path / "helper", files))
    with _importing(submission, "ResBlock") as importer:
        importer.module(submission.symbols["ResBlock"])  # the rest of the file loads, the import left out
    said = [note for note in importer.notes if "utils" in note]
    assert said and all("the hand-in has no utils.py" in n and "submission" not in n for n in said), importer.notes


def test_ipython_reads_a_bounded_amount_of_a_hand_in_and_the_rest_is_read_linearly(tmp_path, monkeypatch):
    """IPython's transformer re-reads a cell once per line it transforms: a hand-in's cells go through it
    only within ``IPYTHON_WORK`` (cell size times lines that may be IPython's); past it, the standard
    library's reading, which still leaves the shell lines out."""
    from autograder.intake import notebooks

    read = []
    real = notebooks._ipython_transform()
    monkeypatch.setattr(notebooks, "_ipython_transform", lambda: lambda source: read.append(source) or real(source))
    shell_cell = "".join(f"!echo {i}\n" for i in range(200)) + "x = [" + "1, " * 2000 + "1]\n"
    cells = [shell_cell] * 40 + [_RELATIVE_IMPORT.sub("", text) for text in reference().values()]
    submission = read_submission(write(tmp_path / "shells", {"unet.ipynb": notebook(cells)}))
    assert set(submission.symbols) >= CONTRACT
    work = sum(len(s) * (1 + sum(1 for line in s.split("\n") if re.search(r"[!%?]", line))) for s in read)
    assert 0 < work <= notebooks.IPYTHON_WORK and len(read) < len(cells)


def test_a_notebook_exported_as_a_script_is_read_as_the_notebook_it_was(tmp_path):
    """``jupyter nbconvert --to script`` writes each %%writefile cell as a run_cell_magic call holding the
    file in a string: read as the cells they were, the files they write are the modules; a plain script
    that merely calls get_ipython() is no such export."""
    ref = reference()
    script = "#!/usr/bin/env python\n# coding: utf-8\n\n# In[1]:\n\n\nget_ipython().system('mkdir -p unet')\n"
    script += "get_ipython().run_line_magic('matplotlib', 'inline')\n"
    for number, (module, text) in enumerate(ref.items(), start=2):
        script += f"\n\n# In[{number}]:\n\n\nget_ipython().run_cell_magic('writefile', 'unet/{module}.py', {text!r})\n"
    submission = read_submission(write(tmp_path / "export", {"unet_chapter.py": script}))
    assert set(submission.symbols) >= CONTRACT
    assert any("exported as a script" in note for note in submission.notes), submission.notes
    assert exported_cells("import torch\nx = 1\n") is None
    assert loads_as_imports("def f():\n    exec(open('blocks.py').read())\n") == "def f():\n    exec(open('blocks.py').read())\n"
    # each statement's own span: what shares its lines stays (two on one line too), and line numbers stay
    shared = ("import math; exec(open('blocks.py').read()); x = math.pi\nwith open('blocks.py') as f: exec(\n"
              "    f.read())\ny = 1\nexec(open('a.py').read()); exec(open('my-notes.py').read()); exec(open('b.py').read())\n")
    read = loads_as_imports(shared)
    assert read.splitlines()[0] == "import math; from blocks import *; x = math.pi"
    assert read.splitlines()[-1] == "from a import *; exec(open('my-notes.py').read()); from b import *"  # no module name
    assert read.count("\n") == shared.count("\n") and compile(read, "x.py", "exec")


def test_a_broken_definition_costs_only_what_uses_it_and_notebook_cells_run_in_any_order(tmp_path):
    """The child's importer, in this process. One file holding every block, where one definition
    fails: the others load (with a note), unless the one under test failed (its own error is shown).
    A notebook whose analysis cell came before the UNet's cell (run out of order): loaded whole."""
    ref = reference()
    one_file = "\n".join(_RELATIVE_IMPORT.sub("", ref[m]) for m in MODULES if m != "analysis")
    broken = one_file.replace("class DownBlock(nn.Module):", "class DownBlock(nn.Modul):", 1)
    assert broken != one_file

    def load(files, targets):
        submission = read_submission(write(tmp_path / f"s{len(list(tmp_path.iterdir()))}", files))
        plan = {name: entry.plan_entry() for name, entry in submission.modules.items()}
        importer = SourceImporter(plan, aliases=submission.aliases, packages=submission.packages,
                                  symbols=submission.symbols, exports=submission.exports, protected=set(sys.modules),
                                  targets=targets)
        importer.install()
        return submission, importer

    submission, importer = load({"unet.py": broken}, {"ResBlock"})
    try:
        module = importer.module(submission.symbols["ResBlock"])
        assert hasattr(module, "ResBlock") and hasattr(module, "SelfAttention") and not hasattr(module, "DownBlock")
        assert [n for n in importer.notes if "AttributeError" in n and "DownBlock cannot be used" in n]
    finally:
        importer.forget()
    submission, importer = load({"unet.py": broken}, {"DownBlock"})
    try:
        with pytest.raises(AttributeError, match="Modul"):
            importer.module(submission.symbols["DownBlock"])
    finally:
        importer.forget()
    cells = [_RELATIVE_IMPORT.sub("", ref[m]) for m in ("time_embedding", "res_block", "analysis", "down_block",
                                                          "up_block", "unet", "attention")]
    submission, importer = load({"hw.ipynb": notebook(cells)}, {"NoSkipUNet", "skip_ablation"})
    try:
        module = importer.module(submission.symbols["NoSkipUNet"])
        assert module.NoSkipUNet.__mro__[1] is module.SimpleUNet
        assert [n for n in importer.notes if "NoSkipUNet needs names that later cells define" in n]
    finally:
        importer.forget()


def test_a_stub_with_given_code_around_its_placeholder_is_no_implementation(tmp_path):
    """The released stubs handed in beside ``unet_final.py`` with everything: skip_ablation's given code
    (``try: raise NotImplementedError() finally: ...``) does not make the stub the work."""
    from autograder.intake.python_source import is_stub

    stubs = Path(__file__).resolve().parent.parent / "assignments" / "unet"
    released = {p.name: p.read_text() for p in stubs.glob("*.py")}
    released_defs = [n for text in released.values() for n in ast_defs(text)]
    assert released_defs and all(is_stub(n) for n in released_defs)  # every stub the release hands out
    solutions = Path(__file__).resolve().parent.parent / "solutions" / "unet"
    assert not any(is_stub(n) for p in solutions.glob("*.py") for n in ast_defs(p.read_text()))
    whole = "\n".join(_RELATIVE_IMPORT.sub("", text) for text in reference().values())
    submission = read_submission(write(tmp_path / "hand-in", {**released, "unet_final.py": whole}))
    assert {submission.symbols[s] for s in ("skip_ablation", "SimpleUNet", "ResBlock")} == {"unet_final"}


def ast_defs(text: str) -> list:
    import ast

    return [n for n in ast.parse(text).body if isinstance(n, (ast.ClassDef, ast.FunctionDef)) and n.name != "shape_images"]


def test_two_folders_that_implement_as_much_in_different_code_need_a_person(tmp_path):
    """Loose files and a zip of a unet/ folder three days older, both complete, the code differing: the
    name chose the older one, which a person should confirm (a draft folder written with the work, as
    ``unet_old/`` beside ``unet/``, is no such case: the classroom's current_and_old)."""
    import time
    import zipfile

    def dated_zip(files: dict, age_s: float) -> bytes:
        buffer = io.BytesIO()
        when = time.localtime(time.time() - age_s)[:6]
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, text in files.items():
                archive.writestr(zipfile.ZipInfo(name, date_time=when), text)
        return buffer.getvalue()

    ref = reference()
    older = dict(ref, res_block=ref["res_block"].replace("return h + self.skip(x)", "return h"))
    assert older != ref
    days = 3 * 24 * 3600
    files = {**package("", ref), "unet.zip": dated_zip(package("unet/", older), days)}
    submission = read_submission(write(tmp_path / "hand-in", files))
    assert [r for r in submission.review if "several folders hold the assignment" in r]
    same = read_submission(write(tmp_path / "same", {**package("", ref), "unet.zip": dated_zip(package("unet/", ref), days)}))
    assert same.review == []
    together = read_submission(write(tmp_path / "together", {**package("", ref), "unet.zip": dated_zip(package("unet/", older), 0)}))
    assert together.review == []  # the name decided, and the time agrees


def test_a_stale_copy_of_a_block_in_another_file_is_named(tmp_path):
    """unet.py keeps an old ResBlock of its own (and uses it) beside res_block.py's: the copy is named,
    so an Integration failure that the ResBlock checks do not explain has its cause in the notes."""
    ref = reference()
    stale = _RELATIVE_IMPORT.sub("", ref["res_block"]).split('"""', 2)[-1]  # its code, docstring dropped
    files = package("", dict(ref, unet=ref["unet"].replace("from .res_block import ResBlock\n", "") + "\n" + stale))
    submission = read_submission(write(tmp_path / "hand-in", files))
    assert submission.symbols["ResBlock"] == "res_block"
    assert [n for n in submission.notes if n.startswith("unet.py also defines ResBlock") and "its own copy" in n]
    clean = read_submission(write(tmp_path / "clean", package("", ref)))
    assert not [n for n in clean.notes if "also defines" in n]


def test_top_level_code_whose_error_cannot_say_itself_is_left_out_all_the_same(tmp_path):
    """Top-level code raises an exception whose ``__str__`` raises too: the definitions are graded all the
    same, and the note names the exception's type."""
    source = ("class Mute(Exception):\n    def __str__(self):\n        raise RuntimeError('no words')\n\n"
              "def broken():\n    pass\n\nraise_it = (_ for _ in ()).throw(Mute())\n\n"
              + _RELATIVE_IMPORT.sub("", reference()["time_embedding"]))
    submission = read_submission(write(tmp_path / "hand-in", {"time_embedding.py": source}))
    plan = {name: entry.plan_entry() for name, entry in submission.modules.items()}
    importer = SourceImporter(plan, symbols=submission.symbols, protected=set(sys.modules), targets={"TimeEmbedding"})
    importer.install()
    try:
        module = importer.module(submission.symbols["TimeEmbedding"])
        assert hasattr(module, "TimeEmbedding") and not hasattr(module, "raise_it")
        assert [n for n in importer.notes if "its top-level code raised Mute;" in n]
    finally:
        importer.forget()


def _forward_attached_later(decorator: str) -> tuple[str, str]:
    """The reference's res_block.py without ResBlock's forward, and that forward as a later cell under
    ``decorator``, reading a module-level ``device``."""
    import ast
    import textwrap

    text = _RELATIVE_IMPORT.sub("", reference()["res_block"])
    forward = next(node for node in ast.walk(ast.parse(text)) if isinstance(node, ast.FunctionDef) and node.name == "forward")
    lines = text.split("\n")
    method = textwrap.dedent("\n".join(lines[forward.lineno - 1:forward.end_lineno]))
    method = method.replace("):\n", "):\n    x, t_emb = x.to(device), t_emb.to(device)\n", 1)
    return "\n".join(lines[:forward.lineno - 1] + lines[forward.end_lineno:]), f"{decorator}\n{method}\n"


DEVICE_CELL = ("if torch.cuda.is_available() and False:\n    device = torch.device('cuda')\n    print('Using GPU')\n"
               "else:\n    device = torch.device('cpu')\n    print('Using CPU')\n")


def test_a_notebooks_method_attached_later_and_its_device_block_are_graded_as_jupyter_runs_them(tmp_path, capsys):
    """d2l.ai's ``@add_to_class(ResBlock)`` cell (ResBlock 2/18, Integration 0/6 when dropped) and an
    ``if`` choosing a device beside a ``print`` (a NameError when dropped): both run, the prints do not,
    nor the training cell; and a .py whose top-level code fails keeps its device block the same way."""
    import torch

    blocks, forward = _forward_attached_later("@add_to_class(ResBlock)")
    cells = ["import torch\n", DEVICE_CELL, blocks,
             "def add_to_class(Class):\n    def wrapper(obj):\n        setattr(Class, obj.__name__, obj)\n    return wrapper\n",
             forward, "block = ResBlock(4, 8, 16)\nprint(block)\nfor step in range(10**9):\n    loss = block(None, None)\n"]
    notebook_hand_in = read_submission(write(tmp_path / "notebook", {"hw.ipynb": notebook(cells)}))
    x, t_emb = torch.randn(2, 4, 5, 5), torch.randn(2, 16)
    with _importing(notebook_hand_in, "ResBlock") as importer:
        module = importer.module(notebook_hand_in.symbols["ResBlock"])
        assert module.ResBlock(4, 8, 16)(x, t_emb).shape == (2, 8, 5, 5)
        assert module.device == torch.device("cpu") and not hasattr(module, "block")
    assert capsys.readouterr().out == ""

    blocks, forward = _forward_attached_later("")
    source = (blocks + DEVICE_CELL + forward + "ResBlock.forward = forward\n"
              + "torch.load('no_checkpoint_here.pt')  # the student's own run, as the red team's savefig\n")
    file_hand_in = read_submission(write(tmp_path / "files", {"res_block.py": source}))
    with _importing(file_hand_in, "ResBlock") as importer:
        module = importer.module(file_hand_in.symbols["ResBlock"])
        assert module.ResBlock(4, 8, 16)(x, t_emb).shape == (2, 8, 5, 5)
        assert [n for n in importer.notes if "res_block.py: its top-level code raised" in n]


def test_a_block_the_one_by_one_fallback_leaves_out_is_named_by_what_it_binds(tmp_path):
    """Definitions-only that fails too runs statement by statement: a device block that raises is left
    out, and the note names ``device`` (it said "its statement")."""
    source = ("import torch\nif torch.cuda.is_available() or True:\n    device = torch.device(NO_SUCH_NAME)\n"
              "    print('Using', device)\n\n\n" + _RELATIVE_IMPORT.sub("", reference()["time_embedding"])
              + "\n\ndef helper():\n    return device\n\n\nTimeEmbedding.helper = helper\nraise SystemExit\n")
    submission = read_submission(write(tmp_path / "hand-in", {"time_embedding.py": source}))
    with _importing(submission, "TimeEmbedding") as importer:
        module = importer.module(submission.symbols["TimeEmbedding"])
        assert module.TimeEmbedding(8)(module.torch.arange(3)).shape == (3, 32)
        assert [n for n in importer.notes if "left out (device cannot be used)" in n], importer.notes
        assert module.TimeEmbedding.helper is module.helper  # the rest graded


def test_what_a_notebook_says_cell_by_cell_is_bounded(tmp_path):
    """Cells that do not parse say so one by one for the first few, then in one count (80,000 of them
    made 2.3 million characters of review and a minute of intake); %%writefile cells count as files."""
    from autograder.intake.layout import NOTES_PER_NOTEBOOK

    cells = [_RELATIVE_IMPORT.sub("", reference()["time_embedding"])] + ["x = f'{'"] * 200
    submission = read_submission(write(tmp_path / "cells", {"hw.ipynb": notebook(cells)}))
    left_out = [n for n in submission.notes if "hw.ipynb, cell" in n]
    assert len(left_out) == NOTES_PER_NOTEBOOK and any("and 180 more cells left out" in n for n in submission.notes)
    assert len(submission.environment) <= NOTES_PER_NOTEBOOK
    many = notebook([f"%%writefile unet/m{i}.py\nx = {i}" for i in range(8)])
    limited = read_submission(write(tmp_path / "files", {"hw.ipynb": many}), Limits(max_files=5))
    assert [t for t in limited.unreadable.values() if "write more than 5 files" in t]


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="Python 3.12 reads and runs these")
@pytest.mark.parametrize("line,said", [
    ("type Shape = tuple[int, ...]\n", "PEP 695"),
    ("class Box[T]:\n    pass\n", "PEP 695"),
    ("from typing import override\n", "typing.override, new in Python 3.12"),
    ("import itertools\nCHUNKS = itertools.batched(range(8), 2)\n", "itertools.batched, new in Python 3.12"),
])
def test_code_only_a_newer_python_runs_is_the_environments_problem(tmp_path, line, said):
    """Colab runs Python 3.12: its syntax (PEP 695) and its library's new names cost the component
    here, and the TA sees them as the environment's; the reference's own code raises nothing."""
    files = package("", reference())
    files["analysis.py"] = line + files["analysis.py"]
    submission = read_submission(write(tmp_path / "hand-in", files))
    assert [e for e in submission.environment if said in e and "valid from Python 3.12" in e], submission.environment
    assert read_submission(write(tmp_path / "plain", package("", reference()))).environment == []


def test_a_scratch_copy_of_one_block_does_not_beat_the_notebook_that_holds_the_work(tmp_path):
    """A notebook with every block, and an old resblock_v1.py beside it: ResBlock is the notebook's (the
    file came first for being a file, and its old block was graded); the copy is named in the notes."""
    ref = reference()
    cells = [_RELATIVE_IMPORT.sub("", ref[m]) for m in MODULES]
    old = _RELATIVE_IMPORT.sub("", ref["res_block"]).replace("return h + self.skip(x)", "return h")
    submission = read_submission(write(tmp_path / "hand-in", {"unet_homework.ipynb": notebook(cells), "resblock_v1.py": old}))
    assert submission.symbols["ResBlock"] == submission.symbols["SimpleUNet"] != "resblock_v1"
    assert [n for n in submission.notes if n.startswith("resblock_v1.py also defines ResBlock")]


def test_a_folder_below_the_graded_one_holding_the_rest_of_the_work_is_no_rival(tmp_path):
    """analysis.py at the top and the blocks in unet/: graded together, and nobody needs to look."""
    ref = reference()
    files = {"analysis.py": ref["analysis"], **package("unet/", {m: t for m, t in ref.items() if m != "analysis"})}
    submission = read_submission(write(tmp_path / "hand-in", files))
    assert submission.review == []
    assert {submission.symbols[s] for s in ("ResBlock", "skip_ablation")} == {"res_block", "analysis"}


def test_a_coding_line_is_honoured_only_for_codecs_source_is_saved_in():
    """A PEP 263 line naming latin-1 is how an editor saved the file; one naming punycode (quadratic to
    decode: a megabyte took a minute) or rot13 is no editor's: the file is read as UTF-8."""
    from autograder.intake.text import decode

    latin = "# -*- coding: latin-1 -*-\n# écrit\nx = 1\n".encode("latin-1")
    assert "écrit" in decode(latin, "a.py")[0]
    for codec in ("punycode", "rot13", "idna"):
        text, _ = decode(f"# coding: {codec}\n-abc = 1\n".encode(), "b.py")
        assert text == f"# coding: {codec}\n-abc = 1\n"


def test_a_notebook_handed_in_as_a_web_page_is_named_as_such(tmp_path):
    """Only Jupyter's HTML export handed in: the student and the TA are told to hand in the .ipynb."""
    page = ('<!DOCTYPE html><html><head><meta name="generator" content="nbconvert"></head><body class="jp-Notebook">'
            '<div class="jp-Cell jp-CodeCell"><pre>class ResBlock(nn.Module): ...</pre></div></body></html>')
    submission = read_submission(write(tmp_path / "page", {"unet_homework.html": page}))
    assert any("exported as a web page" in reason and ".ipynb" in reason for reason in submission.review)
    plain = read_submission(write(tmp_path / "other", {"notes.html": "<html><body>my notes</body></html>"}))
    assert not any("web page" in reason for reason in plain.review)


def test_a_hand_in_of_documents_only_is_named_as_such(tmp_path):
    """The notebook printed to PDF (what many courses ask for beside the code), and nothing else: the
    student and the TA are told to hand in the code; a document beside code changes nothing."""
    pdf = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
    submission = read_submission(write(tmp_path / "pdf", {"unet_homework.pdf": pdf}))
    assert any("unet_homework.pdf is a document" in reason and ".ipynb" in reason for reason in submission.review)
    beside = read_submission(write(tmp_path / "both", {**package("unet/", reference()), "report.pdf": pdf}))
    assert set(beside.symbols) >= CONTRACT and not beside.review


def test_a_notebook_importing_the_blocks_from_a_folder_not_handed_in_says_so(tmp_path):
    """Only the homework notebook, its first cell ``from unet.unet import SimpleUNet`` (the unet/ folder
    forgotten): one line naming what to hand in, for the student and the TA -- not nine "not defined"."""
    cells = ["from unet.unet import SimpleUNet\nfrom unet.res_block import ResBlock as RB\nimport torch",
             "def shape_trace(model, x, t):\n    return [SimpleUNet, RB]"]
    submission = read_submission(write(tmp_path / "nb", {"unet_homework.ipynb": notebook(cells)}))
    said = [reason for reason in submission.review if "which the hand-in does not hold" in reason]
    assert len(said) == 1 and "SimpleUNet from unet.unet" in said[0] and "ResBlock from unet.res_block" in said[0]
    whole = read_submission(write(tmp_path / "whole", {**package("unet/", reference()),
                                                       "unet_homework.ipynb": notebook(cells)}))
    assert not any("does not hold" in reason for reason in whole.review), whole.review


def test_notebook_cells_with_old_mac_line_endings_are_read_as_python_reads_them(tmp_path):
    """A lone \\r ends a line for Python; files were read so, notebook cells were not (an IndexError
    left the notebook, or the hand-in, unread: 0/130). A code cell and a %%writefile body alike."""
    ref = reference()
    cells = ["# setup\rimport math\rimport torch"] + [f"%%writefile unet/{m}.py\r" + text.replace("\n", "\r")
                                                      for m, text in ref.items() if m != "analysis"]
    cells.append(ref["analysis"].replace("from .", "from unet.").replace("\n", "\r"))
    submission = read_submission(write(tmp_path / "nb", {"unet_homework.ipynb": notebook(cells)}))
    assert set(submission.symbols) >= CONTRACT and not submission.unreadable, (submission.unreadable, submission.review)


@pytest.mark.parametrize("first_line", ["%%writefile unet/{module}.py", "%%time", "%%capture\n!pip install einops -q"])
def test_a_py_file_that_starts_with_a_cell_magic_is_its_body(tmp_path, first_line):
    """A cell pasted into a .py with its magic line (``%%writefile``, ``%%time``, Colab's ``%%capture``):
    IPython makes the whole text that magic's string, and the file was graded as empty (-24 for
    res_block.py). The file is its body, the magic line left out."""
    files = package("unet/", reference())
    files["unet/res_block.py"] = first_line.format(module="res_block") + "\n" + files["unet/res_block.py"]
    submission = read_submission(write(tmp_path / "hand-in", files))
    assert submission.symbols.get("ResBlock") == "res_block" and not submission.unreadable, submission.notes
    assert "class ResBlock" in submission.modules["res_block"].text


def test_a_class_its_file_does_not_define_yet_is_no_module_of_that_name(tmp_path):
    """res_block.py not yet holding ResBlock: ``from .res_block import ResBlock`` (in down_block.py) gave
    the module res_block itself (names match without case and underscores), so check.py said "'module'
    object is not callable" in four components. It is the ImportError Python raises."""
    files = package("unet/", reference())
    files["unet/res_block.py"] = '"""Not written yet."""\n'
    submission = read_submission(write(tmp_path / "hand-in", files))
    with _importing(submission) as importer:
        down_block = importer.module("down_block")  # its failing import left out, one statement at a time
        assert not isinstance(vars(down_block).get("ResBlock"), types.ModuleType), vars(down_block).get("ResBlock")
        assert any("cannot import name 'ResBlock'" in note for note in importer.notes), importer.notes


def test_the_assignment_written_in_a_packages_init_is_named_for_a_person(tmp_path):
    """Everything in unet/__init__.py (``import unet; unet.SimpleUNet`` works in Python), beside the
    released stubs or alone: it was 0/130 'graded', or 'no file defines any of the classes'."""
    stubs = Path(__file__).resolve().parent.parent / "assignments" / "unet"
    init = {"unet/__init__.py": one_file()}
    beside = read_submission(write(tmp_path / "beside", {**{f"unet/{p.name}": p.read_text() for p in stubs.glob("*.py")
                                                            if p.name != "__init__.py"}, **init}))
    alone = read_submission(write(tmp_path / "alone", init))
    for submission in (beside, alone):
        said = [reason for reason in submission.review if "unet/__init__.py defines" in reason]
        assert said and "ResBlock" in said[0] and "move them there" in said[0], submission.review
    plain = read_submission(write(tmp_path / "plain", package("unet/", reference())))
    assert not any("__init__.py defines" in reason for reason in plain.review)


@pytest.mark.parametrize("kind", ["markdown", "raw"])
def test_a_block_in_a_markdown_or_raw_cell_is_named_with_the_cell_to_make_code_again(tmp_path, kind):
    """A stray M or R key in Jupyter turns the attention cell into text: its classes are "not defined",
    with no word of the cell. The cell is named, for the student and a person."""
    ref = reference()
    plain = {m: re.sub(r"^from \.\w+ import .*\n", "", ref[m], flags=re.M) for m in MODULES}
    cells = [plain[m] for m in MODULES]
    at = MODULES.index("attention")
    nb = json.loads(notebook(cells))
    nb["cells"][at] = {"cell_type": kind, "metadata": {}, "source": f"```python\n{plain['attention']}\n```"}
    submission = read_submission(write(tmp_path / "nb", {"unet_homework.ipynb": json.dumps(nb)}))
    said = [reason for reason in submission.review if f"cell {at + 1} (a {kind} cell) holds SelfAttention" in reason]
    assert said and "make it a code cell" in said[0], submission.review
    explained = json.loads(notebook(cells))  # the same text beside the code cell that defines it: nothing to say
    explained["cells"].append({"cell_type": kind, "metadata": {}, "source": plain["attention"]})
    whole = read_submission(write(tmp_path / "whole", {"unet_homework.ipynb": json.dumps(explained)}))
    assert not any("as text, not code" in reason for reason in whole.review), whole.review


TYPO = ("time_mlp(t_emb)[:, :, None, None]", "time_mlp(t_emb)[:, :, None, None")  # the closing ] forgotten


@pytest.mark.parametrize("head", ["", "!pip install einops\n"])  # Colab's "Download .py" keeps its IPython lines
def test_a_syntax_error_in_one_file_costs_the_definitions_it_breaks(tmp_path, head):
    """One unclosed bracket in ResBlock.forward of a one-file ``# %%`` script charged every component
    (0/130, red team): now ResBlock alone is charged, with Python's message and the line, and the rest of
    the file is read as if the class were absent, with a note saying so."""
    script = "# %%\n" + head + one_file().replace("\nclass ", "\n# %%\nclass ").replace(*TYPO)
    submission = read_submission(write(tmp_path / "one", {"hw3.py": script}))
    line = script.split("\n").index(next(l for l in script.split("\n") if TYPO[1] in l)) + 1
    assert submission.component_problem("ResBlock") == f"SyntaxError: hw3.py, line {line}: '[' was never closed"
    assert all(submission.component_problem(c) is None for c in ("TimeEmbedding", "DownBlock", "SimpleUNet",
                                                                  "SelfAttention", "AttnResBlock", "ShapeTrace"))
    assert [n for n in submission.notes if n.startswith(f"hw3.py, line {line}: '[' was never closed (SyntaxError)")
            and "(ResBlock) left out" in n]
    assert submission.modules["hw3"].plan_entry()["broken"] == {"ResBlock": f"hw3.py, line {line}: '[' was never closed"}
    assert len([n for n in submission.notes if "(SyntaxError)" in n]) == 1  # the IPython line is no syntax error


def test_a_helper_beside_a_broken_class_is_still_imported_from_its_file(tmp_path):
    """attention.py imports a helper from res_block.py, whose ResBlock has a typo: SelfAttention lost
    18/18 (the unreadable file's stand-in kept only the contract's names, red team). The helper is a
    statement of its own that parses: the other files import it, and the note says why ResBlock is not there."""
    ref = reference()
    files = package("unet/", ref)
    files["unet/res_block.py"] = (ref["res_block"].replace("class ResBlock", "def num_groups(channels):\n"
                                                           "    return math.gcd(8, channels)\n\n\nclass ResBlock", 1)
                                  .replace(*TYPO))
    files["unet/attention.py"] = (ref["attention"].replace("from .res_block import ResBlock",
                                                           "from .res_block import ResBlock, num_groups")
                                  .replace("nn.GroupNorm(math.gcd(8, channels), channels)",
                                           "nn.GroupNorm(num_groups(channels), channels)"))
    submission = read_submission(write(tmp_path / "hand-in", files))
    assert submission.component_problem("ResBlock").startswith("SyntaxError: unet/res_block.py, line ")
    assert submission.component_problem("SelfAttention") is None
    stand_in = type("ResBlock", (), {"__module__": "<reference>"})
    plan = {name: entry.plan_entry() for name, entry in submission.modules.items()}
    importer = SourceImporter(plan, aliases=submission.aliases, packages=submission.packages,
                              symbols=submission.symbols, exports=submission.exports, protected=set(sys.modules),
                              stand_ins={"ResBlock": stand_in}, targets={"SelfAttention"})
    importer.install()
    try:
        attention = importer.module(submission.symbols["SelfAttention"])
        assert attention.num_groups(32) == 8 and attention.ResBlock is stand_in
        assert [n for n in importer.notes if "res_block.py's ResBlock could not be read (SyntaxError: " in n]
    finally:
        importer.forget()


def test_a_notebook_grades_the_definition_its_kernel_held(tmp_path):
    """ResBlock fixed in its cell and run last (execution count 20) above an old copy (count 4): the
    kernel held the fixed one, which is graded, with a note naming the cells (red team: the stale copy
    was graded, silently). Without execution counts, top to bottom: the last copy."""
    ref = {m: _RELATIVE_IMPORT.sub("", text) for m, text in reference().items()}
    old = ref["res_block"].replace("return h + self.skip(x)", "return h")
    cells = [ref["time_embedding"], ref["res_block"], old, ref["down_block"], ref["up_block"], ref["unet"],
             ref["attention"]]
    counts = [1, 20, 4, 5, 6, 7, 8]
    ran = json.loads(notebook(cells))
    for cell, count in zip(ran["cells"], counts):
        cell["execution_count"] = count
    graded = read_submission(_write_one(tmp_path / "ran", "hw.ipynb", json.dumps(ran)))
    text = graded.modules["hw"].text
    assert "return h + self.skip(x)" in text and "        return h\n" not in text
    assert len(text.split("\n")) == len(read_submission(_write_one(tmp_path / "plain", "hw.ipynb", notebook(cells)))
                                        .modules["hw"].text.split("\n"))  # the old copy's lines blanked, not removed
    assert [n for n in graded.notes if n.startswith("hw.ipynb: ResBlock is defined in cell 2 and again below it, "
                                                    "but cell 2 ran last (execution count 20; cell 3: 4)")]
    unrun = read_submission(_write_one(tmp_path / "unrun", "hw.ipynb", notebook(cells))).modules["hw"].text
    assert "        return h\n" in unrun  # no counts: the notebook's order, the old copy last
    in_order = [1, 2, 4, 5, 6, 7, 8]
    for cell, count in zip(ran["cells"], in_order):
        cell["execution_count"] = count
    again = read_submission(_write_one(tmp_path / "in_order", "hw.ipynb", json.dumps(ran)))
    assert "        return h\n" in again.modules["hw"].text and not [n for n in again.notes if "ran last" in n]


def _write_one(folder, name: str, text: str):
    return write(folder, {name: text}) / name


def test_a_notebook_cell_that_does_not_parse_costs_the_definitions_it_breaks(tmp_path):
    """A cell holding ResBlock with an unclosed bracket and a helper after it: the helper is kept, and
    ResBlock's component says Python's message and the cell (it said "ResBlock is not defined"). A
    broken copy in a later cell of a class another cell defines costs nothing: the kernel kept the other."""
    ref = {m: _RELATIVE_IMPORT.sub("", text) for m, text in reference().items()}
    broken = "!pip install einops\n" + ref["res_block"].replace(*TYPO) + "\n\nGROUPS = 8\n"
    uses = ref["down_block"] + "\n\nDownBlock.groups = GROUPS  # what a definition reads is kept\n"
    cells = [ref["time_embedding"], broken, uses, ref["up_block"], ref["unet"], ref["attention"]]
    submission = read_submission(_write_one(tmp_path / "one", "hw.ipynb", notebook(cells)))
    line = broken.split("\n").index(next(l for l in broken.split("\n") if TYPO[1] in l)) + 1
    assert submission.component_problem("ResBlock") == f"SyntaxError: hw.ipynb, cell 2, line {line}: '[' was never closed"
    assert submission.component_problem("DownBlock") is None and "GROUPS = 8" in submission.modules["hw"].text
    assert [n for n in submission.notes if n.startswith(f"hw.ipynb, cell 2, line {line}: '[' was never closed "
                                                        "(SyntaxError)") and "(ResBlock) left out" in n]
    again = read_submission(_write_one(tmp_path / "two", "hw.ipynb", notebook([ref["res_block"], *cells])))
    assert again.component_problem("ResBlock") is None and "ResBlock" in again.modules["hw"].text


def _format_3(cells: list[str]) -> str:
    """A notebook as Jupyter saved it before 2015 (format 3): cells in worksheets, code under "input"."""
    return json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": "hw"}, "worksheets": [{"cells": [
        {"cell_type": "heading", "level": 1, "metadata": {}, "source": "UNet"},
        *({"cell_type": "code", "collapsed": False, "input": cell, "language": "python", "metadata": {},
           "outputs": [], "prompt_number": number} for number, cell in enumerate(cells, 1))], "metadata": {}}]})


def test_a_notebook_of_format_3_is_read_as_jupyter_would_convert_it(tmp_path):
    """Some course tools still save format 3 (red team: every check failed, 0/130, "not defined")."""
    cells = [f"%%writefile {name}\n{text}" for name, text in package("unet/", reference()).items()]
    (tmp_path / "hw.ipynb").write_text(_format_3(cells))
    submission = read_submission(tmp_path / "hw.ipynb")
    assert set(submission.symbols) >= CONTRACT and not submission.review, submission.review

