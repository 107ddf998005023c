"""``autograder check``: the public checks on a folder, exactly as a student's ``check.py`` runs them.

It writes a fresh ``check.py`` (never one found in the folder, which the student may have edited)
and runs it in a child process with a time limit, so a submission that hangs costs a clear error,
not a stuck terminal. The expected shapes come from the ``public_checks.json`` of the release the
folder sits in, or are computed from the reference when there is none (about ten seconds).
"""
import subprocess
import sys
import tempfile
from pathlib import Path

from .errors import AutograderError, SubmissionError
from .release.public_checks_data import DATA_FILE, write_public_checks
from .release.student import CHECK_SCRIPT, check_script_source, write_check_support

__all__ = ["run_public_checks"]


def _shipped_data(path: Path) -> Path | None:
    """The release's public_checks.json: in ``path`` or up to two folders above it."""
    for folder in [path, *list(path.resolve().parents)[:2]]:
        if (folder / DATA_FILE).is_file():
            return folder / DATA_FILE
    return None


def run_public_checks(path, *, only: str | None = None, data=None, config=None, timeout_s: float = 300) -> int:
    """Print the public checks' report for ``path``; return check.py's exit status (0: all pass)."""
    from .config import GradingConfig, load_config

    path = Path(path)
    if not path.is_dir():
        raise SubmissionError(f"{path}: no such folder; pass the folder that holds your modules")
    with tempfile.TemporaryDirectory(prefix="autograder-check-") as scratch:
        script = Path(scratch) / CHECK_SCRIPT
        script.write_text(check_script_source(), encoding="utf-8")
        write_check_support(Path(scratch))
        data = Path(data) if data else _shipped_data(path)
        if data is None:
            loaded = config if isinstance(config, GradingConfig) else load_config(config)
            data = write_public_checks(loaded, Path(scratch) / DATA_FILE)
        elif not data.is_file():
            raise AutograderError(f"{data}: no such file; pass --data with a release's {DATA_FILE}, or leave it out")
        command = [sys.executable, str(script), str(path.resolve()), "--data", str(Path(data).resolve())] + (["--only", only] if only else [])
        try:
            return subprocess.run(command, timeout=timeout_s, cwd=scratch).returncode
        except subprocess.TimeoutExpired:
            raise AutograderError(
                f"the public checks did not finish within {timeout_s:g} s: does the code loop forever?"
            ) from None
