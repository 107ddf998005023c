"""Why a forward pass differs from the reference: the first intermediate that departs, and what it is.

"output differs by up to 0.8" tells a student that something is wrong, not what. Once a value
check has failed (on the case finally reported: see ``CheckFailed.explain``), ``explain_forward``
runs the student's module again on the same transplanted weights with forward hooks on its
submodules (the door's ``capture``), runs the reference with hooks on the same submodules, and
walks the reference's submodules in the order it called them:

* a submodule the student never calls ("norm1 is never called");
* the first input that differs, and what it is instead, found among the values the forward had
  at hand -- the inputs, every submodule's output (the reference's, and the student's own), the
  usual activations of those, and a few known wrong turns ("conv1 receives SiLU(norm1's output);
  the contract feeds it relu(norm1(x))");
* a submodule that gives another output for the same input (its settings differ);
* else the last step, with known variants of it ("the output is conv2's output alone: skip(x) is
  not added").
"""
import dataclasses
import math

import torch
import torch.nn.functional as F

from .. import rules
from ..compare import allowed_error
from ..fingerprint import fingerprint
from .outputs import OUTPUT_NAMES, as_list

# What each submodule's inputs are in the contract (the docstrings' words), by position.
FEEDS = {
    "TimeEmbedding": {"mlp.0": ["sinusoidal_embedding(t, dim)"], "mlp.1": ["mlp.0's output"],
                      "mlp.2": ["SiLU(mlp.0's output)"]},
    "ResBlock": {"norm1": ["x"], "conv1": ["relu(norm1(x))"], "time_mlp": ["t_emb itself"],
                 "norm2": ["conv1's output + time_mlp(t_emb)[:, :, None, None]"], "conv2": ["relu(norm2(h))"],
                 "skip": ["x"]},
    "DownBlock": {"res": ["x", "t_emb"], "down": ["res's output h"]},
    "UpBlock": {"up": ["x"], "res": ["torch.cat([up(x), skip], dim=1)", "t_emb"]},
    "SimpleUNet": {"time_embed": ["t"], "down1": ["x", "t_emb"],
                   "down2": ["down1's downsampled output h1", "t_emb"],
                   "bottleneck": ["down2's downsampled output h2", "t_emb"],
                   "up1": ["bottleneck's output", "skip2 (down2's skip output h)", "t_emb"],
                   "up2": ["up1's output", "skip1 (down1's skip output h)", "t_emb"], "out": ["up2's output"]},
    "SelfAttention": {"norm": ["x"], "qkv": ["norm(x)"],
                      "out": ["attn = weights @ v, transposed back and reshaped to (B, C, H, W)"]},
    "AttnResBlock": {"res": ["x", "t_emb"], "attn": ["res's output"]},
}
FEEDS["Integration"] = FEEDS["SimpleUNet"]
# What the output is in the contract.
RESULTS = {
    "TimeEmbedding": ["mlp's output"], "ResBlock": ["conv2's output + skip(x)"],
    "DownBlock": ["down(h)", "res's output h"], "UpBlock": ["res's output"], "SimpleUNet": ["out's output"],
    "SelfAttention": ["x + out(attn)", "the softmax of the scaled scores"], "AttnResBlock": ["attn's output"],
}
RESULTS["Integration"] = RESULTS["SimpleUNet"]
RETURNS = {  # what forward returns, for a hint
    "ResBlock": "conv2's output + skip(x)", "DownBlock": "the pair (self.down(h), h)", "SelfAttention": "x + self.out(attn)",
    "AttnResBlock": "self.attn(self.res(x, t_emb))",
}
_CLASS_OF_STAGE = {"down1": "DownBlock", "down2": "DownBlock"}  # stages whose outputs have names of their own


