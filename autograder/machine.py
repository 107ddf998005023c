"""What the grading machine can do, and which failures are its own rather than the student's.

Three questions, answered in one place for every front end (``grade``, ``batch``, the Gradescope
bundle, a future ``doctor``) and for the grader:

- ``require_device``: is ``--device`` something this machine has? Asked before any grading, so a
  wrong flag is one usage error, never a class of zeros that blames every student.
- ``machine_fault``: did a check fail because of the machine (its GPU, its disk), not the code?
  Such a check is not the student's mistake: its output says so and the report needs a person.
- ``usable_cores``: how many cores may this process keep busy at once?

``cpu`` is answered without importing torch (the batch parent never imports it).
"""
import math
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from .errors import AutograderError

__all__ = ["DeviceUnavailable", "require_device", "machine_fault", "MACHINE_FAULT_OUTPUT", "usable_cores"]

_DEVICE = re.compile(r"(cpu|cuda|mps)(?::(\d+))?")


class DeviceUnavailable(AutograderError):
    """``--device`` names a device this machine lacks (or no device at all)."""


def require_device(device: str) -> str:
    """``device`` itself when this machine can run student code there; else ``DeviceUnavailable``,
    whose message says what this machine has and what to pass instead."""
    match = _DEVICE.fullmatch(device.strip().lower())
    if match is None:
        raise DeviceUnavailable(f"--device {device!r} is not a device: use cpu, cuda, cuda:N or mps")
    kind, index = match.group(1), match.group(2)
    if kind == "cpu":
        return device
    if kind == "mps":
        if sys.platform != "darwin":
            raise DeviceUnavailable(f"--device {device}: MPS exists only on macOS and this machine runs "
                                    f"{sys.platform}; it has {_what_this_machine_has()}")
        import torch

        if not torch.backends.mps.is_available():
            raise DeviceUnavailable(f"--device {device}: this Mac's torch cannot use MPS; it has {_what_this_machine_has()}")
        return device
    count = _cuda_count()
    if count == 0:
        raise DeviceUnavailable(f"--device {device}: this machine has no CUDA device; it has {_what_this_machine_has()}")
    if index is not None and int(index) >= count:
        raise DeviceUnavailable(f"--device {device}: there is no CUDA device {index}; "
                                f"this machine has {_what_this_machine_has()}")
    return device


def _cuda_count() -> int:
    import torch

    # the NVML count does not initialise CUDA here, so processes forked later may still use it
    count = getattr(torch.cuda, "_device_count_nvml", None)
    try:
        found = count() if count is not None else -1
        return found if found >= 0 else torch.cuda.device_count()
    except Exception:  # noqa: BLE001 -- a broken driver is "no CUDA device" for our purpose
        return 0


def _what_this_machine_has() -> str:
    """e.g. ``cpu only (torch 2.13.0+cpu, built without CUDA): pass --device cpu``."""
    import torch

    has = ["cpu"]
    count = _cuda_count() if torch.backends.cuda.is_built() else 0
    has += [f"cuda:{i}" for i in range(count)]
    if sys.platform == "darwin" and torch.backends.mps.is_available():
        has.append("mps")
    built = "" if torch.backends.cuda.is_built() else ", built without CUDA"
    devices = "cpu only" if len(has) == 1 else ", ".join(has)
    return f"{devices} (torch {torch.__version__}{built}): pass --device {has[-1] if len(has) > 1 else 'cpu'}"


# Error texts that the machine causes, whatever the student's code. Each recognises one failure of
# the machine; device errors count only where the grader put the student's code on that device
# (on the CPU, "Torch not compiled with CUDA" means the code hard-coded cuda: the student's mistake),
# and a full disk only where the grader sees its own disk full (a child that fills its private /tmp,
# or raises ENOSPC itself, is the student's doing).
_DISK = (
    ("No space left on device", "the grading machine's disk is full"),
    ("Errno 28]", "the grading machine's disk is full"),
    ("Disk quota exceeded", "the grading machine's disk quota is used up"),
)
LOW_DISK_BYTES = 64 << 20  # below this much free space where the grader writes, the disk counts as full
_ON_A_DEVICE = (
    ("CUDA out of memory", "the grading machine's GPU ran out of memory"),
    ("CUDA error", "the grading machine's GPU failed"),
    ("CUDA driver", "the grading machine's GPU driver failed"),
    ("cuDNN error", "the grading machine's GPU library (cuDNN) failed"),
    ("CUBLAS_STATUS", "the grading machine's GPU library (cuBLAS) failed"),
    ("Torch not compiled with CUDA enabled", "the grading machine's torch cannot use its GPU"),
    ("No CUDA GPUs are available", "the grading machine has no GPU it can use"),
    ("Found no NVIDIA driver", "the grading machine has no GPU driver"),
    ("MPS backend out of memory", "the grading machine's GPU ran out of memory"),
)

MACHINE_FAULT_OUTPUT = ("The grading machine could not run this check ({fault}): this is not a mistake in your "
                        "code, and your instructor will grade it again.")


def machine_fault(error: str, device: str = "cpu") -> str | None:
    """What went wrong with the machine, in a few words, when ``error`` is the machine's doing; else None."""
    rules = _ON_A_DEVICE if not device.strip().lower().startswith("cpu") else ()
    found = next((fault for marker, fault in rules if marker in error), None)
    if found is None and any(marker in error for marker, _ in _DISK) and _free_bytes() < LOW_DISK_BYTES:
        found = next(fault for marker, fault in _DISK if marker in error)
    return found


def _free_bytes() -> int:
    """The least free space where the grader writes: the temporary folder and the working folder."""
    free = []
    for folder in (tempfile.gettempdir(), "."):
        try:
            free.append(shutil.disk_usage(folder).free)
        except OSError:
            continue
    return min(free, default=0)


def usable_cores(cgroup: Path = Path("/sys/fs/cgroup"), membership: Path = Path("/proc/self/cgroup")) -> int:
    """The cores this process may keep busy at once: those it may run on, fewer under a CPU quota
    (``cpu.max`` in cgroup v2, ``cpu.cfs_quota_us`` in v1, on this process's cgroup and every one
    above it), as Gradescope-like containers limit CPU by quota rather than by the cores they show.
    A quota of 1.5 cores counts as 1: a second busy process would only contend."""
    cores = len(os.sched_getaffinity(0))
    quotas = [q for q in (_cpu_quota(folder) for folder in _cgroup_folders(cgroup, membership)) if q is not None]
    return max(1, min([cores] + [math.floor(q) for q in quotas]))


def _cgroup_folders(cgroup: Path, membership: Path) -> list[Path]:
    """This process's cgroup folders (v2's one, v1's cpu controller's) and their ancestors, and the root."""
    folders = [cgroup, cgroup / "cpu"]
    try:
        lines = membership.read_text().splitlines()
    except OSError:
        return folders
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        base = cgroup if controllers == "" else (cgroup / "cpu" if "cpu" in controllers.split(",") else None)
        if base is None:
            continue
        here = Path(path.strip())
        for ancestor in [here, *here.parents]:
            folders.append(base / str(ancestor).lstrip("/"))
    return folders


def _cpu_quota(folder: Path) -> float | None:
    """Cores' worth of CPU time the quota in ``folder`` allows, or None (no quota, or none readable)."""
    try:
        fields = (folder / "cpu.max").read_text().split()
        if len(fields) == 2 and fields[0] != "max" and int(fields[1]) > 0:
            return int(fields[0]) / int(fields[1])
        return None
    except (OSError, ValueError):
        pass
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text())
        period = int((folder / "cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None
