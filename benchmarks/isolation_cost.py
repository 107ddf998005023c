"""Extra cost of isolation per submission: the same grading with bubblewrap and in the fallback mode.

Usage: .venv/bin/python benchmarks/isolation_cost.py [--runs 3] [SUBMISSION]
Measures, for each mode, in one process: starting the fork server (bwrap launch + import torch,
paid once per grader, and again per submission if you choose a fresh zygote per submission),
one fork+load+stop of a child (paid per submission, and after a crash), and a warm grading of a
whole submission (the two modes' gradings taking turns).
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def measure_starts(mode: str, submission: str, runs: int) -> dict:
    """Median fork-server start (with its first child) and fork+load+stop of one child, in ``mode``."""
    from autograder.config import load_config
    from autograder.grader import Grader
    from autograder.plan import load_plan
    from autograder.sandbox.isolation import detect
    from autograder.sandbox.launcher import StudentComponent, Zygote
    from autograder.intake import read_submission

    isolation = detect(sys.executable, mode)
    config = load_config()
    starts, forks = [], []
    for _ in range(runs):
        started = time.perf_counter()
        with Zygote(isolation=isolation) as zygote:
            student = StudentComponent(zygote, load_plan("ResBlock", read_submission(submission), Grader(config).reference),
                                       config.limits)
            student.start()  # waits for the zygote's import torch
            student.stop()
            starts.append(time.perf_counter() - started)
            for _ in range(10):
                started = time.perf_counter()
                student.start()
                student.stop()
                forks.append(time.perf_counter() - started)
    return {"zygote start + first child": statistics.median(starts),
            "fork+import+kill one child": statistics.median(forks)}


def measure_gradings(submission: str, runs: int) -> dict:
    """Median warm grading per mode, the modes taking turns: a drift of the machine hits both alike."""
    from autograder.config import load_config
    from autograder.grader import Grader
    from autograder.sandbox.isolation import detect
    from autograder.sandbox.launcher import Zygote

    config = load_config()
    graders = {mode: Grader(config, zygote=Zygote(isolation=detect(sys.executable, mode))) for mode in MODES}
    seconds = {mode: [] for mode in MODES}
    try:
        for grader in graders.values():
            grader.grade(submission)  # warm: cases drawn, reference cached
        for _ in range(runs):
            for mode, grader in graders.items():
                started = time.perf_counter()
                grader.grade(submission)
                seconds[mode].append(time.perf_counter() - started)
    finally:
        for grader in graders.values():
            grader.zygote.close()
    return {mode: statistics.median(values) for mode, values in seconds.items()}


MODES = ("fallback", "bwrap")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submission", nargs="?", default=str(ROOT / "solutions" / "unet"))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results = {mode: measure_starts(mode, args.submission, args.runs) for mode in MODES}
    for mode, seconds in measure_gradings(args.submission, args.runs).items():
        results[mode]["grade one submission (warm)"] = seconds
    for key in results["bwrap"]:
        fallback, bwrap = results["fallback"][key], results["bwrap"][key]
        print(f"{key:<30} fallback {fallback * 1000:8.0f} ms   bwrap {bwrap * 1000:8.0f} ms   "
              f"extra {(bwrap - fallback) * 1000:+7.0f} ms")


if __name__ == "__main__":
    main()