def explain_forward(pair, inputs: list, kwargs: dict, problem: str):
    """(message, hint) naming where the student's forward departs from the reference, or None.

    The walk runs on the reported case made roomier (at least 4x4 feature maps) when the forward
    differs there too: on a 1x2 map, a ReLU that zeroes one value and dropout that zeroes the other
    look alike.
    """
    component = pair.case.component
    if component not in FEEDS:
        return None
    dropout = [m for m in pair.student.describe().modules
               if any("Dropout" in base for base in m.torch) and (m.config.get("p") or 0) > 0]
    if dropout:
        name = dropout[0].name
        return (f"{problem}\nYour forward applies {name}, a {dropout[0].type}(p={dropout[0].config['p']}) that the "
                "contract does not have: in training mode it zeroes random activations.",
                "Leave dropout out: the contract has none.")
    roomier = _roomier(pair, inputs, kwargs)
    if roomier is not None:
        pair, inputs = roomier
    reference = reference_walk(pair, inputs, kwargs)
    stages = list(reference["stages"])
    names = {stage: student_submodule_name(pair, stage) for stage in stages}
    present = {m.name for m in pair.student.describe().modules}
    names = {stage: name for stage, name in names.items() if name is not None and name in present}
    result = pair.run_student(inputs, capture=tuple(dict.fromkeys(names.values())), **kwargs)
    captured = result.intermediates or {}
    last = _known_last_step(component, names, captured, result.output, inputs)
    found = _first_difference(pair, component, reference, names, captured)
    if last:
        position, description = last
        ending = f"your {_output_label(component, position)} is {description}."
        last_hint = f"Return {RETURNS[component]}, as the docstring's forward says."
    if found is None:
        if last:
            found = (f"Every submodule gets the contract's input, but {ending}", last_hint)
        else:
            expected = RESULTS[component][0]
            found = (f"Every submodule gets the contract's input and gives its output; the difference is in how "
                     f"the output is put together: the contract's is {expected}.",
                     f"Return {expected}, as the docstring's forward says.")
    elif last:
        found = (found[0] + f" And {ending}", last_hint if found[2] else found[1])
    return f"{problem}\n{found[0]}", found[1]


def _roomier(pair, inputs: list, kwargs: dict):
    """(pair, inputs) for the case with feature maps of at least 4x4 (the skip twice as large), when
    the student's output still differs there; None when the case is roomy already or agrees there."""
    shapes = dict(pair.case.shapes)
    grown = {}
    for name, shape in shapes.items():
        if len(shape) == 4 and name != "skip":
            grown[name] = shape[:2] + (max(shape[2], 4), max(shape[3], 4))
    if not grown or all(grown[n] == shapes[n] for n in grown):
        return None
    if "skip" in shapes:
        height, width = grown["x"][2:]
        grown["skip"] = shapes["skip"][:2] + (2 * height, 2 * width)
    case = dataclasses.replace(pair.case, shapes={**shapes, **grown})
    roomy = type(pair)(pair.ctx, case, pair.class_name)  # a Pair, without importing common.py (which calls us)
    bigger = case.inputs()
    (out32, _), (out64, _) = roomy.reference(bigger, **kwargs)
    got = roomy.run_student(bigger, **kwargs).output
    got = as_list(got) if len(out64) > 1 else [got]
    if len(got) == len(out64) and not any(_differs(g, r64, r32, pair.ctx.config.tolerance)
                                          for g, r32, r64 in zip(got, out32, out64)):
        return None
    return roomy, bigger


def _output_label(component: str, position: int) -> str:
    names = OUTPUT_NAMES.get(component)
    return names[position] if names and position < len(names) else "output"


_NEVER_CALLED = {  # (component, submodule) -> hint when forward never calls it
    ("ResBlock", "time_mlp"): "Add time_mlp(t_emb)[:, :, None, None] to h after conv1, before norm2.",
    ("ResBlock", "skip"): "Return conv2's output + skip(x).",
    ("SelfAttention", "norm"): "Compute q, k and v from norm(x): qkv(norm(x)).chunk(3, dim=1).",
}


