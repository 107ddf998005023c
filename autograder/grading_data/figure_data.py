"""Data for pictures of the student's own code next to the reference's, asked of the child once a
component's checks are done (``collect``, called from ``Grader`` at one hook point).

Each picture is a ``FigureSpec``: which component's child answers, which check it is shown with
(and whose visibility its reference side follows), and a function ``(ctx) -> data`` that reaches
student code only through ``ctx.student`` -- the door the checks use -- on fixed, seeded inputs.
The blocks' pictures drive the student's blocks (a sinusoidal embedding of every 10th timestep, one
SelfAttention with hand-set weights, the UNet's blocks one by one), so a student who has not done the
homework tasks still sees them; the skip experiment's picture draws what the student's own
``skip_ablation`` (analysis.py) returned to the SkipAblation checks. The drawing side (``figures.py``)
knows only the data formats.

A picture is a courtesy: it never costs points and never stops grading. Any failure -- student
code raising, a wrong shape, a crash of ours -- becomes ``{"note": why}`` and no picture. After a
timeout or crash in the component's checks no figure is asked for at all (it could only cost
another timeout).
"""
from dataclasses import dataclass
from typing import Callable

import torch

from ..checks import analysis
from ..checks.common import Pair, reference_models, remembered, transplant
from ..checks.registry import CheckContext, CheckFailed
from ..compare import shape_problem
from ..contract import INTEGRATION
from ..sandbox.launcher import Pending, SandboxFatal, StudentError, all_of
from ..strategies import Case
from .arrays import pack

__all__ = ["FigureSpec", "FIGURES", "collect", "cleaned"]


@dataclass(frozen=True)
class FigureSpec:
    id: str
    component: str  # whose child answers: ``collect`` runs right after this component's checks
    shown_with: tuple[str, str]  # (component, check id): where the picture appears, and whose visibility it has
    title: str
    gather: Callable[[CheckContext, dict], dict]  # (ctx, scratch shared by one component's pictures) -> data


class _NoPicture(Exception):
    """Why a picture cannot be drawn, in the student's terms."""


def collect(component: str, ctx: CheckContext | None, skip: str | None = None) -> dict[str, dict]:
    """figure id -> data (or ``{"note": why not}``) for ``component``'s pictures; never raises for student code.

    ``skip``: why nothing may be asked (the module did not import; the checks hit a timeout or crash).
    """
    figures, scratch = {}, {}
    fatal = False
    for spec in FIGURES:
        if spec.component != component:
            continue
        base = {"component": spec.shown_with[0], "check": spec.shown_with[1], "title": spec.title}
        if skip is not None or fatal or ctx is None:
            figures[spec.id] = {**base, "note": f"not drawn: {skip or 'your code stopped the child'}"}
            continue
        try:
            figures[spec.id] = {**base, **spec.gather(ctx, scratch)}
        except _NoPicture as reason:
            figures[spec.id] = {**base, "note": str(reason)}
        except StudentError as error:
            figures[spec.id] = {**base, "note": f"not drawn: your code raised {_last_line(str(error))}"}
        except CheckFailed as failure:
            figures[spec.id] = {**base, "note": f"not drawn: {_one_line(failure.message)}"}
        except SandboxFatal as fatal_error:
            figures[spec.id] = {**base, "note": f"not drawn: {fatal_error}"}
            fatal = True  # the child is gone: ask nothing more
        except Exception as bug:  # ours, not the student's: still no reason to stop grading
            figures[spec.id] = {**base, "note": f"not drawn (a problem in the grader: {type(bug).__name__})"}
    return figures


def cleaned(figures: dict[str, dict], clean) -> dict[str, dict]:
    """``figures`` with every text that came from the child passed through ``clean`` (the grader's
    redactor, as for check outputs): notes, a stage's error, a forward's message."""
    def walk(value):
        if isinstance(value, str):
            return clean(value)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {k: walk(v) if k in _CHILD_TEXT or isinstance(v, (list, dict)) else v for k, v in value.items()}
        return value

    return {figure_id: walk(data) for figure_id, data in figures.items()}


_CHILD_TEXT = {"note", "error", "student_whole"}


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "an error"


