"""The student release: nothing hidden in it, check.py runs with torch alone, green on the reference
and red on the right component for a known mistake; the notebook runs on a correct solution."""
import re
import shutil
import subprocess
import sys
import time

import nbformat
import pytest
from typer.testing import CliRunner

from autograder.checks import bind
from autograder.checks.analysis import SHORT_STEPS
from autograder.cli import app
from autograder.config import load_config
from autograder.contract import GRADED
from autograder.release import release_student, solution_lines
from autograder.release.notebook import NOTEBOOK, notebook_solution_lines, writefile_line
from autograder.release.student import CHILD_RULES

from .release_support import ROOT, SOLUTIONS, fast_config, isolated_env

# check.py must run where the autograder package does not exist
WITHOUT_AUTOGRADER = ("import runpy, sys; sys.modules['autograder'] = None; sys.argv = ['check.py'] + sys.argv[1:]; "
                      "runpy.run_path('check.py', run_name='__main__')")


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    folder = tmp_path_factory.mktemp("release")
    config = fast_config(folder)
    release_student(folder / "student", config=config)
    return folder / "student"


def _texts(folder):
    return {path: path.read_text(encoding="utf-8") for path in folder.rglob("*") if path.is_file()}


def test_release_has_stubs_notebook_checks_and_readme(released):
    names = {p.relative_to(released).as_posix() for p in released.rglob("*") if p.is_file()}
    assert {"README.md", "check.py", "public_checks.json", NOTEBOOK, "unet/res_block.py", "unet/unet.py"} <= names
    assert not any("hypothesis" in n or n.endswith(".pyc") for n in names)
    # what is graded, said where a student reads first: the answers in words by hand (and their points), the
    # notebook alone may be handed in
    intro = nbformat.read(str(released / NOTEBOOK), as_version=4).cells[0].source
    readme = (released / "README.md").read_text()
    for text in (" ".join(intro.split()), " ".join(readme.split())):
        assert "graded by hand by your instructor, not by the grader (1 point each" in text, text
        assert "the notebook alone" in text or "this notebook alone" in text, text


def test_check_support_rules_are_the_graders_and_import_nothing_else(released):
    """check.py runs the grader's own rules package, copied file for file, with the child's description of
    a module and its reading of a returned value in place of the grader's imports of them; a copy that
    reached outside itself (``from ..checks``) or for a third-party package would break on a student's
    machine with torch alone."""
    import ast
    import sys as _sys

    package = ROOT / "autograder"
    shipped = released / "check_support" / "rules"
    assert sorted(p.name for p in shipped.glob("*.py")) == sorted(p.name for p in (package / "rules").glob("*.py"))
    for path in shipped.glob("*.py"):
        source = package / (f"sandbox/child/{CHILD_RULES[path.name]}" if path.name in CHILD_RULES else f"rules/{path.name}")
        assert path.read_text(encoding="utf-8") == source.read_text(encoding="utf-8"), path.name
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                # inside a function only: LocalView's default watcher, the grader's; check.py passes its own
                assert node.level == 1 or node.col_offset > 0, f"{path.name} reaches outside the package: line {node.lineno}"
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
                assert all(n.split(".")[0] in _sys.stdlib_module_names or n.split(".")[0] == "torch" for n in names), \
                    f"{path.name} imports {names}"


def test_readme_and_notebook_say_what_each_part_is_worth(released):
    """The points table is the grading config's: every graded component, its points and its public share."""
    config = load_config(released.parent / "grading_config.yaml")
    notebook = "\n".join(c.source for c in nbformat.read(str(released / NOTEBOOK), as_version=4).cells)
    for text in ((released / "README.md").read_text(), notebook):
        expected = {name: (f"{sum(s.points for s in checks.values()):g}",
                           f"{sum(s.points for s in checks.values() if s.visibility == 'public'):g}")
                    for name, checks in config.components.items() if sum(s.points for s in checks.values())}
        found = {name: pair for name, *pair in re.findall(r"^\| (\w+) \| ([\d.]+) \| ([\d.]+) \|$", text, re.M)}
        assert {name: tuple(pair) for name, pair in found.items()} == expected
        assert "answers in words" in text and "not in this table" in text