def student_submodule_name(pair, stage: str) -> str | None:
    """The student's name for the reference's submodule ``stage`` (they differ when the weights went
    in by position); None when it cannot be told."""
    if not pair.renamed:
        return stage
    for ref_name, student_name in pair.renamed.items():
        if ref_name.startswith(stage + "."):
            suffix = ref_name[len(stage):]
            return student_name[: -len(suffix)] if student_name.endswith(suffix) else None
    return None


def reference_walk(pair, inputs: list, kwargs: dict) -> dict:
    """The reference's submodules in the order it first calls them, with their inputs and output,
    in float64 (and float32, for the float error the comparisons allow). Memoised per inputs: a check
    may walk the same case on inputs of its own (``checks/res_block.time_shift``)."""
    key = ("walk", repr(kwargs), pair.models.state_name, repr(pair.case), fingerprint(inputs))
    runs = pair.models._runs
    if key not in runs:
        runs[key] = {"stages": _hooked(pair, pair.ref64, inputs, kwargs, torch.float64),
                     "stages32": _hooked(pair, pair.ref32, inputs, kwargs, torch.float32)}
    return runs[key]


def _watched(module: torch.nn.Module) -> list:
    """The submodules a walk looks at: the children, and the layers of a child Sequential (``mlp.0``)."""
    names = []
    for name, child in module.named_children():
        names.append(name)
        if isinstance(child, torch.nn.Sequential):
            names += [f"{name}.{sub}" for sub, _ in child.named_children()]
    return names


def _hooked(pair, model, inputs: list, kwargs: dict, dtype) -> dict:
    seen, handles = {}, []
    for name in _watched(pair.ref32):
        def hook(_module, args, output, name=name):
            if name not in seen:
                seen[name] = {"inputs": [a.detach() if isinstance(a, torch.Tensor) else None for a in args],
                              "output": [o.detach() for o in as_list(output)] if isinstance(output, (tuple, list))
                              else output.detach()}
        handles.append(pair.ref32.get_submodule(name).register_forward_hook(hook))
    try:
        args = [x.to(dtype) if x.is_floating_point() else x for x in inputs]
        with torch.no_grad():
            output = model(*args, **kwargs)
    finally:
        for handle in handles:
            handle.remove()
    seen[""] = {"inputs": args, "output": [o.detach() for o in as_list(output)]
                if isinstance(output, (tuple, list)) else output.detach()}
    return seen


def _differs(got, truth64, truth32, tolerance) -> bool:
    if type(got) is not torch.Tensor or got.shape != truth64.shape:
        return True
    return rules.largest_difference(got, truth64)[0] > allowed_error(truth64, truth32, tolerance)


def _first_difference(pair, component, reference, names, captured):
    """The first submodule, in the reference's order, that is never called, gets another input, or
    gives another output for the same input."""
    tolerance = pair.ctx.config.tolerance
    stages, stages32 = reference["stages"], reference["stages32"]
    for stage in [s for s in stages if s]:
        if stage not in names:
            continue
        feeds = FEEDS[component].get(stage, [f"what the contract gives {stage}"])
        mine = captured.get(names[stage])
        if mine is None:
            hint = _NEVER_CALLED.get((component, stage))
            return (f"The first difference inside: {stage} is never called in your forward; the contract feeds it "
                    f"{' and '.join(feeds)}.", hint or f"Use self.{stage} in forward, as the docstring's forward says.",
                    hint is None)
        for position, (got, truth, truth32) in enumerate(zip(mine["inputs"], stages[stage]["inputs"],
                                                            stages32[stage]["inputs"])):
            if truth is None or not _differs(got, truth, truth32, tolerance):
                continue
            expected = feeds[position] if position < len(feeds) else f"input {position} as in the contract"
            what, cause_hint = _what_it_is(pair, component, stage, got, truth, reference, names, captured)
            if len(stages[stage]["inputs"]) == 1:
                sentence = f"{stage} receives {what}; the contract feeds it {expected}."
            else:
                sentence = f"{stage}'s input {position + 1} is {what}; the contract's is {expected}."
            return (f"The first difference inside: {sentence}",
                    cause_hint or f"Feed {stage} with {expected}, as the docstring's forward says.", False)
        for got, truth, truth32 in zip(as_list(mine["output"]), as_list(stages[stage]["output"]),
                                       as_list(stages32[stage]["output"])):
            if _differs(got, truth, truth32, tolerance):
                block = type(pair.ref32.get_submodule(stage)).__name__
                if block in FEEDS:  # one of the student's own blocks (Integration)
                    return (f"The first difference inside: your {stage} (your {block}) gets the contract's input "
                            "and weights but gives another output.",
                            f"Your {block}, or a block it uses, computes something else: the checks of those "
                            "components say what.", False)
                setting = _settings_difference(pair, stage, names[stage])
                return (f"The first difference inside: {stage} gets the contract's input and weights but gives "
                        f"another output: " + (setting[0] + "." if setting else "it is built or called differently."),
                        setting[1] if setting else f"Build {stage} as the docstring says and call it with its input "
                        "alone.", False)
    return None