def _one_line(message: str) -> str:
    """A check's failure message in one line: its first, and when that only introduces what follows
    ("your code raised an error during skip_ablation(...):" and a traceback), the error it ends with."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if not lines:
        return "an error"
    return f"{lines[0]} {lines[-1]}" if lines[0].endswith(":") and len(lines) > 1 else lines[0]


def _together(ctx: CheckContext, *requests) -> list:
    """Answers to several requests to the child in one round trip (queued while collecting)."""
    ctx.student.collect()
    try:
        all_of(*requests)
    except Pending:
        pass
    finally:
        ctx.student.flush()  # also stops collecting, whatever happened
    return [request() for request in requests]


def _tensor(value, shape, what: str) -> torch.Tensor:
    problem = shape_problem(value, shape, what)
    if problem:
        raise _NoPicture(f"not drawn: {problem}")
    return value.double()


def _difference(student: torch.Tensor, reference: torch.Tensor) -> dict:
    return pack((student - reference).abs().numpy())


# --- TimeEmbedding: sinusoidal_embedding over every 10th timestep ---------------------------------

EMBEDDING_DIM = 64
EMBEDDING_TIMESTEPS = torch.arange(0, 1000, 10)


def _reference_embedding(ctx: CheckContext) -> torch.Tensor:
    function = ctx.reference.symbol("time_embedding", "sinusoidal_embedding")
    return function(EMBEDDING_TIMESTEPS, EMBEDDING_DIM).double()


def time_embedding(ctx: CheckContext, scratch: dict) -> dict:
    reference = remembered(ctx, ("figure", "time_embedding"), lambda: _reference_embedding(ctx))
    got = ctx.student.call("sinusoidal_embedding", EMBEDDING_TIMESTEPS, EMBEDDING_DIM)
    student = _tensor(got, reference.shape, f"sinusoidal_embedding(t, {EMBEDDING_DIM})")
    return {
        "kind": "heatmaps",
        "rows": "timestep t", "row_values": EMBEDDING_TIMESTEPS.tolist(),
        "columns": f"feature (sines 0-{EMBEDDING_DIM // 2 - 1}, then cosines)",
        "student": pack(student.numpy()), "reference": pack(reference.numpy()),
        "difference": _difference(student, reference),
    }


# --- SelfAttention: where one query looks, on an input with regions of similar pixels --------------

ATTENTION_CHANNELS = 8
ATTENTION_SIZE = 10
ATTENTION_QUERY = (3, 3)  # inside the square


def attention_input() -> tuple[torch.Tensor, torch.Tensor]:
    """A (1, C, 10, 10) map of four regions (background, a square, a disc, a stripe), each with its
    own feature vector plus a little noise; and the region of each pixel. Attention with q = k
    should look at the query's own region."""
    generator = torch.Generator().manual_seed(14)
    rows, columns = torch.meshgrid(torch.arange(ATTENTION_SIZE), torch.arange(ATTENTION_SIZE), indexing="ij")
    regions = torch.zeros(ATTENTION_SIZE, ATTENTION_SIZE, dtype=torch.long)
    regions[1:5, 1:5] = 1
    regions[((rows - 6.5) ** 2 + (columns - 6.0) ** 2) <= 5.0] = 2
    regions[:, 9] = 3
    features = 2 * torch.randn(4, ATTENTION_CHANNELS, generator=generator)
    x = features[regions].permute(2, 0, 1)[None]
    return x + 0.1 * torch.randn(x.shape, generator=generator), regions


def _attention_weights(model: torch.nn.Module) -> None:
    """q = k = 2 * norm(x), v = norm(x), out = identity: the weights show feature similarity."""
    c = ATTENTION_CHANNELS
    eye = torch.eye(c)[:, :, None, None]
    with torch.no_grad():
        model.qkv.weight.copy_(torch.cat([2 * eye, 2 * eye, eye]))
        model.qkv.bias.zero_()
        model.out.weight.copy_(eye)
        model.out.bias.zero_()


def _reference_attention(ctx: CheckContext):
    model = ctx.reference.symbol("attention", "SelfAttention")(ATTENTION_CHANNELS)
    _attention_weights(model)
    x, _ = attention_input()
    with torch.no_grad():
        _, weights = model(x, return_weights=True)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return state, weights.double()


