"""The chapter's five homework tasks (``analysis.py``), each graded against the reference.

The functions take models as arguments: the child builds them (``ModuleArg``) from the reference
stand-ins of the task's dependencies, so a broken ``SelfAttention`` costs ``attention_map`` nothing.
The skip-connection experiment runs once per student (``GRADED_STEPS``, ~0.25 s of one core) plus a
``SHORT_STEPS`` rerun, and its numbers, loss curves and reconstructions go into the SkipAblation section
of the feedback as a table and pictures (``grading_data/figure_data.skip_training``), the reference's beside them once published.
"""
import inspect
import math
import numbers
from collections import Counter

import torch

from ..compare import shape_problem, value_problem
from .. import rules
from ..sandbox import replies
from ..sandbox.child.watch import digest, weights_digest
from ..sandbox.launcher import ModuleArg, StudentError
from ..strategies import (
    Case,
    attention_map_cases,
    embedding_matrix_cases,
    no_skip_unet_cases,
    parameter_breakdown_cases,
    timestep_embedding_cases,
    unet_cases,
)
from .common import Pair, compare_outputs, default_dtype, reference_models, remembered
from .hints import explain
from .public_checks import plain_watched, rule_check
from .registry import CheckFailed, ask_ahead, check, failure_from_student

SHAPE_TRACE, SKIP_ABLATION, TIMESTEPS, ATTENTION_MAP, BREAKDOWN = (
    "ShapeTrace", "SkipAblation", "TimestepEmbeddings", "AttentionMap", "ParameterBreakdown")


def _reference(ctx, name: str):
    return ctx.reference.symbol("analysis", name)


def _call(ctx, component: str, function: str, *args, case: Case | None = None, experiment: bool = False):
    """The student's ``function(*args)`` in the child; their exception is a failed check."""
    try:
        return ctx.student.call(function, *args, experiment=experiment)
    except StudentError as error:
        raise failure_from_student(error, component, case, f"{function}(...)") from None


# --- Task 1: ShapeTrace ----------------------------------------------------------------------------

def _trace(value, strict: bool = False) -> list[tuple[str, tuple]]:
    """The student's trace as (name, shape) pairs, or a CheckFailed saying what the format should be.

    A dict of name -> shape holds the same pairs in order: one mistake of format, charged by the check
    that reads the entries (``strict``: names_in_order); the other checks judge the pairs it holds."""
    expected = "shape_trace must return a list of (name, shape) pairs, shape a tuple of ints"
    if isinstance(value, dict) and not strict:
        value = rules.as_pairs(value)
    if not isinstance(value, list):
        raise CheckFailed(f"{expected}; got {_kind(value)}",
                          hint="Return the list itself: [(name, shape), ...], not dict(trace)." if isinstance(value, dict)
                          else None)
    entries = []
    for item in value:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], list)
                and all(type(size) is int for size in item[1])):
            raise CheckFailed(f"{expected}; one entry is {rules.short(item)}",
                              hint="Record tuple(output.shape) for each module: a torch.Size is a tuple of ints.")
        entries.append((item[0], tuple(item[1])))
    return entries


def _traces(ctx, case: Case, strict: bool = False):
    """(reference trace, student trace) of ``case``'s model (a SimpleUNet, or ``OTHER_MODEL``) on its inputs."""
    inputs = case.inputs()

    def build():
        model = reference_models(ctx, case).ref32
        return _reference(ctx, "shape_trace")(model, *inputs)

    expected = remembered(ctx, ("shape_trace", repr(case)), build)
    got = _trace(_call(ctx, SHAPE_TRACE, "shape_trace", ModuleArg(case.component, case.init), *inputs, case=case),
                 strict)
    names = [n for n, _ in expected]
    if len(got) > len(names) and [n for n, _ in got[-len(names):]] == names:
        # this call's entries after earlier calls' (a list kept between calls: ``trace=[]`` as a default):
        # one mistake, the hygiene rule's to charge ("the same list when called twice"); judged here: this call's
        got = got[-len(names):]
    return expected, got


# "Do not copy the forward pass: shape_trace must work on any model's own forward": a model that is no
# SimpleUNet, called as model(x, t_emb), without time_embed, down1 or up1 to call by name.
OTHER_MODEL = Case("DownBlock", {"in_channels": 3, "out_channels": 4, "time_emb_dim": 8},
                   {"x": (1, 3, 8, 8), "t_emb": (1, 8)}, seed=0)
_ANY_MODEL_HINT = ("shape_trace must work on any model, through the model's own forward: walk "
                   "model.named_modules() to register the hooks, find the UpBlocks by their class (isinstance), "
                   "and call model(x, t) once, rather than calling SimpleUNet's layers (time_embed, down1, ...) "
                   "yourself or naming them.")


@check(SHAPE_TRACE, "names_in_order", "one entry per submodule, named as in named_modules(), in execution order",
       unet_cases())
def names_in_order(ctx, case):
    expected, got = _traces(ctx, case, strict=True)
    names, got_names = [n for n, _ in expected], [n for n, _ in got]
    if got_names == names:
        _traces_any_model(ctx)
        return
    plain = [n for n in names if not n.endswith(".concat")]
    if [n for n in got_names if not n.endswith(".concat")] == plain:
        _traces_any_model(ctx)
        return  # only the concat entries differ: that is concat_recorded's to grade
    known, given = set(names), set(got_names)  # sets: a trace's length is the student's
    missing = [n for n in plain if n not in given]
    extra = [n for n in got_names if n not in known]
    containers = {n for n in {n.split("[")[0] for n in plain} if any(other.startswith(n + ".") for other in plain)}
    if not missing and not extra and sorted(got_names) == sorted(names):
        rank = {n: i for i, (n, _) in enumerate(reference_models(ctx, case).ref32.named_modules())}
        ranks = [rank.get(n.split("[")[0].removesuffix(".concat"), -1) for n in got_names]
        position = {n: i for i, n in enumerate(got_names)}
        parent_first = any(position[n] < position[child] for n in containers & set(position) for child in position
                           if child.startswith(n + "."))
        raise CheckFailed(
            f"the entries are right but in another order: expected {_names(names)}, got {_names(got_names)}",
            hint="List outputs in the order the forward pass produces them (forward hooks fire in that order), "
            "not in the order of named_modules()." if ranks == sorted(ranks) or not parent_first else
            "A block's own entry comes after the entries of the layers inside it: record each module when it "
            "finishes (a forward hook), not when it starts.",
        )
    message = f"expected the entries {_names(names)}, got {_names(got_names)}"
    if missing:
        message += f"; missing {_names(missing)}"
    if extra:
        message += f"; unexpected {_names(extra)}"
    hint = None
    classes = {type(m).__name__ for m in reference_models(ctx, case).ref32.modules()}
    if extra and sum(n.split("[")[0] in classes for n in got_names) > len(got_names) / 2:
        hint = ("Name each entry by the module's name in the model, as named_modules() gives it with the module "
                "('down1.res.conv1'), not by its class.")
    elif missing and not extra and all(n.split("[")[0] in containers for n in missing):
        hint = (f"Trace every submodule, the blocks that hold others too ({_names(sorted(containers), 4)}), not only "
                "the layers that hold none.")
    elif "" in extra:
        hint = ("The entry named '' is the model itself: named_modules() gives it first, with the name ''. Trace "
                "its submodules only.")
    elif any("[" in n and n.split("[")[0] in got_names for n in missing):
        hint = "A module that returns a tuple (DownBlock) gets one entry per element: 'down1[0]', 'down1[1]'."
    elif got_names and all("." not in n.split("[")[0] for n in got_names):
        hint = "Trace every submodule (model.named_modules()), not only the top-level children."
    raise CheckFailed(message, hint=hint)


