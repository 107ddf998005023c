"""The homework tasks' reference (analysis.py) against independent computations, and how they are graded.

Grading of known mistakes is in test_mutants.py (the bank holds analysis.py's mutants); here: the
reference's numbers worked out by hand or by a second method, the experiment's protocol, the feedback
it leaves, and that a broken block costs the tasks that use it nothing.
"""
import importlib
import importlib.util
import math
import sys

import pytest
import torch

from autograder.grading_data.arrays import unpack
from autograder.pages.figures import picture_for_figure

from .conftest import ROOT, SOLUTIONS


def _reference_package(name: str = "_homework_reference"):
    """The reference solution as a package of its own (its modules import each other relatively)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SOLUTIONS / "__init__.py",
                                                      submodule_search_locations=[str(SOLUTIONS)])
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return lambda module: importlib.import_module(f"{name}.{module}")


_module = _reference_package()
analysis = _module("analysis")
SimpleUNet = _module("unet").SimpleUNet
SelfAttention = _module("attention").SelfAttention
ResBlock = _module("res_block").ResBlock


@pytest.fixture(scope="module")
def experiment():
    """The reference's experiment with the defaults, as the notebook runs it (seed 0)."""
    torch.set_num_threads(1)
    return analysis.skip_ablation()


# --- Task 1 ----------------------------------------------------------------------------------------

def test_shape_trace_of_the_chapter_network():
    torch.manual_seed(0)
    model = SimpleUNet(4, 4, 64)
    trace = analysis.shape_trace(model, torch.randn(2, 4, 64, 64), torch.tensor([3, 500]))
    shapes = dict(trace)
    names = [name for name, _ in trace]
    submodules = [name for name, _ in model.named_modules() if name]
    # every submodule once, DownBlocks twice more for their pair minus their own name, two concatenations
    assert len(trace) == len(submodules) + 2 + 2
    assert set(names) == (set(submodules) - {"down1", "down2"}) | {"down1[0]", "down1[1]", "down2[0]", "down2[1]",
                                                                  "up1.concat", "up2.concat"}
    assert shapes["time_embed"] == (2, 256)
    assert shapes["down1[0]"] == (2, 64, 32, 32) and shapes["down1[1]"] == (2, 64, 64, 64)
    assert shapes["down2[0]"] == (2, 128, 16, 16) and shapes["down2[1]"] == (2, 128, 32, 32)
    assert shapes["up1.concat"] == (2, 64 + 128, 32, 32)  # the erratum: 3 * base, not 2 * base
    assert shapes["up2.concat"] == (2, 64 + 64, 64, 64)
    assert shapes["down1.res.skip"] == (2, 64, 64, 64) and shapes["bottleneck.skip"] == (2, 128, 16, 16)
    assert trace[-1] == ("out", (2, 4, 64, 64))
    # execution order: inside a ResBlock norm1 runs first and the skip last; a block after its layers
    block = [n for n in names if n.startswith("down1.res.")]
    assert block == ["down1.res.norm1", "down1.res.conv1", "down1.res.time_mlp", "down1.res.norm2",
                     "down1.res.conv2", "down1.res.skip"]
    assert names.index("up1.up") < names.index("up1.concat") < names.index("up1.res.norm1")
    assert names.index("down1.res") < names.index("down1.down") < names.index("down1[0]")


def test_shape_trace_leaves_no_hook_and_repeats():
    model = SimpleUNet(3, 2, 4)
    x, t = torch.randn(1, 3, 12, 8), torch.tensor([7])
    first = analysis.shape_trace(model, x, t)
    assert analysis.shape_trace(model, x, t) == first
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    with pytest.raises(RuntimeError):
        analysis.shape_trace(model, torch.randn(1, 3, 6, 8), t)  # 6 is not a multiple of 4: the concat fails
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


# --- Task 2 ----------------------------------------------------------------------------------------

