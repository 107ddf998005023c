"""The class report for the TA: ``OUT/report.html`` to read, ``OUT/report.json`` for scripts.

Built only from what is on disk (every finished student's ``report.json``), like grades.csv, so it
is the same after an interrupted and resumed batch, and it can be rebuilt at any time
(``autograder report OUT``). It reads every student the output folder knows (``staff/<student>/``,
and the layouts of older versions: ``OUT/students/<student>/``, ``OUT/<student>/``), ignores fields
it does not know, and shows statuses it does not know with the students who need a person
(``error``, ``needs_review``, anything else).

What it says, most urgent first:
- students who need a person, with the reason; environment problems (a package the grader does not
  have, as the intake reports it or as an import error shows it) apart from coding mistakes;
- the class's mistakes: students grouped by failure signature, per component -- the same failing
  checks with the same message, hint and smallest case (numbers to three significant digits) --
  each with its size, its hint or first message line as a label, one example and the students;
- the score distribution, per-component means and per-check failure rates (plots and tables);
- exact copies (groups whose code is the same token for token), then near-identical pairs
  (``similarity.py``), each with its matching regions side by side;
- the slowest submissions, and the time and memory grading took.
"""
import dataclasses
import json
import re
import statistics
from collections import Counter, defaultdict
from pathlib import Path

from ..contract import GRADED, PACKAGE_MODULES
from ..integrity import IntegrityEvent, integrity_json, is_integrity_event, sandbox_events, similarity_events
from ..output_folder import OutputFolder, StudentRecord, failure_rates, graded, left_out, score_distribution
from ..results import REFERRAL, json_text, write_atomically
from . import STAFF_PAGE
from .feedback import environment, runs_own_code_of, split_output
from .figures import chart_png
from ..similarity import base_hashes, exact_copies, matching_regions, similar_pairs

__all__ = ["build_class_report", "write_class_report", "read_students", "CLASS_REPORT_HTML", "CLASS_REPORT_JSON", "INTEGRITY_JSON"]

CLASS_REPORT_HTML = "report.html"
CLASS_REPORT_JSON = "report.json"  # the class's, beside report.html; a student's record is output_folder.RECORD_FILE
INTEGRITY_JSON = "integrity.json"  # the batch's integrity events, one file (integrity.py)
_FIELDS = {f.name for f in dataclasses.fields(StudentRecord)}
# ASCII digits only (\d also matched a student's 4,000 Arabic-Indic digits), and a number starts where its
# digits do ((?<!\d)): tried at every digit of a run, the pattern was quadratic in it.
_NUMBER = re.compile(r"-?(?<!\d)\d+\.\d+(?:[eE][-+]?\d+)?|-?(?<!\d)\d+[eE][-+]?\d+", re.ASCII)
_MISSING_MODULE = re.compile(r"No module named '([\w.]+)'")


@dataclasses.dataclass
class Student:
    record: StudentRecord
    folder: str  # relative to OUT, where its pages are
    raw: dict  # every field of its report.json, known or not


def read_students(out: Path) -> list[Student]:
    """Every finished student on disk (``OutputFolder.record_files``: any layout), by name."""
    out = Path(out)
    found = {}
    for path in OutputFolder(out).record_files().values():
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            known = {k: v for k, v in raw.items() if k in _FIELDS}
            record = StudentRecord.from_json(json.dumps(known))
        except (OSError, ValueError, TypeError, KeyError):
            continue  # not one of ours
        found.setdefault(record.student, Student(record, path.parent.relative_to(out).as_posix(), raw))
    return [found[name] for name in sorted(found)]


def _key(text: str) -> str:
    """A check's output with its numbers to three significant digits: the same mistake, the same key."""
    return _NUMBER.sub(lambda m: f"{float(m.group()):.3g}", text)


def _environment_problem(output: str, packages: set[str]) -> str | None:
    """The package a failure is about, when it is one the grading environment lacks (``packages``:
    those the intake reported for this student) or an import of a module that is not the student's."""
    for package in packages:
        if re.search(rf"\b{re.escape(package)}\b", output):
            return package
    match = _MISSING_MODULE.search(output)
    if match and "could not be imported" in output:
        package = match.group(1).split(".")[0]
        if package not in PACKAGE_MODULES and package not in ("unet", "submission"):
            return package
    return None


_IMPORTS = re.compile(r"\bimports ([\w.]+)")


_DIFFERENCE = re.compile(r"\bdiffers? (?:from the reference )?by up to ")


