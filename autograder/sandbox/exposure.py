"""What a child could read that it must not: checked at start-up, in whatever sandbox we got.

bubblewrap shows a child only /usr, Python and the child's own code, so the reference, the grading
config and the grader's package are simply not there. Without it (the fallback, likely on
Gradescope's images), a child sees every file its uid may read: then secrecy rests on file
permissions, and the only honest thing is to look. The zygote forks a child made like every other
and tries to read each secret; anything it reads stops grading with one line saying how to fix it,
unless the operator accepts the risk (``AUTOGRADER_ACCEPT_RISK=1``).
"""
import os
from pathlib import Path

from ..errors import AutograderError

ACCEPT_VARIABLE = "AUTOGRADER_ACCEPT_RISK"
PACKAGE = Path(__file__).resolve().parent.parent  # autograder/
CHILD = Path(__file__).resolve().parent / "child"  # a child's own code: it may see that


class SecretsInReach(AutograderError):
    """A child could read the reference, the grading config or the grader's checks."""


def secret_paths(reference_dir: Path, config_file: str | None) -> list[str]:
    """Every file a child must not read: the reference, the config, the grader's package but the child's code."""
    paths = sorted(str(p) for p in Path(reference_dir).rglob("*.py"))
    if config_file:
        paths.append(str(Path(config_file).resolve()))
    paths += sorted(str(p) for p in PACKAGE.rglob("*.py") if not p.is_relative_to(CHILD) and "__pycache__" not in p.parts)
    return paths


def check_exposure(zygote, settings: dict, reference_dir: Path, config_file: str | None) -> str | None:
    """None when no secret is in a child's reach; a warning when some is but the risk is accepted.

    Raises ``SecretsInReach`` otherwise.
    """
    readable = zygote.readable(secret_paths(reference_dir, config_file), settings)
    if not readable:
        return None
    shown = ", ".join(readable[:3]) + (f" and {len(readable) - 3} more" if len(readable) > 3 else "")
    mode = zygote.isolation.mode
    fix = ("install bubblewrap (apt-get install bubblewrap), or make them unreadable to other users "
           f"(chmod -R o-rwx {Path(readable[0]).parent})" if zygote.isolation.uid is not None else
           "run the grader as root (children then run as a uid of their own) with bubblewrap installed")
    message = (f"student code could read {shown} (sandbox mode {mode}): {fix}; "
               f"or set {ACCEPT_VARIABLE}=1 to grade anyway")
    if os.environ.get(ACCEPT_VARIABLE) == "1":
        return f"autograder: WARNING: {message.split(': ', 1)[0]}; grading anyway ({ACCEPT_VARIABLE}=1)"
    raise SecretsInReach(message)
