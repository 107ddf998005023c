"""The gate: does the forward pass do real work (its outputs change with the inputs and with the weights)?"""
import torch

from .cases import as_list, case_text, module_with_weights, our_weights
from .inputs import make_inputs, moved_inputs
from .tensors import Failed, changed, nonfinite_problem


# --- does the forward pass do real work? --------------------------------------------------------

def dependence(view, case: dict, expect: dict) -> list:
    """Per call (``expect['calls']``), per output: [changes with the inputs, changes with the
    weights] (None where the weights could not be set). Raises Failed on NaN or infinity."""
    class_name = expect["class"]
    module = view.module(case["init"])
    settable = view.load(module, our_weights(case, expect), partial=True) is None
    if not settable:
        module = module_with_weights(view, case, our_weights(case, expect))
    inputs = make_inputs(case)
    moved = moved_inputs(case, inputs)
    requests = []
    for kwargs in expect["calls"]:
        requests += [lambda kwargs=kwargs: view.run(module, inputs, **kwargs),
                     lambda kwargs=kwargs: view.run(module, moved, **kwargs)]
    if settable:
        other = view.module(case["init"])
        view.load(other, our_weights(case, expect, offset=1), partial=True)
        requests += [lambda kwargs=kwargs: view.run(other, inputs, **kwargs) for kwargs in expect["calls"]]
    answers = view.together(*requests)
    found = []
    for index, kwargs in enumerate(expect["calls"]):
        base, shifted = as_list(answers[2 * index]), as_list(answers[2 * index + 1])
        reweighted = as_list(answers[2 * len(expect["calls"]) + index]) if settable else [None] * len(base)
        found.append([])
        for a, b, c in zip(base, shifted, reweighted):
            if type(a) is not torch.Tensor:
                found[-1].append([False, False])
                continue
            for value in (a, b, c):
                problem = value is not None and nonfinite_problem(value, f"your {class_name}'s output")
                if problem:
                    raise Failed(f"{problem}, on {case_text(class_name, case)} with random weights",
                                 hint="Every value of the forward pass must be a number: look for a division by "
                                 "zero, a log or sqrt of a negative number, or an uninitialised tensor (torch.empty).")
            found[-1].append([type(b) is torch.Tensor and changed(a, b),
                              None if c is None else type(c) is torch.Tensor and changed(a, c)])
    return found


def real_work(view, gate: dict) -> None:
    """Fail unless each output changes with the inputs and with the weights wherever the contract's
    does: a forward that returns zeros, NaN, its input or a fixed answer computes nothing."""
    class_name = gate["class"]
    hint = ("Compute the output from the inputs with the submodules built in __init__, as the docstring says: "
            "the checks of the forward pass score only a forward that does.")
    for entry in gate["cases"]:
        expect = entry["expect"]
        try:
            found = dependence(view, entry, expect)
        except Failed:
            raise
        except Exception:  # noqa: BLE001 - the student's error, or the plain forward's own, raised below
            if len(expect["calls"]) == 1:
                raise
            # A call with options (SelfAttention's return_weights=True) that raises is a mistake of
            # that option, charged by the checks that ask for it; the gate judges the plain forward.
            expect = dict(expect, **{key: expect[key][:1] for key in ("calls", "names", "depends")})
            found = dependence(view, entry, expect)
        outputs = [(name, should, did) for names, depends, got in zip(expect["names"], expect["depends"], found)
                   for name, should, did in zip(names, depends, got)]
        for name, should, did in outputs:
            where = f" (on {case_text(class_name, entry)} with random weights)"
            if should[0] and not did[0]:
                raise Failed(f"your {class_name}'s {name} does not change when its inputs change{where}: "
                             "forward does not compute it from them", hint=hint)
            if should[1] and did[1] is False:
                raise Failed(f"your {class_name}'s {name} does not change when the weights change{where}: "
                             "forward does not compute it with the module's submodules", hint=hint)