def _traces_any_model(ctx) -> None:
    """The names of ``OTHER_MODEL``'s trace (a DownBlock's): a trace that copies SimpleUNet's forward, or
    names its layers, raises or lists another model's entries. Its concat entries are concat_recorded's."""
    try:
        expected, got = _traces(ctx, OTHER_MODEL)
    except CheckFailed as failure:
        problem = CheckFailed(f"on {OTHER_MODEL.describe()}, {failure.message}", hint=_ANY_MODEL_HINT)
    else:
        names = [n for n, _ in expected if not n.endswith(".concat")]
        got_names = [n for n, _ in got if not n.endswith(".concat")]
        if got_names == names:
            return
        problem = CheckFailed(f"on {OTHER_MODEL.describe()} (no SimpleUNet: the rule is that shape_trace works on "
                              f"any model's own forward), expected the entries {_names(names)}, got {_names(got_names)}",
                              hint=_ANY_MODEL_HINT)
    problem.about_component = True  # the same on every SimpleUNet case: none is named, none shrunk
    raise problem


@check(SHAPE_TRACE, "shapes_match", "each submodule's output shape matches the reference", unet_cases())
def shapes_match(ctx, case):
    expected, got = _traces(ctx, case)
    shapes = {}
    for name, shape in got:
        shapes.setdefault(name, shape)
    for name, shape in expected:
        if name.endswith(".concat") or name not in shapes:
            continue  # names are names_in_order's to grade, concatenations concat_recorded's
        if shapes[name] != shape:
            raise CheckFailed(f"the entry {name!r} has shape {shapes[name]}, expected {shape}",
                              hint="Record each module's *output* shape, after it ran (a forward hook, not a pre-hook).")


@check(SHAPE_TRACE, "concat_recorded", "each UpBlock's concatenation is recorded ('up1.concat': 3*base channels)",
       unet_cases())
def concat_recorded(ctx, case):
    expected, got = _traces(ctx, case)
    got_shapes = dict(got)
    for name, shape in expected:
        if not name.endswith(".concat"):
            continue
        if name not in got_shapes:
            raise CheckFailed(
                f"no entry {name!r}: expected the shape {shape} of the concatenation inside {name[:-7]}",
                hint="Record the input of each UpBlock's ResBlock (a forward pre-hook on up.res): that is the "
                "concatenation of the upsampled features and the skip.",
            )
        if got_shapes[name] != shape:
            raise CheckFailed(f"{name} has shape {got_shapes[name]}, expected {shape}",
                              hint=_concat_hint(case, dict(expected), name, got_shapes[name], shape))
    names = [n for n, _ in got]
    order = [n for n, _ in expected]
    recorded, wanted = [n for n in names if n.endswith(".concat")], [n for n in order if n.endswith(".concat")]
    counts, wanted_counts = Counter(recorded), Counter(wanted)  # counted once: a trace's length is the student's
    extra = [n for n, count in counts.items() if count > wanted_counts[n]]
    if extra:
        raise CheckFailed(
            f"the trace holds {_names(extra)} {'more than once' if set(extra) <= set(wanted) else 'as well'}: each "
            f"UpBlock gets one '<name>.concat' entry ({_names(wanted)}), and no other module does",
            hint="Record the concatenation once per UpBlock: one forward pre-hook on each UpBlock's own ResBlock (res), "
            "registered once.")
    if [n for n in names if not n.endswith(".concat")] != [n for n in order if not n.endswith(".concat")]:
        return  # the other entries are out of order: one mistake, names_in_order's to grade
    for name in (n for n in order if n.endswith(".concat")):
        block = name[:-len(".concat")]
        before, after = f"{block}.up", f"{block}.res.norm1"
        if name in names and before in names and after in names and not (
                names.index(before) < names.index(name) < names.index(after)):
            raise CheckFailed(f"{name} should come after {before} and before {after}: the concatenation happens "
                              "between the upsampling and the ResBlock")


def _concat_hint(case, expected: dict, name: str, got: tuple, shape: tuple) -> str:
    """What a concat entry of the wrong shape recorded: the upsampled features alone, the UpBlock's input, or
    the chapter's channel count (2*base where up1's concatenation has 3*base)."""
    block, base = name[:-len(".concat")], case.init["base_channels"]
    if got == expected.get(f"{block}.up"):
        return (f"That is the shape of {block}.up's output, the upsampled features alone: the concatenation adds the "
                "skip's channels to them. Record the input of the UpBlock's ResBlock (a forward pre-hook on its res).")
    if len(got) == len(shape) == 4 and got[2:] != shape[2:]:
        return (f"The concatenation has the skip's height and width, {shape[2:]}: it happens after the upsampling. "
                "Record the input of the UpBlock's ResBlock (a forward pre-hook on its res), not the UpBlock's input.")
    if len(got) == 4 and got[1] == 2 * base and shape[1] == 3 * base:
        return (f"up1 concatenates base={base} upsampled channels with skip2's 2*base={2 * base}: {3 * base} channels, "
                f"not the {2 * base} of the chapter's code.")
    return "Record the input of each UpBlock's ResBlock (a forward pre-hook on its res): the concatenation itself."


# The model shape_trace is watched on (small: the rules are about hooks and modes, not sizes), and an
# input of a height the UNet cannot take (6 is not a multiple of 4), so that its forward pass raises.
WATCHED_CASE = Case("SimpleUNet", {"in_channels": 3, "out_channels": 2, "base_channels": 4},
                    {"x": (1, 3, 8, 8), "t": (1,)}, seed=0)
RAISING_SHAPE = (1, 3, 6, 8)


# Public: students' check.py runs the same rule (rules.trace_protocol) on the same model, watched alike.
rule_check(SHAPE_TRACE, "leaves_model_as_found",
           "shape_trace leaves the model as it found it: no hooks left (also when forward raises), the same list "
           "when called twice, no gradients, train/eval mode restored", None, "trace_protocol", gated=False,
           init=WATCHED_CASE.init, x=list(WATCHED_CASE.shapes["x"]), t=list(WATCHED_CASE.shapes["t"]),
           raising=list(RAISING_SHAPE))


# --- Task 2: SkipAblation --------------------------------------------------------------------------

SEED = 1  # the grader's run; students' notebooks use seed 0
SHORT_STEPS = 3  # the public rules' run, and the start the full run must repeat
VARIANTS = {"with_skips": "with skips", "without_skips": "without skips"}


@check(SKIP_ABLATION, "no_skip_matches", "NoSkipUNet matches the reference's with the same weights (skips zeroed)",
       no_skip_unet_cases())
def no_skip_matches(ctx, case):
    """Only forward is the student's: the weights of SimpleUNet's layout must load (``Pair`` says so if not)."""
    pair = Pair(ctx, case)
    try:
        pair.compare_forward()
    except CheckFailed as failure:
        if failure.hint is None and "differs from the reference" in failure.message:
            failure.hint = ("Run the encoder as usual, then give up1 and up2 torch.zeros_like(skip2) and "
                            "torch.zeros_like(skip1) in place of the skips: zeros of the skip's shape.")
            if _keeps_the_skips(ctx, case, pair):
                failure.hint = ("Your NoSkipUNet computes what SimpleUNet computes, skips and all. The grader runs it "
                                "on the reference's SimpleUNet and blocks, so only NoSkipUNet's own forward may drop "
                                "the skips: write NoSkipUNet.forward (a switch that your SimpleUNet's forward reads is "
                                "not used). " + failure.hint)
            else:
                mistake = _no_skip_mistake(ctx, case, pair)
                if mistake:
                    failure.hint = f"Your NoSkipUNet's output is what {mistake}. " + failure.hint
        raise


