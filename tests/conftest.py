"""Shared fixtures: one grader (one fork server, one torch import) per test worker."""
import shutil
from pathlib import Path

import pytest

from autograder.config import load_config
from autograder.grader import Grader

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions" / "unet"


@pytest.fixture(scope="session")
def config():
    return load_config(ROOT / "grading_config.yaml")


@pytest.fixture(scope="session")
def grader(config):
    with Grader(config) as shared:
        yield shared


@pytest.fixture
def make_submission(tmp_path):
    """Copy the reference into a temporary submission folder, with some modules replaced."""
    def make(replacements: dict[str, str] | None = None, remove: tuple = (), name: str = "submission") -> Path:
        folder = tmp_path / name
        shutil.copytree(SOLUTIONS, folder)
        for module, source in (replacements or {}).items():
            (folder / f"{module}.py").write_text(source, encoding="utf-8")
        for module in remove:
            (folder / f"{module}.py").unlink()
        return folder

    return make


def full_outputs(report) -> dict[str, str]:
    """Each check's output, with "The same error as ..." references followed to the text they name."""
    by_name = {c.name: c.output for c in report.checks}
    resolved = {}
    for name, output in by_name.items():
        if output.startswith('The same error as "'):
            output = by_name[output.split('"')[1]]
        resolved[name] = output
    return resolved
