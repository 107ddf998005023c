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

SETUP_SH = f"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image.
set -euo pipefail
cd /autograder/source
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "the autograder needs Python 3.11+: pick a Gradescope base image with it" >&2
    exit 1
fi
# bubblewrap walls student code off from everything but Python (README "Security model"); where the
# image cannot have it, file permissions below keep the reference and the checks from student code.
if command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq bubblewrap \
        || echo "bubblewrap could not be installed: grading uses the fallback sandbox" >&2
fi
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install --quiet --upgrade pip
/autograder/venv/bin/pip install --quiet "{TORCH}" --index-url https://download.pytorch.org/whl/cpu
/autograder/venv/bin/pip install --quiet /autograder/source
# Student code runs as an unprivileged uid: the reference, the config and the grader's package
# (its hidden checks) must be root's alone. The grader checks this before grading anyone.
chmod -R go-rwx /autograder/source
chmod -R go-rwx "$(/autograder/venv/bin/python -c 'import autograder, os; print(os.path.dirname(autograder.__file__))')"
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission: grade $ROOT/submission into $ROOT/results/results.json.
# It leaves a valid results.json (if grading cannot even start, a zero with the reason), except when the
# grader's own set-up is wrong (exit 2: e.g. AUTOGRADER_DEVICE names a device this machine lacks).
set -u
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PYTHON="${AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}"
mkdir -p "$ROOT/results"
cd "$ROOT/source"
rm -f "$ROOT/results/results.json"
"$PYTHON" -m autograder.cli grade "$ROOT/submission" --config "$ROOT/source/grading_config.yaml" \\
    --results "$ROOT/results/results.json" 2> "$ROOT/results/grader_stderr.txt"
status=$?
cat "$ROOT/results/grader_stderr.txt" >&2
if [ "$status" = 2 ]; then  # our own set-up is wrong (device, config): no grade, so Gradescope asks for staff
    rm -f "$ROOT/results/results.json" "$ROOT/results/grader_stderr.txt"
    exit 2
fi
if [ ! -s "$ROOT/results/results.json" ]; then
    "$PYTHON" - "$ROOT/results/results.json" "$ROOT/results/grader_stderr.txt" "$status" <<'EOF'
import json, sys
out, err, status = sys.argv[1], sys.argv[2], sys.argv[3]
lines = [l[len("error: "):] for l in open(err, encoding="utf-8", errors="replace").read().splitlines() if l.startswith("error: ")]
reason = lines[-1] if lines else f"the grader stopped with exit status {status}; please tell your instructor"
json.dump({"score": 0.0, "output": f"Your submission could not be graded: {reason}", "visibility": "visible",
           "stdout_visibility": "hidden", "tests": []}, open(out, "w"), indent=2)
EOF
fi
rm -f "$ROOT/results/grader_stderr.txt"
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
        _add(bundle, "run_autograder", RUN_AUTOGRADER.encode(), executable=True)
        _add(bundle, "grading_config.yaml", yaml.safe_dump(raw, sort_keys=False).encode())
        _add(bundle, "pyproject.toml", (REPO_ROOT / "pyproject.toml").read_bytes())
        for path in _package_files():
            _add(bundle, f"autograder/{path.relative_to(PACKAGE_ROOT).as_posix()}", path.read_bytes())
        for path in sorted(reference.glob("*.py")):
            _add(bundle, f"{BUNDLED_REFERENCE}/{path.name}", path.read_bytes())
    return out