def _settings_difference(pair, stage: str, student_name: str):
    """(message, hint) for the first constructor setting of ``stage`` that differs from the contract's."""
    found = next((m for m in pair.student.describe().modules if m.name == student_name), None)
    return rules.setting_difference(
        stage, rules.describe_module(stage, pair.ref32.get_submodule(stage)),
        None if found is None else {"name": stage, "type": found.type, "torch": list(found.torch), "config": found.config})


def _what_it_is(pair, component, stage, got, truth, reference, names, captured) -> tuple[str, str | None]:
    """(a name for ``got``, the hint for that cause or None): one of the values the forward had at
    hand, or a short description. A known wrong turn brings its own hint: the fix of what was
    diagnosed, not "feed it the right input" (which would send a student to the wrong line)."""
    if type(got) is not torch.Tensor:
        return "no tensor", None
    if got.shape != truth.shape:
        return f"a tensor of shape {tuple(got.shape)} (expected {tuple(truth.shape)})", None
    if int((got != 0).sum()) >= min(2, got.numel()):  # zeros match too much to name anything
        for name, candidate, exact, hint in _candidates(pair, component, stage, reference, names, captured):
            if candidate.shape == got.shape and _matches(got, candidate, truth, exact):
                return name, hint
    worst = rules.largest_difference(got, truth)[0]
    return f"other values (off by up to {worst:.3g})", None


def _matches(got, candidate, truth, exact: bool) -> bool:
    """Whether ``got`` is ``candidate``: exactly for the student's own values, else within float32
    round-off of a few operations (a candidate's NaN entries are unknown: skipped)."""
    if exact:
        return rules.close(got, candidate)
    allowed = 1e-4 * max(rules.magnitude(truth), rules.magnitude(candidate)) + 1e-6
    return rules.close_where_known(got, candidate, allowed, unlike=truth)


def _candidates(pair, component, stage, reference, names, captured):
    """(name, value, exact, hint) for what a submodule's input might be instead: the forward's inputs,
    submodules' outputs (the reference's up to ``stage``, the student's own of every submodule),
    their activations, and the component's known wrong turns (the only ones with a hint of their own)."""
    stages = reference["stages"]
    values = [(name, value) for name, value in zip(pair.case.shapes, stages[""]["inputs"])]
    for other, record in stages.items():
        if not other or other == stage:
            continue
        for label, value in _named_outputs(other, record["output"]):
            values.append((label, value))
    found = []
    for name, value in values:
        if type(value) is not torch.Tensor or not value.is_floating_point():
            continue
        found.append((name, value, False, None))
        found += [(f"relu({name})", torch.relu(value), False, None), (f"SiLU({name})", F.silu(value), False, None),
                  (f"GELU({name})", F.gelu(value), False, None)]
    found += [(name, value, False, hint) for name, value, hint in _wrong_turns(pair, component, stage, stages)]
    for other, student_name in names.items():
        record = captured.get(student_name)
        if other != stage and record is not None:
            found += [(f"{label} (in your forward)", value, True, None)
                      for label, value in _named_outputs(other, record["output"]) if type(value) is torch.Tensor]
    return found


