"""Find the submissions in what a TA downloaded: which layout it is, who submitted what, what was skipped.

Three layouts, recognised in this order:

- **gradescope**: Gradescope's "Export Submissions" zip (or its unpacked folder): a
  ``submission_metadata.yml`` beside one ``submission_<id>/`` folder per submission, possibly inside
  an ``assignment_<id>_export/`` folder. The metadata maps each folder to its submitters
  (``:submitters: [{:name:, :sid:, :email:}]``); a student is named by SID, else e-mail, else the
  folder. A group submission is graded once and recorded for every member.
- **nbgrader**: ``submitted/<student>/<assignment>/`` (pass the course folder or ``submitted/``).
- **folders**: one folder or ``.zip`` per student, named after the student. Files and folders named
  as an LMS's bulk download names them (Canvas, Blackboard, Moodle, Brightspace: the table in
  ``lms``) are one submission per LMS user, of their latest attempt, under the names they uploaded.

Archives are not opened here (that happens in the worker), so discovering a class is cheap and a
broken archive costs its own student a zero, never the batch. Every entry a TA passed gets a row:
what cannot be graded (a ``.rar``, a link, an nbgrader student with two assignment folders) is
still a submission, with the ``problem`` that sends it to a person.
"""
import contextlib
import dataclasses
import errno
import re
import shutil
import unicodedata
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

import yaml

from ..errors import SubmissionError
from . import lms
from .safe_text import safe_name_text, safe_text

__all__ = ["Discovered", "Submitter", "Discovery", "discover", "extract_zip", "held_by", "safe_name"]

IGNORED_NAMES = {"__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini"}
MAX_ZIP_MEMBERS = 10_000
LEGACY_IDENTITY = "submission:"  # a record of an older version names its student by the submission graded


@dataclass(frozen=True)
class Submitter:
    key: str  # folder name under OUT/students/, unique in the batch
    name: str = ""
    email: str = ""
    identity: str = ""  # who this is ("sid:1815", "email:ada@x.edu", "folder:alice"): two people never share a key

    def __post_init__(self):
        if not self.identity:
            object.__setattr__(self, "identity", f"key:{self.key}")


@dataclass(frozen=True)
class Discovered:
    """One submission to grade: where it is, and the student(s) whose grade it is."""

    source: Path  # a folder, an archive, or a file
    submitters: tuple[Submitter, ...]
    problem: str = ""  # why it cannot be graded as it is, for a person (status needs_review)

    @property
    def key(self) -> str:
        return self.submitters[0].key


@dataclass
class Discovery:
    layout: str
    root: Path
    submissions: list[Discovered] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path relative to root, why)
    renamed: list[tuple[str, str, str]] = field(default_factory=list)  # (key taken, key given, who)
    _temporary: tempfile.TemporaryDirectory | None = field(default=None, repr=False)
    shown_root: str = ""  # how to name ``root`` to a person (an export zip is unpacked into a scratch folder)
    gathered: dict = field(default_factory=dict)  # a scratch folder of one LMS student's uploads -> their names

    def shown(self, path: Path) -> str:
        """``path`` as the TA knows it: inside the folder or zip they passed, never our scratch folder (an
        LMS student's uploads gathered into one are named by the download's entries they came from)."""
        base = self.shown_root or str(self.root)
        if Path(path) in self.gathered:
            names = self.gathered[Path(path)]
            more = f" (and {len(names) - 1} more)" if len(names) > 1 else ""
            return safe_text(f"{base}/{names[0]}{more}", 1000)
        try:
            relative = Path(path).relative_to(self.root)
        except ValueError:
            return safe_text(path, 1000)
        return safe_text(f"{base}/{relative.as_posix()}" if relative.parts else base, 1000)

    def cleanup(self) -> None:
        if self._temporary is not None:
            self._temporary.cleanup()
            self._temporary = None

    def describe(self) -> str:
        lines = [f"layout: {self.layout} ({len(self.submissions)} submissions in {self.shown_root or self.root})"]
        lines += [f"skipped {where}: {why}" for where, why in self.skipped]
        lines += [f"two students would both be {taken}: {who} is {given}" for taken, given, who in self.renamed]
        return "\n".join(lines)


