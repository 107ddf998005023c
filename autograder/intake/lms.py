"""How learning-management systems name what their bulk downloads hold: one table, read by ``discover``.

Every LMS writes a student's upload under a name that says who sent it (Canvas:
``doejane_LATE_123456_7890101_unet.py``; Moodle: ``Jane Doe_123456_assignsubmission_file_/unet.py``).
Each ``Convention`` below is one such name as a regular expression whose named groups say:

- ``user``: who sent it, in the LMS's own terms (the identity: two people never share it);
- ``name``: how to call them (the user when absent);
- ``file``: the name they uploaded; empty or absent for a folder of their uploads;
- ``attempt``: which of their attempts it belongs to (only the latest is graded);
- ``other``: set on a part of the submission that is not uploads (Moodle's typed-in text): not code;
- ``receipt``: set on a file the LMS writes about an attempt (Blackboard's ``.txt``): not code either;
- ``download``: what every name of one download starts with (Blackboard's assignment name): where it
  and ``user`` are split by a ``_`` that either could hold, what all the download's names share says where.

A download is one LMS's (``claims``: the convention that reads the most of its names), and a name that
convention does not read is not claimed, and stays what it always was (a student's own folder or
archive): deny by default. ``students`` gathers the claimed entries into one
``Student`` each; it only reads names, so ``discover`` decides what is copied where.
"""
import os
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Callable

__all__ = ["CONVENTIONS", "Claim", "Convention", "Student", "claim", "claims", "students"]


@dataclass(frozen=True)
class Convention:
    lms: str  # as a person calls it; lower-cased, the prefix of the identity ("moodle:123456")
    pattern: re.Pattern
    attempt_order: Callable[[str], object] = str  # an attempt -> something that sorts oldest first
    download_files: frozenset[str] = frozenset()  # files the download itself holds beside the students' (not theirs)


def _blackboard_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d-%H-%M-%S")


def _d2l_time(text: str) -> datetime:
    """``Dec 5, 2026 1114 PM`` (D2L leaves the colon out of names, as Windows has no colons in them)."""
    return datetime.strptime(text.replace(":", ""), "%b %d, %Y %I%M %p")


# Most specific first: each is anchored on words only its LMS writes (``_attempt_<time>``,
# ``_assignsubmission_``), and Canvas's, the loosest, comes last.
CONVENTIONS = (
    # Blackboard "Download assignment": <assignment>_<user>_attempt_<y-m-d-h-m-s>_<file>, and a receipt
    # <assignment>_<user>_attempt_<y-m-d-h-m-s>.txt for each attempt (who, when, the files' names).
    Convention("Blackboard", re.compile(
        r"(?P<download>.+?)_(?P<user>[^_\s]+)_attempt_(?P<attempt>\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d)(?:_(?P<file>.+)|(?P<receipt>\.txt))"),
        attempt_order=_blackboard_time),
    # Moodle "Download all submissions": <full name>_<participant id>_assignsubmission_<plugin>_ as a folder of
    # the files (Moodle >= 3.1), or as the prefix of each file (older). Moodle writes the name's ``_`` as spaces.
    # Only the ``file`` plugin holds uploads; ``onlinetext`` and the others hold what was typed in.
    Convention("Moodle", re.compile(
        r"(?P<name>[^_]+)_(?P<user>\d+)_assignsubmission_(?:file|(?P<other>[a-z0-9]+))_(?P<file>.*)")),
    # Brightspace (D2L) "Download": <submission id>-<file id> - <name> - <Mon d, yyyy hmm AM>[ - <file>] (a file each,
    # or a folder per submission), beside an index.html of the download. D2L names no user id: the name is who.
    Convention("D2L", re.compile(
        r"\d+(?:-\d+)? - (?P<user>\S.*?) - (?P<attempt>[A-Z][a-z]{2} \d{1,2}, \d{4} \d{1,2}:?\d\d [AP]M)(?: - (?P<file>.+))?"),
        attempt_order=_d2l_time, download_files=frozenset({"index.html"})),
    # Canvas "Download Submissions": <lastfirst>[_LATE]_<user id>_<submission id>_<file> (a resubmission: unet-1.py).
    Convention("Canvas", re.compile(r"(?P<name>[^_\s]+)(?:_LATE)?_(?P<user>\d+)_\d+_(?P<file>.+)")),
)


@dataclass(frozen=True)
class Claim:
    """One entry of a download, read through its LMS's naming."""

    path: Path
    convention: Convention
    user: str
    name: str
    file: str  # the name it was uploaded as; "" for a folder of uploads
    attempt: str
    download: str  # what every name of the download starts with, where the LMS writes one
    other: bool  # written by the LMS beside the uploads (a receipt, a typed-in text), not code