def _named_outputs(stage: str, output) -> list:
    if isinstance(output, list):
        labels = OUTPUT_NAMES.get(_CLASS_OF_STAGE.get(stage, ""), [])
        return [(f"{stage}'s {labels[i] if i < len(labels) else f'output {i}'}", value) for i, value in enumerate(output)]
    return [(f"{stage}'s output", output)]


def _wrong_turns(pair, component, stage, stages) -> list:
    """(name, value, hint) for known wrong values of ``stage``'s input, computed from the reference's
    own intermediates; ``hint`` fixes that mistake where it is made (None: "feed it the contract's input" does)."""
    if component == "TimeEmbedding" and stage == "mlp.0":
        (t,) = stages[""]["inputs"]
        dim = pair.case.init["dim"]
        count = dim // 2
        hint = ("The mistake is in the sinusoidal features, not in the MLP: fix where they are computed "
                f"(sinusoidal_embedding, if forward calls it) so that they are [sin(t*f), cos(t*f)], the {count} "
                f"sines first, with f_i = exp(-i*ln(10000)/({count}-1)).")
        return [(f"sinusoidal features in which {mistake}", rules.sinusoid(t, dim, **settings), hint)
                for settings, mistake in rules.SINUSOID_VARIANTS]
    if component == "UpBlock" and stage == "res":
        skip, up = stages[""]["inputs"][1], stages["up"]["output"]
        return [("torch.cat([skip, up(x)], dim=1): the concatenation is reversed", torch.cat([skip, up], 1), None),
                ("up(x) alone, without the skip", up, None)]
    if component == "SelfAttention" and stage == "out":
        q, k, v = stages["qkv"]["output"].chunk(3, dim=1)
        hint = ("The mistake is in the attention weights: softmax(q k^T / sqrt(C)) over the keys (dim=-1), "
                "with q and k flattened to (B, C, H*W) and transposed, one sample at a time.")
        # "right, but ... reshaped" has the right weights: its fix is after them, so it keeps "feed out with ..."
        return [(f"attention whose weights are {mistake}", attn, None if mistake.startswith("right,") else hint)
                for mistake, _, attn in attention_variants(q, k, v)]
    return []