def safe_name(text: str) -> str:
    """A folder name that is safe on every file system and cannot climb out of OUT/.

    Accented letters lose their accents (``Nadia Müller`` -> ``Nadia_Muller``); the name itself is
    kept, as written, in ``Submitter.name``.
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    cleaned = re.sub(r"[^A-Za-z0-9._@+-]+", "_", ascii_text.strip()).strip("._")
    return cleaned[:100] or "unnamed"


_ARCHIVE_SUFFIXES = (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".tbz2", ".tbz", ".txz", ".tar", ".zip", ".rar",
                     ".7z", ".ipynb", ".py")


def _student_name(entry: Path) -> str:
    """``Nadia Müller.tar.gz`` -> ``Nadia Müller``: the folder's or file's name without its archive suffix."""
    name = entry.name
    if entry.is_dir():
        return name
    lowered = name.lower()
    for suffix in _ARCHIVE_SUFFIXES:
        if lowered.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return entry.stem or name


def _entry(entry: Path, problem: str = "") -> "Discovered":
    """One student's entry, named after it; a link is a row with a problem, never followed."""
    name = _student_name(entry)
    if entry.is_symlink():
        problem = problem or f"{entry.name} is a link; copy the submission itself there and regrade with --only"
    return Discovered(entry, (Submitter(safe_name(name), name, identity=f"student:{name}"),), problem)


def extract_zip(archive: Path, destination: Path, max_bytes: int, max_members: int = MAX_ZIP_MEMBERS,
                left_out: list | None = None) -> Path:
    """Unpack ``archive`` into ``destination``, refusing anything that could escape it or fill the disk.

    Refused: absolute paths, ``..``, links, more than ``max_members`` entries, and more than
    ``max_bytes`` uncompressed (counted while reading, so a lying header does not help).
    Raises ``SubmissionError`` with a message for the student. A member this file system cannot hold
    (a name over 255 bytes, a file and a folder of one name) is left out, with why, in ``left_out``:
    one student's file never stops the class.
    """
    try:
        with zipfile.ZipFile(archive) as bundle:
            members = bundle.infolist()
            if len(members) > max_members:
                raise SubmissionError(f"{safe_name_text(archive.name)} holds {len(members)} files, over the limit of {max_members}")
            declared = sum(m.file_size for m in members)
            if declared > max_bytes:
                raise SubmissionError(
                    f"{safe_name_text(archive.name)} unpacks to {declared >> 20} MiB, over the {max_bytes >> 20} MiB limit"
                )
            written = 0
            for member in members:
                parts = PurePosixPath(member.filename.replace("\\", "/")).parts
                if member.filename.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
                    raise SubmissionError(f"{safe_name_text(archive.name)}: refusing the unsafe path "
                                          f"{safe_name_text(repr(member.filename))}")
                if stat.S_ISLNK(member.external_attr >> 16):
                    raise SubmissionError(f"{safe_name_text(archive.name)}: refusing the link "
                                          f"{safe_name_text(repr(member.filename))}; zip the files themselves")
                if not parts or parts[0] in IGNORED_NAMES:
                    continue
                target = destination.joinpath(*parts)
                try:
                    if member.is_dir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with bundle.open(member) as source, open(target, "wb") as sink:
                        while chunk := source.read(1 << 20):
                            written += len(chunk)
                            if written > max_bytes:
                                raise SubmissionError(f"{safe_name_text(archive.name)} unpacks to more than "
                                                      f"{max_bytes >> 20} MiB, over the limit")
                            sink.write(chunk)
                except (OSError, zlib.error, zipfile.BadZipFile, EOFError) as exc:
                    # this file system cannot hold it, or its bytes are damaged: that file is left out, not the class
                    if left_out is None:
                        raise
                    with contextlib.suppress(OSError):  # half written: nothing of it is graded
                        target.unlink()
                    again = "under a shorter name" if getattr(exc, "errno", None) == errno.ENAMETOOLONG else "again"
                    left_out.append((member.filename, f"could not be unpacked here ({getattr(exc, 'strerror', None) or exc}): left out; "
                                     f"ask the student for it {again}, then regrade them with --only"))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, RuntimeError, zlib.error) as exc:
        raise SubmissionError(f"{safe_name_text(archive.name)} could not be opened as a zip ({safe_text(exc, 300)}); "
                              "upload it again") from None
    return destination


def _visible(path: Path) -> bool:
    return not path.name.startswith(".") and path.name not in IGNORED_NAMES


