"""The public checks' rules (``autograder/rules/``) in the grader, and the "does real work" gate.

A rule-based check runs the very rule students' ``check.py`` runs, on the very cases it ships
(``strategies.released_cases``, smallest first), with the expectations the release writes into
``public_checks.json`` (``expectation``: shapes and settings computed from the reference, nothing
else) -- so the two reach the same verdict by construction. ``DoorView`` asks the student's code
through the sandbox what ``rules.LocalView`` asks it in-process.

The gate (``require_real_work``): every check of a component except those that read its
constructor alone passes only if the component's forward does real work -- each output changes
with the inputs and with the weights wherever the reference's does, and holds no NaN or infinity
(``rules.real_work``, on ``GATE_CASES`` released cases of the component). A forward that returns
zeros, NaN, its input, or the right answer only for recognisable probe weights, so earns nothing
beyond its constructors' checks, while an honest partial mistake (ReLU for SiLU, a missing time
add or residual) still depends on both and keeps its partial credit.
"""
import torch

from .. import rules
from ..compare import Rejected
from ..contract import BY_NAME, INTEGRATION
from ..fingerprint import fingerprint
from ..sandbox import replies
from ..sandbox.child.watch import digest
from ..sandbox.launcher import ModuleArg, StudentError, all_of
from ..strategies import (Case, attention_cases, attn_res_block_cases, default_unet_case, down_block_cases,
                          released_cases, res_block_cases, time_embedding_cases, unet_cases, up_block_cases)
from .common import output_names, remembered
from .hints import explain
from .registry import CheckContext, CheckFailed, check, who_raised

GATE_CASES = 2  # released cases per component on which the forward must do real work
GATE_STRATEGIES = {
    "TimeEmbedding": time_embedding_cases, "ResBlock": res_block_cases, "DownBlock": down_block_cases,
    "UpBlock": up_block_cases, "SimpleUNet": unet_cases, "SelfAttention": attention_cases,
    "AttnResBlock": attn_res_block_cases, INTEGRATION: unet_cases,
}


def require_gate_cases(checks) -> None:
    """Every component with a gated check has gate cases: refused at import (``checks/__init__.py``),
    not as a KeyError in the first grading or release that reaches the gate."""
    missing = sorted({c.component for c in checks if c.gated} - set(GATE_STRATEGIES))
    if missing:
        raise RuntimeError(
            f"{', '.join(missing)}: gated checks but no gate cases (the \"does its forward do real work\" gate); "
            "add the component to GATE_STRATEGIES in autograder/checks/public_checks.py with the strategy its standard "
            "checks use, or register checks that read the constructor alone with gated=False")


def class_name(component: str) -> str:
    """The class a component's checks build (Integration: the student's own SimpleUNet)."""
    return "SimpleUNet" if component == INTEGRATION else component


def case_record(case: Case) -> dict:
    """A case as the rules (and public_checks.json) take it: plain data."""
    record = {"init": case.init, "inputs": {k: list(v) for k, v in case.shapes.items()}, "seed": case.seed,
              "float_timesteps": case.float_timesteps}
    if case.options:
        record["options"] = {k: list(v) if isinstance(v, tuple) else v for k, v in case.options.items()}
    return record


def plain_watched(call: replies.WatchedCall) -> dict:
    """A call the child watched, in the plain form the rules read (``rules.watched``), as
    ``rules.LocalView.watch`` gives it in check.py."""
    # Field by field, not ``asdict``: its deep copy of every tuple took ~10 ms of a grading; the values are immutable.
    events = [dict(kind="forward", **{"class" if k == "cls" else k: v for k, v in vars(e).items()})
              if isinstance(e, replies.Forward) else dict(kind="step", **vars(e)) for e in call.events]
    return rules.watched(call.outputs, call.error, {"events": events, "arguments": [dict(vars(a)) for a in call.arguments],
                                                    "global_hooks_left": call.global_hooks_left})


