"""Seconds to grade one submission: cold (a fresh `autograder grade` process, as Gradescope runs it) and
warm (inside a batch worker's grader), and the parts issue 20's targets compare them with.

Usage: .venv/bin/python benchmarks/grade_one.py [--runs 5] [SUBMISSION]

Prints medians over ``--runs``, all measured in this one run (the machine's speed drifts):
- ``import torch`` in a fresh Python;
- a cold grade with the reference's results saved beside it (``autograder prepare``; what setup.sh
  leaves on Gradescope), and one without them (the file moved away before each run);
- a warm grading (the experiment's child started early, as ``autograder grade`` does), the same with
  the experiment in its turn (as a batch with a worker per core grades), and a warm grading of the
  same submission without ``analysis.py`` (the homework), the three taking turns;
and the ratios: cold against ``import torch`` + warm (target: at most 2), warm with the homework
against without, paired (target: at most 1.5; and warm at most 1.0 s).
"""
import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.config import load_config  # noqa: E402


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - started


def cold(submission: str, results: Path, runs: int, saved: bool, tmp: str) -> list[float]:
    """Fresh `autograder grade` processes, with or without the reference's saved results."""
    command = [sys.executable, "-m", "autograder.cli", "grade", submission, "--results", f"{tmp}/results.json"]
    if saved:
        subprocess.run([sys.executable, "-m", "autograder.cli", "prepare"], check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    times = []
    for _ in range(runs):
        if not saved:
            shutil.rmtree(results, ignore_errors=True)
        times.append(timed(command))
    return times


def warm(submission: str, without_homework: str, runs: int) -> dict[str, list[float]]:
    """Warm gradings, the three kinds taking turns grading by grading (the machine's speed drifts
    within seconds): the submission with the experiment's child started early (``Grader.early_start``,
    as ``autograder grade`` does), the same in turn (as a batch with a worker per core does), and
    the submission without ``analysis.py``."""
    from autograder.grader import Grader

    times: dict[str, list[float]] = {"warm": [], "in turn": [], "without analysis.py": []}
    with Grader(load_config()) as early, Grader(load_config(), early_start=False) as in_turn:
        kinds = [("warm", early, submission), ("in turn", in_turn, submission),
                 ("without analysis.py", early, without_homework)]
        for _, grader, folder in kinds:  # each grader's first grading draws its cases
            grader.grade(folder)
        for run in range(runs):
            for name, grader, folder in kinds[run % 3:] + kinds[:run % 3]:
                started = time.perf_counter()
                grader.grade(folder)
                times[name].append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submission", nargs="?", default=str(ROOT / "solutions" / "unet"))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    results = load_config().reference_results()
    median = statistics.median
    with tempfile.TemporaryDirectory() as tmp:
        without_homework = Path(shutil.copytree(args.submission, Path(tmp) / "no_homework"))
        (without_homework / "analysis.py").unlink(missing_ok=True)
        torch_s = median(timed([sys.executable, "-c", "import torch"]) for _ in range(args.runs))
        cold_unsaved = median(cold(args.submission, results, args.runs, False, tmp))
        cold_saved = median(cold(args.submission, results, args.runs, True, tmp))
        warm_runs = warm(args.submission, str(without_homework), args.runs)
    warm_s, in_turn_s, warm_blocks = (median(warm_runs[k]) for k in ("warm", "in turn", "without analysis.py"))
    paired = {k: median(a / b for a, b in zip(warm_runs[k], warm_runs["without analysis.py"])) for k in ("warm", "in turn")}
    early_gain = median(a / b for a, b in zip(warm_runs["warm"], warm_runs["in turn"]))
    print(f"import torch:                                {torch_s:.2f} s")
    print(f"cold grade, reference's results saved:       {cold_saved:.2f} s")
    print(f"cold grade, nothing saved:                   {cold_unsaved:.2f} s")
    print(f"warm grading:                                {warm_s:.2f} s  (target <= 1.0)")
    print(f"warm grading, the experiment in turn:        {in_turn_s:.2f} s  (paired, early / in turn: {early_gain:.2f})")
    print(f"warm grading without analysis.py:            {warm_blocks:.2f} s")
    print(f"cold (saved) / (import torch + warm):        {cold_saved / (torch_s + warm_s):.2f}  (target <= 2)")
    print(f"warm / warm without analysis.py:             {paired['warm']:.2f}  (paired; target <= 1.5; in turn: "
          f"{paired['in turn']:.2f})")
    print(f"(medians of {args.runs} runs each; the warm ones taking turns grading by grading)")


if __name__ == "__main__":
    main()
