"""The Gradescope autograder bundle: ``setup.sh``, ``run_autograder``, the grader, config and reference.

Gradescope unzips the bundle into ``/autograder/source`` on its servers (students never see it), runs
``setup.sh`` once when it builds the image, and ``run_autograder`` for every submission, which must
leave ``/autograder/results/results.json``. ``AUTOGRADER_ROOT`` (default ``/autograder``) and
``AUTOGRADER_PYTHON`` let a test run the very same script against a temporary root.
"""
import stat
import zipfile
from pathlib import Path

import yaml

from ..config import GradingConfig, load_config
from ..errors import ReleaseError

PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # autograder/
REPO_ROOT = PACKAGE_ROOT.parent
BUNDLED_REFERENCE = "solutions/unet"
TORCH = "torch==2.13.0"

NEUTRAL_LINE = "grading could not run: your course staff have been told"
WHEELS_VARIABLE = "AUTOGRADER_WHEELS"  # a folder of wheels: setup.sh installs from it alone, offline

SETUP_SH = f"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu 22.04 or 24.04
# base images). Running it again changes nothing. AUTOGRADER_ROOT (default /autograder) relocates
# it; {WHEELS_VARIABLE}=DIR installs from a folder of wheels alone, without the network.
set -euo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
WHEELS="${{{WHEELS_VARIABLE}:-}}"
cd "$ROOT/source"

usable_python() {{  # a Python 3.11+ that can make a virtualenv
    local candidate
    for candidate in python3 python3.13 python3.12 python3.11; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}}

# bubblewrap walls student code off from everything but Python (README "Security model"); where the
# image cannot run it, the permissions set below keep the reference and the checks from student code.
missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
if ! usable_python >/dev/null; then
    if python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        missing+=(python3-venv)  # Ubuntu 24.04: python3 is 3.12, without venv's ensurepip
    else
        missing+=(python3.11 python3.11-venv)  # Ubuntu 22.04: python3 is 3.10
    fi