def test_nothing_hidden_reaches_the_release(released):
    # check_support/ holds verbatim copies of the grader's own modules (intake, importer, watcher), no reference
    # code: where one uses an API as a solution does (the watcher removes its hooks: `handle.remove()`), that
    # line is the grader's, so they are left out of the search; its rules/ is searched, as when check.py carried it
    texts = {path: text for path, text in _texts(released).items()
             if "check_support" not in path.parts or "rules" in path.parts}
    lines = {line.strip() for text in texts.values() for line in text.splitlines()}
    everything = "\n".join(texts.values())
    secrets = notebook_solution_lines()
    for solution in SOLUTIONS.glob("*.py"):
        secrets += solution_lines(solution.read_text())
    # not `)` or `else:` (they say nothing), nor what the stubs' own docstrings spell out (`self.dim = dim`)
    stub_text = "\n".join(text for path, text in texts.items() if path.parent.name == "unet")
    secrets = [s for s in secrets if len(re.findall(r"\w+", s)) >= 2]
    assert [s for s in secrets if s in lines] == []
    assert [s for s in secrets if s in everything and s not in stub_text] == []

    config = load_config(ROOT / "grading_config.yaml")
    bound = bind(config)
    public_ids = {c.id for c, s in bound if s.visibility == "public"}
    hidden = [(c, s) for c, s in bound if s.visibility == "hidden"]
    assert hidden, "the config has hidden checks to look for"
    assert [c.name for c, _ in hidden if c.name in everything] == []
    # ids as identifiers (forward_matches, softmax_rows), unless the contract itself uses the word (skip_channels)
    stubs = "\n".join(p.read_text() for p in (ROOT / "assignments" / "unet").glob("*.py"))
    ids = {c.id for c, _ in hidden if "_" in c.id and c.id not in public_ids and c.id not in stubs}
    assert len(ids) > 5 and sorted(i for i in ids if i in everything) == []
    for tolerance_key in ("relative_floor", "float_error_factor", "tolerance"):
        assert tolerance_key not in everything


def _run_check(folder, *args):
    return subprocess.run([sys.executable, "-c", WITHOUT_AUTOGRADER, *args], cwd=folder,
                          capture_output=True, text=True, timeout=300)


def _student_copy(released, tmp_path, edits=None):
    folder = tmp_path / "student"
    shutil.copytree(released, folder)
    for path in SOLUTIONS.glob("*.py"):
        shutil.copy(path, folder / "unet" / path.name)
    for module, (find, replace) in (edits or {}).items():
        target = folder / "unet" / f"{module}.py"
        source = target.read_text()
        assert source.count(find) == 1, f"{find!r} in {module}.py"
        target.write_text(source.replace(find, replace))
    return folder


def test_check_is_red_on_the_stubs(released):
    result = _run_check(released, "--only", "ResBlock")
    assert result.returncode == 1
    assert "FAIL ResBlock" in result.stdout and "not implemented yet" in result.stdout


def test_check_fails_while_the_homework_is_still_the_stub(released, tmp_path):
    """Blocks done, analysis.py as released: check.py must not pass (the homework is 30 of 130 points)."""
    folder = _student_copy(released, tmp_path)
    shutil.copy(released / "unet" / "analysis.py", folder / "unet" / "analysis.py")
    result = _run_check(folder)
    assert result.returncode == 1, result.stdout
    for task in ("ShapeTrace", "SkipAblation", "TimestepEmbeddings", "AttentionMap", "ParameterBreakdown"):
        assert f"FAIL {task}" in result.stdout
    for block in ("ResBlock", "SimpleUNet", "SelfAttention", "Integration"):
        assert f"ok   {block}" in result.stdout
    assert "not implemented yet" in result.stdout
    assert "ran with your own" not in result.stdout  # a stub of the task's own: its blocks are not to blame
    # the points that pass are the blocks' public points only, not the tasks'
    config = load_config(released.parent / "grading_config.yaml")
    tasks = {"ShapeTrace", "SkipAblation", "TimestepEmbeddings", "AttentionMap", "ParameterBreakdown"}
    public = {name: sum(s.points for s in checks.values() if s.visibility == "public")
              for name, checks in config.components.items()}
    blocks = sum(points for name, points in public.items() if name not in tasks)
    assert f"components pass their public checks: {blocks:g} of the {sum(public.values()):g} public points;" \
        in result.stdout, result.stdout


