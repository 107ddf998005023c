"""Batch throughput: `autograder batch -j J` against the naive way (one fresh `autograder grade` per submission).

Usage: .venv/bin/python benchmarks/batch_throughput.py [--n 8] [--jobs 2] [--naive N] [--no-profile]

Makes N synthetic submissions (the reference, then the bank's mutants and equivalents in turn, from
tests/mutants.py), grades them both ways in the same run on the same machine, and prints:
- per-submission median seconds (batch: inside a warm worker; naive: a whole fresh process),
- throughput in submissions per minute and the speed-up,
- per-worker peak RSS: the worker (trusted side: reference, checks) and its fork server,
- a profile of one warm grading in this process: time in the reference's torch calls and in round
  trips to the student's child, against the total (the rest is Hypothesis, comparison, forking).
Not part of the test suite: it takes minutes.
"""
import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.mutants import EQUIVALENTS, MUTANTS  # noqa: E402

SOLUTIONS = ROOT / "solutions" / "unet"


def make_submissions(folder: Path, n: int) -> list[str]:
    """N folders: the reference first, then mutants and equivalents alternately (a class of mixed quality)."""
    variants = [None]
    for i in range(max(len(MUTANTS), len(EQUIVALENTS))):
        variants += [m for m in (MUTANTS[i] if i < len(MUTANTS) else None,
                                 EQUIVALENTS[i] if i < len(EQUIVALENTS) else None) if m is not None]
    names = []
    for index in range(n):
        variant = variants[index % len(variants)]
        name = f"s{index:03d}"
        shutil.copytree(SOLUTIONS, folder / name)
        for module, source in (variant.replacements() if variant else {}).items():
            (folder / name / f"{module}.py").write_text(source)
        names.append(f"{name}: {variant.name if variant else 'reference'}")
    return names


def run_batch(submissions: Path, out: Path, jobs: int) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "autograder.cli", "batch", str(submissions), "--out", str(out), "-j", str(jobs)],
                   cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def run_naive(submissions: Path, out: Path, count: int) -> list[float]:
    seconds = []
    for folder in sorted(p for p in submissions.iterdir())[:count]:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "autograder.cli", "grade", str(folder), "--results", str(out / f"{folder.name}.json")],
                       cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        seconds.append(time.perf_counter() - started)
    return seconds


def profile_one(submission: Path) -> dict:
    """Where one warm grading spends its time: reference torch calls, child round trips, the rest."""
    import torch

    from autograder.config import load_config
    from autograder.grader import Grader
    from autograder.sandbox import launcher

    torch.set_num_threads(1)
    spent = defaultdict(float)
    depth = [0]
    original_call = torch.nn.Module.__call__
    original_backward = torch.Tensor.backward
    original_grad = torch.autograd.grad
    original_request = launcher.StudentComponent._request

    def timed(kind, function):
        def wrapper(*args, **kwargs):
            if depth[0]:
                return function(*args, **kwargs)
            depth[0] += 1
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[kind] += time.perf_counter() - started
                depth[0] -= 1
        return wrapper

    def request(self, op, what, **args):
        started = time.perf_counter()
        try:
            return original_request(self, op, what, **args)
        finally:
            spent[f"child {op}"] += time.perf_counter() - started

    with Grader(load_config()) as grader:
        grader.grade(submission)  # warm: fork server up, reference imported
        torch.nn.Module.__call__ = timed("reference forward", original_call)
        torch.Tensor.backward = timed("reference backward", original_backward)
        torch.autograd.grad = timed("reference backward", original_grad)
        launcher.StudentComponent._request = request
        try:
            started = time.perf_counter()
            grader.grade(submission)
            spent["total"] = time.perf_counter() - started
        finally:
            torch.nn.Module.__call__ = original_call
            torch.Tensor.backward = original_backward
            torch.autograd.grad = original_grad
            launcher.StudentComponent._request = original_request
    return dict(spent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8, help="number of synthetic submissions")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--naive", type=int, default=None, help="grade only this many the naive way (default: all)")
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="batch-bench-") as tmp:
        tmp = Path(tmp)
        submissions, out, naive_out = tmp / "submissions", tmp / "out", tmp / "naive"
        submissions.mkdir()
        naive_out.mkdir()
        names = make_submissions(submissions, args.n)
        print(f"{args.n} submissions: " + "; ".join(names), flush=True)

        batch_wall = run_batch(submissions, out, args.jobs)
        records = [json.loads(p.read_text()) for p in sorted(out.glob("*/report.json"))]
        per_submission = [r["grading"]["seconds"] for r in records]
        workers = defaultdict(lambda: [0, 0])
        for r in records:
            g = r["grading"]
            workers[g["worker_pid"]][0] = max(workers[g["worker_pid"]][0], g["worker_peak_rss_kb"] or 0)
            workers[g["worker_pid"]][1] = max(workers[g["worker_pid"]][1], g["zygote_peak_rss_kb"] or 0)
        totals = [round(sum(c["score"] for c in r["report"]["checks"]), 6) for r in records]

        naive = run_naive(submissions, naive_out, args.naive or args.n)
        naive_scores = [json.loads(p.read_text())["score"] for p in sorted(naive_out.glob("*.json"))]

    print()
    print(f"{'':32}{'batch -j ' + str(args.jobs):>16}{'naive (fresh process)':>24}")
    print(f"{'submissions graded':32}{len(records):>16}{len(naive):>24}")
    print(f"{'median s per submission':32}{statistics.median(per_submission):>16.2f}{statistics.median(naive):>24.2f}")
    batch_rate = 60 * len(records) / batch_wall
    naive_rate = 60 * len(naive) / sum(naive)
    print(f"{'wall s (all graded)':32}{batch_wall:>16.1f}{sum(naive):>24.1f}")
    print(f"{'throughput, submissions/min':32}{batch_rate:>16.1f}{naive_rate:>24.1f}")
    print(f"speed-up in throughput: {batch_rate / naive_rate:.1f}x")
    print(f"same scores both ways: {totals[:len(naive_scores)] == naive_scores}  (batch totals {totals})")
    for pid, (worker_kb, zygote_kb) in sorted(workers.items()):
        print(f"worker {pid}: peak RSS {worker_kb / 1024:.0f} MiB; its fork server {zygote_kb / 1024:.0f} MiB "
              "(children forked per component are not counted: the fork server reaps them)")

    if not args.no_profile:
        spent = profile_one(SOLUTIONS)
        total = spent.pop("total")
        print(f"\nprofile of one warm grading of the reference in this process: {total:.2f} s")
        for kind, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
            print(f"  {kind:<24}{seconds:>7.2f} s  {100 * seconds / total:5.1f}%")
        compute = spent.get("reference forward", 0) + spent.get("reference backward", 0) + sum(
            v for k, v in spent.items() if k in ("child run", "child call"))
        print(f"  tensor compute (reference torch calls + child run/call round trips): {compute:.2f} s "
              f"= {100 * compute / total:.0f}% of the total; the rest is checks, Hypothesis, comparison, forking")


if __name__ == "__main__":
    main()
