"""A batch's integrity events as data: what a TA must look at that is not an honest mistake.

Two sources, both in each student's record on disk:
- what the sandbox saw the student's code do, read from the checks' outputs (the sandbox's own
  words, ``sandbox/zygote_client.describe_exit`` and ``sandbox/errors``): end the grading process,
  send a reply no honest child sends, make a call the sandbox refuses, or run into a limit;
- what similarity found (``similarity.py``): exact copies and near-identical pairs.

Each is an ``IntegrityEvent``; a batch's list is one file, ``OUT/integrity.json``
(``{"schema": SCHEMA, "events": [...]}``), rebuilt with the class report, which renders it. Scripts
read the file instead of parsing sentences. An event is not a verdict: a person decides what it means.
"""
import json
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from .results import json_text

__all__ = ["IntegrityEvent", "KINDS", "SCHEMA", "sandbox_events", "similarity_events", "integrity_json",
           "read_integrity", "is_integrity_event", "honestly_graded", "by_student"]

SCHEMA = 1  # integrity.json's layout; a reader refuses a file of another schema rather than guess

# kind -> (what happened, in a TA's words; whether it needs a person: an attack, not a mistake)
KINDS = {
    "process_exit": ("ended the grading process", True),
    "malformed_reply": ("sent the grader a reply no honest child sends", True),
    "sandbox_refused": ("tried what the sandbox refuses (a socket, a new file, another process, a system call "
                        "outside the allow-list)", True),
    "memory_limit": ("was killed at the memory limit", False),
    "cpu_limit": ("ran past its CPU time", False),
    "file_size_limit": ("wrote a file past the size limit", False),
    "exact_copy": ("the same code, token for token", True),
    "similar": ("near-identical code", True),
}


@dataclass(frozen=True)
class IntegrityEvent:
    """One event: ``kind`` (a key of ``KINDS``), the students it is about (two or more for similarity),
    where in their code (``"attention.py, line 46: os._exit(0)"``, or ``""``), the first check it
    cost, and for similarity the shared fraction of the smaller side's own code."""

    kind: str
    students: tuple[str, ...]
    where: str = ""
    check: str = ""
    shared: float | None = None
    details: dict = field(default_factory=dict, compare=False, hash=False)  # kind-specific numbers (similarity's sizes)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown integrity event kind={self.kind!r}; expected one of {', '.join(KINDS)}")
        object.__setattr__(self, "students", tuple(self.students))

    @property
    def what(self) -> str:
        return KINDS[self.kind][0]

    @property
    def needs_a_person(self) -> bool:
        return KINDS[self.kind][1]

    def about(self, student: str) -> str:
        """The event in one sentence, as seen from ``student`` (one of ``students``): what the TA reads
        in grades.csv, the terminal's list and "Needs a person"."""
        others = [s for s in self.students if s != student]
        if self.kind == "exact_copy":
            return f"the same code, token for token, as {', '.join(others)} (exact copy)"
        if self.kind == "similar":
            share = f": {100 * self.shared:.0f}% of the smaller side's own code" if self.shared is not None else ""
            return f"near-identical code to {', '.join(others)}{share}"
        where = "; ".join(part for part in (self.where, f"first seen in {self.check}" if self.check else "") if part)
        return f"the code {self.what}" + (f" ({where})" if where else "")

    def to_dict(self) -> dict:
        return {**asdict(self), "students": list(self.students), "what": self.what,
                "needs_a_person": self.needs_a_person}

    @classmethod
    def from_dict(cls, data: dict) -> "IntegrityEvent":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


# What the sandbox's messages say, as the checks' outputs carry them: (pattern, kind, where to look in
# the student's source when the output names no line).
_SEEN = (
    (re.compile(r"exited with status \d+ \(does your code call sys\.exit or os\._exit\?\)"), "process_exit",
     re.compile(r"\b(?:os\._exit|sys\.exit|os\.kill|os\.abort)\s*\(")),
    (re.compile(r"malformed reply"), "malformed_reply", None),
    (re.compile(r"Operation not permitted|Function not implemented"), "sandbox_refused",  # EPERM; ENOSYS: seccomp
     re.compile(r"\bsocket\b|\bos\.(?:open|mkdir|link|symlink|fork|kill|system|exec\w*)\b|\bsubprocess\b|\bopen\(")),
    (re.compile(r"was killed \(likely over the \d+ MiB memory limit\)"), "memory_limit", None),
    (re.compile(r"used more than [\d.]+ s of CPU time"), "cpu_limit", None),
    (re.compile(r"wrote a file larger than \d+ MiB"), "file_size_limit", None),
)
_TRACEBACK_LINE = re.compile(r'File "([^"]+)", line (\d+)')