def test_check_is_green_on_the_reference_and_times_the_whole_run(released, tmp_path):
    folder = _student_copy(released, tmp_path)
    started = time.monotonic()
    result = _run_check(folder)
    wall = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    # every graded component has public checks, and the summary says what share of the grade they are
    config = load_config(released.parent / "grading_config.yaml")
    public = sum(s.points for checks in config.components.values() for s in checks.values() if s.visibility == "public")
    total = config.total_points
    assert public < total
    every = f"{len(GRADED)}/{len(GRADED)}"
    assert (f"{every} components pass their public checks: {public:g} of the {public:g} public points; the hidden "
            f"checks grade the other {total - public:g} of the {total:g} points." in result.stdout), result.stdout
    for name, checks in config.components.items():  # each component's line: its public points, and all its points
        mine = sum(s.points for s in checks.values() if s.visibility == "public")
        everything = sum(s.points for s in checks.values())
        assert re.search(rf"ok   {name} +\d+/\d+ public checks pass; public: {mine:g} of {mine:g} points "
                         rf"\({everything:g} in all\)", result.stdout), name
    assert "Not checked here" not in result.stdout
    printed = float(re.search(r"\((\d+\.\d) s\)\s*$", result.stdout).group(1))
    assert 0.5 * wall <= printed + 0.1 <= wall + 0.2, (printed, wall)  # torch's import included, not (0.0 s)


def test_check_judges_the_watched_homework_rules_as_the_grader_does(released, tmp_path):
    """shape_trace that keeps its hooks, skip_ablation that trains a step too many, from two starting weights, on
    two orders of batches: check.py, without the grader, watches both calls and fails each task on each rule,
    saying which (the grader's same rules: tests/test_homework_rules.py, the bank in tests/mutants.py)."""
    folder = _student_copy(released, tmp_path)
    target = folder / "unet" / "analysis.py"
    source = target.read_text()
    for find, replace in (("            handle.remove()\n", "            pass\n"),
                          ("            for _ in range(steps):\n", "            for _ in range(steps + 1):\n"),
                          ("        without_skips.load_state_dict(with_skips.state_dict())\n", ""),
                          ("            batch_order = torch.Generator().manual_seed(seed)\n",
                           "            batch_order = torch.Generator().manual_seed(seed + len(results))\n")):
        assert source.count(find) == 1, find
        source = source.replace(find, replace)
    target.write_text(source)
    result = _run_check(folder)
    assert result.returncode == 1, result.stdout
    report = result.stdout
    assert "FAIL ShapeTrace" in report and "FAIL SkipAblation" in report and "ok   Integration" in report
    assert re.search(r"shape_trace left \d+ hooks on the model: the rule is that it leaves none", report), report
    assert f"both models trained for {SHORT_STEPS + 1} steps; expected {SHORT_STEPS}" in report, report
    assert "the two models started from different weights" in report, report
    assert "the two models saw different batches at step 1" in report, report


def test_check_names_the_component_of_the_chapter_groupnorm_mistake(released, tmp_path):
    folder = _student_copy(released, tmp_path, {"res_block": (
        "self.norm1 = nn.GroupNorm(math.gcd(8, in_channels), in_channels)", "self.norm1 = nn.GroupNorm(8, in_channels)")})
    result = _run_check(folder)
    assert result.returncode == 1
    report = result.stdout
    assert "FAIL ResBlock" in report and "must be divisible by num_groups (8)" in report
    assert "Smallest failing input: ResBlock(" in report
    for unaffected in ("TimeEmbedding", "SelfAttention"):
        assert f"ok   {unaffected}" in report
    assert "DownBlock uses your ResBlock, which fails its public checks" in report
    # one cause, one hint: the blocks built on ResBlock get the note, not the hint again
    hints = [line.strip() for line in report.splitlines() if line.strip().startswith("Hint:")]
    assert len([h for h in hints if "GroupNorm" in h]) == len({h for h in hints if "GroupNorm" in h}), report
    assert sum("GroupNorm" in h for h in hints) <= 2, report  # ResBlock's norm1 (and at most one more C)
    # the error itself is shown in full once (ResBlock's); the blocks built on it point back to it
    assert report.count("must be divisible by num_groups (8)") <= 2, report  # (and at most one more C)
    assert "the same error as ResBlock's above (unet/res_block.py, line" in report
    columns = {m.start(1) for m in map(re.compile(r"(?:ok  |FAIL) \S+ +(\d+/\d+) public checks pass").match,
                                       report.splitlines()) if m}
    assert len(columns) == 1, report  # the counts line up, after TimestepEmbeddings and ParameterBreakdown too