def test_no_skip_unet_is_the_unet_with_its_skips_zeroed_by_hooks():
    """A second method: the chapter's UNet whose DownBlocks' skip outputs a hook replaces by zeros."""
    torch.manual_seed(1)
    model = SimpleUNet(2, 3, 6)
    no_skip = analysis.NoSkipUNet(2, 3, 6)
    no_skip.load_state_dict(model.state_dict())  # the same parameter layout, strictly
    x, t = torch.randn(2, 2, 8, 12), torch.tensor([1, 900])

    def zero_skip(module, inputs, output):
        return output[0], torch.zeros_like(output[1])

    handles = [model.down1.register_forward_hook(zero_skip), model.down2.register_forward_hook(zero_skip)]
    with torch.no_grad():
        expected = model(x, t)
        got = no_skip(x, t)
    for handle in handles:
        handle.remove()
    assert torch.allclose(got, expected, atol=1e-6)
    with torch.no_grad():
        assert not torch.allclose(model(x, t), expected, atol=1e-3)  # the skips do matter


def test_shape_images_are_reproducible_sharp_and_in_range():
    images = analysis.shape_images(20, 16, seed=3)
    assert images.shape == (20, 1, 16, 16) and images.dtype == torch.float32
    assert images.min() >= 0 and images.max() <= 1
    assert torch.equal(images, analysis.shape_images(20, 16, seed=3))
    assert not torch.equal(images, analysis.shape_images(20, 16, seed=4))
    assert torch.equal(analysis.shape_images(5, 16, seed=3), images[:5])
    background = (images == 0).float().mean()
    assert 0.2 < background < 0.95  # shapes on black: both are there
    assert len(torch.unique(images[0])) <= 5  # flat shapes: at most 4 brightnesses and black


def test_experiment_reports_what_its_reconstructions_show(experiment):
    steps = analysis.STEPS
    assert experiment["steps"] == steps and experiment["seed"] == 0
    held_out = analysis.shape_images(analysis.TRAIN_IMAGES + analysis.HELD_OUT_IMAGES, analysis.IMAGE_SIZE, 0)
    assert torch.equal(experiment["images"], held_out[analysis.TRAIN_IMAGES:])
    for key in ("with_skips", "without_skips"):
        run = experiment[key]
        assert len(run["losses"]) == steps
        mse = ((run["reconstructions"] - experiment["images"]) ** 2).mean().item()
        assert run["mse"] == pytest.approx(mse, rel=1e-5)
        assert run["psnr"] == pytest.approx(-10 * math.log10(mse), rel=1e-5)
        assert sum(run["losses"][-10:]) / 10 < sum(run["losses"][:3]) / 3 / 2  # it learned


@pytest.mark.parametrize("seed", [0, 1])
def test_skips_win_by_several_db(seed, experiment):
    run = experiment if seed == 0 else analysis.skip_ablation(seed=seed)
    assert run["with_skips"]["psnr"] - run["without_skips"]["psnr"] > 5


def test_experiment_is_reproducible_and_a_short_run_is_its_start(experiment):
    short = analysis.skip_ablation(steps=4, seed=0)
    again = analysis.skip_ablation(steps=4, seed=0)
    for key in ("with_skips", "without_skips"):
        assert short[key]["losses"] == again[key]["losses"]
        assert short[key]["losses"] == experiment[key]["losses"][:4]
    other = analysis.skip_ablation(steps=4, seed=5)
    assert other["with_skips"]["losses"] != short["with_skips"]["losses"]


# --- Task 3 ----------------------------------------------------------------------------------------

def test_timestep_embeddings_by_hand():
    # t = 0: every sine is 0, every cosine 1; dim 4 has frequencies 1 and 1/10000
    assert torch.equal(analysis.timestep_embeddings(4, [0]), torch.tensor([[0.0, 0.0, 1.0, 1.0]]))
    got = analysis.timestep_embeddings(4, range(3))
    t = torch.arange(3.0)
    expected = torch.stack([torch.sin(t), torch.sin(t / 10000), torch.cos(t), torch.cos(t / 10000)], dim=1)
    assert torch.allclose(got, expected, atol=1e-6)
    assert torch.equal(analysis.timestep_embeddings(4, torch.tensor([0, 1, 2])), got)