def _no_skip_variants(model, x, t) -> dict:
    """What common mistakes in NoSkipUNet.forward compute, with the reference's layers (float64)."""
    t_emb = model.time_embed(t)
    h1, skip1 = model.down1(x, t_emb)
    h2, skip2 = model.down2(h1, t_emb)
    h = model.bottleneck(h2, t_emb)

    def decode(h, skip2, skip1):
        return model.out(model.up2(model.up1(h, skip2, t_emb), skip1, t_emb))

    zeros2, zeros1 = torch.zeros_like(skip2), torch.zeros_like(skip1)
    return {
        "ones in place of the skips give: a cut skip is zeros": decode(h, torch.ones_like(skip2), torch.ones_like(skip1)),
        "zeros in place of skip2 alone give: up2 still gets skip1": decode(h, zeros2, skip1),
        "zeros in place of skip1 alone give: up1 still gets skip2": decode(h, skip2, zeros1),
        "the model gives without its bottleneck: only the skips change, the bottleneck still runs": decode(h2, zeros2, zeros1),
    }


def _no_skip_mistake(ctx, case, pair: Pair) -> str | None:
    x, t = case.inputs()
    try:
        got = pair.run_student((x, t)).output
        with torch.no_grad():
            variants = _no_skip_variants(pair.models.ref64, x.double(), t)
            variants32 = _no_skip_variants(pair.models.ref32, x, t)  # float32's error on each, for the tolerance
    except (CheckFailed, StudentError, RuntimeError):  # a shape of its own: no variant to name
        return None
    return next((what for what, variant in variants.items()
                 if value_problem(got, variant, variants32[what], ctx.config.tolerance, "output") is None), None)


def _keeps_the_skips(ctx, case, pair: Pair) -> bool:
    """Whether the student's NoSkipUNet gives the reference SimpleUNet's output (same weights): its
    forward is SimpleUNet's, the skips kept."""
    inputs = case.inputs()
    (out32, _), (out64, _) = reference_models(ctx, case, "SimpleUNet").run(inputs)
    try:
        compare_outputs(pair.run_student(inputs).output, out32, out64, ctx, case)
    except CheckFailed:
        return False
    return True


GRADED_STEPS = 12
LEARNED = 0.85  # skips_win: a model learned when its last 3 losses average at most this share of its first 3


def experiment_steps(ctx) -> int:
    """How long the grader's run of ``skip_ablation`` is: shorter than the notebook's ``STEPS``.

    The protocol's rules are watched on every step the run has (a learning-rate schedule whose first
    change comes after it goes unseen); ``skips_win`` needs training. A model no optimizer step holds
    never learned: that is seen. Otherwise its losses must fall, which batches of 8 make noisy: from
    60 other starts, each with other batch draws (as students' layer order and way of drawing may give;
    ``benchmarks/skip_ablation.py --starts 60``), a training model's last 3 losses averaged at most 0.77
    of its first 3 (0.77 again in 70 more runs by a reviewer), so ``LEARNED`` leaves it a margin; a model
    that never steps but meets such batches can fall to 0.68, and only the PSNR rule then judges it.
    There the skips win by 2.1 dB or more (the rule: 1 dB). (The earlier rule, 20 steps and the last 10
    at most half the first 3, failed a training model on 1 start in 16.)
    """
    return min(GRADED_STEPS, _reference(ctx, "STEPS"))


def _watch_experiment(ctx, steps: int) -> replies.WatchedCall:
    return ctx.student.watch("skip_ablation", steps, SEED, experiment=True, read=rules.EXPERIMENT_READ)


@ask_ahead(SKIP_ABLATION)
def _full_run(ctx) -> None:
    """The full run, asked while the components after SimpleUNet are graded: it is most of a grading's
    time with the student's code (``plan.grading_schedule``). Alone, as the checks ask it: a run that
    hangs or is slow is judged as in turn (one question, one limit), and its hang names it."""
    _watch_experiment(ctx, experiment_steps(ctx))


def _experiment_call(ctx, steps: int) -> replies.WatchedCall:
    """The student's ``skip_ablation(steps, SEED)``, watched by the child (``sandbox/child/watch.py``)."""
    try:
        watched = _watch_experiment(ctx, steps)
    except StudentError as error:
        raise failure_from_student(error, SKIP_ABLATION, None, "skip_ablation(...)") from None
    if watched.error is not None:
        raise CheckFailed(f"your code raised an error during skip_ablation(...):\n{watched.error}",
                          hint=explain(watched.error, SKIP_ABLATION))
    return watched


def student_experiment(ctx, steps: int) -> dict:
    """The student's ``skip_ablation(steps, SEED)``, checked for the documented format.

    Numbers handed back as one-element tensors (``loss.detach()`` kept in the list) are read as the
    floats they hold: the public experiment_budget check, like check.py, charges that format once
    (``rules.experiment_problem``); the checks here judge the run."""
    value = _numbers_read(_experiment_call(ctx, steps).outputs[0])
    problem = rules.experiment_problem(value, f"skip_ablation({steps}, seed={SEED})")  # the format, as check.py reads it
    if problem:
        raise CheckFailed(problem)
    return value


def reference_experiment(ctx, steps: int) -> dict:
    """The reference's run: the same for every student, so computed once per grader."""
    return remembered(ctx, ("skip_ablation", steps, SEED), lambda: _reference(ctx, "skip_ablation")(steps, SEED))


