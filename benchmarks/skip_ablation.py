"""What the skip-connection homework costs per student, and how clearly the skips win.

Usage: .venv/bin/python benchmarks/skip_ablation.py [--seeds 10] [--steps N]

The grader runs each student's ``skip_ablation(GRADED_STEPS, seed=1)`` (``checks/analysis.py``) and ``skip_ablation(SHORT_STEPS, seed=1)`` in
the student's child: one torch thread, oneDNN off, ``torch._dynamo`` already imported by the fork
server. This script does the same with the reference in a fresh process per seed, and prints the CPU
seconds of those two calls together (what one student costs; the reference's own run is computed
once per grader and kept), and how clearly ``skips_win``'s rules hold, for ``--seeds`` seeds (each seed
another start, as a student's layers made in another order would give): the PSNR the skips win by (the
rule: at least 1 dB), and each model's last 3 losses over its first 3 when it trains and when it never
steps (Adam's step made a no-op), which ``analysis.LEARNED`` must tell apart.
Not part of the test suite.
"""
import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from autograder.checks.analysis import GRADED_STEPS, LEARNED, SHORT_STEPS  # noqa: E402

_ONE_STUDENT = """
import json, sys, time
import torch
import torch._dynamo  # the fork server's import (sandbox/child.py)
torch.set_num_threads(1)
torch.backends.mkldnn.enabled = False
sys.path.insert(0, {solutions!r})
from unet.analysis import skip_ablation
seed, steps = {seed}, {steps}
started = time.process_time()
full = skip_ablation(steps, seed)
skip_ablation({short}, seed)
cpu_s = time.process_time() - started
ratios = lambda run: [sum(run[k]["losses"][-3:]) / sum(run[k]["losses"][:3]) for k in ("with_skips", "without_skips")]
torch.optim.Adam.step = lambda self, closure=None: None  # a model that never learns
print(json.dumps({{"cpu_s": cpu_s, "steps": steps, "loss_ratio": max(ratios(full)),
                   "untrained_ratio": min(ratios(skip_ablation(steps, seed))),
                   "psnr": [full["with_skips"]["psnr"], full["without_skips"]["psnr"]]}}))
"""


def measure(seeds, steps: int) -> list[dict]:
    """One fresh process per seed: CPU seconds of a student's two calls, the steps, both PSNRs."""
    results = []
    for seed in seeds:
        code = _ONE_STUDENT.format(solutions=str(ROOT / "solutions"), seed=seed, steps=steps, short=SHORT_STEPS)
        output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}).stdout
        results.append(dict(json.loads(output.strip().splitlines()[-1]), seed=seed))
    return results


def summary(results: list[dict]) -> str:
    cpu = [r["cpu_s"] for r in results]
    gaps = [r["psnr"][0] - r["psnr"][1] for r in results]
    return (f"skip experiment per student (skip_ablation({results[0]['steps']}) + skip_ablation({SHORT_STEPS}), "
            f"one thread): median {statistics.median(cpu):.2f} s CPU, max {max(cpu):.2f} s over {len(cpu)} seeds; "
            f"skips win by {min(gaps):.1f} to {max(gaps):.1f} dB PSNR (median {statistics.median(gaps):.1f}); "
            f"last 3 losses over the first 3: at most {max(r['loss_ratio'] for r in results):.2f} training, at least "
            f"{min(r['untrained_ratio'] for r in results):.2f} never stepping (the rule: at most {LEARNED})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=GRADED_STEPS, help="the run's length (default: the grader's)")
    args = parser.parse_args()
    results = measure(range(args.seeds), args.steps)
    for r in results:
        print(f"seed {r['seed']:>2}: {r['cpu_s']:.2f} s CPU   PSNR with skips {r['psnr'][0]:5.1f} dB, "
              f"without {r['psnr'][1]:5.1f} dB, loss end/start {r['loss_ratio']:.2f} training, "
              f"{r['untrained_ratio']:.2f} never stepping")
    print(summary(results))


if __name__ == "__main__":
    main()
