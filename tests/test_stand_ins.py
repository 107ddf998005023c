"""A component's reference never reaches code that could pass it to that component.

Stand-ins are lent by the contract's dependency graph of the component being graded, whatever
file the student put a class in, and never for a component not yet graded: so no child, in any
order of children, holds the reference of a component graded after it (``plan.must_not_have_seen``
across children). The audit runs over many file layouts; one grading shows that a broken file
beside the graded one still costs nothing without a stand-in for it.
"""
import pytest

from autograder.checks import AHEAD
from autograder.contract import COMPONENTS, INTEGRATION, component, dependencies
from autograder.intake import read_submission
from autograder.plan import (grading_order, grading_schedule, lent_too_early, load_plan, must_not_have_seen,
                             stand_ins)
from autograder.reference import Reference

from .classroom import _RELATIVE, _students, one_file, reference, write
from .conftest import SOLUTIONS, full_outputs


def _moved(into: str, *modules: str) -> dict[str, str]:
    """The reference with ``modules``' classes moved into ``into``'s file (their own files gone)."""
    files = {f"{m}.py": text for m, text in reference().items()}
    for module in modules:
        text = _RELATIVE.sub("", files.pop(f"{module}.py"))
        files[f"{into}.py"] = files[f"{into}.py"] + "\n\n" + text
    for name in list(files):  # other files import the moved classes from their new home
        files[name] = _RELATIVE.sub(lambda m: f"from .{into if m.group(1) in modules else m.group(1)} "
                                              f"import {m.group(2)}\n", files[name])
    return files


LAYOUTS = {
    "reference": {f"{m}.py": text for m, text in reference().items()},
    "one big unet.py": {"unet.py": one_file()},
    "one analysis.py": {"analysis.py": one_file()},
    "own file names": _students()["own_file_names"][0],
    "ResBlock in down_block.py": _moved("down_block", "res_block"),
    "DownBlock and UpBlock in time_embedding.py": _moved("time_embedding", "down_block", "up_block"),
    "SelfAttention's file holds ResBlock": _moved("attention", "res_block"),
    "the blocks in attention.py": _moved("attention", "res_block", "down_block", "up_block", "time_embedding"),
    "everything in res_block.py": _moved("res_block", "time_embedding", "down_block", "up_block", "unet",
                                         "attention", "analysis"),
}


@pytest.fixture(scope="module")
def reference_code(config):
    return Reference(config.reference_dir())


@pytest.mark.parametrize("layout", LAYOUTS, ids=list(LAYOUTS))
def test_stand_ins_follow_the_dependency_graph_in_every_layout(layout, tmp_path, reference_code):
    submission = read_submission(write(tmp_path / "submission", LAYOUTS[layout]))
    graded, held_before = [], set()  # held by some child of this submission before now, in any child
    for name in grading_schedule(frozenset(AHEAD)).started:  # as children start: some start ahead of their turn
        plan = load_plan(name, submission, reference_code)
        expected = set() if name == INTEGRATION else {d.name for d in dependencies(name)}
        assert set(plan.references) == expected, f"{layout}: {name} is lent {sorted(plan.references)}"
        assert set(plan.references) <= set(graded), f"{layout}: {name} is lent a component not yet graded"
        assert not held_before & must_not_have_seen(name), f"{layout}: {name} after {sorted(held_before)}"
        lent_symbols = {s for c in COMPONENTS if c.name in expected for s in c.symbols}
        assert set(plan.replaced) == lent_symbols
        assert not set(plan.unavailable) & lent_symbols
        graded.append(name)
        held_before |= set(plan.references)


def test_an_order_that_lends_a_reference_before_its_grading_is_caught():
    order = grading_order()
    assert lent_too_early(order) == []
    swapped = tuple(n for n in order if n != "ResBlock") + ("ResBlock",)  # DownBlock's child held ResBlock first
    assert lent_too_early(swapped) == ["ResBlock is graded after a child held the reference of ResBlock"]
    late = tuple(n for n in order if n != INTEGRATION) + (INTEGRATION,)
    assert lent_too_early(late) and INTEGRATION in lent_too_early(late)[0]


def test_a_broken_file_that_the_graded_file_imports_costs_nothing_without_its_reference(grader, make_submission):
    """attention.py imports res_block.py for AttnResBlock. With res_block.py broken, SelfAttention
    (which needs no ResBlock) still gets full marks, from a placeholder, not the reference ResBlock.
    (ResBlock's own statement is the broken one: a syntax error elsewhere in the file costs ResBlock nothing.)"""
    folder = make_submission({"res_block": _edited("res_block", ("def forward(", "def forward(("))})
    report = grader.grade(folder)
    scores = report.component_scores()
    assert scores["ResBlock"][0] == 0
    for name in ("SelfAttention", "AttnResBlock", "DownBlock", "TimeEmbedding"):
        assert scores[name][0] == scores[name][1], (name, [full_outputs(report)[c.name] for c in report.checks
                                                           if c.component == name and not c.passed][:2])
    assert any("ResBlock could not be read (SyntaxError: " in note and "it cannot be used here" in note
               for note in report.notes), report.notes


def _edited(module: str, *edits: tuple[str, str]) -> str:
    text = (SOLUTIONS / f"{module}.py").read_text()
    for find, replace in edits:
        assert text.count(find) == 1, find
        text = text.replace(find, replace)
    return text


