"""Batch grading on Dask against the local batch, on the same class and the same number of workers.

Usage: .venv/bin/python benchmarks/dask_throughput.py [--n 24] [--workers 1 2 4]

For each W in --workers, in one run on one machine: `autograder batch -j W` (local worker
processes) and `autograder batch --scheduler` on a loopback Dask cluster of W single-threaded
workers (started before the clock, as a standing cluster would be). Both walls include each
worker's first, cold grading. Prints the throughput of each, the ratio, Dask's overhead per
submission ((dask - local) / N), the median time of one grading inside a worker for each (equal
medians put an overhead outside the grading: scheduling, transfer, start-up; a larger Dask median
puts it in CPU contention), and whether the two grades.csv are byte for byte the same (they must be:
a difference is a bug, not noise). Not part of the test suite: it takes minutes.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.synthetic import make_submissions  # noqa: E402


def timed_batch(submissions: Path, out: Path, *extra: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "autograder.cli", "batch", str(submissions), "--out", str(out), *extra],
                   cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def median_grading_s(out: Path) -> float:
    """The median seconds one submission took inside its worker (report.json's grading.seconds)."""
    return statistics.median(json.loads(p.read_text())["grading"]["seconds"] for p in out.glob("staff/*/report.json"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=24, help="submissions (the reference, mutants, equivalents)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    from distributed import LocalCluster

    print(f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
          f"{os.cpu_count()} cores, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        make_submissions(scratch / "class", args.n)
        print(f"{args.n} submissions; walls include each worker's first grading")
        print(f"{'workers':>8}{'local s':>10}{'dask s':>10}{'local/min':>11}{'dask/min':>10}{'dask/local':>11}"
              f"{'overhead/sub':>14}{'median local/dask':>19}  same grades.csv")
        for workers in args.workers:
            local = timed_batch(scratch / "class", scratch / f"local-{workers}", "-j", str(workers))
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                              dashboard_address=None) as cluster:
                dask = timed_batch(scratch / "class", scratch / f"dask-{workers}", "--scheduler",
                                   cluster.scheduler_address)
            same = ((scratch / f"local-{workers}" / "grades.csv").read_bytes()
                    == (scratch / f"dask-{workers}" / "grades.csv").read_bytes())
            print(f"{workers:>8}{local:>10.1f}{dask:>10.1f}{60 * args.n / local:>11.1f}{60 * args.n / dask:>10.1f}"
                  f"{dask / local:>11.2f}{(dask - local) / args.n:>13.2f}s"
                  f"{median_grading_s(scratch / f'local-{workers}'):>11.2f}"
                  f"/{median_grading_s(scratch / f'dask-{workers}'):.2f}s"
                  f"  {'yes' if same else 'NO'}"
                  f"  (load {os.getloadavg()[0]:.1f})", flush=True)


if __name__ == "__main__":
    main()