def test_check_hint_follows_the_cause_when_up1_gets_skip_channels_but_upblock_ignores_them(released, tmp_path):
    """The trial's second step: SimpleUNet passes skip_channels, UpBlock ignores it. The hints must not
    keep telling the student to pass skip_channels to up1; UpBlock's failure is named instead."""
    folder = _student_copy(released, tmp_path, {"up_block": (
        "self.res = ResBlock(out_channels + skip_channels, out_channels, time_emb_dim)",
        "self.res = ResBlock(out_channels * 2, out_channels, time_emb_dim)")})
    report = _run_check(folder).stdout
    assert "FAIL UpBlock" in report and "FAIL SimpleUNet" in report, report
    assert "SimpleUNet uses your UpBlock, which fails its public checks: fix it first" in report
    assert "pass skip_channels=2 * base_channels to up1" not in report, report


def test_check_hints_at_the_failing_block_where_a_task_runs_it(released, tmp_path):
    """The chapter's up1 (no skip_channels): the tasks that run the student's own SimpleUNet in check.py crash
    inside a ResBlock's GroupNorm. SimpleUNet's hint names up1's skip_channels; the tasks send the student to
    SimpleUNet ("fix it first") with no hint of their own, so none of them points at the GroupNorm that raised,
    and the one cause gets one hint ("the same as ... above" where it repeats)."""
    folder = _student_copy(released, tmp_path, {"unet": (", skip_channels=base_channels * 2)", ")")})
    result = _run_check(folder)
    assert result.returncode == 1
    blocks = re.split(r"\n(?=ok  |FAIL)", result.stdout)

    def block(component):
        return next(b for b in blocks if b.startswith(f"FAIL {component} "))

    hints = re.findall(r"Hint: (.*)", block("SimpleUNet"))
    assert hints and all("skip_channels=2 * base_channels" in h or h.startswith("the same as") for h in hints), \
        block("SimpleUNet")
    for component in ("ShapeTrace", "SkipAblation", "Integration"):
        assert f"{component} uses your SimpleUNet, which fails its public checks: fix it first" in block(component)
        assert not re.findall(r"Hint: (.*)", block(component)), block(component)
    assert "each norm must be built for the channels" not in result.stdout, result.stdout


def test_check_reports_a_swapped_pair_on_downblock_only(released, tmp_path):
    folder = _student_copy(released, tmp_path, {"down_block": ("return self.down(h), h", "return h, self.down(h)")})
    result = _run_check(folder, "--only", "DownBlock")
    assert result.returncode == 1
    assert "FAIL DownBlock" in result.stdout and "wrong order" in result.stdout


def test_cli_check_uses_the_release_data(released, tmp_path):
    folder = _student_copy(released, tmp_path)
    result = CliRunner().invoke(app, ["check", str(folder / "unet"), "--only", "UpBlock"])
    assert result.exit_code == 0, result.output


