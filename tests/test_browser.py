"""The pages in a real browser: a small class graded by `autograder batch` -- a perfect student, a
typical mistake, homework left as stubs, an unreadable zip, a hostile exit and a copied pair -- then report.html and the
students' pages opened in headless Chromium, at a desktop width and at 400 px. Every image must have
decoded (naturalWidth > 0), the console must stay free of errors, nothing may need sideways scrolling
at 400 px, headings go in order and text keeps a contrast of 4.5:1; screenshots of each page at both
widths are kept in tests/artifacts/ for a person to look at.

Needs Debian's `chromium` (`.ci/run` installs it); without it these tests skip and say so.
"""
import csv
import html as htmllib
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .browser import Chromium, find_browser
from .mutants import EQUIVALENT_FILES, MUTANTS
from .release_support import SOLUTIONS, fast_config

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

pytestmark = pytest.mark.skipif(find_browser() is None, reason="no chromium on PATH: apt-get install chromium "
                                "(.ci/run does) to test the pages in a browser")


def _page(out: Path, student: str, name: str) -> Path:
    for folder in (out / "students" / student, out / "staff" / student):
        if (folder / name).is_file():
            return folder / name
    raise AssertionError(f"no {name} for {student} under {out}")


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("browser")
    submissions = root / "submissions"
    shutil.copytree(SOLUTIONS, submissions / "ada")
    shutil.copytree(SOLUTIONS, submissions / "ben")
    # a forward that repeats the sinusoid wrongly: TimeEmbedding's own hidden checks fail (a slip in
    # sinusoidal_embedding itself costs only its public checks)
    repeats = "TimeEmbedding.forward repeats the sinusoid, cosines first, instead of calling the function"
    for module, source in next(m for m in MUTANTS if m.name == repeats).replacements().items():
        (submissions / "ben" / f"{module}.py").write_text(source)
    (submissions / "zed.zip").write_bytes(b"not a zip")
    attention = (SOLUTIONS / "attention.py").read_text()
    shutil.copytree(SOLUTIONS, submissions / "max")  # hostile: ends the process inside forward
    (submissions / "max" / "attention.py").write_text(attention.replace(
        "        B, C, H, W = x.shape\n", "        B, C, H, W = x.shape\n        import os\n        os._exit(0)\n", 1))
    sdpa = (EQUIVALENT_FILES / "sdpa" / "attention.py").read_text()
    for student, source in (("hal", sdpa), ("ivy", "# my own attention\n" + re.sub(r"\bweights\b", "probs", sdpa))):
        shutil.copytree(SOLUTIONS, submissions / student)  # ivy copied hal's attention and renamed a variable
        (submissions / student / "attention.py").write_text(source)
    shutil.copytree(SOLUTIONS, submissions / "eve")  # the blocks done, the homework (analysis.py) still the stubs
    shutil.copy(ROOT / "assignments" / "unet" / "analysis.py", submissions / "eve" / "analysis.py")
    out = root / "out"
    result = subprocess.run([sys.executable, "-m", "autograder.cli", "batch", str(submissions), "--out", str(out),
                             "-j", "2", "--config", str(fast_config(root))], capture_output=True, text=True,
                            timeout=900, cwd=ROOT)
    assert result.returncode == 4, result.stdout + result.stderr  # zed.zip cannot be read: a person should look
    assert "class report:" in result.stdout
    (root / "batch.log").write_text(result.stdout)  # beside OUT, not in it
    return out


@pytest.fixture(scope="module")
def browser():
    with Chromium() as chromium:
        yield chromium


@pytest.mark.parametrize("page", ["report.html", "ben/feedback.html", "ben/feedback.staff.html"])
def test_page_renders_its_images_without_console_errors(graded_class, browser, page):
    path = graded_class / page if "/" not in page else _page(graded_class, *page.split("/"))
    screenshot = ARTIFACTS / f"{page.replace('/', '-').removesuffix('.html')}.png"
    view = browser.view(path, screenshot)
    assert view.images, f"{page} has no pictures"
    assert view.broken_images == [], view.broken_images
    assert view.errors == [], view.errors
    assert screenshot.stat().st_size > 10_000  # a real screenshot, not a blank one
    if page == "report.html":
        assert "Needs a person" in view.text and "zed" in view.text
        assert f"{len(json.loads((graded_class / 'report.json').read_text())['mistakes'])}" in view.text
    else:
        record = json.loads(_page(graded_class, page.split("/")[0], "report.json").read_text())["report"]
        shown = sum(c["score"] for c in record["checks"] if page.endswith("staff.html") or c["visibility"] == "public")
        assert f"{shown:g}" in view.text and "TimeEmbedding" in view.text


