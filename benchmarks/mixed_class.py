"""A realistic class (tests/classroom.py: every way students hand in code), graded with `batch -j 2`:
seconds per student and the whole class's wall time, without and with students whose code never ends.

Usage: .venv/bin/python benchmarks/mixed_class.py [--jobs 2]

The target (issue 10): the class with an endless loop finishes within 3x the time of the class
without it. Two such students are added: one whose test at the bottom of a file never ends (the
file is graded again as its definitions only) and one whose ResBlock.forward never returns.
"""
import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.classroom import make_class  # noqa: E402

ENDLESS = "endless_test_at_bottom"


def grade(classroom: Path, out: Path, jobs: int) -> tuple[float, list[float]]:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "autograder.cli", "batch", str(classroom), "--out", str(out), "-j", str(jobs)],
                   cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    seconds = [json.loads(p.read_text())["grading"]["seconds"] for p in out.glob("staff/*/report.json")]
    return wall, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_class(tmp / "class")
        shutil.move(str(tmp / "class" / ENDLESS), tmp / ENDLESS)
        calm_wall, calm = grade(tmp / "class", tmp / "out-calm", args.jobs)
        shutil.move(str(tmp / ENDLESS), tmp / "class" / ENDLESS)
        looping = tmp / "class" / "forward_never_returns"
        shutil.copytree(ROOT / "solutions" / "unet", looping)
        source = (looping / "res_block.py").read_text()
        (looping / "res_block.py").write_text(source.replace(
            "    def forward(self, x, t_emb):\n", "    def forward(self, x, t_emb):\n        while True:\n            pass\n", 1))
        loop_wall, looped = grade(tmp / "class", tmp / "out-loop", args.jobs)
    print(f"class of {len(calm)} students, -j {args.jobs}: {calm_wall:.1f} s wall, "
          f"median {statistics.median(calm):.2f} s per student (max {max(calm):.1f} s)")
    print(f"the same + 2 students whose code never ends ({len(looped)} students): {loop_wall:.1f} s wall, "
          f"median {statistics.median(looped):.2f} s per student (max {max(looped):.1f} s)")
    print(f"ratio {loop_wall / calm_wall:.2f} (target: at most 3)")


if __name__ == "__main__":
    main()
