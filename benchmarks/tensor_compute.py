"""The pure tensor compute of grading one submission, against what grading it costs.

Usage: .venv/bin/python benchmarks/tensor_compute.py [--runs 5] [SUBMISSION]

"Pure tensor compute" is the torch work the checks need and nothing else, measured in two parts:
- the reference side, timed inside the grader: building the reference modules, their forward and
  backward passes (top-level calls only, so nothing is counted twice);
- the student side, replayed: every request a grading sent to its children is recorded, then run
  again in this process by the child's own code (``Child.op_batch``: the same builds, loads,
  forward and backward passes, on the same tensors) -- no fork, no sandbox, no socket, no
  serialisation, no Hypothesis.
A warm grading's wall time divided by the sum is the harness's overhead factor (issue 4 asks for
at most 1.5). A warm worker takes the reference side from its cache, so the script also divides by
the compute a warm grading still does. Not part of the test suite.
"""
import argparse
import copy
import functools
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SOLUTIONS = ROOT / "solutions" / "unet"


class _Stopwatch:
    """Adds the time of the outermost timed call only: a forward inside a timed build is not counted twice."""

    def __init__(self):
        self.seconds = 0.0
        self.depth = 0

    def wrap(self, function):
        @functools.wraps(function)
        def timed(*args, **kwargs):
            if self.depth:
                return function(*args, **kwargs)
            self.depth += 1
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started
                self.depth -= 1
        return timed


def record_grading(grader, submission: Path) -> tuple[float, list]:
    """Grade once; return the reference side's tensor seconds and every child's requests, in order."""
    import torch

    from autograder.checks import common
    from autograder.sandbox import launcher

    stopwatch = _Stopwatch()
    patched = [
        (torch.nn.Module, "__call__"), (torch.nn.Module, "__init__"), (torch.autograd, "backward"),
        (torch.func, "functional_call"), (common.ReferenceModels, "__init__"),
    ]
    originals = [getattr(owner, name) for owner, name in patched]
    original_ref64 = common.ReferenceModels.__dict__["ref64"]
    original_send = launcher.ChildConnection.send
    children = []

    def recording(self, op, what, pace, **args):
        if op == "load":
            children.append({"load": copy.deepcopy(args), "batches": []})
        elif op == "batch":
            children[-1]["batches"].append(copy.deepcopy(args))
        return original_send(self, op, what, pace, **args)

    try:
        for (owner, name), original in zip(patched, originals):
            setattr(owner, name, stopwatch.wrap(original))
        common.ReferenceModels.ref64 = functools.cached_property(stopwatch.wrap(original_ref64.func))
        common.ReferenceModels.ref64.__set_name__(common.ReferenceModels, "ref64")
        launcher.ChildConnection.send = recording
        grader.grade(submission)
    finally:
        for (owner, name), original in zip(patched, originals):
            setattr(owner, name, original)
        common.ReferenceModels.ref64 = original_ref64
        launcher.ChildConnection.send = original_send
    return stopwatch.seconds, children


def replay_children(children: list) -> float:
    """Seconds the recorded requests take when the child's own code runs them here, unsandboxed."""
    from autograder.sandbox.child.server import Child

    seconds = 0.0
    for recorded in children:
        child = Child(sock=None, settings={"device": "cpu", "threads": 1})
        try:
            child.op_load(**recorded["load"])
            for batch in recorded["batches"]:
                batch = copy.deepcopy(batch)  # the child gets fresh tensors too; it sets requires_grad on them
                started = time.perf_counter()
                child.op_batch(**batch)
                seconds += time.perf_counter() - started
        finally:
            child.op_reset()  # the student's modules leave this process as they leave a child
    return seconds


def measure(grader, submission: Path, runs: int) -> dict:
    """Median warm grading seconds, the reference and replayed student compute, and their ratios.

    A warm worker takes the reference's runs from its cache (``checks/common.ReferenceCache``), so
    two ratios: against the compute the checks need (reference computed afresh), and against the
    compute a warm grading still does (student side, plus any reference the cache misses).
    """
    grader.grade(submission)  # warm: fork server started, cases drawn, reference imported
    walls, references, left, students = [], [], [], []
    for _ in range(runs):
        grader._references.clear()
        reference_seconds, children = record_grading(grader, submission)  # the reference computed afresh
        references.append(reference_seconds)
        left.append(record_grading(grader, submission)[0])  # what a warm grading still computes of it
        started = time.perf_counter()
        grader.grade(submission)
        walls.append(time.perf_counter() - started)
        students.append(replay_children(children))
    result = {
        "grading": statistics.median(walls),
        "reference compute": statistics.median(references),
        "student compute": statistics.median(students),
        "reference compute left warm": statistics.median(left),
    }
    result["compute"] = result["reference compute"] + result["student compute"]
    result["overhead factor"] = result["grading"] / result["compute"]
    result["factor over compute done"] = result["grading"] / (result["student compute"] + result["reference compute left warm"])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submission", nargs="?", default=str(SOLUTIONS))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    from autograder.config import load_config
    from autograder.grader import Grader

    with Grader(load_config()) as grader:
        figures = measure(grader, Path(args.submission), args.runs)
    width = max(map(len, figures))
    for name, value in figures.items():
        print(f"{name:<{width}}  {value:6.2f}{'x' if 'factor' in name else ' s'}")


if __name__ == "__main__":
    main()