def _find_metadata(root: Path) -> Path | None:
    """Gradescope's ``submission_metadata.yml``: at the root, or in the export's own folder when that is
    all the root holds. Deny by default: one in a student's folder beside others' is that student's file
    (it would otherwise make their folder the whole class, and no one else be graded)."""
    if (root / "submission_metadata.yml").is_file():
        return root / "submission_metadata.yml"
    entries = [e for e in root.iterdir() if not (e.name.startswith(".") or e.name == "__MACOSX")]
    if len(entries) == 1 and entries[0].is_dir() and (entries[0] / "submission_metadata.yml").is_file():
        return entries[0] / "submission_metadata.yml"
    return None


class _TolerantLoader(yaml.SafeLoader):
    """Gradescope's metadata comes from Ruby and may carry tags such as ``!ruby/object:BigDecimal``."""


def _untagged(loader, suffix, node):
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_scalar(node)


_TolerantLoader.add_multi_constructor("!", _untagged)


def _field(record: dict, name: str) -> str:
    value = record.get(f":{name}", record.get(name, ""))
    return "" if value is None else safe_name_text(value)


def _submitter(person: dict, folder: str) -> Submitter:
    """Named by SID, else the e-mail's local part (the e-mail itself is who they are), else the folder."""
    sid, email = _field(person, "sid").strip(), _field(person, "email").strip()
    identity = f"sid:{sid}" if sid else f"email:{email.lower()}" if email else f"folder:{folder}"
    return Submitter(safe_name(sid or email.split("@")[0] or folder), _field(person, "name"), email, identity)


def _gradescope(root: Path, metadata_file: Path) -> Discovery:
    found = Discovery("gradescope", metadata_file.parent)
    try:
        metadata = yaml.load(metadata_file.read_text(encoding="utf-8"), Loader=_TolerantLoader) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SubmissionError(f"{metadata_file}: not readable YAML ({exc}); download the export again") from None
    if not isinstance(metadata, dict):
        raise SubmissionError(f"{metadata_file}: expected one entry per submission folder")
    base = metadata_file.parent
    for entry in sorted(base.iterdir()):
        if entry == metadata_file or not _visible(entry):
            continue
        record = metadata.get(entry.name)
        if not isinstance(record, dict):
            found.skipped.append((entry.name, "not listed in submission_metadata.yml; graded under its own name"))
            found.submissions.append(_entry(entry))
            continue
        people = record.get(":submitters", record.get("submitters"))
        if not isinstance(people, list):  # hand-edited or damaged metadata: the folder still gets its row
            if people is not None:
                found.skipped.append((entry.name, "its submitters in submission_metadata.yml are not a list; "
                                                  "graded under its own name"))
            people = []
        try:
            submitters = tuple(_submitter(p, entry.name) for p in people if isinstance(p, dict))
        except Exception as error:  # noqa: BLE001 -- one odd record costs its names, never the batch
            found.skipped.append((entry.name, f"its submitters could not be read ({type(error).__name__}); "
                                              "graded under its own name"))
            submitters = ()
        found.submissions.append(Discovered(entry, submitters or _entry(entry).submitters, _entry(entry).problem))
    return found


def _roster(course: Path) -> dict[str, tuple[str, str]]:
    """nbgrader's roster (``gradebook.db`` beside ``submitted/``): student id -> (name, e-mail), so
    grades.csv names people; read-only, and nothing when there is none or it cannot be read."""
    database = course / "gradebook.db"
    if not database.is_file():
        return {}
    import sqlite3

    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
            rows = connection.execute("SELECT id, first_name, last_name, email FROM student").fetchall()
    except sqlite3.Error:
        return {}
    return {str(i): (" ".join(str(n) for n in (first, last) if n), str(email or "")) for i, first, last, email in rows}


def _nbgrader(submitted: Path, assignment: str | None) -> Discovery:
    found = Discovery("nbgrader", submitted)
    roster = _roster(submitted.parent)
    for student in sorted(submitted.iterdir()):
        if not _visible(student):
            continue
        if not student.is_dir() or student.is_symlink():
            found.submissions.append(_entry(student, f"{student.name} is not a student folder "
                                                     "(submitted/<student>/<assignment>/): move it there and regrade"))
            continue
        folders = sorted(p for p in student.iterdir() if p.is_dir() and _visible(p))
        if assignment is not None:
            folders = [p for p in folders if p.name == assignment]
        if len(folders) != 1:
            why = (f"no {assignment}/ folder" if assignment else "no assignment folder") if not folders else (
                f"several assignments ({', '.join(p.name for p in folders)}); pass --assignment")
            found.submissions.append(_entry(student, f"{student.name}: {why} in submitted/{student.name}/"))
            continue
        entry = _entry(student).submitters[0]
        name, email = roster.get(student.name, (entry.name, ""))
        found.submissions.append(Discovered(folders[0], (dataclasses.replace(entry, name=name, email=email),)))
    return found