def test_cli_release_out_refuses_a_folder_that_is_not_a_release(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = CliRunner().invoke(app, ["release", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "not empty" in result.output
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_stubs_and_notebook_leave_the_errata_to_the_student(released):
    """The stubs say what to build, not the chapter errata's fixes: no gcd, no skip channels of up1,
    no parameter count to aim at; the notebook's text does not answer its own questions."""
    from autograder.reference import Reference

    model = Reference(SOLUTIONS).symbol("unet", "SimpleUNet")(4, 4, 64)
    count = sum(p.numel() for p in model.parameters())  # the fixed network's, counted here
    notebook = nbformat.read(str(released / NOTEBOOK), as_version=4)
    texts = {path.name: path.read_text() for path in (released / "unet").glob("*.py")}
    texts["notebook"] = "\n".join(c.source for c in notebook.cells)
    giveaways = ["gcd", f"{count:,}", str(count), "skip_channels=2", "2*base channels", "2 * base channels",
                 "asks for", "sums to 1)", "so that the last frequency"]
    assert {name: [g for g in giveaways if g in text] for name, text in texts.items()
            if any(g in text for g in giveaways)} == {}


# The right prediction for SimpleUNet(4, 4, 64) on (2, 4, 64, 64), worked out from the chapter's diagram.
PREDICTION = {"time_embed": (2, 256), "down1[0]": (2, 64, 32, 32), "down1[1]": (2, 64, 64, 64),
              "down2[0]": (2, 128, 16, 16), "down2[1]": (2, 128, 32, 32), "bottleneck": (2, 128, 16, 16),
              "up1.concat": (2, 192, 32, 32), "up1": (2, 64, 32, 32), "up2.concat": (2, 128, 64, 64),
              "up2": (2, 64, 64, 64), "out": (2, 4, 64, 64)}


def _module_cells(notebook) -> dict:
    return {cell.source.split("\n", 1)[0].split("/")[-1][:-3]: cell for cell in notebook.cells
            if cell.cell_type == "code" and cell.source.startswith("%%writefile ")}


def test_notebook_module_cells_are_the_stubs(released):
    """Completing the notebook's cells and completing the .py files is the same work: same text."""
    notebook = nbformat.read(str(released / NOTEBOOK), as_version=4)
    cells = _module_cells(notebook)
    stubs = {path.stem: path.read_text() for path in (released / "unet").glob("*.py") if path.stem != "__init__"}
    assert set(cells) == set(stubs)
    for module, cell in cells.items():
        assert cell.source == f"{writefile_line(module)}\n{stubs[module]}", module
    warnings = [c.source for c in notebook.cells if c.cell_type == "markdown" and "overwrites" in c.source]
    assert len(warnings) >= len(cells)
    assert not any("raise NotImplementedError" in c.source for c in notebook.cells
                   if c.cell_type == "code" and not c.source.startswith("%%writefile"))


# Modules the student completes in an editor (their cells stay the stubs); the others in the notebook.
EDITED_IN_FILES = ("res_block", "unet", "analysis")


def test_notebook_runs_top_to_bottom_with_the_reference(released, tmp_path, monkeypatch):
    """A student who completed every module (some in the module cells, some in the .py files) and the
    prediction runs it all: "Run All" keeps the files edited elsewhere and says so in the cell; every
    task draws its figure, the experiment prints its numbers, in under 2 minutes."""
    import time

    from nbclient import NotebookClient

    folder = tmp_path / "student"
    shutil.copytree(released, folder)
    notebook = nbformat.read(str(folder / NOTEBOOK), as_version=4)
    for module, cell in _module_cells(notebook).items():
        if module in EDITED_IN_FILES:
            (folder / "unet" / f"{module}.py").write_text((SOLUTIONS / f"{module}.py").read_text())
        else:
            cell.source = f"{writefile_line(module)}\n{(SOLUTIONS / f'{module}.py').read_text()}"
    prediction = next(c for c in notebook.cells if c.cell_type == "code" and c.source.startswith("predicted = {"))
    prediction.source = f"predicted = {PREDICTION!r}"
    for name, value in isolated_env(tmp_path / "jupyter").items():
        monkeypatch.setenv(name, value)  # kernel connection files and configs stay in tmp_path
    client = NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}})
    started = time.monotonic()
    client.execute()
    seconds = time.monotonic() - started
    assert seconds < 120, f"the notebook took {seconds:.0f} s"
    for module, cell in _module_cells(notebook).items():  # cells wrote their code; the edited files are kept
        assert (folder / "unet" / f"{module}.py").read_text() == (SOLUTIONS / f"{module}.py").read_text()
        said = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        if module in EDITED_IN_FILES:
            assert said.strip() == (f"unet/{module}.py was NOT overwritten: it holds your own code and this cell "
                                    "is still the released stub. Keep working in the file (and ignore this cell), "
                                    "or put your code in this cell and run it again."), said
        else:
            assert "NOT overwritten" not in said

    def task(marker):
        cell = next(c for c in notebook.cells if c.cell_type == "code" and marker in c.source
                    and not c.source.startswith("%%writefile"))
        text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        figures = sum("image/png" in o.get("data", {}) for o in cell.outputs if o.output_type == "display_data")
        assert not [o for o in cell.outputs if o.output_type == "error"]
        return text, figures

    trace, _ = task("shape_trace(model")
    assert "up1.concat                (2, 192, 32, 32)" in trace
    assert trace.count("right") == len(PREDICTION) and "you said" not in trace and "not predicted" not in trace
    experiment, figures = task("skip_ablation()")
    assert figures == 2  # the training curves; the images and both reconstructions
    numbers = {line.split()[0] + line.split()[1]: [float(v) for v in line.split()[2:4]]
               for line in experiment.splitlines() if line.startswith(("with skips", "without skips"))}
    assert set(numbers) == {"withskips", "withoutskips"}
    assert numbers["withskips"][1] > numbers["withoutskips"][1] + 3  # PSNR, dB
    assert task("timestep_embeddings(64, timesteps)")[1] == 2  # the embeddings; the similarity
    attention, figures = task("attention_map(attention, features")
    # each query looks at its partner mark, far away, and not at itself
    assert figures == 1 and "0.0% on A itself, 100.0% on A'" in attention and "0.0% on B' itself, 100.0% on B" in attention
    parameters, figures = task("parameter_breakdown(model)")
    assert figures == 1 and "total        1,424,460" in parameters
    check, _ = task('"check.py"')
    assert f"{len(GRADED)}/{len(GRADED)} components pass" in check

    # Then the student edits in an editor a file that a cell wrote, and runs all again (here the setup
    # and module cells): the edit stays, and the cell says in one line what to do.
    edited = folder / "unet" / "attention.py"
    edited.write_text(edited.read_text() + "\n# my edit in the editor\n")
    again = nbformat.v4.new_notebook(cells=[c for c in notebook.cells if c.cell_type == "code"][:1]
                                     + list(_module_cells(notebook).values()))
    NotebookClient(again, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    assert edited.read_text().endswith("# my edit in the editor\n")
    said = "".join(o.get("text", "") for o in _module_cells(again)["attention"].outputs if o.output_type == "stream")
    assert said.strip().splitlines() == [
        "unet/attention.py was NOT overwritten: the file was changed since this cell last wrote it (in an editor?). "
        "Copy the file into this cell, or replace the file with this cell: change the first line to "
        "`%%writefile --force unet/attention.py` and run it again."]


def test_a_completed_notebook_alone_grades_like_the_py_files(released, grader, tmp_path):
    """The round trip: module cells completed (here with one mistake in a homework task), the
    notebook handed in alone, gets the grade of the same code handed in as .py files."""
    from .mutants import MUTANTS

    mutant = next(m for m in MUTANTS if m.module == "analysis" and m.component == "AttentionMap")
    sources = {module: (SOLUTIONS / f"{module}.py").read_text() for module in _module_cells(
        nbformat.read(str(released / NOTEBOOK), as_version=4))}
    sources.update(mutant.replacements())
    notebook = nbformat.read(str(released / NOTEBOOK), as_version=4)
    for module, cell in _module_cells(notebook).items():
        cell.source = f"{writefile_line(module)}\n{sources[module]}"
    as_notebook = tmp_path / "notebook_only"
    as_notebook.mkdir()
    nbformat.write(notebook, str(as_notebook / NOTEBOOK))
    as_files = tmp_path / "files" / "unet"
    as_files.mkdir(parents=True)
    for module, source in sources.items():
        (as_files / f"{module}.py").write_text(source)

    from_notebook, from_files = grader.grade(as_notebook), grader.grade(as_files)
    assert from_notebook.component_scores() == from_files.component_scores()
    score, max_score = from_files.component_scores()["AttentionMap"]
    assert score < max_score and from_files.score == from_files.max_score - (max_score - score)


def test_check_script_makes_the_same_inputs_as_the_grader():
    """check.py must stay standalone (torch only), so it repeats Case.inputs: keep the two in step."""
    import torch

    from autograder.checks.public_checks import case_record as _case_record
    from autograder.rules import make_inputs
    from autograder.strategies import Case

    for case in (
        Case("ResBlock", {"in_channels": 3, "out_channels": 5, "time_emb_dim": 4}, {"x": (2, 3, 4, 4), "t_emb": (2, 4)}, 7),
        Case("TimeEmbedding", {"dim": 8}, {"t": (3,)}, 11, float_timesteps=True),
        Case("SimpleUNet", {"in_channels": 2, "out_channels": 2, "base_channels": 4}, {"x": (1, 2, 8, 8), "t": (1,)}, 3),
    ):
        ours, theirs = case.inputs(), make_inputs(_case_record(case))
        assert len(ours) == len(theirs)
        assert all(torch.equal(a, b) for a, b in zip(ours, theirs)), case.describe()


def test_check_says_once_that_the_files_beside_the_notebook_were_graded(released):
    """A student who edits the .py files beside the released notebook has every module twice: one note."""
    import runpy

    script = runpy.run_path(str(released / "check.py"), run_name="check")
    notes = [f"several files are {m}.py: graded unet/{m}.py (it implements more of the assignment: {n} against 1), "
             f"not unet_chapter.ipynb (%%writefile unet/{m}.py)" for m, n in (("res_block", 2), ("unet", 3))]
    notes += ["graded the modules in unet/"]
    summary = script["summarised_notes"](notes)
    assert summary == ["graded the modules in unet/",
                       "2 modules are both a file and a %%writefile cell of unet_chapter.ipynb: graded the files "
                       "(unet/res_block.py, unet/unet.py; it implements more of the assignment), not the cells"]
    assert script["summarised_notes"](notes[:1] + notes[2:]) == notes[:1] + notes[2:]  # one is said as it is