def _images(ctx, seed: int = SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """(training images, held-out images) of the grader's seed (or ``seed``), from the given ``shape_images``."""
    def build():
        count = _reference(ctx, "TRAIN_IMAGES")
        images = _reference(ctx, "shape_images")(count + _reference(ctx, "HELD_OUT_IMAGES"), _reference(ctx, "IMAGE_SIZE"),
                                                 seed)
        return images[:count], images[count:]

    return remembered(ctx, ("shape_images", seed), build)


def _seeded_start(ctx) -> frozenset:
    """Digests of SimpleUNet(1, 1, BASE_CHANNELS) built right after torch.manual_seed(SEED) (in float32,
    and moved to float64, a way of training it as valid as another), as the child digests weights."""
    def build():
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(SEED)
            model = _reference(ctx, "SimpleUNet")(1, 1, _reference(ctx, "BASE_CHANNELS"))
        return frozenset({weights_digest(model), weights_digest(model.double())})

    return remembered(ctx, ("seeded start", SEED), build)


def _same_images(theirs: torch.Tensor, ours: torch.Tensor) -> bool:
    """The same images, in whatever real dtype the student's come (float64 images are the same images)."""
    same = tuple(theirs.shape) == tuple(ours.shape) and not theirs.is_complex()
    return same and torch.allclose(theirs.double(), ours.double(), atol=1e-6)


def _rescaled(theirs, ours: torch.Tensor) -> bool:
    """Whether ``theirs`` are ``ours`` with every pixel mapped by one a * pixel + b, a != 0 (rescaled to
    [-1, 1] or to 0..255, standardised): the same images, transformed alike."""
    if type(theirs) is not torch.Tensor or tuple(theirs.shape) != tuple(ours.shape) or not theirs.is_floating_point():
        return False
    x, y = ours.double().reshape(-1), theirs.double().reshape(-1)
    centred = x - x.mean()
    spread = (centred ** 2).sum()
    if not spread > 0:
        return False
    a = (centred * (y - y.mean())).sum() / spread
    b = y.mean() - a * x.mean()
    return bool(a.abs() > 1e-6) and torch.allclose(y, a * x + b, atol=1e-5 * max(1.0, a.abs().item()))


def _fed_other_images(ctx) -> bool:
    """Whether the short run fed images that are no training image, which same_batches charges."""
    trained, _ = _labelled(ctx, SHORT_STEPS)
    problem = _batches_problem(ctx, trained) if trained is not None else None
    return problem is not None and bool(problem.foreign)


def _batches_problem(ctx, trained: dict, seed: int = SEED):
    """``rules.batches_problem`` of a run of ``seed``, against that seed's images."""
    return rules.batches_problem(trained, _training_digests(ctx, seed), _reference(ctx, "BATCH_SIZE"),
                                 _reference(ctx, "TRAIN_IMAGES"), _held_out_digests(ctx, seed))


def _training_digests(ctx, seed: int = SEED) -> frozenset:
    return remembered(ctx, ("training digests", seed), lambda: frozenset(digest(row) for row in _images(ctx, seed)[0]))


def _held_out_digests(ctx, seed: int = SEED) -> frozenset:
    return remembered(ctx, ("held-out digests", seed), lambda: frozenset(digest(row) for row in _images(ctx, seed)[1]))


def _evaluated_before_trained(watched: replies.WatchedCall, held_out: frozenset) -> bool:
    """Whether a model's last evaluation (a call on held-out images only) came before its last optimizer
    step: the returned numbers are then an untrained (or half-trained) model's. An evaluation before
    training as well, for a log, is fine."""
    last_step, last_evaluation = {}, {}
    for index, event in enumerate(watched.events):
        if isinstance(event, replies.Step):
            last_step.update((model, index) for model in event.models)
        elif _is_evaluation(event, held_out):
            last_evaluation[event.model] = index
    return any(last_evaluation[model] < index for model, index in last_step.items() if model in last_evaluation)


def _is_evaluation(event, held_out: frozenset) -> bool:
    """A forward call on held-out images only: the evaluation, never a training step."""
    return isinstance(event, replies.Forward) and bool(event.rows) and set(event.rows) <= held_out


def _evaluations(watched: replies.WatchedCall, held_out: frozenset) -> list:
    return [e for e in watched.events if _is_evaluation(e, held_out)]


# Public: check.py runs the same rules (rules.experiment_protocol, same_start, same_batches) on the same short
# run, watched alike; the grader's child answers that run once for all three (and for experiment_reproducible).
rule_check(SKIP_ABLATION, "experiment_budget", "skip_ablation trains both models for the same number of steps",
           None, "experiment_protocol", gated=False, steps=SHORT_STEPS, seed=SEED)
rule_check(SKIP_ABLATION, "same_start", "both models start from the same weights", None, "same_start", gated=False,
           steps=SHORT_STEPS, seed=SEED)
rule_check(SKIP_ABLATION, "same_batches", "both models see the same batches of training images, in the same order",
           None, "same_batches", gated=False, steps=SHORT_STEPS, seed=SEED)


def _labelled(ctx, steps: int) -> tuple[dict | None, replies.WatchedCall]:
    """The two trained models' training calls in the run of ``steps`` (``rules.training_calls``), and the run."""
    watched = _experiment_call(ctx, steps)
    return rules.training_calls(plain_watched(watched)["events"], _held_out_digests(ctx)), watched


def _batches_differ(ctx) -> bool:
    """Whether the same_batches rule fails: judged, like the public check, on the short run."""
    trained, _ = _labelled(ctx, SHORT_STEPS)
    return trained is not None and _batches_problem(ctx, trained) is not None


OTHER_SEED = 2  # a short run with another seed: its batches are other draws, unless their generator ignores `seed`
_OWN_GENERATOR_HINT = ("Make one torch.Generator before the steps, seeded with the seed skip_ablation is given, and "
                       "draw every batch with it (generator=...): a new batch at every step.")


def _batches_follow_the_seed(ctx, trained: dict) -> None:
    """"drawn at random ... by a generator of the batches' own seeded with ``seed``", the ways a run can
    break it and still give the same batches to both models, reproducibly (a batch is its 8 images in
    order: two draws with replacement from 64 agree by chance 1 in 64^8, about 1 in 3 * 10^14):

    - a batch of the graded run used again at a later step (one batch throughout, a few in turn,
      ``itertools.cycle`` over a DataLoader's first epoch);
    - a generator that does not follow ``seed``: a short run with another seed feeds a batch the graded
      run fed too (seeded with a constant, or with ``seed + step``);
    - torch's global generator: in that short run the child seeds the global generator alike after
      every optimizer step (``Watcher``'s ``reseed_global``), so batches drawn from it repeat from the
      second step on, where a generator of their own draws other images.
    A run of that seed that breaks another rule (its images, its batches, an error) is left to the
    checks of that rule. Unseen: batches drawn from the global generator all before the first step, or
    by code that seeds the global generator itself at every step."""
    rule = "the rule is a generator of the batches' own seeded with `seed`, drawing a new batch at every step"
    graded = [tuple(call["rows"]) for call in trained["with_skips"]]
    steps = experiment_steps(ctx)
    for step, rows in enumerate(graded[1:], start=2):
        if rows in graded[:step - 1]:
            earlier = graded.index(rows) + 1
            raise CheckFailed(f"skip_ablation({steps}, seed={SEED}) fed at step {step} the batch of step {earlier} again "
                              f"(the same images in the same order): {rule}", hint=_OWN_GENERATOR_HINT)
    try:
        other = ctx.student.watch("skip_ablation", SHORT_STEPS, OTHER_SEED, experiment=True, read=rules.EXPERIMENT_READ,
                                  reseed_global=True)
    except StudentError:
        return
    if other.error is not None:
        return
    drawn = rules.training_calls(plain_watched(other)["events"], _held_out_digests(ctx, OTHER_SEED))
    if drawn is None or _batches_problem(ctx, drawn, OTHER_SEED) is not None:
        return
    ours = [tuple(p) for p in _batch_positions(ctx, trained, SEED)]
    theirs = [tuple(p) for p in _batch_positions(ctx, drawn, OTHER_SEED)]
    shared = [(step, ours.index(batch) + 1) for step, batch in enumerate(theirs, start=1) if batch in ours]
    if shared:
        step, at = shared[0]
        raise CheckFailed(f"skip_ablation({SHORT_STEPS}, seed={OTHER_SEED}) fed at step {step} the training images of the "
                          f"same positions as skip_ablation({steps}, seed={SEED}) at step {at}: the batches' generator does "
                          "not follow the seed; the rule is a generator of the batches' own seeded with `seed`",
                          hint="Seed the batches' generator with the seed skip_ablation is given "
                          "(.manual_seed(seed) on your torch.Generator): not with a number of your own, nor left at "
                          "its default seed, nor with a seed that changes step by step.")
    later = [tuple(call["rows"]) for call in drawn["with_skips"]][1:]
    if len(later) >= 2 and all(rows == later[0] for rows in later):
        raise CheckFailed(f"the batches come from torch's global generator, the one the models are built from: with it "
                          f"seeded alike after every optimizer step, skip_ablation({SHORT_STEPS}, seed={OTHER_SEED}) fed "
                          f"the same batch at every step from the second on; {rule}", hint=_OWN_GENERATOR_HINT)


def _batch_positions(ctx, trained: dict, seed: int) -> list[list]:
    """Where in the training images of ``seed`` each image fed to the model with skips sits, batch by batch."""
    where = remembered(ctx, ("training positions", seed),
                       lambda: {digest(row): i for i, row in enumerate(_images(ctx, seed)[0])})
    return [[where.get(row) for row in call["rows"]] for call in trained["with_skips"]]


def _without_repeats(size: int, population: int) -> float:
    """The chance that ``size`` draws with replacement from ``population`` hold no image twice."""
    return math.prod((population - i) / population for i in range(size))


@check(SKIP_ABLATION, "batches_drawn_with_replacement",
       "each step's batch is drawn at random, with replacement, from the training images")
def batches_drawn_with_replacement(ctx, _case):
    """The rule is judged on the full run's draws, where a draw with replacement shows it: its first
    ``TRAIN_IMAGES`` draws leave out some image (all differ about once in 10^27), and a batch repeats an
    image about one time in three (no batch of 12 does about once in 230: every way of drawing with
    replacement that students use repeats at the grader's seed). A run whose batches break same_batches
    is that check's to grade."""
    steps = experiment_steps(ctx)
    trained, _ = _labelled(ctx, steps)
    if trained is None or _batches_problem(ctx, trained) is not None:
        return
    training = _training_digests(ctx)
    batch_size, population = _reference(ctx, "BATCH_SIZE"), _reference(ctx, "TRAIN_IMAGES")
    batches = [call["rows"] for call in trained["with_skips"]]
    draws = [row for rows in batches for row in rows]
    hint = ("Each step: torch.randint(TRAIN_IMAGES, (BATCH_SIZE,), generator=...) picks the batch's indices at "
            "random, with replacement (a shuffled DataLoader or torch.randperm draws without).")
    rule = f"the rule is that each step draws {batch_size} training images at random, with replacement"
    if len(draws) >= population and set(draws[:population]) >= training:
        chance = _without_repeats(population, population)
        raise CheckFailed(f"the first {population} images drawn in skip_ablation({steps}, seed={SEED}) are every "
                          f"training image once: a pass over the data (in order, shuffled, a DataLoader) draws each "
                          f"image at most once; {rule} (so many draws without a repeat: a chance of {chance:.0e})",
                          hint=hint)
    _batches_follow_the_seed(ctx, trained)
    chance = _without_repeats(batch_size, population) ** len(batches)
    if chance < 0.01 and all(len(set(rows)) == len(rows) for rows in batches):
        raise CheckFailed(f"none of the {len(batches)} batches of skip_ablation({steps}, seed={SEED}) holds an image "
                          f"twice: each batch is drawn without replacement (torch.randperm(...)[:{batch_size}], a "
                          f"sample without replacement); {rule}, where a batch of {batch_size} of {population} "
                          f"repeats an image about {1 - _without_repeats(batch_size, population):.0%} of the time "
                          f"(no batch of {len(batches)} repeating one: a chance of "
                          f"{f'1 in {round(1 / chance)}' if chance > 0 else 'next to none'})", hint=hint)


@check(SKIP_ABLATION, "training_task",
       "skip_ablation trains for reconstruction at timestep 0 with Adam, recording each step's loss before its update")
def training_task(ctx, _case):
    steps = experiment_steps(ctx)
    ours = student_experiment(ctx, steps)
    trained, watched = _labelled(ctx, steps)
    if trained is None:
        return  # same_start's to grade
    for key, label in VARIANTS.items():
        for step, call in enumerate(trained[key], start=1):
            if call["timesteps"] is None or any(t != 0 for t in call["timesteps"]):
                raise CheckFailed(f"the model {label} was given timesteps other than 0 at step {step}: the rule is "
                                  "that every image gets timestep 0",
                                  hint="Pass torch.zeros(batch_size, dtype=torch.long) as the timesteps.")
        for step, (call, loss) in enumerate(zip(trained[key], ours[key]["losses"]), start=1):
            if call["loss"] is None or not math.isclose(loss, call["loss"], rel_tol=1e-4, abs_tol=1e-7):
                seen = "an output of another shape" if call["loss"] is None else f"{call['loss']:.6g}"
                raise CheckFailed(
                    f"the model {label} reports a loss of {loss:.6g} at step {step}, but the mean squared error "
                    f"between its output and its input batch at that step is {seen}: the rule is that the target is "
                    "the input itself and each step's loss is recorded before that step's update",
                    hint="Each step: the loss is the mean squared error between the model's output on the batch "
                    "and that same batch; record its .item() before optimizer.step().")
    evaluated = [e.timesteps for e in _evaluations(watched, _held_out_digests(ctx)) if e.timesteps is not None]
    if any(t != 0 for timesteps in evaluated for t in timesteps):
        raise CheckFailed("the held-out images were reconstructed at timesteps other than 0: the rule is that every "
                          "image gets timestep 0, in the evaluation as in training",
                          hint="Give each held-out image timestep 0 too, as each training image: a long tensor "
                          "of zeros, one per image.")
    problem = _optimizer_problem(ctx, trained, watched)
    if problem is not None:
        raise problem


def _optimizer_problem(ctx, trained: dict, watched: replies.WatchedCall) -> CheckFailed | None:
    """training_task's failure when an optimizer step of the trained models breaks the rule (Adam at
    ``LEARNING_RATE``, no schedule); skips_win leaves such a run's results to it."""
    rate = _reference(ctx, "LEARNING_RATE")
    for event in watched.events:
        if isinstance(event, replies.Step) and (set(event.models) & {trained["with_skips"][0]["model"],
                                                                      trained["without_skips"][0]["model"]}):
            if "Adam" not in event.family:
                return CheckFailed(f"the models were trained with {event.optimizer}: the rule is Adam",
                                   hint="torch.optim.Adam(model.parameters(), lr=LEARNING_RATE) for each model.")
            if any(not math.isclose(lr, rate, rel_tol=1e-6) for lr in event.lr):  # a float32 tensor's rate too
                return CheckFailed(f"an optimizer step used a learning rate of {_numbers(event.lr)}: the rule is "
                                   f"LEARNING_RATE ({rate:g}) at every step, no schedule",
                                   hint="lr=LEARNING_RATE, and no learning-rate scheduler.")
            departed = sorted({_setting_text(name, value) for group in event.settings
                               for name, value in group.items() if not _adam_default(name, value)})
            if departed:
                return CheckFailed(f"the models were trained by {event.optimizer} with {', '.join(departed)}: the "
                                   f"rule is Adam's step as torch's defaults give it ({_ADAM_RULE}), with "
                                   "LEARNING_RATE", hint="torch.optim.Adam(model.parameters(), lr=LEARNING_RATE) "
                                   "for each model, with no other settings.")
    return None


def _adam_defaults() -> dict:
    """torch.optim.Adam's own defaults for the settings the watcher records (``watch.ADAM_SETTINGS``)."""
    defaults = {name: parameter.default for name, parameter in inspect.signature(torch.optim.Adam).parameters.items()}
    beta1, beta2 = defaults["betas"]
    return {"beta1": beta1, "beta2": beta2, "eps": defaults["eps"], "weight_decay": defaults["weight_decay"],
            "amsgrad": defaults["amsgrad"], "maximize": defaults["maximize"]}


ADAM_DEFAULTS = _adam_defaults()
_ADAM_RULE = (f"betas=({ADAM_DEFAULTS['beta1']:g}, {ADAM_DEFAULTS['beta2']:g}), eps={ADAM_DEFAULTS['eps']:g}, "
              f"weight_decay={ADAM_DEFAULTS['weight_decay']:g}, amsgrad={ADAM_DEFAULTS['amsgrad']}, "
              f"maximize={ADAM_DEFAULTS['maximize']}")


def _adam_default(name: str, value) -> bool:
    """Whether one recorded setting is Adam's default: flags exactly, numbers to a float32 tensor's rounding
    (a default of 0 exactly); None, a value the watcher could not read, never."""
    default = ADAM_DEFAULTS[name]
    if value is None or isinstance(default, bool):
        return value is default
    return math.isclose(value, default, rel_tol=1e-6)


def _setting_text(name: str, value) -> str:
    shown = "a value that is not one number" if value is None else value if isinstance(value, bool) else f"{value:.6g}"
    return f"{'betas[0]' if name == 'beta1' else 'betas[1]' if name == 'beta2' else name}={shown}"


@check(SKIP_ABLATION, "experiment_metrics",
       "skip_ablation evaluates on the held-out images: MSE, and PSNR from it; it gives back its steps and seed")
def experiment_metrics(ctx, _case):
    steps = experiment_steps(ctx)
    ours = student_experiment(ctx, steps)
    given_back = {key: ours.get(key) for key in ("steps", "seed")}
    if not all(_echoes(given_back[key], value) for key, value in (("steps", steps), ("seed", SEED))):
        shown = ", ".join(f"{key!r}: {'missing' if key not in ours else rules.short(value, 40)}" for key, value in given_back.items())
        raise CheckFailed(f"skip_ablation({steps}, seed={SEED}) returned {shown}: the rule is to give back the "
                          f"steps and seed it was called with ({steps} and {SEED})",
                          hint='Return {"steps": steps, "seed": seed, ...}: the arguments, not STEPS or a constant.')
    expected = _images(ctx)[1]
    images = ours["images"]
    # One data mistake, charged once, by same_batches: shape_images' default seed, not passed on
    # (``rules.homework._other_seed``), or all the images transformed (rescaled to [-1, 1], say) before the split
    if not (_same_images(images, expected) or _same_images(images, _images(ctx, rules.STUDENT_SEED)[1])
            or _rescaled(images, expected) and _fed_other_images(ctx)):
        raise CheckFailed(
            f"the held-out images are not the last {expected.shape[0]} of shape_images(...) with seed={SEED}",
            hint="Use the given shape_images(TRAIN_IMAGES + HELD_OUT_IMAGES, IMAGE_SIZE, seed): the first "
            "TRAIN_IMAGES for training, the rest for the evaluation.",
        )
    if any(e.grad for e in _evaluations(_experiment_call(ctx, steps), _held_out_digests(ctx))):
        raise CheckFailed("the held-out images were reconstructed with gradients on: the rule is to evaluate "
                          "without gradients", hint="Reconstruct the held-out images with gradients off, in a torch.no_grad() block.")
    if _evaluated_before_trained(_experiment_call(ctx, steps), _held_out_digests(ctx)):
        raise CheckFailed("a model reconstructed the held-out images for the last time before its last training step: "
                          "the rule is to evaluate the trained models",
                          hint="Reconstruct the held-out images after the training loop, once both models have taken "
                          "all their steps.")
    for key, label in VARIANTS.items():
        run = ours[key]
        if tuple(run["reconstructions"].shape) != tuple(images.shape):
            raise CheckFailed(f"the model {label} returned reconstructions of shape {tuple(run['reconstructions'].shape)}: "
                              f"the rule is one per held-out image, shaped like them, {tuple(images.shape)}",
                              hint="Reconstruct the held-out images (the last HELD_OUT_IMAGES), no others.")
        mse = ((run["reconstructions"].double() - images.double()) ** 2).mean().item()
        if not math.isclose(run["mse"], mse, rel_tol=1e-4, abs_tol=1e-9):
            raise CheckFailed(f"the model {label} reports mse={run['mse']:.6g}, but its reconstructions of the "
                              f"held-out images have a mean squared error of {mse:.6g}")
        psnr = 10 * math.log10(1 / run["mse"]) if run["mse"] > 0 else math.inf
        if not math.isclose(run["psnr"], psnr, rel_tol=1e-4, abs_tol=1e-6):
            raise CheckFailed(f"the model {label} reports psnr={run['psnr']:.6g} for mse={run['mse']:.6g}; "
                              f"10 * log10(1 / mse) is {psnr:.6g}",
                              hint="PSNR in dB for images whose peak is 1: 10 * log10(1 / mse).")


def _echoes(value, argument: int) -> bool:
    """Whether a returned ``steps`` or ``seed`` is the argument: a number equal to it (never a bool)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and value == argument


@check(SKIP_ABLATION, "experiment_reproducible",
       f"skip_ablation is reproducible from its seed: the SimpleUNet built right after seeding torch with it, "
       f"and {SHORT_STEPS} steps repeat the start of the full run")
def experiment_reproducible(ctx, _case):
    """Every child starts from the same random state, so two runs agree even when ``seed`` is ignored:
    the SimpleUNet's weights at its first call say whether it was built from ``seed``."""
    steps = experiment_steps(ctx)
    full = student_experiment(ctx, steps)
    short = student_experiment(ctx, SHORT_STEPS)
    trained, watched = _labelled(ctx, steps)
    if trained is not None:  # else same_start's to grade
        start = {e["model"]: e["weights"] for e in plain_watched(watched)["events"]
                 if e["kind"] == "forward" and e["weights"] is not None}
        if start.get(trained["with_skips"][0]["model"]) not in _seeded_start(ctx):
            raise CheckFailed(
                f"the SimpleUNet of skip_ablation({steps}, seed={SEED}) did not start from the weights that "
                f"torch.manual_seed({SEED}) gives it: the rule is that it is built right after seeding torch's "
                "global generator with the seed given",
                hint="Seed torch with the seed skip_ablation is given (not a number of your own) right before building "
                "the SimpleUNet, and draw nothing random between the two.")
    if _scheduled(watched) or _scheduled(_experiment_call(ctx, SHORT_STEPS)):
        return  # a learning-rate schedule (over `steps`: cosine) makes the prefixes differ: training_task's to charge
    if trained is not None and _random_timesteps(trained):
        return  # timesteps drawn at random (from the global generator, in turn per model): training_task's to charge
    judged = dict(VARIANTS)
    if _batches_differ(ctx):  # same_batches' to grade: judge the model trained first alone
        trained, _ = _labelled(ctx, steps)
        if trained is not None:
            judged = {key: label for key, label in VARIANTS.items() if trained[key][0]["model"] == trained["first"]}
    for key, label in judged.items():
        first, again = full[key]["losses"][:SHORT_STEPS], short[key]["losses"]
        if not all(math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9) for a, b in zip(first, again)):
            why = _prefix_batches(ctx, trained, key)
            raise CheckFailed(
                f"the model {label}: the first {SHORT_STEPS} losses of skip_ablation({steps}, seed={SEED}) are "
                f"{_numbers(first)}, but skip_ablation({SHORT_STEPS}, seed={SEED}) gives {_numbers(again)}{why}: the rule "
                f"is that a run of k steps is exactly the first k steps of a longer run",
                hint=("Draw each step's batch so that it does not depend on `steps` (one batch per step from the "
                      "generator, or all of them as a list whose first k are the same for every length)." if why else
                      "Seed everything from `seed`: torch's global seed before building the models, and a "
                      "generator of the batches' own (torch.Generator), seeded with it; no learning-rate schedule."),
            )


