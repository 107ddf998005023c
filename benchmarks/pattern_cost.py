"""How the trusted process's regular expressions grow with hostile text: every module-level pattern of
``autograder/`` outside the sandboxed child, tried on runs a student can hand in.

Usage: .venv/bin/python benchmarks/pattern_cost.py [--size 20000] [--limit 4]

Student text reaches many patterns (a syntax error's line, a file's name, an exception's message), and
a pattern that backtracks over a run of spaces or letters costs the grader minutes before any time
budget applies (red team, twice). For each pattern this times ``search`` (and ``fullmatch``) on inputs
built from runs of spaces, word characters, digits and the pattern's own literal words, at ``--size``
and a tenth of it, and prints those whose time grows more than ``--limit`` times the growth of the
input's size (linear: 1; quadratic: about 10), worst first. Not part of the test suite: a pattern it
lists is worth reading, not proof (one the code only ever ``match``es at the start, or runs on a capped
slice, is listed for what ``search`` would cost); one it does not list was not proven linear either.
"""
import argparse
import importlib
import pkgutil
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import autograder  # noqa: E402

SEALED = "autograder.sandbox.child"  # runs inside the sandbox: its cost is the student's own budget


def trusted_patterns() -> list[tuple[str, re.Pattern]]:
    """(module.NAME, pattern) for every compiled pattern held at module level in the trusted process."""
    found = []
    for info in pkgutil.walk_packages(autograder.__path__, "autograder."):
        if info.name.startswith(SEALED):
            continue
        try:
            module = importlib.import_module(info.name)
        except Exception as error:  # a module that needs what this machine lacks: said, skipped
            print(f"skipped {info.name}: {error}", file=sys.stderr)
            continue
        for name, value in vars(module).items():
            if isinstance(value, re.Pattern):
                found.append((f"{info.name}.{name}", value))
    return list({id(p): (n, p) for n, p in found}.values())


def _words(pattern: re.Pattern) -> list[str]:
    """The literal words a pattern holds: hostile text repeats them to get past its prefix."""
    return sorted(set(re.findall(r"[A-Za-z]{2,}", pattern.pattern)))[:6]


def inputs(pattern: re.Pattern, size: int) -> dict[str, str]:
    runs = {"spaces": " ", "letters": "a", "digits": "7", "é": "é", "dots": ".", "tabs-newlines": "\t\n"}
    made = {}
    for label, unit in runs.items():
        made[label] = (unit * size)[:size] + "!"
        for word in _words(pattern):
            made[f"{word}+{label}"] = (word + " " + unit * size)[:size] + "!"
            made[f"{label}*{word}"] = ((word + unit) * (size // (len(word) + 1) + 1))[:size] + "!"
    return made


def seconds(pattern: re.Pattern, text: str) -> float:
    started = time.perf_counter()
    pattern.search(text)
    pattern.fullmatch(text)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=20_000)
    parser.add_argument("--limit", type=float, default=4.0)
    args = parser.parse_args()
    rows = []
    for name, pattern in trusted_patterns():
        worst = (0.0, "", 0.0)
        for label, text in inputs(pattern, args.size).items():
            small = min(seconds(pattern, text[: args.size // 10] + "!") for _ in range(3))
            large = seconds(pattern, text)
            growth = large / max(small, 1e-6) / 10
            if large > 0.002 and growth > worst[0]:
                worst = (growth, label, large)
        if worst[0] > args.limit:
            rows.append((worst[0], name, worst[1], worst[2]))
    for growth, name, label, large in sorted(rows, reverse=True):
        print(f"{growth:8.1f}x linear  {large * 1000:9.1f} ms at {args.size:,}  {name}  ({label})")
    print(f"{len(rows)} pattern(s) grew more than {args.limit:g}x linear")


if __name__ == "__main__":
    main()
