"""The homework tasks' rules (``analysis.py``): the student's functions on our inputs, and the calls
judged by watching them (``shape_trace``, ``skip_ablation``). New homework rules go here."""
import math
from typing import NamedTuple

import torch

from .cases import our_weights
from .inputs import make_inputs
from .structure import plural
from .tensors import Failed, as_shape, nonfinite_problem, shape_problem, short


# --- the homework tasks (analysis.py): the student's functions, on our inputs ---------------------

def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def similarity_properties(view, case: dict, expect: dict) -> None:
    """``embedding_similarity`` of our rows: (T, T), symmetric, 1 on the diagonal, within [-1, 1]."""
    (embeddings,) = make_inputs(case)
    rows = embeddings.shape[0]
    got = view.call("embedding_similarity", embeddings)
    problem = shape_problem(got, (rows, rows), "embedding_similarity(embeddings)")
    if problem:
        raise Failed(problem, hint="One row and one column per embedding: (T, D) gives (T, T).")
    problem = nonfinite_problem(got, "embedding_similarity(embeddings)")
    if problem:
        raise Failed(problem, hint="NaN or infinity comes from a division by zero. No row is zero here: divide each row "
                     "by its own length, not by something that can be 0 (a distance, or the largest one when all "
                     "rows are equal).")
    got = got.double()
    if (got - got.T).abs().max().item() > 1e-5:
        raise Failed("the similarity matrix is not symmetric")
    if (got.diagonal() - 1).abs().max().item() > 1e-5:
        shown = ", ".join(f"{v:.5g}" for v in got.diagonal().tolist()[:4])
        raise Failed(f"the diagonal is [{shown}]..., not 1: an embedding's cosine similarity with itself is 1",
                     hint="Normalise the rows to length 1.")
    if got.abs().max().item() > 1 + 1e-5:
        raise Failed(f"a similarity is {got.abs().max().item():.4g}: cosine similarities lie within [-1, 1]")


def map_sums(view, case: dict, expect: dict) -> None:
    """``attention_map`` with a SelfAttention holding our weights: each map non-negative, summing to 1."""
    module = view.module_arg(expect["class"], case["init"], our_weights(case, expect))
    (x,) = make_inputs(case)
    row, col = case["options"]["query"]
    call = f"attention_map(attention, x, query=({row}, {col}))"
    got = as_shape(view.call("attention_map", module, x, [row, col]), (x.shape[0], *x.shape[2:]))  # the shape check's to charge
    if type(got) is not torch.Tensor or got.dim() < 2:
        kind = "None" if got is None else f"a {type(got).__name__}"
        raise Failed(f"{call}: expected a (B, H, W) tensor, got {kind}")
    problem = nonfinite_problem(got, call)
    if problem:
        raise Failed(problem)
    if bool((got < -1e-6).any()):
        raise Failed("some attention weights in the map are negative",
                     hint="Take the weights after the softmax (the module's own, return_weights=True), not the scores "
                     "before it or their logarithm.")
    sums = got.double().reshape(got.shape[0], -1).sum(-1) if got.dim() == 3 else got.double().sum().reshape(1)
    if (sums - 1).abs().max().item() > 1e-4:
        shown = ", ".join(f"{v:.5g}" for v in sums.tolist()[:4])
        raise Failed(f"the map sums to [{shown}], not 1",
                     hint="A map is the query's row of the softmax weights as they are (its distribution over the keys): "
                     "not a column, not rescaled, not the scores before the softmax.")


# A share is count / total, as exact as the float it is made in: float32's division (``torch.tensor(counts) /
# total``, a common way) is off by at most 2^-24 of it, so a share is allowed a millionth of itself; a share
# rounded to a few digits, or a percentage, is off by far more.
SHARE_TOLERANCE = 1e-6
NO_PARAMETERS = "identity"  # a part every breakdown may have (an nn.Identity counts 0): its share is 0 too


