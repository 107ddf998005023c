"""Helpers shared by the tests: the quick grading configs (every test that grades with fewer examples or
shorter limits builds its config here), the venv's tools, an isolated Jupyter home."""
import os
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions" / "unet"
BIN = Path(sys.executable).parent


def fast_config(folder: Path, examples: int = 2) -> Path:
    """grading_config.yaml with the same checks and points but few Hypothesis examples: quick to grade."""
    raw = yaml.safe_load((ROOT / "grading_config.yaml").read_text())
    raw["reference"] = str(SOLUTIONS)
    raw["hypothesis"] = {"max_examples": examples}
    for checks in raw["components"].values():
        for settings in checks.values():
            settings.pop("max_examples", None)
    path = folder / "grading_config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def short_limits(config):
    """``config`` with one example per check and low limits, in memory: a hang costs 3 s, not 30."""
    limits = config.limits.model_copy(update={
        "call_timeout_s": 3, "experiment_timeout_s": 30, "component_timeout_s": 30, "cpu_s": 20, "memory_mb": 1024,
        "processes": 48, "file_size_mb": 1, "open_files": 64,
    })
    components = {
        name: {check: s.model_copy(update={"max_examples": 1}) for check, s in checks.items()}
        for name, checks in config.components.items()
    }
    return config.model_copy(update={"limits": limits, "components": components})


def isolated_env(home: Path) -> dict:
    """Environment for nbgrader/jupyter subprocesses: temporary HOME and Jupyter dirs, the venv first on PATH."""
    env = dict(os.environ)
    for name, sub in [("HOME", "home"), ("JUPYTER_CONFIG_DIR", "jupyter-config"), ("JUPYTER_DATA_DIR", "jupyter-data"),
                      ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"), ("IPYTHONDIR", "ipython"), ("MPLCONFIGDIR", "mpl")]:
        (home / sub).mkdir(parents=True, exist_ok=True)
        env[name] = str(home / sub)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # nbgrader runs `alembic` from PATH
    env["MPLBACKEND"] = "Agg"
    return env
