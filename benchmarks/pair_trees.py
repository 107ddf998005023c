"""Two checkouts' warm gradings of one submission, taking turns grading by grading.

Usage: .venv/bin/python benchmarks/pair_trees.py TREE_A TREE_B [--submission FOLDER] [--pairs 20]

Each tree grades in a warm grader of its own (a long-lived process, its code imported from that
tree), one grading at a time, A and B alternating which goes first. The machine's speed drifts by
tens of percent within minutes, so a change is judged by the median of the pairs' ratios A/B, not by
two medians taken minutes apart. Make TREE_B with `git worktree add /tmp/before REV`.
"""
import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WORKER = """
import sys, time
sys.path.insert(0, sys.argv[1])
from autograder.config import load_config
from autograder.grader import Grader
with Grader(load_config()) as grader:
    grader.grade(sys.argv[2])
    grader.grade(sys.argv[2])
    print("ready", flush=True)
    for _ in sys.stdin:
        started = time.perf_counter()
        report = grader.grade(sys.argv[2])
        print(time.perf_counter() - started, report.score, flush=True)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tree_a", type=Path)
    parser.add_argument("tree_b", type=Path)
    parser.add_argument("--submission", type=Path, default=ROOT / "solutions" / "unet")
    parser.add_argument("--pairs", type=int, default=20)
    args = parser.parse_args()
    workers = {}
    for name, tree in (("A", args.tree_a.resolve()), ("B", args.tree_b.resolve())):
        workers[name] = subprocess.Popen([sys.executable, "-c", WORKER, str(tree), str(args.submission.resolve())],
                                         cwd=tree, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, text=True, env=dict(os.environ, PYTHONPATH=str(tree)))
        if workers[name].stdout.readline().strip() != "ready":
            raise SystemExit(f"{tree}: its grader did not start")
    seconds = {"A": [], "B": []}
    scores = {"A": set(), "B": set()}
    for pair in range(args.pairs):
        for name in ("A", "B") if pair % 2 == 0 else ("B", "A"):
            workers[name].stdin.write("go\n")
            workers[name].stdin.flush()
            took, score = workers[name].stdout.readline().split()
            seconds[name].append(float(took))
            scores[name].add(float(score))
    for worker in workers.values():
        worker.stdin.close()
        worker.wait()
    ratios = [a / b for a, b in zip(seconds["A"], seconds["B"])]
    for name, tree in (("A", args.tree_a), ("B", args.tree_b)):
        print(f"{name} {tree}: median {statistics.median(seconds[name]):.3f} s "
              f"(min {min(seconds[name]):.3f}, max {max(seconds[name]):.3f}); scores {sorted(scores[name])}")
    print(f"A/B, pair by pair: median {statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}; "
          f"{args.pairs} pairs)")


if __name__ == "__main__":
    main()
