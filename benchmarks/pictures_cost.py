"""What the feedback pages' pictures cost a batch (issue 14's target: under 20 %).

Usage: .venv/bin/python benchmarks/pictures_cost.py [--n 16] [--jobs 2] [--pairs 2]

Grades the same N synthetic submissions (benchmarks/synthetic.py: the reference, the bank's
mistakes and equivalents) with `autograder batch -j J`, with pictures and with `--no-figures`,
in alternating pairs (the machine's speed drifts by +-20 % from minute to minute), and prints
per pair: the wall time both ways, the workers' grading time (figure data included, from
report.json), and the extra the pictures cost. Both ways write feedback.html, the staff page,
Gradescope's results.json and report.html; only the pictures and their data differ.
Not part of the test suite: it takes minutes.
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.synthetic import make_submissions  # noqa: E402


def run_batch(submissions: Path, out: Path, jobs: int, figures: bool) -> tuple[float, float]:
    """(wall seconds of the whole command, sum of the workers' per-submission seconds)."""
    command = [sys.executable, "-m", "autograder.cli", "batch", str(submissions), "--out", str(out), "-j", str(jobs)]
    started = time.perf_counter()
    subprocess.run(command + ([] if figures else ["--no-figures"]), cwd=ROOT, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - started
    graded = sum(json.loads(p.read_text())["grading"]["seconds"] for p in out.glob("*/report.json")
                 if p.parent.joinpath("results.json").is_file())
    return wall, graded


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
            with_wall, with_graded = results[True]
            plain_wall, plain_graded = results[False]
            print(f"pair {pair + 1}: wall {with_wall:.1f} s with pictures, {plain_wall:.1f} s without "
                  f"({100 * (with_wall / plain_wall - 1):+.1f} %); workers' grading {with_graded:.1f} s vs "
                  f"{plain_graded:.1f} s ({100 * (with_graded / plain_graded - 1):+.1f} %)", flush=True)
        page = next((tmp / f"out-0-True").glob("*/feedback.html"))
        sizes = [p.stat().st_size for p in (tmp / "out-0-True").glob("*/*.html")]
    extra = statistics.median(r[True][0] / r[False][0] - 1 for r in rows)
    print(f"\n{args.n} submissions, -j {args.jobs}: pictures add {100 * extra:+.1f} % to a batch's wall time "
          f"(median of {args.pairs} pairs); feedback pages {statistics.median(sizes) / 1024:.0f} KiB "
          f"(median; e.g. {page.parent.name})")


if __name__ == "__main__":
    main()