def test_embedding_similarity_by_hand():
    similarity = analysis.embedding_similarity(torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, -3.0]]))
    root = 1 / math.sqrt(2)
    expected = torch.tensor([[1, root, 0], [root, 1, -root], [0, -root, 1]])
    assert torch.allclose(similarity, expected, atol=1e-6)


def test_sinusoidal_codes_of_near_timesteps_are_alike():
    """What the notebook asks students to observe: similarity falls off with the distance in time."""
    similarity = analysis.embedding_similarity(analysis.timestep_embeddings(64, range(1000)))
    assert similarity[500, 501] > similarity[500, 510] > similarity[500, 600]
    assert torch.allclose(similarity.diagonal(), torch.ones(1000), atol=1e-5)


# --- Task 4 ----------------------------------------------------------------------------------------

def test_attention_map_is_uniform_when_queries_and_keys_are_zero():
    attention = SelfAttention(4)
    with torch.no_grad():
        attention.qkv.weight[:8] = 0
        attention.qkv.bias[:8] = 0
    maps = analysis.attention_map(attention, torch.randn(2, 4, 3, 5), (2, 4))
    assert maps.shape == (2, 3, 5)
    assert torch.allclose(maps, torch.full((2, 3, 5), 1 / 15))


def test_attention_map_finds_the_key_that_matches_the_query():
    """q = k = 10 * x (no norm effect: one feature per group), so the query looks where x equals its own value."""
    attention = SelfAttention(2)
    with torch.no_grad():
        eye = torch.eye(2)[:, :, None, None]
        attention.qkv.weight.copy_(torch.cat([10 * eye, 10 * eye, eye]))
        attention.qkv.bias.zero_()
    x = torch.zeros(1, 2, 2, 3)
    x[0, 0, 0, 1] = x[0, 0, 1, 2] = 1.0  # channel 0 marks (0, 1) and (1, 2)
    x[0, 1] = 1 - x[0, 0]  # channel 1 marks the rest
    maps = analysis.attention_map(attention, x, (1, 2))
    assert maps[0, 0, 1] > 0.45 and maps[0, 1, 2] > 0.45  # the two positions like the query share its weight
    assert maps.sum().item() == pytest.approx(1.0)


@pytest.mark.parametrize("height, width, query", [(4, 2, (3, 1)), (2, 4, (1, 3)), (3, 3, (2, 2))])
def test_the_maps_of_known_mistakes_never_index_past_the_positions(height, width, query):
    """The grader names a wrong map by the maps known mistakes give; ``row * H + col`` exists only where
    it is below H * W (a tall map's last rows have none: such code raises, and its hint says why)."""
    from autograder.checks.analysis import _attention_variants

    positions = height * width
    weights = torch.softmax(torch.randn(2, positions, positions), dim=-1)
    row, col = query
    variants = _attention_variants(weights, row, col, height, width)
    assert all(v.shape == (2, height, width) for v in variants.values())
    named = [mistake for mistake in variants if "row * H + col" in mistake]
    assert len(named) == (row * height + col < positions)


# --- Task 5 ----------------------------------------------------------------------------------------

def test_parameter_breakdown_of_the_chapter_network():
    breakdown = analysis.parameter_breakdown(SimpleUNet(4, 4, 64))
    assert list(breakdown) == ["time_embed", "down1", "down2", "bottleneck", "up1", "up2", "out"]
    assert sum(breakdown.values()) == 1_424_460  # the chapter's network with both errata fixed
    assert breakdown["out"] == 64 * 4 + 4
    assert breakdown["time_embed"] == (64 * 256 + 256) + (256 * 256 + 256)
    shares = analysis.parameter_shares(breakdown)
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares["out"] == pytest.approx(260 / 1_424_460)


def test_parameter_breakdown_counts_an_identity_as_zero():
    breakdown = analysis.parameter_breakdown(ResBlock(8, 8, 16))
    assert breakdown["skip"] == 0 and breakdown["time_mlp"] == 16 * 8 + 8


# --- grading -----------------------------------------------------------------------------------------