def is_integrity_event(output: str) -> bool:
    """Whether a check's output tells of an event that needs a person (not an honest mistake)."""
    return any(pattern.search(output) and KINDS[kind][1] for pattern, kind, _ in _SEEN)


def _where(output: str, sources: dict, locate) -> str:
    """``file, line N`` of an event: from the output's traceback, else the first line of the
    student's source (kept with the fingerprint) that ``locate`` matches; "" if neither names one."""
    found = _TRACEBACK_LINE.findall(output)
    if found:
        return f"{Path(found[-1][0]).name}, line {found[-1][1]}"
    for module, text in sorted(sources.items()) if locate is not None else ():
        for number, line in enumerate(text.splitlines(), 1):
            if locate.search(line):
                return f"{module}.py, line {number}: {line.strip()[:80]}"
    return ""


def sandbox_events(student: str, report) -> list[IntegrityEvent]:
    """What the sandbox saw ``student``'s code do (a ``results.GradingReport``): each kind once,
    with the first check it cost and where."""
    fingerprint = report.fingerprint if isinstance(report.fingerprint, dict) else {}
    sources = fingerprint.get("source", {}) if isinstance(fingerprint.get("source"), dict) else {}
    events: dict[str, IntegrityEvent] = {}
    for check_ in report.checks:
        for pattern, kind, locate in _SEEN:
            if kind not in events and pattern.search(check_.output):
                events[kind] = IntegrityEvent(kind, (student,), _where(check_.output, sources, locate), check_.name)
    return list(events.values())


def honestly_graded(report) -> bool:
    """Whether ``report``'s results may count in class statistics: its checks ran (not
    ``graded_nothing``) and nothing in them is an integrity event that needs a person -- checks lost
    to ``os._exit`` or to a defence are no measure of what the class got wrong. Similarity does not
    count here: a copy's checks ran honestly on the code it holds."""
    return not report.graded_nothing and not any(e.needs_a_person for e in sandbox_events("", report))


def by_student(events: list[IntegrityEvent], *, needing_a_person: bool = True) -> dict[str, list[str]]:
    """student -> one sentence per event about them (``IntegrityEvent.about``), the events that need
    a person only unless ``needing_a_person`` is False: the one wording of every list a TA reads."""
    found: dict[str, list[str]] = {}
    for event in events:
        if event.needs_a_person or not needing_a_person:
            for student in event.students:
                found.setdefault(student, []).append(event.about(student))
    return found


def similarity_events(copies: list[dict], pairs: list[dict]) -> list[IntegrityEvent]:
    """Exact-copy groups and near-identical pairs (``similarity.exact_copies``, ``similar_pairs``) as events."""
    events = [IntegrityEvent("exact_copy", tuple(group["students"]), shared=1.0) for group in copies]
    for pair in pairs:
        events.append(IntegrityEvent("similar", tuple(pair["students"]),
                                     shared=pair.get("containment", pair.get("similarity")),
                                     details={k: pair[k] for k in ("similarity", "shared", "sizes", "by") if k in pair}))
    return events


def integrity_json(events: list[IntegrityEvent]) -> str:
    return json_text({"schema": SCHEMA, "events": [e.to_dict() for e in events]})


def read_integrity(text: str) -> list[IntegrityEvent]:
    """``integrity.json``'s events; a file of another schema is refused, saying which."""
    data = json.loads(text)
    if data.get("schema") != SCHEMA:
        raise ValueError(f"integrity.json has schema={data.get('schema')!r}; this version reads schema {SCHEMA}: "
                         "rebuild it with `autograder report OUT`")
    return [IntegrityEvent.from_dict(event) for event in data["events"]]
