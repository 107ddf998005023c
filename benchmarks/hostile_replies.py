"""The grader's peak memory and results.json size when a child sends the largest replies the limits allow.

Usage: .venv/bin/python benchmarks/hostile_replies.py

Each attack replaces SelfAttention.forward (every other component is the reference) and is graded
by `autograder grade` in a process of its own, whose peak resident memory (ru_maxrss of the
child process) and results.json size are printed beside the reference's. The targets (issue 11):
parent RSS < 1 GiB and results.json < 5 MB whatever a child sends.
"""
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions" / "unet"
sys.path.insert(0, str(ROOT))

from autograder.config import load_config  # noqa: E402

LIMITS = load_config(None).limits
FLOATS = ((LIMITS.max_reply_mb << 20) - (64 << 10)) // 4  # the largest float32 tensor one reply may carry

ATTACKS = {
    "the reference (for comparison)": "",
    f"{FLOATS * 4 / 2**20:.0f} MiB tensors, a new one per call (the {LIMITS.max_reply_mb} MiB reply and "
    f"{LIMITS.max_memo_mb} MiB memo limits)": f"""
import torch as _t
def _f(self, x, return_weights=False):
    return _t.full(({FLOATS},), float(x.sum()))
SelfAttention.forward = _f
""",
    "replies of ~4 MiB of small JSON items (the header limit)": """
def _f(self, x, return_weights=False):
    return [[0.5, 1, "a"]] * 270_000
SelfAttention.forward = _f
""",
    "a 3 MB error text, and one 100 times as long as allowed": """
_n = [0]
def _f(self, x, return_weights=False):
    _n[0] += 1
    raise RuntimeError(("x" * 3_000_000) if _n[0] % 2 else ("(" * 800_000))
SelfAttention.forward = _f
""",
    "a child that prints megabytes to stdout and stderr": """
import sys as _s
def _f(self, x, return_weights=False):
    print("y" * 5_000_000); _s.stderr.write("z" * 5_000_000)
    raise ValueError("and then fails")
SelfAttention.forward = _f
""",
}


# `autograder grade`, then this process's own peak resident memory (KiB): the grader's, not the children's
MEASURED = """
import resource, sys
from autograder.cli import app
try:
    app(["grade", *sys.argv[1:]])
except SystemExit:
    pass
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def main() -> None:
    print(f"{'attack':<86} {'peak RSS':>10} {'results.json':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, attack in ATTACKS.items():
            folder = Path(tmp) / f"s{len(name)}"
            shutil.copytree(SOLUTIONS, folder)
            (folder / "attention.py").write_text((SOLUTIONS / "attention.py").read_text() + attack)
            results = Path(tmp) / f"{folder.name}.json"
            done = subprocess.run([sys.executable, "-c", MEASURED, str(folder), "--results", str(results)],
                                  capture_output=True, text=True, cwd=ROOT)
            peak_kib = int(done.stdout.strip().splitlines()[-1])
            print(f"{name:<86} {peak_kib / 1024:6.0f} MiB {results.stat().st_size / 1024:10.0f} KiB", flush=True)


if __name__ == "__main__":
    main()