def _folders(root: Path) -> Discovery:
    found = Discovery("folders", root)
    entries = [entry for entry in sorted(root.iterdir()) if _visible(entry)]
    claims = lms.claims(entries)
    claimed = {c.path for c in claims}
    ours = lms.download_files(claims)  # what the LMS wrote about its download (D2L's index.html): no one's
    for entry in entries:
        if entry in claimed:
            continue
        if entry.name in ours and entry.is_file() and not entry.is_symlink():
            found.skipped.append((entry.name, "the LMS's index of its download, not a student's"))
            continue
        readable = entry.is_symlink() or entry.is_dir() or entry.name.lower().endswith(_ARCHIVE_SUFFIXES) or (
            entry.is_file() and zipfile.is_zipfile(entry))  # not a named pipe: opening one waits for a writer
        found.submissions.append(_entry(entry, "" if readable else (
            f"{entry.name} is neither a folder, an archive (.zip, .tar, .tar.gz, ...), a notebook nor a .py file: "
            "if it is a student's hand-in, put it in a folder named after them and regrade with --only; "
            "if not, move it out of the submissions folder")))
    if claims:
        _lms_students(found, lms.students(claims))
    return found


def _lms_students(found: Discovery, students: list[lms.Student]) -> None:
    """Each LMS student as one submission named by their LMS identity: their one folder of uploads as
    it is, else their files copied under the names they uploaded into a folder of their own (a scratch
    folder, removed by ``cleanup``). Earlier attempts are not graded, and the TA is told so."""
    beside = [path for student in students if not student.problem for path in student.others]
    if beside:  # one line, not one a student: a TA knows they were seen, and why they are no row
        more = f"; {len(beside) - 1} more like it are skipped too" if len(beside) > 1 else ""
        found.skipped.append((beside[0].name, f"what the LMS wrote beside a student's uploads (a receipt, typed-in text), "
                                              f"not code{more}"))
    for student in students:
        submitter = Submitter(safe_name(student.name), student.name, identity=student.identity)
        if student.earlier:
            found.skipped.append((student.earlier[0].name, f"{len(student.earlier)} upload(s) of {student.lms} user "
                                  f"{student.user}'s earlier attempt(s) ({', '.join(student.attempts[:-1])}): "
                                  f"graded their latest attempt only ({student.attempts[-1]})"))
        if student.problem:
            found.submissions.append(Discovered(student.others[0], (submitter,), student.problem))
            continue
        if len(student.uploads) == 1 and not student.uploads[0][1]:  # a folder of uploads (Moodle): graded where it is
            found.submissions.append(Discovered(student.uploads[0][0], (submitter,)))
            continue
        if found._temporary is None:
            found._temporary = tempfile.TemporaryDirectory(prefix="autograder-lms-")
        base = safe_name(student.user if student.name == student.user else f"{student.name}_{student.user}")
        folder, number = Path(found._temporary.name) / base, 2
        while folder.exists():  # two users whose names make one safe name
            folder, number = folder.with_name(f"{base}-{number}"), number + 1
        folder.mkdir()
        for path, original in student.uploads:
            if not original:  # a folder of uploads beside loose ones: its contents, links kept as links
                shutil.copytree(path, folder, symlinks=True, dirs_exist_ok=True)
                continue
            target, number = folder / original, 2  # ``original``: part of a file name already, so a file name
            while target.exists():  # the same name uploaded twice: both kept
                target, number = folder / f"{Path(original).stem}-{number}{Path(original).suffix}", number + 1
            shutil.copyfile(path, target)
        found.gathered[folder] = sorted(path.name for path, _ in student.uploads)
        found.submissions.append(Discovered(folder, (submitter,)))


