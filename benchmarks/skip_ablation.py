"""What the skip-connection homework costs per student, and how clearly the skips win.

Usage: .venv/bin/python benchmarks/skip_ablation.py [--seeds 10] [--steps N] [--starts K]

The grader runs each student's ``skip_ablation(GRADED_STEPS, seed=1)`` (``checks/analysis.py``) and ``skip_ablation(SHORT_STEPS, seed=1)`` in
the student's child: one torch thread, oneDNN off, ``torch._dynamo`` already imported by the fork
server. This script does the same with the reference in a fresh process per seed, and prints the CPU
seconds of those two calls together (what one student costs; the reference's own run is computed
once per grader and kept), and how clearly ``skips_win``'s rules hold, for ``--seeds`` seeds (each seed
another start, as a student's layers made in another order would give): the PSNR the skips win by (the
rule: at least 1 dB), and each model's last 3 losses over its first 3 when it trains and when it never
steps (Adam's step made a no-op). ``--starts K`` also trains from K other starts, each with other
batch draws, on the grader's own images: the spread ``analysis.LEARNED`` must leave room for.
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


_OTHER_STARTS = """
import json, math, sys
import torch
import torch.nn.functional as F
torch.set_num_threads(1)
torch.backends.mkldnn.enabled = False
sys.path.insert(0, {solutions!r})
from unet import analysis as A
images = A.shape_images(A.TRAIN_IMAGES + A.HELD_OUT_IMAGES, A.IMAGE_SIZE, {seed})
train, held_out = images[:A.TRAIN_IMAGES], images[A.TRAIN_IMAGES:]
ratios, untrained, gaps = [], [], []
for k in range({starts}):
    for stepping in (True, False):
        torch.manual_seed(1000 + k)  # another start: layers made in another order
        models = [A.SimpleUNet(1, 1, A.BASE_CHANNELS), A.NoSkipUNet(1, 1, A.BASE_CHANNELS)]
        models[1].load_state_dict(models[0].state_dict())
        psnr = []
        for model in models:
            optimizer = torch.optim.Adam(model.parameters(), lr=A.LEARNING_RATE)
            draws = torch.Generator().manual_seed(5000 + k)  # other batches: another way of drawing them
            t = torch.zeros(A.BATCH_SIZE, dtype=torch.long)
            losses = []
            for _ in range({steps}):
                batch = train[torch.randint(len(train), (A.BATCH_SIZE,), generator=draws)]
                loss = F.mse_loss(model(batch, t), batch)
                optimizer.zero_grad()
                loss.backward()
                if stepping:
                    optimizer.step()
                losses.append(loss.item())
            (ratios if stepping else untrained).append(sum(losses[-3:]) / sum(losses[:3]))
            with torch.no_grad():
                psnr.append(-10 * math.log10(F.mse_loss(model(held_out, torch.zeros(len(held_out), dtype=torch.long)),
                                                        held_out).item()))
        if stepping:
            gaps.append(psnr[0] - psnr[1])
print(json.dumps({{"trained": max(ratios), "untrained": min(untrained), "gap": min(gaps)}}))
"""


def other_starts(starts: int, steps: int) -> dict:
    """On the grader's images: ``starts`` other starting weights, each with other batch draws."""
    from autograder.checks.analysis import SEED

    code = _OTHER_STARTS.format(solutions=str(ROOT / "solutions"), seed=SEED, starts=starts, steps=steps)
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}).stdout
    return json.loads(output.strip().splitlines()[-1])


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
    parser.add_argument("--starts", type=int, default=0,
                        help="also train from this many other starts, each with other batch draws, on the grader's images")
    args = parser.parse_args()
    if args.starts:
        found = other_starts(args.starts, args.steps)
        print(f"{args.starts} other starts and batch draws on the grader's images, {args.steps} steps: last 3 losses "
              f"over the first 3 at most {found['trained']:.2f} training (the rule: at most {LEARNED}), at least "
              f"{found['untrained']:.2f} never stepping; the skips win by {found['gap']:.1f} dB or more")
    results = measure(range(args.seeds), args.steps)
    for r in results:
        print(f"seed {r['seed']:>2}: {r['cpu_s']:.2f} s CPU   PSNR with skips {r['psnr'][0]:5.1f} dB, "
              f"without {r['psnr'][1]:5.1f} dB, loss end/start {r['loss_ratio']:.2f} training, "
              f"{r['untrained_ratio']:.2f} never stepping")
    print(summary(results))


if __name__ == "__main__":
    main()