def shares(view, case: dict, expect: dict) -> None:
    """``parameter_shares`` of a breakdown: each part's count over the total, fractions that sum to 1, a
    part without parameters included (one is added where the model has none: a share for every part)."""
    breakdown = dict(expect["breakdown"])
    if 0 not in breakdown.values():
        breakdown[NO_PARAMETERS if NO_PARAMETERS not in breakdown else f"{NO_PARAMETERS}_part"] = 0
    whole = sum(count for count in breakdown.values())
    got = view.call("parameter_shares", dict(breakdown))
    if not isinstance(got, dict) or not all(_finite_number(v) for v in got.values()):
        raise Failed(f"parameter_shares must return a dict {{part name: float}}; got {short(got)}")
    if set(got) != set(breakdown):
        zero = set(breakdown) - set(got) == {n for n, count in breakdown.items() if count == 0} and set(got) < set(breakdown)
        raise Failed(f"expected a share for each of {sorted(breakdown)}, got {sorted(got)}",
                     hint="Every part of the breakdown gets a share, also a part without parameters (its share is 0)."
                     if zero else None)
    for name, count in breakdown.items():
        if not math.isclose(got[name], count / whole, rel_tol=SHARE_TOLERANCE, abs_tol=1e-12):
            percent = math.isclose(got[name], 100 * count / whole, rel_tol=SHARE_TOLERANCE, abs_tol=1e-12)
            raise Failed(f"share of {name!r}: {got[name]:.10g}, expected {count:,} / {whole:,} = {count / whole:.10g}",
                         hint="Fractions that sum to 1, not percentages." if percent else None)


# --- the homework tasks judged by watching the student's function (shape_trace, skip_ablation) -------


RAISED = "your code raised an error during "  # a watched call's error; the caller adds the usual hint


def _raised(call: str, error: str) -> Failed:
    return Failed(f"{RAISED}{call}:\n{error}")


def as_pairs(value):
    """A dict of name -> shape (``dict(trace)``) as the list of pairs it holds, in order (anything else as
    it is): its format is charged once, by the check of the trace's entries."""
    return [[name, shape] for name, shape in value.items()] if isinstance(value, dict) else value


def _trace_problem(value) -> str | None:
    """Why ``value`` is not a list of (name, shape) pairs, shape a tuple of ints; None if it is."""
    expected = "shape_trace must return a list of (name, shape) pairs, shape a tuple of ints"
    if not isinstance(value, list):
        kind = "None" if value is None else f"a {type(value).__name__}"
        return f"{expected}; got {kind}"
    for item in value:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], list)
                and all(type(size) is int for size in item[1])):
            return f"{expected}; one entry is {short(item)}"
    return None