class DoorView:
    """The student's code behind the door, answering what ``rules.LocalView`` answers in-process.

    Student errors are ``StudentError``s (the runner turns them into a failed check with a hint);
    while the runner collects, unanswered requests raise ``Pending`` and ``together`` queues them all.
    """

    def __init__(self, ctx: CheckContext, class_name_: str):
        self.ctx = ctx
        self.class_name = class_name_

    def module(self, init: dict):
        return self.ctx.student.build(self.class_name, **init)

    def load(self, module, state: dict, partial: bool = True) -> str | None:
        try:
            module.load_state_dict(state, fingerprint([state, partial]), partial=partial)
        except StudentError as error:
            return str(error).strip().splitlines()[-1]
        return None

    def run(self, module, inputs: list, submodule: str = "", **kwargs):
        return module.run(*inputs, submodule=submodule, **kwargs).output

    def module_arg(self, class_name_: str, init: dict, state: dict | None = None) -> ModuleArg:
        """A module for a task's function: in the child, the component's stand-in for ``class_name_``."""
        return ModuleArg(class_name_, init, state)

    def call(self, function: str, *args):
        return self.ctx.student.call(function, *args)

    def watch(self, function: str, *args, repeat: int = 1, eval_mode: bool = False, experiment: bool = False,
              read: dict | None = None) -> dict:
        """The child's watched call (``sandbox/child/watch.py``), in the plain form ``rules.watched`` gives."""
        return plain_watched(self.ctx.student.watch(function, *args, experiment=experiment, repeat=repeat,
                                                    eval_mode=eval_mode, read=read))

    def digest(self, tensor: torch.Tensor) -> str:
        return digest(tensor)

    def describe(self, init: dict) -> dict:
        described = self.module(init).describe()
        return {
            "parameters": {n: list(s) for n, s in described.parameters.items()},
            "state_dict": {n: list(s) for n, s in described.state_dict.items()},
            "buffers": list(described.buffers),
            "frozen": list(described.frozen),
            "modules": {m.name: {"name": m.name, "type": m.type, "torch": list(m.torch), "config": m.config,
                                 "extra_repr": m.extra_repr} for m in described.modules},
        }

    def together(self, *requests) -> list:
        return all_of(*requests)


# --- expectations: public facts, computed from the reference -------------------------------------

def _reference_module(reference, case: Case) -> torch.nn.Module:
    name = class_name(case.component)
    torch.manual_seed(case.seed)
    return reference.symbol(BY_NAME[name].module, name)(**case.init)


def _outputs(module, case: Case, **kwargs) -> list:
    with torch.no_grad():
        result = module(*case.inputs(), **kwargs)
    return list(result) if isinstance(result, (tuple, list)) else [result]


def expectation(kind: str, case: Case, reference, **extra) -> dict:
    """What a rule of ``kind`` needs to know about ``case``: shapes, names, constructor settings.

    This is what public_checks.json ships; nothing here is a value the reference computes.
    """
    if kind == "sinusoid_shape":
        return {"shape": [case.shapes["t"][0], case.init["dim"]]}
    if kind in ("sinusoid_values", "similarity_properties"):
        return {}
    if kind in rules.PROTOCOL_KINDS:  # and the experiment's settings, given code of the stub
        return dict(extra, **{name: reference.symbol("analysis", name) for name in rules.EXPERIMENT_SETTINGS})
    if kind in rules.WATCHED_KINDS:  # the watched call's settings, given where the check is registered
        return dict(extra)
    module = _reference_module(reference, case)
    if kind == "shares":  # the parts' parameter counts: public, like parameter_count's
        return {"breakdown": {n: sum(p.numel() for p in child.parameters()) for n, child in module.named_children()}}
    expect = {"class": class_name(case.component), **extra,
              "state": {n: list(p.shape) for n, p in module.named_parameters()}}
    if kind in ("structure", "parameter_count"):
        described = rules.describe(module)
        expect.update({
            "state_dict": described["state_dict"],
            "modules": {n: {k: m[k] for k in ("type", "torch", "config")} for n, m in described["modules"].items()
                        if n and m["torch"]},
            "parameters": sum(p.numel() for p in module.parameters()),
            "per_submodule": {n: sum(p.numel() for p in sub.parameters()) for n, sub in module.named_children()},
        })
        return expect
    shapes = [list(o.shape) for o in _outputs(module, case)]
    expect.update({"outputs": shapes, "names": output_names(case.component, len(shapes))})
    if kind in ("weights_shape", "softmax_rows"):
        expect["weights"] = list(_outputs(module, case, return_weights=True)[1].shape)
    return expect


