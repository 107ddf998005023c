"""A student's feedback as web pages and as Gradescope HTML, with pictures; visibility as results.json has it.

Two audiences, named in the file names:
- ``feedback.html`` (``published=False``): what the student may see now. Exactly what Gradescope
  shows before the hidden tests are published: every public check with its message and pictures,
  and scores of the public checks only (a total with hidden checks in it would tell that one
  failed); of the hidden checks only how many there are -- no names, results, messages,
  tolerances or pictures from them. A picture of the student's own code whose check is hidden shows their side
  only; the reference's side comes with publication.
- ``feedback.staff.html`` (``published=True``): everything, for course staff; and for students
  once results are published (unless ``gradescope.hidden_visibility`` is ``hidden``).

``gradescope_results`` gives Gradescope's results.json with ``output_format: "html"`` (documented
in Gradescope's specs: sanitised HTML, per test and top level). Images go inline as
``data:image/png`` URIs: Gradescope's sanitiser is not documented beyond "we sanitize"; Rails'
HTML5 safelist (Loofah) keeps data URIs of image/png, and Gradescope users report plots rendered
this way. Every picture also has a caption and alt text, so a stripped image still says what it showed.
Each hidden test carries its own pictures under its own visibility; the top level (always visible)
carries the student version's pictures.
"""
import base64
import re
import shlex
from dataclasses import dataclass, field
from functools import cache

from jinja2 import Environment, PackageLoader

from ..contract import INTEGRATION, dependencies
from ..integrity import sandbox_events
from ..results import REFERRAL, not_graded_notice
from .figures import COLOUR_SCALE, Picture, picture_for_evidence, picture_for_figure

__all__ = ["student_page", "gradescope_results", "render_student_pages", "StudentPages", "component_pictures",
           "split_output"]

MAX_INLINE_IMAGE_BYTES = 1_500_000  # per results.json: Gradescope stores and serves it for every student

_CASE = "Smallest failing input: "
_HINT = "Hint: "