def trace_protocol(view, case: dict, expect: dict) -> None:
    """``shape_trace`` returns (name, shape) pairs and leaves the model as it found it: no hooks left,
    global module hooks included (also when forward raises), the same list when called twice, no
    gradients, its weights, their requires_grad and its train/eval mode as they were. Judged from what
    the watcher saw, on ``expect``'s small SimpleUNet."""
    x, t = make_inputs({"seed": case["seed"], "inputs": {"x": expect["x"], "t": expect["t"]}})
    raising_x = torch.zeros(expect["raising"])

    def model():
        return view.module_arg("SimpleUNet", expect["init"])

    twice, in_eval, raising = view.together(
        lambda: view.watch("shape_trace", model(), x, t, repeat=2),
        lambda: view.watch("shape_trace", model(), x, t, eval_mode=True),
        lambda: view.watch("shape_trace", model(), raising_x, t))
    if twice["error"] is not None:
        raise _raised("shape_trace(...)", twice["error"])
    problem = _trace_problem(as_pairs(twice["outputs"][0]))
    if problem:
        raise Failed(problem, hint="Record tuple(output.shape) for each module: a torch.Size is a tuple of ints.")
    left = twice["arguments"][0]
    name = f"SimpleUNet({', '.join(f'{k}={v}' for k, v in expect['init'].items())})"
    if left["hooks_left"]:
        raise Failed(f"shape_trace left {plural(left['hooks_left'], 'hook')} on the model: the rule is that it leaves "
                     "none", hint="Keep what registering each hook returns, and remove every hook before returning, in a "
                     "`finally:` block.")
    if twice["global_hooks_left"]:
        raise Failed(f"shape_trace left {plural(twice['global_hooks_left'], 'global module hook')} registered "
                     "(torch.nn.modules.module.register_module_forward_hook and its kin), each firing on every module "
                     "of every model run afterwards: the rule is that shape_trace leaves no hook behind",
                     hint="Register the hooks on the model's own submodules (module.register_forward_hook) and remove "
                     "every hook you registered, global ones too, in a `finally:` block.")
    switched = left["requires_grad_changed"]
    if switched:
        raise Failed(f"shape_trace switched requires_grad on {plural(len(switched), 'parameter')} of the model "
                     f"({', '.join(switched[:3])}{', ...' if len(switched) > 3 else ''}) and left it so: the rule is "
                     "that it leaves the model as it found it",
                     hint="Run the forward pass in a torch.no_grad() block rather than switching requires_grad off: "
                     "the block changes nothing on the model, which trains afterwards as before.")
    first, second = map(as_pairs, twice["outputs"])
    if first != second:
        raise Failed(f"calling shape_trace twice on one {name} gave two different lists ({len(first)} entries, then "
                     f"{len(second)}): the rule is that a second call gives the same list",
                     hint="Start each call with an empty list and leave nothing behind on the model.")
    ran_with_gradients = any(e["kind"] == "forward" and e["model"] == 0 and e["grad"] for e in twice["events"])
    if ran_with_gradients or left["gradients"]:
        raise Failed("shape_trace ran the model with gradients on: the rule is that it builds no gradients",
                     hint="Run the forward pass with gradients off, in a torch.no_grad() block (shapes need no graph).")
    if left["weights_changed"]:
        raise Failed("shape_trace changed the model's weights: the rule is that they are left as they were")
    for call, mode in ((twice, "train"), (in_eval, "eval")):
        changed = call["arguments"][0]["modes_changed"]
        if changed:
            raise Failed(f"the model was in {mode} mode and shape_trace left "
                         f"{'it' if '' in changed else ', '.join(changed[:4])} in the other mode: the rule is that its "
                         "train/eval mode is restored",
                         hint="Leave model.training alone, or remember it and put it back (model.train(was_training)) "
                         "before returning.")
    hooks = raising["arguments"][0]["hooks_left"] + raising["global_hooks_left"]
    if hooks:
        raise Failed(f"when the forward pass raises (x of shape {tuple(expect['raising'])}, whose height the UNet cannot "
                     f"halve twice), shape_trace left {plural(hooks, 'hook')} on the model: the rule is that it removes "
                     "them also when forward raises",
                     hint="Remove the hooks in a `finally:` block, so that they go whether or not forward raises.")


_RUN_KEYS = ("losses", "mse", "psnr", "reconstructions")
VARIANTS = {"with_skips": "with skips", "without_skips": "without skips"}


def _finite_number(value) -> bool:
    if not _is_number(value):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def experiment_problem(value, what: str) -> str | None:
    """Why ``value`` is not the dict ``skip_ablation`` documents; None if it is."""
    if not isinstance(value, dict):
        kind = "None" if value is None else f"a {type(value).__name__}"
        return f"{what} must return a dict; got {kind}"
    missing = [key for key in ("images", *VARIANTS) if key not in value]
    if missing:
        return f"{what} returned a dict without {', '.join(repr(k) for k in missing)}"
    images = value["images"]
    if type(images) is not torch.Tensor or images.dim() != 4:
        return f"{what}['images'] must be the held-out images, a (N, 1, H, W) tensor"
    for key, label in VARIANTS.items():
        run = value[key]
        if not isinstance(run, dict) or not set(_RUN_KEYS) <= set(run):
            return f"{what}[{key!r}] must be a dict with 'losses', 'mse', 'psnr' and 'reconstructions'"
        losses = run["losses"]
        if not isinstance(losses, list) or not losses or not all(_is_number(v) for v in losses):
            return f"{what}[{key!r}]['losses'] must be a list of floats, one per step"
        if not all(_finite_number(v) for v in losses):
            return f"the losses of the model {label} are not all finite"
        for metric in ("mse", "psnr"):
            if not _finite_number(run[metric]):
                return f"{what}[{key!r}][{metric!r}] must be a finite float; got {short(run[metric], 40)}"
    # Both models reconstruct the same images: their reconstructions have one shape. Whether those are the
    # held-out images ('images' itself, or reconstructions of other images) is the evaluation's check to
    # charge, once: an 'images' of all 80 failed five checks, each blaming the right reconstructions.
    first = value[next(iter(VARIANTS))]["reconstructions"]
    if type(first) is not torch.Tensor or first.dim() != 4:
        return f"{what}[{next(iter(VARIANTS))!r}]['reconstructions'] must be a (N, 1, H, W) tensor"
    for key in VARIANTS:
        problem = shape_problem(value[key]["reconstructions"], tuple(first.shape), f"{what}[{key!r}]['reconstructions']")
        if problem:
            return problem
    return None


