"""What a child could read that it must not: one list, checked at start-up, in whatever sandbox we got.

The secrets are every copy of the grader's package this machine holds (the one we run from, any
other on ``sys.path``, any installed distribution of it: a Gradescope bundle has one in its source
folder and one in its virtualenv), the reference folder, the reference's saved results beside it
(``warm_start.py``), and the grading config. ``secret_roots`` names them; ``secret_paths`` is every file under them, compiled
bytecode included. bubblewrap shows a child only /usr, Python and the child's own code; without
it (the fallback, likely on Gradescope's images) a child sees every file its uid may read, so
secrecy rests on file permissions, and the only honest thing is to look. The zygote forks a child
made like every other and tries to read each file; anything it reads stops grading with one line
saying how to fix it, unless the operator accepts the risk (``AUTOGRADER_ACCEPT_RISK=1``).
``make_private`` is what a deployment (the Gradescope bundle's ``setup.sh``) runs on the same roots.
"""
import importlib.metadata
import json
import os
import stat
import sys
from pathlib import Path

from ..config import reference_results_folder
from ..errors import AutograderError

ACCEPT_VARIABLE = "AUTOGRADER_ACCEPT_RISK"
PACKAGE = Path(__file__).resolve().parent.parent  # autograder/: the copy this process runs
DISTRIBUTION = "unet-autograder"  # pyproject.toml's project name
PROBE_BYTES = 40_000  # paths per probe request, as JSON: the zygote reads at most 64 KiB a request


class SecretsInReach(AutograderError):
    """A child could read the reference, the grading config or the grader's checks."""


def grader_copies() -> list[Path]:
    """Every copy of the grader's package on this machine that Python knows of.

    The one running, one in each ``sys.path`` folder (a bundle's source folder and its venv's
    site-packages both hold one), and the import packages of every installed distribution of ours.
    """
    name = PACKAGE.name
    found = {PACKAGE}
    for entry in sys.path:
        candidate = Path(entry or ".") / name
        if (candidate / "__init__.py").is_file():
            found.add(candidate.resolve())
    try:
        installed = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        installed = None
    if installed is not None and any(f.parts[:1] == (name,) for f in installed.files or []):
        found.add(Path(installed.locate_file(name)).resolve())  # an editable install lists none: it is PACKAGE
    return sorted(found)


def secret_roots(reference_dir: Path, config_file: str | None) -> list[Path]:
    """The files and folders whose every byte is secret: what ``make_private`` locks and the probe reads."""
    roots = [*grader_copies(), Path(reference_dir).resolve(), reference_results_folder(Path(reference_dir).resolve())]
    if config_file:
        roots.append(Path(config_file).resolve())
    return roots


def secret_paths(reference_dir: Path, config_file: str | None) -> list[str]:
    """Every file a child must not read: each file under ``secret_roots`` (bytecode and caches too).

    Files, not folders: a child that may list a folder learns names, not contents.
    """
    paths = set()
    for root in secret_roots(reference_dir, config_file):
        if root.is_file():
            paths.add(str(root))
        elif root.is_dir():
            paths.update(str(p) for p in root.rglob("*") if p.is_file() and not p.is_symlink())
    return sorted(paths)


def make_private(reference_dir: Path, config_file: str | None) -> list[Path]:
    """Take group and other permissions off every secret root, recursively; return the roots.

    Running it twice changes nothing. A file made later inside a private folder stays out of reach
    whatever its own mode, which is why folders are locked too.
    """
    roots = [r for r in secret_roots(reference_dir, config_file) if r.exists()]
    for root in roots:
        for path in [root, *(root.rglob("*") if root.is_dir() else [])]:
            if not path.is_symlink():
                os.chmod(path, stat.S_IMODE(path.stat().st_mode) & ~0o077)
    return roots


def readable_by_child(zygote, paths: list[str], settings: dict) -> list[str]:
    """Which of ``paths`` a child made with ``settings`` can read, asked in requests the zygote accepts."""
    readable, batch, size = [], [], 0
    for path in [*paths, None]:
        if path is None or (batch and size + len(json.dumps(path)) > PROBE_BYTES):
            readable += zygote.readable(batch, settings) if batch else []
            batch, size = [], 0
        if path is not None:
            batch.append(path)
            size += len(json.dumps(path)) + 2
    return readable


def readable_by_permissions(reference_dir: Path, config_file: str | None, settings: dict) -> list[str]:
    """The secrets that file permissions alone leave in reach: a child of a fallback-mode fork server
    (no bubblewrap to hide anything) tries each. For a deployment that must hold wherever bubblewrap
    cannot run; meaningful as root only (otherwise children keep our uid and read everything we can)."""
    from .isolation import detect
    from .zygote_client import Zygote

    with Zygote(isolation=detect(requested="fallback")) as zygote:
        return readable_by_child(zygote, secret_paths(reference_dir, config_file), settings)


def check_exposure(zygote, settings: dict, reference_dir: Path, config_file: str | None) -> str | None:
    """None when no secret is in a child's reach; a warning when some is but the risk is accepted.

    Raises ``SecretsInReach`` otherwise.
    """
    readable = readable_by_child(zygote, secret_paths(reference_dir, config_file), settings)
    if not readable:
        return None
    shown = ", ".join(readable[:3]) + (f" and {len(readable) - 3} more" if len(readable) > 3 else "")
    mode = zygote.isolation.mode
    folders = " ".join(sorted({str(r) for r in secret_roots(reference_dir, config_file)
                               if any(p == str(r) or p.startswith(f"{r}{os.sep}") for p in readable)}))
    fix = ("install bubblewrap (apt-get install bubblewrap), or make them unreadable to other users "
           f"(chmod -R go-rwx {folders}; `autograder secrets --make-private` does it)" if zygote.isolation.uid is not None else
           "run the grader as root (children then run as a uid of their own) with bubblewrap installed")
    message = (f"student code could read {shown} (sandbox mode {mode}): {fix}; "
               f"or set {ACCEPT_VARIABLE}=1 to grade anyway")
    if os.environ.get(ACCEPT_VARIABLE) == "1":
        return f"autograder: WARNING: {message.split(': ', 1)[0]}; grading anyway ({ACCEPT_VARIABLE}=1)"
    raise SecretsInReach(message)
