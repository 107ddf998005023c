"""Batch grading against the naive way and against `nbgrader autograde`, on the same submissions.

Usage: .venv/bin/python benchmarks/batch_throughput.py [--n 16] [--jobs 2] [--naive 4] [--nbgrader 4] [--compute 3]
       [--experiment 3]

Makes N synthetic submissions (the reference, then the bank's mutants and equivalents in turn,
benchmarks/synthetic.py) and, in one run on one machine, measures:
- `autograder batch -j J` over all of them: wall time, throughput, the per-submission median
  (inside a warm worker), and each worker's peak memory (the worker, and its fork server);
- the naive way, one fresh `autograder grade` process per submission (the first --naive of them);
- `nbgrader autograde`, one fresh process and kernel per student (the first --nbgrader of them;
  benchmarks/nbgrader_autograde.py), which runs the notebook's public checks only;
- for the first --compute submissions, a warm grading against the pure tensor compute of its checks
  (benchmarks/tensor_compute.py), and the ratio between them;
- what the skip-connection homework's experiment costs per student, one thread, over --experiment
  seeds (benchmarks/skip_ablation.py): it is part of every grading above.
Not part of the test suite: it takes minutes.
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.synthetic import make_submissions  # noqa: E402


def run_batch(submissions: Path, out: Path, jobs: int) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "autograder.cli", "batch", str(submissions), "--out", str(out), "-j", str(jobs)],
                   cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def run_naive(folders: list[Path], out: Path) -> list[float]:
    seconds = []
    for folder in folders:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "autograder.cli", "grade", str(folder), "--results", str(out / f"{folder.name}.json")],
                       cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        seconds.append(time.perf_counter() - started)
    return seconds


def _row(label: str, *cells) -> None:
    print(f"{label:34}" + "".join(f"{c:>14}" for c in cells))


def _spread(count: int, k: int) -> list[int]:
    """``k`` indices evenly spread over ``range(count)``, the first included."""
    k = min(k, count)
    return [i * count // k for i in range(k)] if k else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16, help="number of synthetic submissions")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--naive", type=int, default=4, help="grade this many the naive way")
    parser.add_argument("--nbgrader", type=int, default=4, help="autograde this many with nbgrader (0: skip)")
    parser.add_argument("--compute", type=int, default=3, help="compare this many with their tensor compute (0: skip)")
    parser.add_argument("--experiment", type=int, default=3, help="time the skip experiment on this many seeds (0: skip)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="batch-bench-") as tmp:
        tmp = Path(tmp)
        submissions, out, naive_out = tmp / "submissions", tmp / "out", tmp / "naive"
        submissions.mkdir()
        naive_out.mkdir()
        names = make_submissions(submissions, args.n)
        folders = sorted(submissions.iterdir())
        print(f"{args.n} submissions: " + "; ".join(names), flush=True)

        batch_wall = run_batch(submissions, out, args.jobs)
        records = [json.loads(p.read_text()) for p in sorted((out / "staff").glob("*/report.json"))]
        per_submission = [r["grading"]["seconds"] for r in records]
        workers = defaultdict(lambda: [0, 0])
        for r in records:
            g = r["grading"]
            workers[g["worker_pid"]][0] = max(workers[g["worker_pid"]][0], g["worker_peak_rss_kb"] or 0)
            workers[g["worker_pid"]][1] = max(workers[g["worker_pid"]][1], g["zygote_peak_rss_kb"] or 0)
        totals = [round(sum(c["score"] for c in r["report"]["checks"]), 6) for r in records]

        # The naive way and nbgrader grade a sample spread over the whole set (its mistakes differ in
        # cost: a failing check shrinks), not its first few.
        sampled = _spread(len(folders), max(args.naive, args.nbgrader))
        naive = run_naive([folders[i] for i in sampled[:args.naive]], naive_out)
        naive_scores = [json.loads(p.read_text())["score"] for p in sorted(naive_out.glob("*.json"))]

        nbgrader = None
        if args.nbgrader:
            from benchmarks.nbgrader_autograde import time_nbgrader_autograde

            nbgrader = time_nbgrader_autograde([folders[i] for i in sampled[:args.nbgrader]], tmp / "nbgrader")

        compute = []
        if args.compute:
            from autograder.config import load_config
            from autograder.grader import Grader
            from benchmarks.tensor_compute import measure

            with Grader(load_config()) as grader:
                compute = [(name, measure(grader, folder, runs=3)) for name, folder in zip(names, folders[:args.compute])]

    batch_rate = 60 * len(records) / batch_wall
    naive_rate = 60 * len(naive) / sum(naive) if naive else None  # --naive 0: the batch alone
    print()
    _row("", f"batch -j {args.jobs}", "naive", "nbgrader")
    _row("submissions graded", len(records), len(naive), len(nbgrader) if nbgrader else "-")
    _row("median s per submission", f"{statistics.median(per_submission):.2f}",
         f"{statistics.median(naive):.2f}" if naive else "-", f"{statistics.median(nbgrader):.2f}" if nbgrader else "-")
    _row("throughput, submissions/min", f"{batch_rate:.1f}", f"{naive_rate:.1f}" if naive else "-",
         f"{60 * len(nbgrader) / sum(nbgrader):.1f}" if nbgrader else "-")
    if naive:
        print(f"batch throughput: {batch_rate / naive_rate:.1f}x the naive way's")
    if nbgrader:
        print(f"batch time per student: {batch_rate / (60 * len(nbgrader) / sum(nbgrader)):.1f}x less than nbgrader's")
    print(f"batch wall time for all {len(records)}: {batch_wall:.1f} s")
    print(f"same scores both ways: {[totals[i] for i in sampled[:len(naive_scores)]] == naive_scores}  "
          f"(naive and nbgrader graded {', '.join(f's{i:03d}' for i in sampled)}; batch totals {totals})")
    for pid, (worker_kb, zygote_kb) in sorted(workers.items()):
        print(f"worker {pid}: peak RSS {worker_kb / 1024:.0f} MiB; its fork server {zygote_kb / 1024:.0f} MiB "
              "(children are not counted: the fork server reaps them)")
    if args.experiment:
        from benchmarks.skip_ablation import measure, summary

        print(summary(measure(range(args.experiment))))
    if compute:
        print("\nwarm grading against the pure tensor compute of its checks (medians of 3):")
        print("(compute: reference + student side; the reference afresh, as the checks need it. A warm worker takes")
        print(" the reference from its cache: 'done' is the compute a warm grading still does, and its ratio.)")
        _row("", "grading s", "compute s", "ratio", "done s", "ratio")
        for name, figures in compute:
            done = figures["grading"] / figures["factor over compute done"]
            _row(name[:34], f"{figures['grading']:.2f}", f"{figures['compute']:.2f}", f"{figures['overhead factor']:.2f}x",
                 f"{done:.2f}", f"{figures['factor over compute done']:.2f}x")


if __name__ == "__main__":
    main()