def experiment_protocol(view, case: dict, expect: dict) -> None:
    """A short ``skip_ablation(steps, seed)`` returns the documented dict, and both models train for
    ``steps`` steps with one loss recorded per step (a few steps: cheap enough for check.py)."""
    steps, seed = expect["steps"], expect["seed"]
    what = f"skip_ablation({steps}, seed={seed})"
    call = _watched_experiment(view, steps, seed)
    if call["error"] is not None:
        raise _raised(what, call["error"])
    value = call["outputs"][0]
    problem = experiment_problem(value, what)
    if problem:
        raise Failed(problem, hint="Return the dict the docstring shows: 'images', and per model 'losses' (a list of "
                     "floats), 'mse', 'psnr' (floats) and 'reconstructions' (a tensor shaped like 'images').")
    counts = {len(value[key]["losses"]) for key in VARIANTS}
    if len(counts) == 1 and counts != {steps}:
        raise Failed(f"{what}: both models trained for {counts.pop()} steps; expected {steps} (the `steps` argument)",
                     hint="Train for the `steps` you are given: `for _ in range(steps)`, one loss per step, not a "
                     "constant such as STEPS.")
    for key, label in VARIANTS.items():
        trained = len(value[key]["losses"])
        if trained != steps:
            raise Failed(f"{what}: the model {label} trained for {trained} steps; expected {steps}, the same for both",
                         hint="Train each model for exactly `steps` steps (the argument, not STEPS) and record one "
                         "loss per step.")


# --- skip_ablation's protocol, judged from the same watched short run (same_start, same_batches) -----
# Self-contained: what they read of the run is ``watched``'s plain events; the grader's hidden checks of
# the full run label the models with the same ``training_calls``.

EXPERIMENT_SETTINGS = ("TRAIN_IMAGES", "HELD_OUT_IMAGES", "IMAGE_SIZE", "BATCH_SIZE")  # the stub's given constants
# The keys of skip_ablation's documented result, the only ones read (``plain``'s ``read``): a key of the
# student's own (the trained model, a figure) is left out whatever it holds.
_RUN_KEYS = {"losses": None, "mse": None, "psnr": None, "reconstructions": None}
EXPERIMENT_READ = {"steps": None, "seed": None, "images": None, "with_skips": _RUN_KEYS, "without_skips": _RUN_KEYS}


def _watched_experiment(view, steps: int, seed: int) -> dict:
    """``skip_ablation(steps, seed)`` watched, read by its documented keys: one question for every rule
    that judges the run (the grader's hidden checks ask their child the same, ``checks.analysis``)."""
    return view.watch("skip_ablation", steps, seed, experiment=True, read=EXPERIMENT_READ)