def test_code_that_relies_on_its_own_blocks_is_graded_with_them_and_their_mistakes_cost_them_alone(
        grader, make_submission, monkeypatch):
    """A SimpleUNet reading an attribute its own DownBlock keeps (none of the contract's) is correct:
    graded again with the student's own blocks, it keeps full marks, with a note saying so -- right after
    its turn, before any child holds its reference (the lending rule). An UpBlock taking (x, t_emb, skip),
    called so by SimpleUNet and NoSkipUNet: one mistake, charged to UpBlock alone."""
    import autograder.grader as grading

    plans = []  # (component, own dependencies), in the order children are planned
    real_plan = grading.load_plan
    monkeypatch.setattr(grading, "load_plan", lambda name, submission, reference, own_dependencies=False: plans.append(
        (name, own_dependencies)) or real_plan(name, submission, reference, own_dependencies))
    extra = make_submission({
        "down_block": _edited("down_block", ("        self.res = ", "        self.out_channels = out_channels\n"
                                                                      "        self.res = ")),
        "unet": _edited("unet", ("skip_channels=base_channels * 2)", "skip_channels=self.down2.out_channels)"))})
    report = grader.grade(extra)
    assert report.score == report.max_score, {c.name: c.output[:200] for c in report.checks if not c.passed}
    assert any("SimpleUNet was graded again with your own" in note for note in report.notes), report.notes
    again = plans.index(("SimpleUNet", True))
    start = max(i for i, (name, _) in enumerate(plans[:again]) if name == INTEGRATION)  # this grading's first child
    lent_before = {c.name for name, own in plans[start:again] if not own and name != INTEGRATION
                   for c in stand_ins(component(name))}
    assert "SimpleUNet" not in lent_before, plans

    reordered = make_submission({
        "up_block": _edited("up_block", ("def forward(self, x, skip, t_emb):", "def forward(self, x, t_emb, skip):")),
        "unet": _edited("unet", ("self.up1(h, skip2, t_emb)", "self.up1(h, t_emb, skip2)"),
                        ("self.up2(h, skip1, t_emb)", "self.up2(h, t_emb, skip1)")),
        "analysis": _edited("analysis", ("self.up1(h, torch.zeros_like(skip2), t_emb)", "self.up1(h, t_emb, torch.zeros_like(skip2))"),
                            ("self.up2(h, torch.zeros_like(skip1), t_emb)", "self.up2(h, t_emb, torch.zeros_like(skip1))"))},
        name="reordered")
    scores = grader.grade(reordered).component_scores()
    assert scores["UpBlock"][0] < scores["UpBlock"][1]
    assert {name for name, (score, most) in scores.items() if score < most} == {"UpBlock"}

    renamed = make_submission({  # the time embedding under another name, in SimpleUNet and NoSkipUNet alike
        "unet": _edited("unet", ("self.time_embed = TimeEmbedding", "self.time_mlp = TimeEmbedding"),
                        ("t_emb = self.time_embed(t)", "t_emb = self.time_mlp(t)")),
        "analysis": _edited("analysis", ("t_emb = self.time_embed(t)", "t_emb = self.time_mlp(t)"))},
        name="renamed")
    report = grader.grade(renamed)
    failed = {c.name: c.output[:300] for c in report.checks if not c.passed}
    assert [(c.component, c.check_id) for c in report.checks if not c.passed] == [("SimpleUNet", "structure")], failed
    again = [note for note in report.notes if note.startswith("SkipAblation was graded again")]
    assert again and "yours that differ from the contract: SimpleUNet," in again[0], report.notes  # the one that differs


def test_a_block_no_file_defines_is_lent_where_another_file_uses_it(grader, tmp_path):
    """One unet.py without ResBlock (a notebook cell left as a raw cell, a class deleted): as with
    res_block.py missing, ResBlock and Integration lose their points, and the blocks built on it are
    graded with the reference's (the NameError had cost five more components, -79)."""
    import re

    text = one_file()
    without = re.sub(r"\nclass ResBlock\(nn\.Module\):.*?(?=\nclass |\ndef |\Z)", "\n", text, flags=re.S)
    assert "class ResBlock" not in without and "class DownBlock" in without
    report = grader.grade(write(tmp_path / "submission", {"unet.py": without}))
    lost = {name for name, (score, most) in report.component_scores().items() if score < most}
    assert lost == {"ResBlock", INTEGRATION}, {c.name: c.output[:200] for c in report.checks if not c.passed}
    assert any("no file of your hand-in defines ResBlock" in note for note in report.notes), report.notes


def test_a_class_derived_from_a_block_in_its_own_file_derives_from_the_reference_where_that_block_is_lent(
        grader, tmp_path):
    """One file (a notebook's cells, hw3.py): ``class NoSkipUNet(SimpleUNet)`` is made from the student's
    SimpleUNet before any stand-in exists. A SimpleUNet mistake then cost SkipAblation 9 more points than in
    the released layout (its state_dict no longer loaded into the reference's): now the class derives from
    the SimpleUNet lent there, as if its file had imported it, and the mistake costs SimpleUNet (and
    Integration, which runs the student's own blocks) alone."""
    find = "self.out = nn.Conv2d(base_channels, out_channels, 1)"
    text = one_file()
    assert text.count(find) == 1
    report = grader.grade(write(tmp_path / "submission", {"hw3.py": text.replace(
        find, "self.out = nn.Conv2d(base_channels, out_channels, 3, padding=1)")}))
    lost = {name for name, (score, most) in report.component_scores().items() if score < most}
    assert lost == {"SimpleUNet", INTEGRATION}, {c.name: c.output[:200] for c in report.checks if not c.passed}