def _without_difference(line: str) -> str:
    """``line`` without its clause that says how far off a value is ("; attn differs by up to 0.3 ..."):
    from the separator before it to the end. Found by one search and two scans: a pattern that matched
    the clause itself backtracked cubically on a student's run of spaces (minutes per student)."""
    found = _DIFFERENCE.search(line)
    if found is None:
        return line
    semicolon, colon = line.rfind(";", 0, found.start()), line.rfind(":", 0, found.start())
    return line[:semicolon] if semicolon > colon else line[:colon + 1]


def _diagnosis(message: str) -> str:
    """What a failure's message names as the mistake ("...: the cosines come first"), without the
    numbers of how far off it is; "" when it only says *that* a value differs."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if not lines or lines[0].startswith("Traceback") or lines[0].endswith(":"):
        return ""
    named = _without_difference(lines[0]).strip(" ;,")
    what, colon, rest = named.partition(": ")
    return named if (rest.strip() if colon else named == lines[0]) else ""


_FIRST_DIFFERENCE = re.compile(r"^The first difference inside: (.+)$", re.MULTILINE)
_OFF_BY = re.compile(r"(?<!\s)\s*\(off by up to [^)]*\)")  # from where spaces start: tried inside a run, quadratic


def _located(message: str) -> str:
    """Where the diagnoser found the first difference inside the student's module ("conv1 receives
    SiLU(norm1's output); the contract feeds it relu(norm1(x))"), without how far off; "" if it did not."""
    match = _FIRST_DIFFERENCE.search(message)
    return _OFF_BY.sub("", match.group(1)).strip().rstrip(".") if match else ""


def _label(failing: list) -> tuple[str, str]:
    """A group's headline and its hint: the diagnosis a check named, else where the first difference
    inside was found, else the hint, else the message."""
    hint = next((h for h in (split_output(c.output)[2] for c in failing) if h), "")
    own = [c for c in failing if not c.output.startswith(REFERRAL)] or failing  # "The same error as ...": said elsewhere
    for find in (_diagnosis, _located):
        for check_ in own:
            message, _, own_hint = split_output(check_.output)
            diagnosis = find(message)
            if diagnosis:  # with the hint of the same check: another check's hint may be about something else
                return diagnosis, own_hint
    if hint:
        return hint, ""
    message, _, _ = split_output(own[0].output)
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if not lines:
        return "", ""
    return (lines[-1] if len(lines) > 1 and lines[0].endswith(":") else lines[0]), ""  # a traceback: its last line


NOT_IMPLEMENTED = "not implemented"  # the signature of a student's stubs left in: one cause, whatever it fails


def _not_implemented(failing: list) -> bool:
    """Whether a component failed only because the student's code is still the stub
    (``raise NotImplementedError()``): every failure that says its own words says so."""
    own = [c for c in failing if not c.output.startswith(REFERRAL)]
    return bool(own) and all("NotImplementedError" in c.output for c in own)


def _mistakes(students: list[Student]) -> tuple[list[dict], dict[str, list[str]]]:
    """Mistake groups (largest first), and missing package -> students."""
    groups: dict[tuple, list[Student]] = defaultdict(list)
    environment_problems: dict[str, set[str]] = defaultdict(set)
    same_cause: dict[str, list[str]] = {}  # student -> components failing only through a block's mistake
    for student in students:
        report = student.record.report
        if report.graded_nothing:
            continue  # nothing was graded (results.GradingReport.without_results): not a mistake of the class
        packages = set()
        for line in student.record.report.environment:  # the intake's words: "<file> imports <package>..."
            match = _IMPORTS.search(line)
            if match:
                packages.add(match.group(1).split(".")[0])
                environment_problems[match.group(1).split(".")[0]].add(student.record.student)
        by_component = defaultdict(list)
        for check_ in student.record.report.checks:
            if not check_.passed:
                by_component[check_.component].append(check_)
        for component in list(by_component):  # one cause, one group: as on the student's page
            if any(own in by_component for own in runs_own_code_of(component)):
                del by_component[component]
                same_cause.setdefault(student.record.student, []).append(component)
        stubs = tuple(name for name, failing in by_component.items() if _not_implemented(failing))
        if stubs:  # one card for the student's unfinished parts, not one per component they fail
            groups[(NOT_IMPLEMENTED, stubs)].append(student)
        for component, failing in by_component.items():
            if component in stubs:
                continue
            if any(is_integrity_event(c.output) for c in failing):
                continue  # not an honest mistake: an integrity event, listed under "Needs a person"
            missing = {_environment_problem(c.output, packages) for c in failing} - {None}
            if missing:
                for package in missing:
                    environment_problems[package].add(student.record.student)
                continue
            signature = (component, tuple((c.check_id, _key(c.output)) for c in failing))
            groups[signature].append(student)
    order = {name: i for i, name in enumerate(GRADED)}
    result = []
    for (component, signature), members in groups.items():
        first = members[0].record.report.checks
        if component == NOT_IMPLEMENTED:  # signature: the components still stubs
            failing = [c for c in first if c.component in signature and not c.passed]
            label, hint = f"not implemented (the stubs' raise NotImplementedError() left in): {', '.join(signature)}", ""
        else:
            failing = [c for c in first if c.component == component and not c.passed]
            label, hint = _label(failing)
        example = next((c for c in failing if not c.output.startswith(REFERRAL)), failing[0])
        result.append({
            "component": component, "size": len(members), "label": label, "hint": hint,
            "checks": [c.name if component == NOT_IMPLEMENTED else c.name.split(": ", 1)[-1] for c in failing],
            "example": {"student": members[0].record.student, "check": example.name, "output": example.output},
            "students": [m.record.student for m in members],
            "pages": {m.record.student: f"{m.folder}/{STAFF_PAGE}" for m in members},
            # what else fails because of this mistake (Integration runs the student's own blocks)
            "same_cause": sorted({c for m in members for c in same_cause.get(m.record.student, [])}),
        })
    result.sort(key=lambda g: (-g["size"], order.get(g["component"], 99), g["label"]))
    return result, {package: sorted(names) for package, names in sorted(environment_problems.items())}


def _attention(students: list[Student], events: list[IntegrityEvent]) -> list[dict]:
    """Students a person must look at: every status but ``graded``, and every integrity event that
    needs a person (``integrity.py``: an attack or a copy, not a mistake), one row per student it is
    about, in ``IntegrityEvent.about``'s words; most serious first."""
    rank = {"error": 0, "integrity": 1, "needs_review": 2}
    status = {s.record.student: s.record.status for s in students}
    pages = {s.record.student: f"{s.folder}/{STAFF_PAGE}" for s in students}
    people = []
    for event in events:
        for student in event.students if event.needs_a_person else ():
            people.append({"student": student, "status": "integrity", "category": status.get(student, ""),
                           "reason": event.about(student), "kind": event.kind, "where": event.where,
                           "check": event.check, "page": pages.get(student, "")})
    for student in students:
        record, raw = student.record, student.raw
        if record.status == "graded":
            continue
        reason = raw.get("reason") or "; ".join(record.report.review) or record.message or "no reason recorded"
        people.append({"student": record.student, "status": record.status, "reason": reason,
                       "category": raw.get("category", ""), "page": pages[record.student]})
    return sorted(people, key=lambda p: (rank.get(p["status"], 3), p["student"]))


def _timing(students: list[Student], run: dict | None) -> dict:
    timed = [(s.record.student, s.record.grading.get("seconds")) for s in students
             if isinstance(s.record.grading.get("seconds"), (int, float))]
    seconds = [t for _, t in timed]
    workers = [s.record.grading.get("worker_peak_rss_kb") or 0 for s in students]
    zygotes = [s.record.grading.get("zygote_peak_rss_kb") or 0 for s in students]
    return {
        "graded_in_s": round(sum(seconds), 1),
        "median_s": round(statistics.median(seconds), 3) if seconds else None,
        "p95_s": round(sorted(seconds)[int(0.95 * (len(seconds) - 1))], 3) if seconds else None,
        "slowest": [{"student": name, "seconds": t} for name, t in sorted(timed, key=lambda p: -p[1])[:10]],
        "peak_worker_mib": round(max(workers + [0]) / 1024, 1),
        "peak_fork_server_mib": round(max(zygotes + [0]) / 1024, 1),
        "last_run": run or {},
    }


def _reference_sources(config) -> list[dict[str, str]]:
    """The code every student was given or could copy from the assignment: stubs and reference."""
    from ..solution_markers import make_stub

    if config is None:
        return []
    folder = config.reference_dir()
    reference = {p.stem: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.py"))}
    stubs = {}
    for name, text in reference.items():
        try:
            stubs[name] = make_stub(text, name)
        except Exception:  # a reference without markers is its own stub
            stubs[name] = text
    return [reference, stubs, _notebook_code(folder)]


def _notebook_code(folder) -> dict[str, str]:
    """The code cells of the student notebook (minus magics): given to every student too."""
    try:
        from ..release.notebook import student_notebook

        cells = student_notebook(folder).cells
    except Exception:  # no notebook, no base from it: the stubs and reference still count
        return {}
    return {f"cell{i}": "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
            for i, cell in enumerate(cells) if cell.cell_type == "code"}


def build_class_report(out: Path, config=None, run: dict | None = None) -> dict:
    """report.json's content for the students on disk under ``out``; see the module docstring."""
    students = read_students(out)
    records = [s.record for s in students]
    counted = graded(records)  # as report.failure_rates: an ungraded hand-in's zeros are no grade
    mistakes, environment_problems = _mistakes(students)
    means = {}
    for name in GRADED:
        pairs = [r.report.component_scores().get(name) for r in counted]
        pairs = [p for p in pairs if p and p[1] > 0]
        if pairs:
            means[name] = round(sum(s / m for s, m in pairs) / len(pairs), 4)
    fingerprints = {s.record.student: s.record.report.fingerprint for s in students if s.record.report.fingerprint}
    base = base_hashes(_reference_sources(config))
    copies = exact_copies(fingerprints, base)
    in_a_group = {student: index for index, group in enumerate(copies) for student in group}
    pairs = [p for p in similar_pairs(fingerprints, base)  # a group of copies is one entry, not n(n-1)/2 pairs
             if in_a_group.get(p["students"][0], -1) != in_a_group.get(p["students"][1], -2)]
    for pair in pairs[:MAX_SIDE_BY_SIDE]:
        pair["regions"] = _side_by_side(*(fingerprints[s] for s in pair["students"]), base)
    copies = [{"students": group, "regions": _side_by_side(fingerprints[group[0]], fingerprints[group[1]], base)}
              for group in copies]
    events = [e for s in students for e in sandbox_events(s.record.student, s.record.report)]
    events += similarity_events(copies, pairs)
    totals = [r.report.score for r in counted]
    return {
        "students": len(records),
        "graded": len(counted),  # n of every statistic below: honestly graded (report.graded)
        "left_out": left_out(records),  # who the statistics leave out, and why, in words
        "statuses": dict(Counter(r.status for r in records)),
        "max_score": max((r.report.max_score for r in records), default=0.0),
        "mean_score": round(statistics.mean(totals), 3) if totals else None,
        "median_score": statistics.median(totals) if totals else None,
        "needs_attention": _attention(students, events),
        "integrity": [e.to_dict() for e in events],  # also OUT/integrity.json (integrity.py's schema)
        "environment_problems": environment_problems,
        "mistakes": mistakes,
        "distribution": score_distribution(records),
        "component_means": means,
        "failure_rates": [{"check": n, "failed": f, "of": t} for n, f, t in failure_rates(records)],
        "exact_copies": copies,
        "similar_pairs": pairs,
        "timing": _timing(students, run),
        "pages": {s.record.student: f"{s.folder}/{STAFF_PAGE}" for s in students},
        "scores": {s.record.student: [None if s.record.report.graded_nothing else s.record.report.score,
                                      s.record.report.max_score] for s in students},
    }


MAX_SIDE_BY_SIDE = 20  # pairs whose matching regions the report shows
_REGION_LINES = 40


def _side_by_side(first: dict, second: dict, base: set[int]) -> list[dict]:
    """The matching regions of two submissions, each side's lines as text, for the TA to compare."""
    regions = []
    for region in matching_regions(first, second, base):
        sides = {}
        for side, fingerprint in (("left", first), ("right", second)):
            module, start, end = region[side]
            lines = fingerprint.get("source", {}).get(module, "").splitlines()[start - 1:end][:_REGION_LINES]
            sides[side] = {"module": module, "start": start, "end": end, "text": "\n".join(lines)}
        regions.append(sides)
    return regions


def _short(text: str, width: int = 84) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def write_class_report(out, config=None, run: dict | None = None, pictures: bool = True) -> Path:
    """Write OUT/report.json and OUT/report.html; return the HTML's path."""
    out = Path(out)
    data = build_class_report(out, config, run)
    write_atomically(out / CLASS_REPORT_JSON, json_text(data))
    write_atomically(out / INTEGRITY_JSON, integrity_json([IntegrityEvent.from_dict(e) for e in data["integrity"]]))
    charts = {}
    if pictures and data["students"]:
        charts["histogram"] = chart_png("histogram", {"bins": data["distribution"]})
        if data["component_means"]:  # what the class lost most on first; ties in contract order
            means = sorted(data["component_means"].items(), key=lambda item: item[1])  # stable: contract order kept
            charts["means"] = chart_png("means", {"means": [list(item) for item in means]})
        failed = [[_short(r["check"]), r["failed"], r["of"]] for r in data["failure_rates"] if r["failed"]][:18]
        if failed:
            charts["failures"] = chart_png("failures", {"rates": failed})
    html = environment().get_template("report.html.j2").render(data=data, charts=charts)
    write_atomically(out / CLASS_REPORT_HTML, html)
    return out / CLASS_REPORT_HTML