def _random_timesteps(trained: dict) -> bool:
    """Whether a training step gave a model timesteps other than 0 that differ between its steps (drawn)."""
    seen = {tuple(call["timesteps"] or ()) for key in VARIANTS for call in trained[key]}
    return len(seen) > 1 and any(any(t != 0 for t in timesteps) for timesteps in seen)


def _prefix_batches(ctx, trained: dict | None, key: str) -> str:
    """Where the short run fed the model other batches than the full run's first ones: ", its batch at step k
    is another" (the batches depend on ``steps``), else ""."""
    short, _ = _labelled(ctx, SHORT_STEPS)
    if trained is None or short is None:
        return ""
    for step, (theirs, ours) in enumerate(zip(short[key], trained[key]), start=1):
        if list(theirs["rows"]) != list(ours["rows"]):
            return f", and its batch at step {step} is another: the batches depend on `steps`"
    return ""


def _scheduled(watched: replies.WatchedCall) -> bool:
    """Whether some optimizer's learning rate changed between its steps in this run (a schedule)."""
    rates: dict = {}
    for event in plain_watched(watched)["events"]:
        if event["kind"] == "step":
            rates.setdefault(tuple(event["models"]), set()).add(tuple(event["lr"]))
    return any(len(seen) > 1 for seen in rates.values())