def gate_data(component: str, reference) -> dict:
    """The gate's cases, each with how the reference's outputs depend on its inputs and weights."""
    name = class_name(component)
    cases = []
    for case in released_cases(GATE_STRATEGIES[component](), GATE_CASES):
        module = _reference_module(reference, case)
        calls = [{}, {"return_weights": True}] if name == "SelfAttention" else [{}]
        names = []
        for kwargs in calls:
            count = len(_outputs(module, case, **kwargs))
            names.append(output_names("SelfAttention" if kwargs else case.component, count))
        record = case_record(case)
        expect = {"class": name, "state": {n: list(p.shape) for n, p in module.named_parameters()},
                  "calls": calls, "names": names}
        view = rules.LocalView(type(module))
        expect["depends"] = rules.dependence(view, record, expect)
        cases.append(dict(record, expect=expect))
    return {"class": name, "cases": cases}


# --- the checks -------------------------------------------------------------------------------

def judge(ctx: CheckContext, component: str, kind: str, case: Case | None, extra: dict) -> None:
    """Run rule ``kind`` on ``case`` against the student's code; a rule's verdict is a CheckFailed."""
    case = case or default_unet_case()
    expect = remembered(ctx, ("expect", kind, repr(case), repr(sorted(extra.items()))),
                        lambda: expectation(kind, case, ctx.reference, **extra))
    try:
        rules.RULES[kind](DoorView(ctx, class_name(component)), case_record(case), expect)
    except rules.Failed as failed:
        hint = failed.hint
        if hint is None and failed.message.startswith(rules.RAISED):  # a watched call's error: the usual diagnosis
            hint = explain(failed.message, component)
        raise CheckFailed(failed.message, hint=hint, evidence=_evidence(failed)) from None


def _evidence(failed: rules.Failed) -> Rejected | None:
    """What a rule compared, for the picture of where the numbers differ (``compare.Rejected``)."""
    if failed.compared is None:
        return None
    what, got, expected, allowed = failed.compared
    if type(got) is not torch.Tensor or got.shape != expected.shape:
        return None
    return Rejected(what, got.double(), expected.double(), allowed)


def rule_check(component: str, check_id: str, title: str, cases, kind: str, gated: bool = True, **extra) -> None:
    """Register check ``check_id`` as the public rule ``kind`` (``extra``: what the rule needs besides
    the case, e.g. the submodule a structure check looks at)."""
    check(component, check_id, title, cases, rule=kind, extra=extra, gated=gated)(
        lambda ctx, case: judge(ctx, component, kind, case, extra))


def require_real_work(ctx: CheckContext, component: str) -> None:
    """Raise the gate's failure if the component's forward computes nothing real (see the module
    docstring); decided once per component, on the gate's cases."""
    key = ("real work", component)
    if key not in ctx.verdicts:
        data = remembered(ctx, ("gate", component), lambda: gate_data(component, ctx.reference))
        view = DoorView(ctx, data["class"])
        ctx.verdicts[key] = None
        for entry in data["cases"]:
            try:
                rules.real_work(view, dict(data, cases=[entry]))
            except rules.Failed as failed:
                ctx.verdicts[key] = (failed.message, failed.hint)
            except StudentError as error:
                ctx.verdicts[key] = (f"{who_raised(error)} on {rules.case_text(data['class'], entry)}:\n{error}",
                                     explain(str(error), component))
            except BaseException:
                del ctx.verdicts[key]  # Pending (or worse): decided on a later pass
                raise
            if ctx.verdicts[key] is not None:
                break
    found = ctx.verdicts[key]
    if found is not None:
        failure = CheckFailed(*found)
        failure.about_component = True
        raise failure