fi
if [ "${{#missing[@]}}" -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
    {{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${{missing[@]}}"; }} \\
        || echo "could not install ${{missing[*]}}" >&2
fi
command -v bwrap >/dev/null 2>&1 || echo "no bubblewrap: grading uses the fallback sandbox (file permissions)" >&2
PYTHON="$(usable_python)" || {{
    echo "no Python 3.11+ with venv here, and apt could not install one: choose the Ubuntu 22.04 or 24.04 base image" >&2
    exit 1
}}

[ -x "$ROOT/venv/bin/python" ] || "$PYTHON" -m venv "$ROOT/venv"
pip=("$ROOT/venv/bin/python" -m pip install --quiet --disable-pip-version-check)
if [ -n "$WHEELS" ]; then
    pip+=(--no-index --find-links "$WHEELS")
    "${{pip[@]}}" "{TORCH}"
else
    "${{pip[@]}}" --upgrade pip
    "${{pip[@]}}" "{TORCH}" --index-url https://download.pytorch.org/whl/cpu
fi
"${{pip[@]}}" "$ROOT/source"
rm -rf "$ROOT/source/build" "$ROOT/source/"*.egg-info  # the build's own copy of the grader
# Student code runs as an unprivileged uid: every copy of the grader (its hidden checks), the
# reference and the config must be root's alone. The same list the grader checks before grading anyone
# is locked here and then probed by a sandboxed child with no bubblewrap to hide it.
chmod -R go-rwx "$ROOT/source"
"$ROOT/venv/bin/python" -m autograder.cli secrets --make-private --config "$ROOT/source/grading_config.yaml"
# The reference's results on the grader's cases, computed once here (for its owner only) so that every
# submission's run starts warm; without them each run computes them itself, slower but the same grades.
# No bytecode: nothing it writes may appear after the permissions above were set.
PYTHONDONTWRITEBYTECODE=1 "$ROOT/venv/bin/python" -m autograder.cli prepare --config "$ROOT/source/grading_config.yaml" \
    || echo "could not save the reference's results: each run computes them (slower, same grades)" >&2
"""

# Grading that cannot start or finish is not a grade: the student sees one neutral line, staff the reason
# (in a hidden test and in the run's output, which Gradescope shows instructors only). Standard library
# only: it must work when the grader's own environment is what broke.
COULD_NOT_RUN = """import json, sys
out, log, status, seconds, deadline, total = sys.argv[1:7]
try:
    lines = open(log, encoding="utf-8", errors="replace").read().splitlines()
except OSError:
    lines = []
errors = [line[len("error: "):] for line in lines if line.startswith("error: ")]
if status in ("124", "137"):
    reason = f"grading did not finish within {deadline} s (gradescope.timeout_s in grading_config.yaml, less a minute)"
elif errors:
    reason = errors[-1]
else:
    reason = f"the grader stopped with exit status {status} before writing results"
staff = "\\n".join([reason, "", "The grader's last output:", *lines[-40:]])
neutral = %(neutral)r
json.dump({"execution_time": round(float(seconds), 1), "output": neutral, "output_format": "text",
           "visibility": "visible", "stdout_visibility": "hidden", "extra_data": {"grading_failed": True},
           "tests": [{"name": "Grading could not run", "score": 0.0, "max_score": float(total), "status": "failed",
                      "output": neutral, "visibility": "visible"},
                     {"name": "Why grading could not run (staff only)", "score": 0.0, "max_score": 0.0,
                      "status": "failed", "output": staff, "visibility": "hidden"}]},
          open(out, "w", encoding="utf-8"), indent=2)
""" % {"neutral": NEUTRAL_LINE}

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission: grade $ROOT/submission into $ROOT/results/results.json.
# It always leaves a valid results.json; when grading cannot start or finish, one that says so
# (could_not_run.py) instead of a score that looks like graded work.
set -u
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PYTHON="${AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}"
mkdir -p "$ROOT/results"
rm -f "$ROOT/results/results.json"
log="$(mktemp)"
started=$(date +%%s)
cd "$ROOT/source"
timeout --kill-after=10 %(deadline)d "$PYTHON" -m autograder.cli grade "$ROOT/submission" \\
    --config "$ROOT/source/grading_config.yaml" --results "$ROOT/results/results.json" 2> "$log"
status=$?
cat "$log"  # the run's output: instructors only
if [ ! -s "$ROOT/results/results.json" ]; then
    for python in "$PYTHON" python3; do
        "$python" -I -S "$ROOT/source/could_not_run.py" "$ROOT/results/results.json" "$log" "$status" \\
            "$(( $(date +%%s) - started ))" %(deadline)d %(total)r && break
    done
fi
rm -f "$log"
exit 0
"""


def _add(bundle: zipfile.ZipFile, name: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    bundle.writestr(info, data)


def _package_files() -> list[Path]:
    return sorted(p for p in PACKAGE_ROOT.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix in (".py", ".json", ".yaml", ".md", ".j2"))


def build_gradescope_bundle(out, *, config=None) -> Path:
    """Write the bundle zip to ``out``: files at the zip's root, as Gradescope requires."""
    config = config if isinstance(config, GradingConfig) else load_config(config)
    out = Path(out)
    if out.suffix != ".zip":
        raise ReleaseError(f"expected a .zip path for the bundle but got {out}")
    reference = config.reference_dir()
    if not reference.is_dir():
        raise ReleaseError(f"{reference}: the reference solution is missing; set 'reference:' in grading_config.yaml")
    raw = yaml.safe_load(Path(config.source_path).read_text(encoding="utf-8")) if config.source_path else {}
    raw["reference"] = BUNDLED_REFERENCE  # the bundle carries the reference at a fixed place
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w") as bundle:
        _add(bundle, "setup.sh", SETUP_SH.encode(), executable=True)
        deadline = max(60, config.gradescope.timeout_s - 60)
        run = RUN_AUTOGRADER % {"deadline": deadline, "total": config.total_points}
        _add(bundle, "run_autograder", run.encode(), executable=True)
        _add(bundle, "could_not_run.py", COULD_NOT_RUN.encode())
        _add(bundle, "grading_config.yaml", yaml.safe_dump(raw, sort_keys=False).encode())
        _add(bundle, "pyproject.toml", (REPO_ROOT / "pyproject.toml").read_bytes())
        for path in _package_files():
            _add(bundle, f"autograder/{path.relative_to(PACKAGE_ROOT).as_posix()}", path.read_bytes())
        for path in sorted(reference.glob("*.py")):
            _add(bundle, f"{BUNDLED_REFERENCE}/{path.name}", path.read_bytes())
    return out