def claims(entries: list[Path]) -> list[Claim]:
    """The entries of one download, read through one LMS's naming: the convention that reads the most of
    them (the first in the table among equals). A download is one LMS's: read name by name, with every
    convention, a student's upload named like another LMS's entry (``x_doealice_attempt_2030-..._unet.py``
    inside a Canvas download) would put their code under another student's name."""
    read = {convention: [c for c in (claim(entry, (convention,)) for entry in entries) if c is not None]
            for convention in CONVENTIONS}
    return read[max(CONVENTIONS, key=lambda convention: len(read[convention]))]


def claim(entry: Path, conventions: tuple = CONVENTIONS) -> Claim | None:
    """``entry`` read as a download's name, or None: a link, or a name none of ``conventions`` writes as it is."""
    if entry.is_symlink() or not (entry.is_dir() or entry.is_file()):
        return None
    for convention in conventions:
        match = convention.pattern.fullmatch(entry.name)
        if match is None:
            continue
        groups = match.groupdict()
        file, receipt = groups.get("file") or "", bool(groups.get("receipt"))
        if entry.is_dir() != (not file and not receipt) or file in (".", ".."):
            continue  # a folder named like a file, or a file like a folder: not what this LMS writes
        try:
            if groups.get("attempt"):
                convention.attempt_order(groups["attempt"])
        except ValueError:
            continue  # a date no calendar has
        return Claim(entry, convention, groups["user"], groups.get("name") or groups["user"], file,
                     groups.get("attempt") or "", groups.get("download") or "", receipt or bool(groups.get("other")))
    return None


@dataclass
class Student:
    """One student of one LMS: what is graded (``uploads``: files and folders of the latest attempt,
    each with the name it was uploaded as, "" for a folder's contents) and what is not, with why."""

    lms: str
    user: str
    name: str
    uploads: list[tuple[Path, str]] = field(default_factory=list)
    others: list[Path] = field(default_factory=list)  # the LMS's own files about the submission
    earlier: list[Path] = field(default_factory=list)  # uploads of attempts before the latest
    attempts: list[str] = field(default_factory=list)  # every attempt, oldest first
    problem: str = ""  # why there is nothing to grade, for a person

    @property
    def identity(self) -> str:
        return f"{self.lms.lower()}:{self.user}"


def students(claims: list[Claim]) -> list[Student]:
    """The claimed entries, one ``Student`` per LMS user, in the order first seen; only the latest
    attempt's uploads are graded (an LMS grades the latest attempt too)."""
    gathered: dict[tuple[str, str], list[Claim]] = {}
    for item in _whole_users(claims):
        gathered.setdefault((item.convention.lms, item.user), []).append(item)
    result = []
    for (lms, user), items in gathered.items():
        order = items[0].convention.attempt_order
        attempts = sorted({i.attempt for i in items}, key=order)
        latest = attempts[-1]
        student = Student(lms, user, items[0].name, attempts=attempts)
        for item in items:
            if item.other:
                student.others.append(item.path)
            elif item.attempt == latest:
                student.uploads.append((item.path, item.file))
            else:
                student.earlier.append(item.path)
        if not student.uploads:
            when = f" in their latest attempt ({latest})" if latest else ""
            student.problem = (f"{lms} user {user} uploaded no files{when}, only "
                               f"{', '.join(sorted(p.name for p in student.others))}: read that; to grade files "
                               "they sent another way, put them in a folder named after them and regrade with --only")
        result.append(student)
    return result


def _whole_users(claims: list[Claim]) -> list[Claim]:
    """A user name with ``_`` in it (``Homework 3_a_smith_attempt_...``) reads at first as part of the
    download's name; the download's name is what all of its entries start with, and the rest is the user's."""
    downloads: dict[str, list[str]] = {}
    for item in claims:
        if item.download:
            downloads.setdefault(item.convention.lms, []).append(item.download)
    common = {lms: _common_words(names) for lms, names in downloads.items()}
    whole = []
    for item in claims:
        shared = common.get(item.convention.lms, "")
        if shared and item.download != shared:
            user = f"{item.download[len(shared) + 1:]}_{item.user}"
            item = replace(item, download=shared, user=user, name=user if item.name == item.user else item.name)
        whole.append(item)
    return whole


def _common_words(names: list[str]) -> str:
    """The longest start of every name that ends where a name ends or at a ``_``."""
    shared = os.path.commonprefix(names)
    while shared and not all(n == shared or n.startswith(shared + "_") for n in names):
        shared = shared[:max(shared.rfind("_"), 0)]
    return shared


def download_files(claims: list[Claim]) -> frozenset[str]:
    """Names of the files a download holds about itself, for the LMSs seen in ``claims``."""
    return frozenset().union(*(c.convention.download_files for c in claims))