def test_a_broken_block_costs_the_tasks_that_use_it_nothing(grader, make_submission):
    report = grader.grade(make_submission({"attention": "this is not python\n", "unet": "raise SystemExit(3)\n",
                                           "time_embedding": "import nonexistent_module\n"}))
    scores = report.component_scores()
    for task in ("ShapeTrace", "SkipAblation", "TimestepEmbeddings", "AttentionMap", "ParameterBreakdown"):
        assert scores[task][0] == scores[task][1], (task, scores[task])
    assert scores["SelfAttention"][0] == scores["SimpleUNet"][0] == scores["TimeEmbedding"][0] == 0


def test_feedback_shows_the_experiment_beside_the_reference(grader):
    """The experiment is the SkipAblation section's picture: numbers, curves and one reconstruction,
    the reference's beside them only in the published view."""
    report = grader.grade(SOLUTIONS)
    data = report.figures["skip_training"]
    ours, reference = data["results"]["student"], data["results"]["reference"]
    assert set(ours) == set(reference) == {"with skips", "without skips"}
    assert ours == reference  # the reference is the student here
    assert ours["with skips"][1] > ours["without skips"][1] + 5  # PSNR, dB
    assert unpack(data["images"]["input"]).shape == (analysis.IMAGE_SIZE, analysis.IMAGE_SIZE)
    full, mine = picture_for_figure("skip_training", data, True), picture_for_figure("skip_training", data, False)
    assert [row[0] for row in full.table[1:]] == ["yours, with skips", "yours, without skips",
                                                  "reference, with skips", "reference, without skips"]
    assert [row[0] for row in mine.table[1:]] == ["yours, with skips", "yours, without skips"]
    assert [label for label, _ in mine.rows] == ["yours"] and len(mine.charts) == 1
    assert not any("experiment" in note for note in report.notes)  # no text box above the page


def test_stub_feedback_says_why_the_experiment_has_no_picture(grader):
    report = grader.grade(ROOT / "assignments" / "unet")
    note = report.figures["skip_training"]["note"]
    assert note.startswith("not drawn")
    assert note.endswith("NotImplementedError"), note  # the error itself, not a sentence cut at its colon
    assert not any("experiment" in note for note in report.notes)


# An experiment whose numbers a float cannot hold: each check judges its own feature, in words.
_ODD_RESULTS = {
    "nan reconstructions": 'result["with_skips"]["reconstructions"][0, 0, 0, 0] = float("nan")',
    "infinite reconstructions": 'result["without_skips"]["reconstructions"][0, 0, 0, 0] = float("inf")',
    "an int too large for a float": 'result["with_skips"]["losses"][-1] = 10 ** 400',
    "a huge finite loss": 'result["with_skips"]["losses"][:] = [1e308] * len(result["with_skips"]["losses"])',
}


@pytest.mark.parametrize("edit", _ODD_RESULTS, ids=list(_ODD_RESULTS))
def test_an_experiment_with_odd_numbers_is_judged_never_crashes_a_check(grader, make_submission, edit):
    wrapper = ("\n\n_reference_run = skip_ablation\n\n\ndef skip_ablation(steps=STEPS, seed=0):\n"
               f"    result = _reference_run(steps, seed)\n    {_ODD_RESULTS[edit]}\n    return result\n")
    report = grader.grade(make_submission({"analysis": (SOLUTIONS / "analysis.py").read_text() + wrapper}))
    checks = {c.check_id: c for c in report.checks if c.component == "SkipAblation"}
    assert report.status == "graded" and not report.review, report.review
    assert not any("could not judge" in (c.output or "") for c in checks.values())
    assert not all(c.passed for c in checks.values())  # every edit is a real mistake somewhere
    if "reconstructions" in edit:  # the steps are right: only the metrics check has the mistake
        assert checks["experiment_budget"].passed and not checks["experiment_metrics"].passed
    assert sum(c.score for c in report.checks if c.component != "SkipAblation") == \
        sum(c.max_score for c in report.checks if c.component != "SkipAblation")