def attention_map(ctx: CheckContext, scratch: dict) -> dict:
    state, reference = remembered(ctx, ("figure", "attention"), lambda: _reference_attention(ctx))
    x, regions = attention_input()
    case = Case("SelfAttention", {"channels": ATTENTION_CHANNELS}, {"x": tuple(x.shape)})
    module = ctx.student.build("SelfAttention", channels=ATTENTION_CHANNELS)
    try:
        transplant(module, state, case)
    except CheckFailed:
        raise _NoPicture("not drawn: the picture needs the reference's weights, and they do not fit your SelfAttention")
    output = module.run(x, return_weights=True).output
    if not isinstance(output, list) or len(output) != 2:
        raise _NoPicture("not drawn: forward(x, return_weights=True) did not return (output, weights)")
    weights = _tensor(output[1], reference.shape, "attention weights")
    query = ATTENTION_QUERY[0] * ATTENTION_SIZE + ATTENTION_QUERY[1]
    shape = (ATTENTION_SIZE, ATTENTION_SIZE)
    student, truth = weights[0, query].reshape(shape), reference[0, query].reshape(shape)
    return {
        "kind": "attention", "query": list(ATTENTION_QUERY), "regions": regions.tolist(),
        "student": pack(student.numpy()), "reference": pack(truth.numpy()), "difference": _difference(student, truth),
        "student_row_sum": round(float(student.sum()), 4),
    }


# --- the UNet: parameters per block, shapes through the U, and what each skip contributes -----------

CHAPTER_UNET = {"in_channels": 4, "out_channels": 4, "base_channels": 64}  # the parameter_count check's model
UNET = {"in_channels": 4, "out_channels": 4, "base_channels": 16}  # small: the U's shapes and skips, cheaply
UNET_INPUTS = {"x": (10, 4, 8, 8), "t": (10,)}  # one image at ten timesteps

# The chapter's forward, one block at a time: (block, its inputs, its outputs).
STAGES = (
    ("time_embed", ("t",), ("t_emb",)),
    ("down1", ("x", "t_emb"), ("h1", "skip1")),
    ("down2", ("h1", "t_emb"), ("h2", "skip2")),
    ("bottleneck", ("h2", "t_emb"), ("h3",)),
    ("up1", ("h3", "skip2", "t_emb"), ("h4",)),
    ("up2", ("h4", "skip1", "t_emb"), ("h5",)),
    ("out", ("h5",), ("y",)),
)
SKIPS = {"full": {}, "without skip1": {"skip1"}, "without skip2": {"skip2"}, "without both skips": {"skip1", "skip2"}}


def parameter_breakdown(ctx: CheckContext, scratch: dict) -> dict:
    """Per top-level block, from the description the parameter_count check already asked for (no extra trip)."""
    reference = remembered(ctx, ("figure", "unet", repr(CHAPTER_UNET)), lambda: _reference_unet(ctx, CHAPTER_UNET))
    described = ctx.student.build("SimpleUNet", **CHAPTER_UNET).describe()
    counts = described.trainable_by_child()
    blocks = [[name, counts.get(name, 0), sum(p.numel() for p in sub.parameters())]
              for name, sub in reference.named_children()]
    known = {name for name, _, _ in blocks}
    theirs = [m.name for m in described.modules if m.name and "." not in m.name and m.name not in known]
    blocks += [[name, counts.get(name, 0), 0] for name in theirs]  # too many: caps.problem says so, not drawn
    return {"kind": "parameters", "model": "SimpleUNet(4, 4, 64)", "blocks": blocks,
            "total": [sum(counts.values()), sum(p.numel() for p in reference.parameters())]}


def _reference_unet(ctx: CheckContext, init: dict) -> torch.nn.Module:
    torch.default_generator.manual_seed(0)
    return ctx.reference.symbol("unet", "SimpleUNet")(**init)


def unet_inputs() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(15)
    x = torch.randn(UNET_INPUTS["x"][1:], generator=generator).expand(UNET_INPUTS["x"]).contiguous()
    return {"x": x, "t": torch.linspace(0, 999, UNET_INPUTS["t"][0]).round().long()}