@check(SKIP_ABLATION, "skips_win", "with skips the UNet reconstructs clearly better (at least 1 dB PSNR)")
def skips_win(ctx, _case):
    """Judges what the training gave; a run trained another way than the rule is training_task's to grade
    (a learning rate of 0.02 also loses the skips their lead: one mistake, one check)."""
    steps = experiment_steps(ctx)
    ours = student_experiment(ctx, steps)
    trained, watched = _labelled(ctx, steps)
    if trained is not None and _optimizer_problem(ctx, trained, watched) is not None:
        return
    for key, label in VARIANTS.items():
        if trained is not None and not _stepped(watched, trained[key][0]["model"]):
            raise CheckFailed(f"the model {label} hardly learned: no optimizer step updated its parameters",
                              hint="Every step: zero the gradients, backpropagate the loss and let the "
                              "optimizer (over that model's parameters) take its step.")
        losses = ours[key]["losses"]
        start, end = _mean(losses[:3]), _mean(losses[-3:])
        if not end <= LEARNED * start:
            raise CheckFailed(f"the model {label} hardly learned: its training loss went from {start:.4g} (mean of "
                              f"the first 3 steps) to {end:.4g} (mean of the last 3); a model that trains ends "
                              f"below {LEARNED:g} of its start",
                              hint="Every step: zero the gradients, backpropagate the loss and let the "
                              "optimizer (over that model's parameters) take its step.")
    gap = ours["with_skips"]["psnr"] - ours["without_skips"]["psnr"]
    if not gap >= 1.0 and _no_skip_departs(ctx):
        return  # the NoSkipUNet keeps (some of) its skips: no_skip_matches' to grade, once
    if not gap >= 1.0:
        raise CheckFailed(
            f"PSNR with skips {ours['with_skips']['psnr']:.2f} dB, without {ours['without_skips']['psnr']:.2f} dB: "
            "the skip connections should win by several dB",
            hint="Check that 'with_skips' is the SimpleUNet and that 'without_skips' is the NoSkipUNet.",
        )