def test_the_student_page_leaves_out_what_the_staff_page_adds(graded_class, browser):
    student = browser.view(_page(graded_class, "ben", "feedback.html"))
    staff = browser.view(_page(graded_class, "ben", "feedback.staff.html"))
    assert len(staff.images) > len(student.images)  # the reference's side and the hidden checks' evidence
    checks = json.loads(_page(graded_class, "ben", "report.json").read_text())["report"]["checks"]
    public = " ".join(c["name"] for c in checks if c["visibility"] == "public")
    hidden = [c["name"].split(": ", 1)[1] for c in checks if c["visibility"] != "public" and not c["passed"]]
    hidden = [title for title in hidden if title not in public]
    assert hidden, "ben's mistake fails no hidden check: pick another student"
    assert hidden[0] in staff.text and hidden[0] not in student.text  # a hidden check, by name


def test_the_checks_above_see_a_broken_image_and_a_console_error(tmp_path, browser):
    """The browser helper itself: a page with an undecodable image and a script error fails both checks."""
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><body><img src="data:image/png;base64,AAAA" alt="broken">'
                    '<script>console.error("boom"); undefinedFunction();</script></body></html>')
    view = browser.view(page)
    assert len(view.broken_images) == 1
    assert any("boom" in e for e in view.errors) and any("undefinedFunction" in e or "Uncaught" in e for e in view.errors)


PAGES = ["report.html", "ada/feedback.html", "ben/feedback.html", "ben/feedback.staff.html", "zed/feedback.html",
         "zed/feedback.staff.html", "max/feedback.html", "eve/feedback.html"]
FINE = {"cut_off": [], "split_items": [], "shrunk_charts": []}  # browser._LAYOUT: nothing a reader trips over


@pytest.fixture(scope="module")
def narrow():
    with Chromium(width=400, height=900) as chromium:
        yield chromium


@pytest.mark.parametrize("page", PAGES)
def test_pages_are_readable_at_400_px_with_headings_in_order_and_enough_contrast(graded_class, narrow, browser, page):
    path = graded_class / page if "/" not in page else _page(graded_class, *page.split("/"))
    name = page.replace("/", "-").removesuffix(".html")
    view = narrow.view(path, ARTIFACTS / f"{name}-400px.png")
    assert view.width <= view.viewport, f"{page} scrolls sideways at 400 px ({view.width} px wide)"
    assert view.errors == [] and view.broken_images == []
    assert view.headings[0] == 1 and all(b - a <= 1 for a, b in zip(view.headings, view.headings[1:])), view.headings
    assert view.contrast == [], view.contrast
    assert view.layout == FINE, view.layout  # rows that scroll say so; charts keep a readable size; no item split
    assert browser.view(path, ARTIFACTS / f"{name}-desktop.png").layout == FINE


def test_what_issue_19_asked_of_the_class_pages(graded_class, browser):
    """Statistics over graded students only, with n; the hostile exit apart from honest mistakes, with
    its line; the copy listed as an exact copy; a perfect student's page without an alarm; one box
    for the unreadable zip; the experiment in its own section."""
    data = json.loads((graded_class / "report.json").read_text())
    # zed's zip was not graded and max's checks were lost to os._exit: neither counts in any statistic
    assert data["students"] == 7 and data["graded"] == 5
    assert data["left_out"] == "1 not graded, 1 with an integrity event"
    assert sum(count for _, count in data["distribution"]) == 5
    assert all(r["of"] == 5 for r in data["failure_rates"])
    assert not any(r["failed"] for r in data["failure_rates"] if r["check"].startswith("SelfAttention"))  # only max's exit
    report = browser.view(graded_class / "report.html").text
    assert "n = 5 graded" in report and "1 group, 0 pairs" in report
    attention = {(p["student"], p["status"]): p["reason"] for p in data["needs_attention"]}
    assert ("max", "integrity") in attention and "attention.py, line" in attention["max", "integrity"]
    assert "as ivy (exact copy)" in attention["hal", "integrity"] and "as hal" in attention["ivy", "integrity"]
    assert not any("max" in g["students"] for g in data["mistakes"])  # not an honest mistake
    assert [g["students"] for g in data["exact_copies"]] == [["hal", "ivy"]]
    integrity = json.loads((graded_class / "integrity.json").read_text())["events"]  # the same events, as data
    assert {(e["kind"], tuple(e["students"])) for e in integrity} >= {("exact_copy", ("hal", "ivy")), ("process_exit", ("max",))}
    assert all(p.name == "feedback.html" for p in (graded_class / "students").rglob("*") if p.is_file())  # hand out as is
    assert not any("ivy" in g["students"] for g in data["mistakes"])  # the copy itself is correct code
    ada = browser.view(_page(graded_class, "ada", "feedback.html"))
    assert "Not graded" not in ada.text and "A person will look" not in ada.text
    assert "yours, with skips" in ada.text and "reference, with skips" not in ada.text  # before publication
    ada_html = _page(graded_class, "ada", "feedback.html").read_text()
    assert "banner error" not in ada_html and "banner review" not in ada_html
    zed = browser.view(_page(graded_class, "zed", "feedback.html"))
    assert "Not graded" in zed.text and "failed" not in zed.text  # one box, no list of failed checks
    ben = browser.view(_page(graded_class, "ben", "feedback.staff.html")).text
    assert "Same cause as TimeEmbedding" in ben  # Integration's failure, under its cause
    assert "Feed mlp.0" not in ben and "The mistake is in the sinusoidal features" in ben  # the hint fits the cause
    # homework left as stubs: one card, one cause, in the TA's words
    eve = [g for g in data["mistakes"] if "eve" in g["students"]]
    assert len(eve) == 1 and eve[0]["label"].startswith("not implemented") and "your code" not in eve[0]["label"]
    for component in ("ShapeTrace", "SkipAblation", "TimestepEmbeddings", "AttentionMap", "ParameterBreakdown"):
        assert component in eve[0]["label"]