def training_calls(events: list, held_out=frozenset()) -> dict | None:
    """The training forward calls of the two models a watched ``skip_ablation`` trained:
    ``{"with_skips": [events], "without_skips": [events], "first": the model trained first}``, or None
    unless exactly two models were trained.

    A training step's forward runs with gradients on and an optimizer step holding its model's
    parameters follows it before that model's next such forward; a call on held-out images only
    (digests in ``held_out``) is the evaluation, never a step. A forward that no step follows (a shape
    check before training, a training-set MSE after it) is no step, unless no step ever holds its
    model's parameters (then its forwards are its steps, and the missing updates are a rule's to name).
    The model whose class is NoSkipUNet is the one without skips (by order of first training when both
    or neither is).
    """
    stepped = {model for event in events if event["kind"] == "step" for model in event["models"]}
    calls: dict[int, list] = {}  # in the order the models took their first training step
    classes: dict[int, str] = {}
    pending: dict[int, dict] = {}  # per stepped model, its last training-like forward no step has followed yet
    for event in events:
        if event["kind"] == "step":
            for model in event["models"]:
                if model in pending:
                    calls.setdefault(model, []).append(pending.pop(model))
            continue
        classes.setdefault(event["model"], event["class"])
        evaluation = bool(event["rows"]) and set(event["rows"]) <= held_out
        if event["grad"] and not evaluation:
            if event["model"] in stepped:
                pending[event["model"]] = event  # a forward before it that no step followed was no step
            else:
                calls.setdefault(event["model"], []).append(event)
    if len(calls) != 2:
        return None
    first, second = calls
    if classes[first] == "NoSkipUNet" and classes[second] != "NoSkipUNet":
        first, second = second, first
    return {"with_skips": calls[first], "without_skips": calls[second], "first": next(iter(calls))}


class BatchesProblem(NamedTuple):
    """What breaks the same-batches rule, and what to do about it."""

    text: str
    hint: str
    foreign: frozenset = frozenset()  # digests of the images fed that are no training image


DRAW_BATCHES = ("Draw the batches from a torch.Generator seeded with `seed`, the same sequence for both models (a "
                "generator per model, each seeded alike, or one list of batches for both).")


def batches_problem(trained: dict, training: frozenset, batch_size: int, train_images: int,
                    held_out: frozenset = frozenset()) -> BatchesProblem | None:
    """What breaks "both models see the same batches of training images, in the same order" in the
    ``training_calls`` of a run, or None. ``training``, ``held_out``: the two sets of images' digests."""
    for key, label in VARIANTS.items():
        for step, call in enumerate(trained[key], start=1):
            if call["batch"] != batch_size:
                return BatchesProblem(f"the model {label} was fed a batch of {call['batch']} images at step {step}; "
                                      f"each step takes {batch_size}", DRAW_BATCHES)
            foreign = set(call["rows"]) - training
            if foreign:
                why, hint = (("the held-out images are for the evaluation only", DRAW_BATCHES) if foreign & held_out else
                             ("they are none of shape_images' images: feed the training images as they are (no "
                              "noise, no transform: the target is the input itself)",
                              "Feed each batch of training images to the model unchanged, as input and as target."))
                return BatchesProblem(f"the model {label} was fed images at step {step} that are not among the "
                                      f"training images (the first {train_images} of shape_images(...)): {why}", hint,
                                      frozenset(foreign))
    for step, (a, b) in enumerate(zip(trained["with_skips"], trained["without_skips"]), start=1):
        if list(a["rows"]) != list(b["rows"]):
            return BatchesProblem(f"the two models saw different batches at step {step}", DRAW_BATCHES)
    return None


STUDENT_SEED = 0  # shape_images' default, and the notebook's: the grader runs skip_ablation with another


def _other_seed(view, expect: dict, problem: BatchesProblem) -> BatchesProblem:
    """``problem``, or -- where the images fed are ``shape_images``' for the default seed -- the seed
    that was not passed on (not noise added, as the images' being foreign suggests)."""
    count = expect["TRAIN_IMAGES"] + expect["HELD_OUT_IMAGES"]
    default = view.call("shape_images", count, expect["IMAGE_SIZE"], STUDENT_SEED)
    if not isinstance(default, torch.Tensor) or not problem.foreign <= {view.digest(row) for row in default}:
        return problem
    return BatchesProblem(f"the models were fed shape_images' images for seed {STUDENT_SEED}, its default, not for "
                          f"seed={expect['seed']}, the seed skip_ablation was given",
                          "Pass the seed on: shape_images(TRAIN_IMAGES + HELD_OUT_IMAGES, IMAGE_SIZE, seed).",
                          problem.foreign)


