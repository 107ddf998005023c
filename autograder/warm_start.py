"""The reference's side of grading, kept beside the reference so that a fresh grader starts warm.

A warm grader draws each check group's cases once and keeps the reference's models and runs on
them (``checks/runner.py``, ``checks/common.ReferenceCache``); a fresh one -- every Gradescope run,
every `autograder grade` -- would pay that again, several times a warm grading. Both depend only
on the grader's code, the reference, the configuration and the library versions, so they are saved
once and loaded by the next grader.

They live in a folder beside the reference (``GradingConfig.reference_results``), one file per key:
a digest of everything the content depends on, also the file's first line. A grader loads only the
file of its own key, so a stale copy (the checks, the reference or a setting changed since) is never
used, and two configurations in use side by side (a quick dry run and the real one) do not evict each
other; the folder keeps the ``KEEP`` most recently used. The folder is a secret like the reference:
the start-up exposure check and ``make_private`` cover it (``sandbox/exposure.secret_roots``), it is
its owner's alone, releases never copy it, and a Gradescope bundle's ``setup.sh`` fills it. Its
files are pickles, as trusted as the reference code beside them: only the grader writes them.
"""
import hashlib
import json
import os
import pickle
import platform
import tempfile
from pathlib import Path

import hypothesis
import torch

from .config import GradingConfig
from .reference import Reference

PACKAGE = Path(__file__).resolve().parent


def key(config: GradingConfig, device: str) -> str:
    """A digest of what the saved results depend on: the grader's code, the reference's files, the
    settings (not where they are), the device and the versions of Python, torch and Hypothesis."""
    digest = hashlib.blake2b(digest_size=20)
    settings = config.model_dump(mode="json", exclude={"reference", "source_path"})
    for part in (json.dumps(settings, sort_keys=True), device, platform.python_version(), torch.__version__,
                 hypothesis.__version__):
        digest.update(part.encode() + b"\0")
    for root in (PACKAGE, config.reference_dir()):
        feed_sources(digest, root)
    return digest.hexdigest()


def feed_sources(digest, root: Path) -> None:
    """Every .py file under ``root`` (caches left out), by its relative name and bytes, into ``digest``."""
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" not in path.parts:
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")


def _tensor(array, requires_grad: bool) -> torch.Tensor:
    return torch.from_numpy(array).requires_grad_(requires_grad)


class _Pickler(pickle.Pickler):
    """Tensors as numpy arrays: torch's own pickling reads each tensor back through ``torch.load``
    (0.15 ms each, 1.9 s for the ~12,500 of a full file); an array is rebuilt from its bytes."""

    def reducer_override(self, obj):
        if (type(obj) is torch.Tensor and obj.device.type == "cpu" and obj.layout is torch.strided
                and obj.grad_fn is None and obj.dtype is not torch.bfloat16):
            return _tensor, (obj.detach().numpy(), obj.requires_grad)
        return NotImplemented


KEEP = 4  # results files kept per reference: one per configuration in use, the least recently used go


def results_file(folder: Path, the_key: str) -> Path:
    return Path(folder) / f"{the_key}.pickle"


def load(folder: Path, expected_key: str, reference: Reference) -> tuple[dict, dict] | None:
    """(drawn cases, reference results) saved under ``expected_key``, or None (none saved, unreadable)."""
    path = results_file(folder, expected_key)
    try:
        with path.open("rb") as handle:
            if handle.readline().decode(errors="replace").strip() != expected_key:
                return None
            reference.import_all()  # the saved models' classes live in the reference's package
            drawn, references = pickle.load(handle)
        os.utime(path)  # recently used: the last the folder lets go
    except Exception:  # noqa: BLE001 -- missing, damaged or from another library version: computed afresh
        return None
    return drawn, references


def save(folder: Path, the_key: str, drawn: dict, references: dict) -> Path | None:
    """Write the key's file atomically (batch workers may race); None where it cannot be written (a
    read-only reference folder) or something in it cannot be saved: the next grader starts cold, no worse."""
    folder, path = Path(folder), results_file(folder, the_key)
    try:
        folder.mkdir(mode=0o700, exist_ok=True)  # secret like the reference: its owner only
        handle = tempfile.NamedTemporaryFile("wb", dir=folder, prefix=".saving-", delete=False)
    except OSError:
        return None
    try:
        with handle:
            handle.write(the_key.encode() + b"\n")
            _Pickler(handle, protocol=pickle.HIGHEST_PROTOCOL).dump((drawn, dict(references)))
        os.chmod(handle.name, 0o600)
        os.replace(handle.name, path)
    except Exception:  # noqa: BLE001 -- a cache: failing to write it must never fail the grading that made it
        Path(handle.name).unlink(missing_ok=True)
        return None
    _prune(folder)
    return path


def _prune(folder: Path) -> None:
    """Keep the ``KEEP`` most recently used files."""
    try:
        files = sorted(folder.glob("*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
        for stale in files[KEEP:]:
            stale.unlink(missing_ok=True)
    except OSError:
        pass