def _through_the_u(ask, values: dict) -> tuple[list[dict], dict | None]:
    """Run the U block by block: each stage's output shapes (or why it stopped), and the output with
    each skip kept or zeroed (None when the U stopped). ``ask([(block, args), ...])`` answers
    requests together; the decoder's variants go together, so the whole pass is seven round trips."""
    stages = []
    variants = {v: dict(values) for v in SKIPS}  # the same tensors until a skip is zeroed
    for block, inputs, outputs in STAGES:
        stage = {"block": block, "inputs": list(inputs), "outputs": list(outputs)}
        stages.append(stage)
        names = list(variants)
        args = [[_zeroed(variants[v], name, SKIPS[v]) for name in inputs] for v in names]
        distinct = {repr([id(a) for a in arg]): arg for arg in args}  # the encoder is the same for every variant
        try:
            answers = dict(zip(distinct, ask([(block, arg) for arg in distinct.values()])))
        except StudentError as error:
            stage["error"] = _last_line(str(error))
            return stages, None
        results = [answers[repr([id(a) for a in arg])] for arg in args]
        full = list(results[0]) if isinstance(results[0], (list, tuple)) else [results[0]]
        if not all(type(r) is torch.Tensor for r in full):
            stage["error"] = "returned something other than tensors"
            return stages, None
        stage["shapes"] = [list(r.shape) for r in full]
        if len(full) != len(outputs):
            stage["error"] = f"returned {len(full)} tensor(s); the U needs {len(outputs)} ({', '.join(outputs)})"
            return stages, None
        for v, result in zip(names, results):
            variants[v] = {**variants[v], **dict(zip(outputs, result if isinstance(result, (list, tuple)) else [result]))}
    return stages, {v: variants[v]["y"] for v in variants}


def _zeroed(values: dict, name: str, zeroed: set):
    value = values[name]
    if name not in zeroed:
        return value
    key = f"zero {name}"
    if key not in values:
        values[key] = torch.zeros_like(value)  # one tensor object per variant: the same request is asked once
    return values[key]


def _relative_changes(outputs: dict[str, torch.Tensor]) -> dict[str, list[float]]:
    full = outputs["full"].double().flatten(1)
    scale = full.norm(dim=1).clamp_min(1e-12)
    return {name: [round(float(v), 4) for v in (outputs[name].double().flatten(1) - full).norm(dim=1) / scale]
            for name in SKIPS if name != "full"}


def _reference_pass(ctx: CheckContext) -> dict:
    case = Case("SimpleUNet", UNET, UNET_INPUTS, seed=0)
    model = reference_models(ctx, case).ref32  # the weights ``Pair`` puts into the student's model

    def ask(requests):
        with torch.no_grad():
            return [getattr(model, block)(*args) for block, args in requests]

    stages, outputs = _through_the_u(ask, unet_inputs())
    with torch.no_grad():
        whole = list(model(*unet_inputs().values()).shape)
    return {"stages": stages, "whole": whole, "changes": _relative_changes(outputs)}


def _student_pass(ctx: CheckContext, scratch: dict) -> dict:
    """The student's U on the reference's weights (a fresh build when they do not fit): stages,
    the whole forward, and the skips' contributions. Asked once for the two pictures that use it."""
    if "unet" in scratch:
        return scratch["unet"]
    case = Case("SimpleUNet", UNET, UNET_INPUTS, seed=0)
    inputs = unet_inputs()
    weights_fit = True
    try:  # while collecting, the build, the weights and the whole forward share one round trip
        ctx.student.collect()
        try:
            module = Pair(ctx, case).student
            module.run(inputs["x"], inputs["t"])
        except Pending:
            pass
        finally:
            ctx.student.flush()
        module = Pair(ctx, case).student
    except CheckFailed:
        weights_fit = False
        module = ctx.student.build("SimpleUNet", **UNET)

    def ask(requests):
        answers = _together(ctx, *[lambda b=block, a=args: module.run(*a, submodule=b) for block, args in requests])
        return [answer.output for answer in answers]

    try:
        whole = module.run(inputs["x"], inputs["t"]).output
        whole = list(whole.shape) if type(whole) is torch.Tensor else "your forward did not return a tensor"
    except StudentError as error:
        whole = f"your forward raised {_last_line(str(error))}"
    stages, outputs = _through_the_u(ask, dict(inputs))
    changes = None
    if outputs is not None and weights_fit:
        try:
            changes = _relative_changes(outputs)
        except RuntimeError:  # outputs of different shapes
            changes = None
    scratch["unet"] = {"stages": stages, "whole": whole, "changes": changes, "weights_fit": weights_fit}
    return scratch["unet"]


