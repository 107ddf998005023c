"""What the feedback pages' pictures cost a batch (issue 14's target: under 20 %).

Usage: .venv/bin/python benchmarks/pictures_cost.py [--n 16] [--jobs 2] [--pairs 2]

Grades the same N synthetic submissions (benchmarks/synthetic.py: the reference, the bank's
mistakes and equivalents) with `autograder batch -j J`, with pictures and with `--no-figures`,
in alternating pairs (the machine's speed drifts by +-20 % from minute to minute), and prints
per pair: the CPU time of the whole process tree (the batch, its workers, their fork servers and
children: what the pictures cost, and the fairest figure on a shared machine), the wall time, and
the workers' grading time (figure data included, from report.json), each with the extra. Both ways write feedback.html, the staff page,
Gradescope's results.json and report.html; only the pictures and their data differ.
Not part of the test suite: it takes minutes.
"""
import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.synthetic import make_submissions  # noqa: E402


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_batch(submissions: Path, out: Path, jobs: int, figures: bool) -> tuple[float, float, float]:
    """(CPU seconds of the whole process tree, wall seconds, sum of the workers' per-submission seconds).

    Every process of the tree is waited for by its parent (workers by the batch, fork servers by
    the workers, children by the fork server), so their CPU time adds up in RUSAGE_CHILDREN."""
    command = [sys.executable, "-m", "autograder.cli", "batch", str(submissions), "--out", str(out), "-j", str(jobs)]
    cpu, started = _children_cpu(), time.perf_counter()
    subprocess.run(command + ([] if figures else ["--no-figures"]), cwd=ROOT, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    wall, cpu = time.perf_counter() - started, _children_cpu() - cpu
    graded = sum(json.loads(p.read_text())["grading"]["seconds"] for p in out.glob("*/report.json")
                 if p.parent.joinpath("results.json").is_file())
    return cpu, wall, graded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16, help="number of synthetic submissions")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=2, help="with/without pairs, alternating which goes first")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pictures-bench-") as tmp:
        tmp = Path(tmp)
        make_submissions(tmp / "submissions", args.n)
        rows = []
        for pair in range(args.pairs):
            order = (True, False) if pair % 2 == 0 else (False, True)
            results = {}
            for figures in order:
                out = tmp / f"out-{pair}-{figures}"
                results[figures] = run_batch(tmp / "submissions", out, args.jobs, figures)
            rows.append(results)
            cells = [f"{what} {a:.1f} s with pictures, {b:.1f} s without ({100 * (a / b - 1):+.1f} %)"
                     for what, a, b in zip(("CPU", "wall", "workers' grading"), results[True], results[False])]
            print(f"pair {pair + 1}: " + "; ".join(cells), flush=True)
        page = next((tmp / f"out-0-True").glob("*/feedback.html"))
        sizes = [p.stat().st_size for p in (tmp / "out-0-True").glob("*/*.html")]
    cpu = statistics.median(r[True][0] / r[False][0] - 1 for r in rows)
    wall = statistics.median(r[True][1] / r[False][1] - 1 for r in rows)
    print(f"\n{args.n} submissions, -j {args.jobs}: pictures add {100 * cpu:+.1f} % to a batch's CPU time and "
          f"{100 * wall:+.1f} % to its wall time (medians of {args.pairs} pairs); feedback pages "
          f"{statistics.median(sizes) / 1024:.0f} KiB (median; e.g. {page.parent.name})")


if __name__ == "__main__":
    main()
