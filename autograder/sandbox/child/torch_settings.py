"""torch's process-wide settings that a submission's top-level code can change, and how to put them back.

A notebook habit at the top of one file (``torch.set_grad_enabled(False)``, ``torch.set_default_dtype(
torch.float64)``) would otherwise reach every check of every component: no gradient for the gradient
checks, a training loop that cannot call ``backward``, float64 stand-ins against float32 inputs. So
what importing the student's files changed is put back, each with a note that names the call
(``put_back``). What a function changes while it runs is that function's behaviour, which the checks
watch as it is (``shape_trace`` building no gradients, say); a change it leaves behind is put back,
silently, before the component's next question (``server._program``; check.py's ``fresh_settings``), and
the audit (``audit.GlobalState``, which records every setting here) keeps it from reaching the next component.

``SETTINGS`` is the one list, read by the child and by check.py (the release ships this very file as
``check_support/torch_settings.py``), so both put back the same things. Standard library and torch only.
"""
from typing import Callable, NamedTuple

import torch

_AUTOCAST_DEVICES = ("cpu", "cuda")
_KEPT = []  # inference-mode guards of ours, held for good (see ``_set_inference_mode``)


class Setting(NamedTuple):
    read: Callable[[], object]  # the value now: plain and comparable
    write: Callable[[object], None]
    said: Callable[[object], str]  # what the student's code did to give it ``value``, after "your code"
    why: str  # why the grader needs it back, and what to do instead


def _set_inference_mode(enabled: bool) -> None:
    """Inference mode lasts as long as the context that entered it (``ctx = torch.inference_mode();
    ctx.__enter__()`` at the top of a file lives with the module), so it cannot be switched off like a
    flag: a guard of ours sets it back, and is never released -- released after the student's context,
    it would bring back the state it found."""
    guard = torch.inference_mode(enabled)
    guard.__enter__()
    _KEPT.append(guard)


def _default_device(device: str) -> None:
    torch.set_default_device(None if device == "cpu" else device)  # None: no device context left on torch's calls


def _autocast(device_type: str) -> Setting:
    return Setting(lambda: torch.is_autocast_enabled(device_type),
                   lambda enabled: torch.set_autocast_enabled(device_type, enabled),
                   lambda enabled: f"{'enters' if enabled else 'leaves'} torch.autocast({device_type!r}) for good",
                   "the checks compare float32 results with the reference's; use torch.autocast(...) as a "
                   "context, around the code that needs it")


_GRADIENTS = ("the checks compare gradients with the reference's, and skip_ablation trains; turn gradients off "
              "only around the code that needs none, with torch.no_grad()")
_TF32 = "TensorFloat-32 changes float32 results by about 1e-3, far more than the checks allow"

# In the order they are put back: inference mode first, since leaving it turns gradients back on.
SETTINGS: tuple[Setting, ...] = (
    Setting(torch.is_inference_mode_enabled, _set_inference_mode,
            lambda enabled: f"{'enters' if enabled else 'leaves'} torch.inference_mode() for good", _GRADIENTS),
    Setting(torch.is_grad_enabled, torch.set_grad_enabled,
            lambda enabled: f"calls torch.set_grad_enabled({enabled})", _GRADIENTS),
    Setting(lambda: (torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled()),
            lambda value: torch.set_anomaly_enabled(*value),
            lambda value: f"calls torch.autograd.set_detect_anomaly({value[0]})",
            "it slows every backward pass, against the grader's time limit; turn it on while you debug"),
    Setting(lambda: (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()),
            lambda value: torch.use_deterministic_algorithms(value[0], warn_only=value[1]),
            lambda value: f"calls torch.use_deterministic_algorithms({value[0]})",
            "the grader's runs give the same results every time already"),
    Setting(torch.get_default_dtype, torch.set_default_dtype,
            lambda dtype: f"calls torch.set_default_dtype({dtype})",
            "its checks build and feed float32 tensors; set a dtype where you make a tensor instead"),
    Setting(lambda: str(torch.get_default_device()), _default_device,
            lambda device: f"calls torch.set_default_device({device!r})",
            "its checks feed tensors on the grading device; make tensors on your input's device (x.device) instead"),
    Setting(torch.get_num_threads, torch.set_num_threads,
            lambda threads: f"calls torch.set_num_threads({threads})", "each grading process computes on one thread"),
    Setting(lambda: torch.backends.mkldnn.enabled, lambda enabled: setattr(torch.backends.mkldnn, "enabled", enabled),
            lambda enabled: f"sets torch.backends.mkldnn.enabled = {enabled}",
            "the grader runs its small convolutions without oneDNN: the same maths, faster"),
    *map(_autocast, _AUTOCAST_DEVICES),
    Setting(torch.get_float32_matmul_precision, torch.set_float32_matmul_precision,
            lambda precision: f"calls torch.set_float32_matmul_precision({precision!r})", _TF32),
    Setting(lambda: torch.backends.cudnn.allow_tf32, lambda allowed: setattr(torch.backends.cudnn, "allow_tf32", allowed),
            lambda allowed: f"sets torch.backends.cudnn.allow_tf32 = {allowed}", _TF32),
    Setting(lambda: torch.backends.cudnn.benchmark, lambda on: setattr(torch.backends.cudnn, "benchmark", on),
            lambda on: f"sets torch.backends.cudnn.benchmark = {on}",
            "it picks convolution algorithms by timing them, so results could change from one run to the next"),
)


def snapshot() -> tuple:
    """Every setting's value now, in ``SETTINGS``' order."""
    return tuple(setting.read() for setting in SETTINGS)


def put_back(before: tuple) -> list[str]:
    """Set back each setting that differs from ``before`` (a ``snapshot``); one note per setting put back,
    naming what the student's code did, for the feedback."""
    notes = []
    for setting, value in zip(SETTINGS, before):
        now = setting.read()
        if now == value:
            continue
        try:
            setting.write(value)
        except Exception as error:  # noqa: BLE001 -- torch left in a state we cannot undo: said, and the audit sees it
            notes.append(f"your code {setting.said(now)} when imported, and the grader could not put it back "
                         f"({type(error).__name__}); {setting.why}")
            continue
        notes.append(f"your code {setting.said(now)} when imported: the grader put it back ({setting.why})")
    return notes