# One NoSkipUNet configuration of the experiment's own size, for skips_win (decided before no_skip_matches).
NO_SKIP_PROBE = Case("NoSkipUNet", {"in_channels": 1, "out_channels": 1, "base_channels": 8},
                     {"x": (1, 1, 16, 16), "t": (1,)}, seed=0)


def _no_skip_departs(ctx) -> bool:
    """Whether the student's NoSkipUNet departs from the reference's with the same weights (a skip kept):
    then a lost PSNR race is that mistake's consequence, which no_skip_matches charges."""
    try:
        Pair(ctx, NO_SKIP_PROBE).compare_forward()
    except (CheckFailed, StudentError):
        return True
    return False


def _stepped(watched: replies.WatchedCall, model) -> bool:
    """Whether an optimizer step the child saw held ``model``'s parameters: seen, not inferred from noisy losses."""
    return any(isinstance(e, replies.Step) and model in e.models for e in watched.events)


# --- Task 3: TimestepEmbeddings ----------------------------------------------------------------------

@check(TIMESTEPS, "embeddings_match", "timestep_embeddings gives one sinusoidal embedding per timestep",
       timestep_embedding_cases())
def embeddings_match(ctx, case):
    (t,) = case.inputs()
    dim = case.init["dim"]
    function = _reference(ctx, "timestep_embeddings")
    with default_dtype(torch.float64):
        truth = function(dim, t.double() if t.is_floating_point() else t)
    argument = t.tolist() if case.options["as_list"] else t
    got = _call(ctx, TIMESTEPS, "timestep_embeddings", dim, argument, case=case)
    what = f"timestep_embeddings({dim}, {'a list of' if case.options['as_list'] else 'a tensor of'} {len(t)} timesteps)"
    problem = value_problem(got, truth, function(dim, t), ctx.config.tolerance, what)
    if problem:
        if t.is_floating_point():
            with default_dtype(torch.float64):
                truncated = function(dim, t.long())
            if value_problem(got, truncated, function(dim, t.long()), ctx.config.tolerance, what) is None:
                raise CheckFailed(problem, hint="These are the embeddings of the timesteps made integers: keep float "
                                  "timesteps as they are (torch.as_tensor keeps their dtype).")
        raise CheckFailed(problem, hint="Row i is sinusoidal_embedding of timesteps[i]; accept a list by making a "
                          "tensor of it (torch.as_tensor).")


def _tensor_read(value):
    """A result given as nested lists of numbers (``.tolist()``) as the tensor it holds: its type is the
    public check's to charge, once (as check.py does); the checks here judge the numbers."""
    if not isinstance(value, list):
        return value
    try:
        read = torch.tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError, OverflowError):  # ragged, or not numbers: the checks say so
        return value
    return read if read.dim() > 0 else value


def _similarities(ctx, case):
    (embeddings,) = case.inputs()
    function = _reference(ctx, "embedding_similarity")
    got = _tensor_read(_call(ctx, TIMESTEPS, "embedding_similarity", embeddings, case=case))
    rows = embeddings.shape[0]
    problem = shape_problem(got, (rows, rows), "embedding_similarity(embeddings)")
    if problem:
        raise CheckFailed(problem, hint="One row and one column per embedding: (T, D) gives (T, T).")
    return got, function(embeddings.double()), function(embeddings)


@check(TIMESTEPS, "similarity_matches", "embedding_similarity is the cosine similarity of every pair of rows",
       embedding_matrix_cases())
def similarity_matches(ctx, case):
    got, truth, ref32 = _similarities(ctx, case)
    problem = value_problem(got, truth, ref32, ctx.config.tolerance, "embedding_similarity(embeddings)")
    if problem:
        raise CheckFailed(problem, hint="S[i, j] = e_i . e_j / (|e_i| |e_j|): divide each row by its own length, "
                          "then take all dot products.")


# Public: students' check.py runs the same rule (rules.similarity_properties) on the same released cases.
rule_check(TIMESTEPS, "similarity_properties", "similarities are symmetric, 1 on the diagonal, within [-1, 1]",
           embedding_matrix_cases(), "similarity_properties", gated=False)


# --- Task 4: AttentionMap --------------------------------------------------------------------------

def _attention_variants(weights, row: int, col: int, height: int, width: int) -> dict:
    """What common mistakes would return, from the reference's (B, HW, HW) weights (``row * H + col`` only
    where that position exists: past it such code raises, and ``hints.explain`` names it)."""
    variants = {
        "the column of the query (how much every position attends *to* it), not its row":
            weights[:, :, row * width + col].reshape(-1, height, width),
        "position col * H + row: positions are numbered row by row, row * W + col":
            weights[:, col * height + row].reshape(-1, height, width),
    }
    if row * height + col < height * width:
        variants["position row * H + col: positions are numbered row by row, row * W + col (W, the width)"] = \
            weights[:, row * height + col].reshape(-1, height, width)
    return variants


@check(ATTENTION_MAP, "map_shape", "attention_map returns (B, H, W)", attention_map_cases())
def map_shape(ctx, case):
    got = _attention_map(ctx, case)
    b, _, h, w = case.shapes["x"]
    problem = shape_problem(got, (b, h, w), _map_call(case))
    if problem:
        raise CheckFailed(problem, hint="One map per image, laid out like the image: weights[:, query].reshape(B, H, W).")


@check(ATTENTION_MAP, "map_matches", "attention_map gives the query's attention weights over all keys",
       attention_map_cases())
