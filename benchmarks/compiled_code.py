"""What ``torch.compile`` costs a child, and what the child does instead (issue 18).

Usage: .venv/bin/python benchmarks/compiled_code.py [--repeats 20]

One ResBlock forward (the reference's, 2 images of 64 channels at 32x32, one thread), timed three ways:
- plain: eager, as a student's uncompiled code runs;
- compiled: ``torch.compile`` with inductor, in a fresh process with an empty cache folder -- what a
  fresh child would pay if it could write a cache (the first call compiles; later calls are fast);
- in the child: through ``_compile_eagerly``, the no-op every child installs for ``torch.compile``.
Each way runs in a process of its own, so one compile's caches never help another.
Not part of the test suite: compiling takes many seconds.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_MEASURE = r"""
import json, statistics, sys, time
import torch
sys.path.insert(0, {root!r})
from solutions.unet.res_block import ResBlock
torch.set_num_threads(1)
way, repeats = {way!r}, {repeats}
block = ResBlock(64, 64, 256).eval()
x, t = torch.randn(2, 64, 32, 32), torch.randn(2, 256)
if way == "compiled":
    block = torch.compile(block)
elif way == "child":
    from autograder.sandbox.child.server import _compile_eagerly
    _compile_eagerly(torch)
    block = torch.compile(block)
with torch.no_grad():
    started = time.perf_counter()
    block(x, t)
    first = time.perf_counter() - started
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        block(x, t)
        times.append(time.perf_counter() - started)
print(json.dumps({{"first_s": first, "median_s": statistics.median(times)}}))
"""


def measure(way: str, repeats: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="compile-cache-") as cache:
        env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=cache, TRITON_CACHE_DIR=cache, OMP_NUM_THREADS="1")
        done = subprocess.run([sys.executable, "-c", _MEASURE.format(root=str(ROOT), way=way, repeats=repeats)],
                              capture_output=True, text=True, env=env, cwd=ROOT, timeout=1800)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    for way in ("plain", "compiled", "child"):
        result = measure(way, args.repeats)
        if "error" in result:
            print(f"{way:9s} failed: {result['error']}")
        else:
            print(f"{way:9s} first call {result['first_s'] * 1000:9.1f} ms   then {result['median_s'] * 1000:7.2f} ms")


if __name__ == "__main__":
    main()