def attention_variants(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> list:
    """(mistake, weights, attn) for the usual wrong turns of attention, from q, k, v of shape (B, C, H, W)."""
    b, c, h, w = q.shape
    rows = [t.reshape(b, c, h * w).transpose(1, 2) for t in (q, k, v)]
    scores = rows[0] @ rows[1].transpose(1, 2)
    flat = [t.reshape(b, h * w, c) for t in (q, k, v)]
    batch = [t.permute(0, 2, 3, 1).reshape(1, b * h * w, c) for t in (q, k, v)]

    def back(weights, values=rows[2]):
        return (weights @ values).transpose(1, 2).reshape(b, c, h, w)

    variants = [
        ("softmax(q k^T) without the 1/sqrt(C) scaling", torch.softmax(scores, dim=-1)),
        ("scaled by 1/C instead of 1/sqrt(C)", torch.softmax(scores / c, dim=-1)),
        ("scaled by 1/sqrt(H*W) instead of 1/sqrt(C)", torch.softmax(scores / math.sqrt(h * w), dim=-1)),
        ("a softmax over the queries (dim=1) instead of over the keys (dim=-1)",
         torch.softmax(scores / math.sqrt(c), dim=1)),
    ]
    found = [(mistake, weights, back(weights)) for mistake, weights in variants]
    right = torch.softmax(scores / math.sqrt(c), dim=-1)
    found.append(("transposed: row i must hold query i's weights over the keys", right.transpose(1, 2),
                  back(right.transpose(1, 2))))
    flat_weights = torch.softmax(flat[0] @ flat[1].transpose(1, 2) / math.sqrt(c), dim=-1)
    found.append(("made from q and k reshaped straight to (B, H*W, C) instead of flattened to (B, C, H*W) and "
                  "transposed", flat_weights, (flat_weights @ flat[2]).transpose(1, 2).reshape(b, c, h, w)))
    found.append(("right, but the result weights @ v is reshaped to (B, C, H, W) without transposing it back "
                  "first", right, (right @ rows[2]).reshape(b, c, h, w)))
    batch_weights = torch.softmax(batch[0] @ batch[1].transpose(1, 2) / math.sqrt(c), dim=-1)
    found.append(("taken across the whole batch: each sample attends only to its own H*W positions", batch_weights,
                  (batch_weights @ batch[2]).reshape(b, h, w, c).permute(0, 3, 1, 2)))
    return found


_LAST_STEPS = {  # component -> per output: [(description, function of the student's own outputs)]
    "ResBlock": [[
        ("conv2's output alone: skip(x) is not added", lambda o, x: o["conv2"]),
        ("conv2's output + skip(x) + time_mlp(t_emb): the time embedding is added after conv2, not before norm2",
         lambda o, x: o["conv2"] + o["skip"] + o["time_mlp"][:, :, None, None]),
        ("conv2's output + x: the residual must go through skip (a 1x1 conv when the channels change)",
         lambda o, x: o["conv2"] + x[0]),
    ]],
    "SelfAttention": [[
        ("out(attn) alone: the residual x is not added", lambda o, x: o["out"]),
        ("norm(x) + out(attn): the residual adds norm(x), not the block's input x", lambda o, x: o["norm"] + o["out"]),
    ]],
    "AttnResBlock": [[
        ("res's output + attn's output: attn already adds its own residual, so the block is attn(res(x, t_emb))",
         lambda o, x: o["res"] + o["attn"]),
        ("res's output: the block ends with attn, attn(res(x, t_emb))", lambda o, x: o["res"]),
    ]],
    "DownBlock": [[
        ("res's output h: the pair is in the wrong order, (down(h), h)", lambda o, x: o["res"]),
    ], [
        ("down(h): the skip is the full-resolution h, before down", lambda o, x: o["down"]),
    ]],
}
_CONTRACT_STEPS = {  # component -> per output: the contract's own last step, from the student's outputs
    "ResBlock": [lambda o, x: o["conv2"] + o["skip"]],
    "SelfAttention": [lambda o, x: x[0] + o["out"]],
    "AttnResBlock": [lambda o, x: o["attn"]],
    "DownBlock": [lambda o, x: o["down"], lambda o, x: o["res"]],
}


def _known_last_step(component, names, captured, output, inputs):
    """(output position, description) of a known wrong way to put the output together that the
    student's output is, computed from the student's own submodules' outputs; None if none is."""
    own = {stage: captured[name]["output"] for stage, name in names.items() if name in captured}
    outputs = output if isinstance(output, list) else [output]
    for position, steps in enumerate(_LAST_STEPS.get(component, [])):
        got = outputs[position] if position < len(outputs) else None
        if type(got) is not torch.Tensor:
            continue
        right = _built(_CONTRACT_STEPS[component][position], own, inputs)
        if right is not None and rules.close(got, right):
            continue  # the contract's own last step (a wrong turn that equals it here says nothing)
        for description, build in steps:
            candidate = _built(build, own, inputs)
            if candidate is not None and rules.close(got, candidate):
                return position, description
    return None


def _built(build, own: dict, inputs: list):
    try:
        value = build(own, inputs)
    except (KeyError, RuntimeError, TypeError, IndexError):
        return None
    return value if type(value) is torch.Tensor else None