def map_matches(ctx, case):
    models = reference_models(ctx, case)
    (x,) = case.inputs()
    row, col = case.options["query"]
    function = _reference(ctx, "attention_map")
    with torch.no_grad():
        truth, ref32 = function(models.ref64, x.double(), (row, col)), function(models.ref32, x, (row, col))
    got = rules.as_shape(_attention_map(ctx, case), truth.shape)  # a shape of its own is map_shape's to charge
    if type(got) is torch.Tensor and truth.shape[0] > 1 and got.dim() >= 2 and got.numel() == truth[0].numel():
        # one image's map, the first's (``weights[0]``): the batch is map_shape's to charge; judged on that image
        got, truth, ref32 = got.reshape(truth.shape[1:]), truth[0], ref32[0]
    problem = value_problem(got, truth, ref32, ctx.config.tolerance, _map_call(case))
    if problem is None:
        return
    with torch.no_grad():
        _, weights = models.ref64(x.double(), return_weights=True)
    _, _, h, w = x.shape
    for mistake, variant in _attention_variants(weights, row, col, h, w).items():
        if value_problem(got, variant, variant.float(), ctx.config.tolerance, "map") is None:
            raise CheckFailed(problem, hint=f"Your map is {mistake}.")
    raise CheckFailed(problem)


# Public: a SelfAttention holding weights of the rule's own (rules.map_sums), as in check.py.
rule_check(ATTENTION_MAP, "maps_sum_to_one", "each map is non-negative and sums to 1 (one softmax row)",
           attention_map_cases(), "map_sums", gated=False)


def _attention_map(ctx, case):
    models = reference_models(ctx, case)
    (x,) = case.inputs()
    module = ModuleArg("SelfAttention", case.init, models.state)
    return _tensor_read(_call(ctx, ATTENTION_MAP, "attention_map", module, x, list(case.options["query"]), case=case))


def _map_call(case) -> str:
    row, col = case.options["query"]
    return f"attention_map(attention, x, query=({row}, {col}))"


# --- Task 5: ParameterBreakdown --------------------------------------------------------------------

def _reference_breakdown(ctx, case):
    """The reference's breakdown of ``case``'s model (a SimpleUNet or a ResBlock), and its total."""
    def build():
        model = reference_models(ctx, case).ref32
        return _reference(ctx, "parameter_breakdown")(model), sum(p.numel() for p in model.parameters())

    return remembered(ctx, ("parameter_breakdown", case.component, repr(case.init)), build)


BUFFER_SIZE = 7  # the elements of the buffer a breakdown's model holds: no parameter, so it counts 0


def _model_in_use(expected: dict) -> tuple[str | None, str | None]:
    """The parts of a breakdown's model to freeze and to give a buffer: the first and the last part with
    parameters. A model in use may be partly frozen and hold buffers; "every parameter element" counts
    the first in full and the second's buffer not at all (a filter on requires_grad, or state_dict(),
    would not)."""
    holding = [name for name, count in expected.items() if count > 0]
    return (holding[0], holding[-1]) if len(holding) >= 2 else (None, None)


@check(BREAKDOWN, "breakdown_matches", "parameter_breakdown counts the parameters of each top-level part",
       parameter_breakdown_cases())
def breakdown_matches(ctx, case):
    expected, total = _reference_breakdown(ctx, case)
    frozen, buffered = _model_in_use(expected)
    model = ModuleArg(case.component, case.init, frozen=(frozen,) if frozen else (),
                      buffers=((buffered, BUFFER_SIZE),) if buffered else ())
    got = _call(ctx, BREAKDOWN, "parameter_breakdown", model, case=case)
    if not isinstance(got, dict) or not all(isinstance(v, int) and not isinstance(v, bool) for v in got.values()):
        raise CheckFailed(f"parameter_breakdown must return a dict {{part name: int}}; got {rules.short(got)}")
    model_text = case.describe().split(' with ')[0]
    if got == expected:
        if list(got) == list(expected):
            return
        raise CheckFailed(f"{model_text}: the parts and counts are right, in another order: expected {list(expected)}, "
                          f"got {list(got)}", hint="One entry per child in model.named_children() order, as the "
                          "docstring says (a dict keeps its keys in the order they were added: do not sort them).")
    hint = None
    if set(got) != set(expected):
        message = f"expected the parts {list(expected)}, got {list(got)}"
        if len(got) > len(expected):
            hint = "One entry per direct child (model.named_children()), not per submodule at every depth."
        elif len(got) < len(expected):
            hint = "Every child gets an entry, also one without parameters (an nn.Identity counts 0)."
    else:
        wrong = [name for name in expected if got[name] != expected[name]]
        message = "; ".join(f"{name}: {got[name]:,}, expected {expected[name]:,}" for name in wrong[:4])
        if sum(got.values()) != total:
            message += f" (yours add up to {sum(got.values()):,}; the model has {total:,} parameters)"
        hint = "Count parameter elements (p.numel()), every parameter under the child (child.parameters())."
        if wrong == [frozen] and got[frozen] < expected[frozen]:
            model_text += f", its {frozen} frozen (requires_grad=False)"
            hint = ("Count every parameter, frozen ones too: a filter on p.requires_grad counts what trains, not "
                    "what the part holds.")
        elif wrong == [buffered] and got[buffered] == expected[buffered] + BUFFER_SIZE:
            model_text += f", its {buffered} holding a buffer of {BUFFER_SIZE} elements"
            hint = ("Count parameters only (child.parameters()): state_dict() holds buffers too, which are no "
                    "parameters.")
    raise CheckFailed(f"{model_text}: {message}", hint=hint)


# Public: the counts are public facts, each share a closed form (rules.shares), as in check.py.
rule_check(BREAKDOWN, "shares_match", "parameter_shares gives each part's fraction of the total",
           parameter_breakdown_cases(), "shares", gated=False)


# --- helpers ---------------------------------------------------------------------------------------

def _mean(values: list) -> float:
    """Without overflow: huge losses (1e308 each) have a huge mean, not an infinite one."""
    return sum(v / len(values) for v in values)


def _numbers_read(value):
    """``value`` in the documented format where it holds the same numbers in another: losses as one
    tensor or as one-element tensors, mse and psnr as one-element tensors, reconstructions as a list of
    per-image tensors. The public format check (``experiment_budget``, as check.py) charges the format,
    once; the checks here judge the run it holds."""
    if not isinstance(value, dict):
        return value
    def number(v):
        return v.item() if type(v) is torch.Tensor and v.numel() == 1 and v.is_floating_point() else v
    read = dict(value)
    for key in VARIANTS:
        run = read.get(key)
        if isinstance(run, dict):
            run = read[key] = dict(run)
            losses = run.get("losses")
            if type(losses) is torch.Tensor and losses.dim() == 1 and losses.is_floating_point():
                run["losses"] = [float(v) for v in losses.tolist()]
            elif isinstance(losses, list):
                run["losses"] = [number(v) for v in losses]
            for metric in ("mse", "psnr"):
                if metric in run:
                    run[metric] = number(run[metric])
            if "reconstructions" in run:
                run["reconstructions"] = _stacked(run["reconstructions"])
    return read


def _stacked(images):
    """Per-image tensors (a list of (1, H, W) or (1, 1, H, W)) as the one (N, 1, H, W) tensor they make."""
    if not (isinstance(images, list) and images and all(type(i) is torch.Tensor for i in images)):
        return images
    shapes = {tuple(i.shape) for i in images}
    if len(shapes) != 1 or len(next(iter(shapes))) not in (3, 4):
        return images
    return torch.cat(images) if len(next(iter(shapes))) == 4 else torch.stack(images)


def _kind(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    return "None" if value is None else f"a {type(value).__name__}"


def _names(names: list[str], most: int = 6) -> str:
    shown = ", ".join(name or "''" for name in names[:most])  # the model itself is named '' (it showed as nothing)
    return f"[{shown}{', ...' if len(names) > most else ''}] ({len(names)} entries)"


def _numbers(values) -> str:
    return "[" + ", ".join(f"{v:.5g}" for v in values) + "]"