def test_integrity_events_reach_every_list_a_ta_reads(graded_class, browser):
    """The hostile exit and the copied pair: in grades.csv, the batch's closing list, the staff page;
    honest students in none of them."""
    with (graded_class / "grades.csv").open() as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert "os._exit" in rows["max"]["integrity"] and "attention.py, line" in rows["max"]["integrity"]
    assert "exact copy" in rows["hal"]["integrity"] and "ivy" in rows["hal"]["integrity"]
    assert "hal" in rows["ivy"]["integrity"]
    assert [rows[s]["integrity"] for s in ("ada", "ben", "eve", "zed")] == ["", "", "", ""]
    log = (graded_class.parent / "batch.log").read_text()
    listed = log[log.index("integrity events"):]
    assert all(f"  {s}: " in listed for s in ("hal", "ivy", "max")) and "  ben: " not in listed
    assert "Integrity: a person should look" in browser.view(_page(graded_class, "max", "feedback.staff.html")).text
    hal = browser.view(_page(graded_class, "hal", "feedback.staff.html")).text  # known once the class is graded
    assert "Integrity: a person should look" in hal and "as ivy (exact copy)" in hal
    assert "Integrity" not in browser.view(_page(graded_class, "max", "feedback.html")).text  # staff's business
    assert "Integrity: a person" not in browser.view(_page(graded_class, "ben", "feedback.staff.html")).text


def test_an_ungraded_hand_in_says_one_thing_everywhere(graded_class, browser):
    """feedback.html, Gradescope's results.json and feedback.md: the same notice, and no checks."""
    results = json.loads(_page(graded_class, "zed", "results.json").read_text())
    notice = htmllib.unescape(results["output"].strip().removeprefix("<p>").removesuffix("</p>"))  # Gradescope's HTML
    assert results["tests"] == [] and notice.startswith("Not graded: zed.zip is not a readable zip")
    assert "resubmit" in notice and "<p>" not in notice  # one paragraph
    page = browser.view(_page(graded_class, "zed", "feedback.html")).text
    assert " ".join(notice.removeprefix("Not graded: ").split()) in " ".join(page.split())
    markdown = _page(graded_class, "zed", "feedback.md").read_text()
    assert "Failed checks" not in markdown and "Passed checks" not in markdown and "not graded" in markdown.splitlines()[0]
    staff = browser.view(_page(graded_class, "ben", "feedback.staff.html")).text
    assert "shown passed" not in staff and "all 8 passed" in staff  # every check is shown there
    assert "shown passed" not in browser.view(_page(graded_class, "ben", "feedback.html")).text


def test_the_regrade_command_a_staff_page_prints_runs(graded_class):
    """Pasted as it is (with the batch's --config, as the page says), it regrades that one student."""
    html = _page(graded_class, "zed", "feedback.staff.html").read_text()
    words = re.findall(r'<span class="word">(.*?)</span>', re.search(r'<pre class="command">(.*?)</pre>', html, re.S).group(1))
    command = shlex.split(" ".join(htmllib.unescape(word) for word in words))
    assert command[:2] == ["autograder", "batch"] and command[-3:] == ["--only", "zed", "--regrade"]
    config = graded_class.parent / "grading_config.yaml"
    result = subprocess.run([sys.executable, "-m", "autograder.cli", *command[1:], "--config", str(config)],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 4, result.stdout + result.stderr  # zed still needs a person, and nothing else broke
    assert "zed" in result.stdout and "graded 0, need review 1" in result.stdout
