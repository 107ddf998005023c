"""What fewer cases per check would gain in speed and lose in catching mistakes: data for a decision.

Usage: .venv/bin/python benchmarks/fewer_cases.py [--examples 5] [--pairs 10] [--bank]

Every check draws ``max_examples`` cases (hidden checks from Hypothesis, public ones the first of
their released cases), so a grading's cost follows that number. This grades the reference in two
warm graders taking turns -- the shipped config, and the same with every check's ``max_examples``
capped at ``--examples`` -- and prints the paired ratio of their times. With ``--bank`` it also
grades every mistake in the test bank (``tests/mutants.py``) both ways and lists those the capped
config no longer catches on their component, and the equivalents it no longer passes. Nothing here
changes what is graded: a smaller number is the course's decision (issue 20), and students'
check.py would have to be released with the same config.
"""
import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.config import load_config  # noqa: E402
from autograder.grader import Grader  # noqa: E402
from tests.mutants import EQUIVALENTS, MUTANTS, SOLUTIONS  # noqa: E402


def capped(config, examples: int):
    """``config`` with no check drawing more than ``examples`` cases."""
    components = {name: {check: settings.model_copy(update={"max_examples": min(examples, config.max_examples(settings))})
                         for check, settings in checks.items()}
                  for name, checks in config.components.items()}
    return config.model_copy(update={"components": components})


def paired_times(graders: list[Grader], pairs: int) -> list[list[float]]:
    """Warm gradings of the reference, the graders taking turns (each pair in alternating order)."""
    times = [[] for _ in graders]
    for grader in graders:
        grader.grade(SOLUTIONS)
        grader.grade(SOLUTIONS)
    for pair in range(pairs):
        order = range(len(graders)) if pair % 2 == 0 else reversed(range(len(graders)))
        for index in order:
            started = time.perf_counter()
            graders[index].grade(SOLUTIONS)
            times[index].append(time.perf_counter() - started)
    return times


def caught(grader: Grader, entry, tmp: str) -> bool:
    """Whether the grading takes points where the bank says it must (its component; an equivalent: nowhere)."""
    folder = Path(tempfile.mkdtemp(dir=tmp)) / "submission"
    shutil.copytree(SOLUTIONS, folder)
    for module, source in entry.replacements().items():
        (folder / f"{module}.py").write_text(source, encoding="utf-8")
    report = grader.grade(folder)
    if entry.component is None:
        return any(not c.passed for c in report.checks)
    score, max_score = report.component_scores()[entry.component]
    return score < max_score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=5, help="the cap on every check's cases")
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--bank", action="store_true", help="also grade the mistakes and equivalents both ways")
    args = parser.parse_args()

    shipped = load_config()
    fewer = capped(shipped, args.examples)
    print(f"cases a grading draws: {sum(shipped.max_examples(s) for c in shipped.components.values() for s in c.values())}"
          f" shipped, {sum(fewer.max_examples(s) for c in fewer.components.values() for s in c.values())} capped")
    with Grader(shipped) as full, Grader(fewer) as cut:
        times = paired_times([full, cut], args.pairs)
        ratios = [b / a for a, b in zip(*times)]
        print(f"warm grading: shipped {statistics.median(times[0]):.2f} s, capped at {args.examples} "
              f"{statistics.median(times[1]):.2f} s; paired ratio {statistics.median(ratios):.2f} "
              f"({min(ratios):.2f}-{max(ratios):.2f})")
        if not args.bank:
            return
        with tempfile.TemporaryDirectory() as tmp:
            lost = [m.name for m in MUTANTS if caught(full, m, tmp) and not caught(cut, m, tmp)]
            wrong = [e.name for e in EQUIVALENTS if caught(cut, e, tmp) and not caught(full, e, tmp)]
    print(f"mistakes caught with all cases but not capped at {args.examples}: {len(lost)} of {len(MUTANTS)}")
    for name in lost:
        print(f"  - {name}")
    print(f"equivalents that lose points only when capped: {len(wrong)} of {len(EQUIVALENTS)}")
    for name in wrong:
        print(f"  - {name}")


if __name__ == "__main__":
    main()
