"""Extra cost of isolation per submission: the same grading with bubblewrap and in the fallback mode.

Usage: .venv/bin/python benchmarks/isolation_cost.py [--runs 3] [SUBMISSION]
Measures, for each mode, in one process: starting the fork server (bwrap launch + import torch,
paid once per grader, and again per submission if you choose a fresh zygote per submission),
one fork+load+stop of a child (paid per component), and a warm grading of a whole submission.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def measure(mode: str, submission: str, runs: int) -> dict:
    from autograder.config import load_config
    from autograder.grader import Grader
    from autograder.plan import load_plan
    from autograder.sandbox.isolation import detect
    from autograder.sandbox.launcher import StudentComponent, Zygote
    from autograder.submission import read_submission

    isolation = detect(sys.executable, mode)
    config = load_config()
    starts, forks, grades = [], [], []
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
    with Grader(config, zygote=Zygote(isolation=isolation)) as grader:
        grader.grade(submission)
        for _ in range(runs):
            started = time.perf_counter()
            grader.grade(submission)
            grades.append(time.perf_counter() - started)
        grader.zygote.close()
    return {"zygote start + first child": statistics.median(starts),
            "fork+import+kill one child": statistics.median(forks),
            "grade one submission (warm)": statistics.median(grades)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submission", nargs="?", default=str(ROOT / "solutions" / "unet"))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results = {mode: measure(mode, args.submission, args.runs) for mode in ("fallback", "bwrap")}
    for key in results["bwrap"]:
        fallback, bwrap = results["fallback"][key], results["bwrap"][key]
        print(f"{key:<30} fallback {fallback * 1000:8.0f} ms   bwrap {bwrap * 1000:8.0f} ms   "
              f"extra {(bwrap - fallback) * 1000:+7.0f} ms")


if __name__ == "__main__":
    main()