def _protocol_run(view, expect: dict) -> tuple[str, dict, frozenset, frozenset]:
    """The watched short run and the digests of its training and held-out images, drawn with the
    given ``shape_images`` as the docstring says: (the call's text, the watched call, training, held-out)."""
    steps, seed = expect["steps"], expect["seed"]
    train, held_out = expect["TRAIN_IMAGES"], expect["HELD_OUT_IMAGES"]
    what = f"skip_ablation({steps}, seed={seed})"
    call, images = view.together(lambda: _watched_experiment(view, steps, seed),
                                 lambda: view.call("shape_images", train + held_out, expect["IMAGE_SIZE"], seed))
    if call["error"] is not None:
        raise _raised(what, call["error"])
    if type(images) is not torch.Tensor or images.dim() != 4 or images.shape[0] != train + held_out:
        raise Failed(f"shape_images({train + held_out}, {expect['IMAGE_SIZE']}, {seed}) did not return "
                     f"{train + held_out} images (a (N, 1, H, W) tensor)",
                     hint="shape_images is given code: put back the released version.")
    digests = [view.digest(row) for row in images]
    return what, call, frozenset(digests[:train]), frozenset(digests[train:])


def same_start(view, case: dict, expect: dict) -> None:
    """A short ``skip_ablation`` trains two models, and they start from the same weights (their
    weights' digests at their first forward call are equal), judged from the watched run."""
    what, call, _, held_out = _protocol_run(view, expect)
    trained = training_calls(call["events"], held_out)
    if trained is None:
        count = len({e["model"] for e in call["events"] if e["kind"] == "forward" and e["grad"]})
        raise Failed(f"{what} trained {plural(count, 'model')} (forward passes with gradients on); the experiment "
                     "trains two, a SimpleUNet and a NoSkipUNet, from the same weights",
                     hint="Build both models and train each: every step a forward pass with gradients on, a "
                     "backward pass of its loss and a step of its own optimizer.")
    start = {e["model"]: e["weights"] for e in call["events"] if e["kind"] == "forward" and e["weights"] is not None}
    if start.get(trained["with_skips"][0]["model"]) != start.get(trained["without_skips"][0]["model"]):
        raise Failed(f"{what}: the two models started from different weights: the rule is that the NoSkipUNet holds "
                     "the SimpleUNet's initial weights",
                     hint="Build the SimpleUNet, then the NoSkipUNet, and load the first one's state_dict into the "
                     "second before either trains.")


def _evaluated_other_images(call: dict, held_out: frozenset) -> bool:
    """Whether the run evaluated (forward passes without gradients) on images other than the held-out ones:
    it split the images its own way, so training on held-out images is that one mistake, charged where the
    split is checked (the evaluation's images), not again here."""
    evaluated = {row for e in call["events"] if e["kind"] == "forward" and not e["grad"] for row in e["rows"]}
    return bool(evaluated) and evaluated != held_out


def same_batches(view, case: dict, expect: dict) -> None:
    """In a short ``skip_ablation`` both models see the same batches of training images, in the same
    order (``batches_problem``); a run that did not train two models is ``same_start``'s to judge."""
    what, call, training, held_out = _protocol_run(view, expect)
    trained = training_calls(call["events"], held_out)
    if trained is None:
        return
    problem = batches_problem(trained, training, expect["BATCH_SIZE"], expect["TRAIN_IMAGES"], held_out)
    if problem is not None and problem.foreign & held_out and _evaluated_other_images(call, held_out):
        return  # a split of its own (training on some of the last images, evaluating on others): the evaluation's rule
    if problem is not None and problem.foreign and expect["seed"] != STUDENT_SEED:
        problem = _other_seed(view, expect, problem)
    if problem is not None:
        raise Failed(f"{what}: {problem.text}: the rule is that both models see the same batches of training images, "
                     "in the same order", hint=problem.hint)