@cache
def environment() -> Environment:
    return Environment(loader=PackageLoader("autograder.pages", "templates"), autoescape=True,
                       trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def split_output(output: str) -> tuple[str, str, str]:
    """A check's output (``grader._feedback``'s format) as (message, smallest failing input, hint)."""
    message, case, hint = [], "", ""
    for line in output.splitlines():
        if line.startswith(_CASE) and not case:
            case = line[len(_CASE):]
        elif line.startswith(_HINT) and not hint:
            hint = line[len(_HINT):]
        elif hint:
            hint += "\n" + line
        else:
            message.append(line)
    return "\n".join(message).strip(), case.strip(), hint.strip()


@dataclass
class CheckView:
    name: str
    title: str
    passed: bool
    score: float
    max_score: float
    hidden: bool
    message: str = ""
    case: str = ""
    hint: str = ""
    pictures: list[Picture] = field(default_factory=list)

    @property
    def same_as(self) -> str:
        """The check whose card says it all, when this one failed with the same error on the same case
        (``results.GradingReport.refer_repeated_outputs``): such checks are listed in one line, not a card each."""
        match = _SAME_AS.fullmatch(self.message)
        return match.group(1).split(": ", 1)[-1] if match and not self.case and not self.pictures else ""


_SAME_AS = re.compile(re.escape(REFERRAL) + r'"(.+)" \(shown there\)\.')


@dataclass
class ComponentView:
    name: str
    score: float
    max_score: float
    checks: list[CheckView]
    hidden_passed: int = 0
    hidden_total: int = 0  # counted, not shown (the student version)
    pictures: list[Picture] = field(default_factory=list)
    same_cause: list[str] = field(default_factory=list)  # components whose shown failures explain this one's

    @property
    def lost(self) -> bool:  # (in the student view: points lost on public checks)
        return self.score < self.max_score - 1e-9

    @property
    def percent(self) -> float:
        return 100 * self.score / self.max_score if self.max_score else 0.0


def runs_own_code_of(name: str) -> tuple[str, ...]:
    """The components whose *student* code ``name`` runs (elsewhere dependencies are the reference's
    stand-ins): Integration runs the student's SimpleUNet on their own blocks, so a block's mistake
    fails it too -- one cause, shown as one card."""
    if name != INTEGRATION:
        return ()
    return tuple(c.name for c in dependencies("SimpleUNet")) + ("SimpleUNet",)


def _visibility(report) -> dict[tuple[str, str], str]:
    return {(c.component, c.check_id): c.visibility for c in report.checks}


def component_pictures(report, component: str, published: bool, pictures: bool = True) -> list[Picture]:
    """The pictures of the student's own code shown with ``component``: full when their check is
    public or results are published, the student's side only otherwise. Pictures tied to a check
    this view shows failing come first (the rest keep their order): what explains the lost points
    is seen first. Before publication only public checks count, so the order says nothing hidden."""
    if not pictures:
        return []
    visibility = _visibility(report)
    failing = {c.check_id for c in report.checks if c.component == component and not c.passed
               and (published or c.visibility == "public")}
    shown = []
    for figure_id, data in report.figures.items():
        if data.get("component") != component:
            continue
        public = visibility.get((component, data.get("check")), "hidden") == "public"
        try:
            picture = picture_for_figure(figure_id, data, full=published or public)
        except Exception as error:  # a picture is never worth a missing page
            picture = Picture(id=figure_id, title=data.get("title", figure_id),
                              note=f"this picture could not be drawn ({type(error).__name__})")
        shown.append((data.get("check") not in failing, picture))
    return [picture for _, picture in sorted(shown, key=lambda pair: pair[0])]  # stable: the rest keep their order


def _without_repeats(checks: list[CheckView]) -> None:
    """Drop a check's picture when an earlier card of the component shows the same images (a check
    that failed on the same case as another, "The same error as ..."): one picture, shown once."""
    seen: set[bytes] = set()
    for check_ in checks:
        kept = []
        for picture in check_.pictures:
            images = {image.png for image in picture.images if not image.alt.startswith(COLOUR_SCALE)}
            if not images or not images <= seen:
                kept.append(picture)
            seen |= images
        check_.pictures = kept


def _check_view(check_, published: bool, pictures: bool) -> CheckView:
    message, case, hint = split_output(check_.output)
    view = CheckView(name=check_.name, title=check_.name.split(": ", 1)[-1], passed=check_.passed,
                     score=check_.score, max_score=check_.max_score, hidden=check_.visibility != "public",
                     message=message, case=case, hint=hint)
    if pictures and not check_.passed and check_.evidence:
        try:
            picture = picture_for_evidence(check_.evidence, check_.check_id, case)
            if not published:  # the tolerance is not public
                picture.caption = re.sub(r", allowed [^)]*\)", ")", picture.caption)
            view.pictures.append(picture)
        except Exception as error:
            view.pictures.append(Picture(id=f"evidence-{check_.check_id}", title="Where your value departs",
                                         note=f"this picture could not be drawn ({type(error).__name__})"))
    return view


def components(report, published: bool, pictures: bool = True) -> list[ComponentView]:
    """Per component: its checks (failures first; hidden ones only if ``published``) and pictures.
    Components that lost points come first, then the rest, each group in contract order."""
    views = []
    for name, (score, max_score) in report.component_scores().items():
        checks = [c for c in report.checks if c.component == name]
        hidden = [c for c in checks if c.visibility != "public"]
        shown = [c for c in checks if published or c.visibility == "public"]
        shown.sort(key=lambda c: c.passed)  # stable: failures first, each in check order
        if not published:  # as results.json's visible output: no total that includes hidden checks
            score = round(sum(c.score for c in checks if c.visibility == "public"), 6)
            max_score = round(sum(c.max_score for c in checks if c.visibility == "public"), 6)
        check_views = [_check_view(c, published, pictures) for c in shown]
        _without_repeats(check_views)
        views.append(ComponentView(
            name=name, score=score, max_score=max_score, checks=check_views,
            hidden_passed=sum(c.passed for c in hidden), hidden_total=0 if published else len(hidden),
            pictures=component_pictures(report, name, published, pictures),
        ))
    failing = {v.name for v in views if any(not c.passed for c in v.checks)}  # what this view shows failing
    for view in views:
        view.same_cause = [name for name in runs_own_code_of(view.name) if name in failing]
    return sorted(views, key=lambda v: not v.lost)


def handed_in(source: str) -> str:
    """What the student handed in, by its own name: the path on the grading machine (where the TA keeps
    the class) is no business of the student's page."""
    return re.split(r"[/\\]", source.rstrip("/\\"))[-1] or source


def student_page(record, *, published: bool, pictures: bool = True, hidden_visibility: str = "after_published",
                 views: list[ComponentView] | None = None, student_page_link: str = "", regrade_command: str = "",
                 integrity: list[str] | None = None) -> str:
    """``feedback.html`` (``published=False``) or ``feedback.staff.html`` for one StudentRecord
    (``views``: ``components(report, published, pictures)``, when the caller has them already;
    ``student_page_link``: where the staff page finds the student's page, relative to itself;
    ``integrity``: the staff page's sentences about integrity events, ``IntegrityEvent.about``'s; None:
    what the sandbox saw in this report, the only events known before the whole class is graded)."""
    report = record.report
    return environment().get_template("feedback.html.j2").render(
        record=record, report=report, published=published, hidden_visibility=hidden_visibility,
        student_page_link=student_page_link if published else "",
        # the command's words, each kept whole on a line (a browser would break "--only" after its "--")
        regrade_words=[shlex.quote(word) for word in shlex.split(
            regrade_command or shlex.join(["autograder", "batch", "SUBMISSIONS", "--out", "OUT", "--only", record.student,
                                           "--regrade"]))] if published else [],
        source=record.source if published else handed_in(record.source),
        components=views if views is not None else components(report, published, pictures), pictures=pictures,
        failed=sum(not c.passed for c in report.checks), total_checks=len(report.checks),
        not_graded=not_graded_notice(report) if report.graded_nothing else "",
        # for staff: the integrity events about this student (default: what the sandbox saw in this report)
        integrity=(integrity if integrity is not None else
                   [e.about(record.student) for e in sandbox_events(record.student, report) if e.needs_a_person])
        if published else [],
    )


def gradescope_results(results: dict, report, *, pictures: bool = True,
                       views: tuple[list[ComponentView], list[ComponentView]] | None = None) -> dict:
    """``results`` (``results.gradescope_results``: same scores, tests and visibility) with every
    output in HTML and the pictures inline; see the module docstring for what goes where.
    ``views``: the student's and the staff's ``components``, when the caller has them already."""
    html = environment().get_template("gradescope.html.j2")
    budget = _Budget(MAX_INLINE_IMAGE_BYTES)
    student, staff = views or (components(report, False, pictures), components(report, True, pictures))
    staff = {v.name: v for v in staff}
    top = html.render(part="summary", blocks=_summary_blocks(results.get("output", "")), components=student,
                      budget=budget)
    tests = []
    by_test = {c.name: c for c in report.checks}
    for test in results["tests"]:
        check_ = by_test.get(test["name"])
        # a hidden test is seen only once published: it may say all; a public one is seen now
        view = _check_view(check_, check_.visibility != "public", pictures) if check_ is not None else None
        shown = list(view.pictures) if view else []
        if check_ is not None and check_.visibility != "public" and check_.component in staff:
            shown += [p for p in staff[check_.component].pictures  # the reference's side, under this test's visibility
                      if report.figures.get(p.id, {}).get("check") == check_.check_id]
        output = html.render(part="test", check=view, output=test.get("output", ""), pictures=shown, budget=budget)
        tests.append({**test, "output": output, "output_format": "html"})
    return {**results, "output": top, "output_format": "html", "tests": tests}


def _summary_blocks(output: str) -> list[tuple[str, str]]:
    """The top-level output as ("p", line) and ("pre", lines): lines laid out in columns (the skip
    experiment's table and image: indented, or with runs of spaces) stay together in one <pre>, since
    Gradescope's HTML collapses the spaces of a paragraph."""
    blocks: list[tuple[str, str]] = []
    lines = output.splitlines()
    for i, line in enumerate(lines):
        laid_out = line.startswith(" ") or "   " in line
        inside = (not line.strip() and blocks and blocks[-1][0] == "pre"
                  and any(n.startswith(" ") or "   " in n for n in lines[i + 1:i + 2]))
        if laid_out or inside:
            if blocks and blocks[-1][0] == "pre":
                blocks[-1] = ("pre", f"{blocks[-1][1]}\n{line}")
            else:
                blocks.append(("pre", line))
        elif line.strip():
            blocks.append(("p", line))
    return blocks


class _Budget:
    """Inline images until ``limit`` bytes are used; then the picture's caption stands alone."""

    def __init__(self, limit: int):
        self.left = limit

    def take(self, image) -> bool:
        size = len(base64.b64encode(image.png))
        if size > self.left:
            return False
        self.left -= size
        return True


@dataclass
class StudentPages:
    """One student's pages as text: ``student`` (``STUDENT_PAGE``, safe to hand out) and ``staff``
    (``STAFF_PAGE``), each None if it could not be rendered; ``results``: results.json in HTML."""

    student: str | None
    staff: str | None
    results: dict


def render_student_pages(record, results: dict, *, pictures: bool = True, hidden_visibility: str = "after_published",
                         student_page_link: str = "", regrade_command: str = "",
                         integrity: list[str] | None = None) -> StudentPages:
    """The student's page, the staff page and ``results`` as Gradescope HTML. Renders only: where
    each goes is the output folder's to decide (``report.OutputFolder``). Any trouble of ours costs
    the pages, never the grades: then ``results`` come back as they were, saying so."""
    try:
        views = {published: components(record.report, published, pictures) for published in (False, True)}
        student, staff = (student_page(record, published=published, pictures=pictures, views=views[published],
                                       hidden_visibility=hidden_visibility, student_page_link=student_page_link,
                                       regrade_command=regrade_command, integrity=integrity)
                          for published in (False, True))
        return StudentPages(student, staff, gradescope_results(results, record.report, pictures=pictures,
                                                               views=(views[False], views[True])))
    except Exception as error:  # noqa: BLE001
        results = dict(results)
        results["output"] = results.get("output", "") + f"\n(the feedback pages could not be written: {type(error).__name__})"
        return StudentPages(None, None, results)