def _dedupe(found: Discovery, held: dict[str, str] | None = None) -> Discovery:
    """Every student gets a key of their own. The same student twice (``alice/`` and ``alice.zip``):
    the first submission is kept (sorted order, so every run agrees). Two people whose names make
    the same key (a SID equal to someone else's e-mail name): the second gets another key, said aloud.

    ``held``: the keys an earlier run into the same output folder gave, key -> its student's identity
    (``held_by``). A key stays its student's for good: a student added later whose name makes a held key
    gets another one, so a resumed batch never counts them done with someone else's results."""
    held = held or {}
    homes = {identity: key for key, identity in sorted(held.items())}
    owners: dict[str, str] = {}  # key -> identity, this run
    sources: dict[str, str] = {}  # key -> the name of the submission kept for it
    kept = []

    def taken(key: str, identity: str) -> bool:
        return owners.get(key, identity) != identity or held.get(key, identity) != identity

    for item in found.submissions:
        submitters = []
        for person in item.submitters:
            person = replace(person, identity=_earlier_identity(person, found.shown(item.source), homes))
            if person.identity in homes:
                person = replace(person, key=homes[person.identity])
            elif taken(person.key, person.identity):
                key = safe_name(person.email) if person.email else person.key
                number = 2
                while taken(key, person.identity):
                    key, number = f"{person.key}-{number}", number + 1
                found.renamed.append((person.key, key, person.identity.split(":", 1)[-1]))
                person = replace(person, key=key)
            submitters.append(person)
        again = [p.key for p in submitters if owners.get(p.key) == p.identity]
        if again:
            found.skipped.append((item.source.name, f"a second submission for {again[0]} (kept {sources[again[0]]})"))
            continue
        owners.update((p.key, p.identity) for p in submitters)
        sources.update((p.key, item.source.name) for p in submitters)
        kept.append(replace(item, submitters=tuple(submitters)))
    found.submissions = kept
    return _made_safe(found)


def _earlier_identity(person: Submitter, shown_source: str, homes: dict[str, str]) -> str:
    """The person's identity; a record of an older version holds none, and names its student by the
    submission it graded (``held_by``): the same submission is the same student."""
    legacy = f"{LEGACY_IDENTITY}{shown_source}"
    return legacy if person.identity not in homes and legacy in homes else person.identity


def held_by(records) -> dict[str, str]:
    """key -> identity of each student an output folder's records (``StudentRecord``) hold; a record of an
    older version, without one, by the submission it graded; an unreadable one holds nothing (``--only``
    grades its student again there)."""
    return {r.student: r.identity or f"{LEGACY_IDENTITY}{r.source}" for r in records if r.identity or r.source}


def _made_safe(found: Discovery) -> Discovery:
    """Every text a TA is shown about the class (names, what was skipped) as safe text: a folder name
    need not be UTF-8, printable or short. The students' keys are ``safe_name``s already."""
    found.skipped = [(safe_name_text(where), safe_text(why, 500)) for where, why in found.skipped]
    found.renamed = [tuple(safe_name_text(part) for part in entry) for entry in found.renamed]
    found.shown_root = safe_text(found.shown_root, 1000) if found.shown_root else ""
    return found


def discover(root, assignment: str | None = None, max_export_bytes: int = 4 << 30,
             held: dict[str, str] | None = None) -> Discovery:
    """Recognise the layout under ``root`` (a folder, or a Gradescope export zip) and list its submissions.
    ``held``: the keys an earlier run gave (``held_by`` of the output folder's records), kept by their students.

    Call ``cleanup()`` on the result when done: an export zip is unpacked into a temporary folder.
    """
    root = given = Path(root)
    if not root.exists():
        raise SubmissionError(f"{root}: no such file or folder; pass the folder (or export zip) with the submissions")
    temporary = None
    if root.is_file():
        if root.suffix.lower() != ".zip":
            raise SubmissionError(f"{root}: expected a folder of submissions or a Gradescope export .zip")
        temporary = tempfile.TemporaryDirectory(prefix="autograder-export-")
        left_out: list[tuple[str, str]] = []
        try:
            extract_zip(root, Path(temporary.name), max_export_bytes, max_members=200_000, left_out=left_out)
        except BaseException:
            temporary.cleanup()
            raise
        unpacked = Path(temporary.name)
        if _find_metadata(unpacked) is None:
            temporary.cleanup()
            raise SubmissionError(f"{root}: no submission_metadata.yml inside; is this Gradescope's 'Export Submissions' zip?")
        root = unpacked
    metadata = _find_metadata(root)
    if metadata is not None:
        found = _gradescope(root, metadata)
    elif (root / "submitted").is_dir():
        found = _nbgrader(root / "submitted", assignment)
    elif root.name == "submitted":
        found = _nbgrader(root, assignment)
    else:
        found = _folders(root)
    if temporary is not None:
        found.skipped += [(f"{given.name}:{name}", why) for name, why in left_out]
        found._temporary = temporary
        found.shown_root = f"{given.name}:{found.root.relative_to(unpacked).as_posix()}".rstrip(":.")
    return _dedupe(found, held)