def shape_trace(ctx: CheckContext, scratch: dict) -> dict:
    reference = remembered(ctx, ("figure", "unet pass"), lambda: _reference_pass(ctx))
    try:
        student = _student_pass(ctx, scratch)
    except StudentError as error:  # the model cannot even be built
        student = {"stages": None, "whole": f"SimpleUNet(4, 4, 16) raised {_last_line(str(error))}"}
    return {"kind": "shape_trace", "model": "SimpleUNet(4, 4, 16)",
            "input": {k: list(v) for k, v in UNET_INPUTS.items()},
            "reference": reference["stages"], "reference_whole": reference["whole"],
            "student": student["stages"], "student_whole": student["whole"]}


def skip_ablation(ctx: CheckContext, scratch: dict) -> dict:
    reference = remembered(ctx, ("figure", "unet pass"), lambda: _reference_pass(ctx))
    student = _student_pass(ctx, scratch)
    if not student["weights_fit"]:
        raise _NoPicture("not drawn: the picture needs the reference's weights, and they do not fit your SimpleUNet")
    if student["changes"] is None:
        raise _NoPicture("not drawn: your U did not run block by block (see the shapes through the U)")
    return {"kind": "curves", "x": unet_inputs()["t"].tolist(), "x_label": "timestep t",
            "y_label": "relative change of the output", "model": "SimpleUNet(4, 4, 16), the reference's weights",
            "student": student["changes"], "reference": reference["changes"]}


# --- SkipAblation: the student's own experiment (analysis.py), its training curves ---------------------

def skip_training(ctx: CheckContext, scratch: dict) -> dict:
    """The loss curves of the student's ``skip_ablation`` beside the reference's run: the same call the
    SkipAblation checks made (the door's memo answers it), so drawing it trains nothing again."""
    steps = analysis.experiment_steps(ctx)
    ours = analysis.student_experiment(ctx, steps)
    reference = analysis.reference_experiment(ctx, steps)
    if any(len(ours[key]["losses"]) != steps for key in analysis.VARIANTS):
        raise _NoPicture(f"not drawn: the picture needs one loss per step, {steps} for each model")

    def curves(run: dict) -> dict[str, list[float]]:
        return {label: [float(v) for v in run[key]["losses"]] for key, label in analysis.VARIANTS.items()}

    def results(run: dict) -> dict[str, list[float]]:
        return {label: [float(run[key]["mse"]), float(run[key]["psnr"])] for key, label in analysis.VARIANTS.items()}

    def first_image(run: dict) -> dict[str, dict]:
        return {label: pack(_tensor(run[key]["reconstructions"], tuple(ours["images"].shape), "a reconstruction")[0, 0].numpy())
                for key, label in analysis.VARIANTS.items()}

    return {"kind": "curves", "x": list(range(1, steps + 1)), "x_label": "training step", "y_label": "training loss",
            "model": f"skip_ablation({steps}, seed={analysis.SEED})", "student": curves(ours),
            "reference": curves(reference),
            "results": {"student": results(ours), "reference": results(reference)},
            "images": {"input": pack(ours["images"][0, 0].double().numpy()), "student": first_image(ours),
                       "reference": first_image(reference)},
            "caption": f"skip_ablation({steps}, seed={analysis.SEED}): the training loss of the UNet with and "
                       "without its skip connections, trained from the same weights on the same batches."}


FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec("time_embedding", "TimeEmbedding", ("TimeEmbedding", "sinusoid_values"),
               "sinusoidal_embedding(t, 64) for t = 0, 10, ..., 990", time_embedding),
    FigureSpec("parameters", "SimpleUNet", ("SimpleUNet", "parameter_count"),
               "Parameters per block of SimpleUNet(4, 4, 64): your unet.py with the reference's blocks",
               parameter_breakdown),
    FigureSpec("attention_map", "SelfAttention", ("SelfAttention", "weights_match"),
               "Where one query looks: attention weights of the marked pixel", attention_map),
    FigureSpec("shape_trace", INTEGRATION, (INTEGRATION, "runs_end_to_end"),
               "Shapes through the U: your own blocks, one at a time", shape_trace),
    FigureSpec("skip_ablation", INTEGRATION, (INTEGRATION, "matches_reference"),
               "What each skip connection contributes, by timestep", skip_ablation),
    FigureSpec("skip_training", "SkipAblation", ("SkipAblation", "skips_win"),  # hidden: the reference's numbers wait
               "Your skip experiment: training with and without the skip connections", skip_training),
)
