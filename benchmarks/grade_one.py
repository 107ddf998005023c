"""Median seconds to grade one submission, the way a TA runs it: a fresh `autograder grade` process.

Usage: .venv/bin/python benchmarks/grade_one.py [--runs 5] [SUBMISSION]
Prints each run's wall time and the median; also the median inside one warm grader (no start-up),
which is what batch grading pays per submission.
"""
import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submission", nargs="?", default=str(ROOT / "solutions" / "unet"))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    fresh = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "autograder.cli", "grade", args.submission, "--results", f"{tmp}/r{run}.json"],
                check=True, stdout=subprocess.DEVNULL,
            )
            fresh.append(time.perf_counter() - started)
            print(f"fresh process run {run + 1}: {fresh[-1]:.2f} s", flush=True)

    from autograder.config import load_config
    from autograder.grader import Grader

    warm = []
    with Grader(load_config()) as grader:
        grader.grade(args.submission)  # start the fork server once
        for run in range(args.runs):
            started = time.perf_counter()
            grader.grade(args.submission)
            warm.append(time.perf_counter() - started)
    print(f"median, fresh `autograder grade` process: {statistics.median(fresh):.2f} s over {args.runs} runs")
    print(f"median, warm grader (batch worker):       {statistics.median(warm):.2f} s over {args.runs} runs")


if __name__ == "__main__":
    main()
