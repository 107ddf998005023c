"""Which system calls sandboxed children make: the measurement behind the seccomp allow-list.

Usage: .venv/bin/python benchmarks/child_syscalls.py [--out FOLDER] [SUBMISSIONS...]
Grades a class under ``strace -f -ff`` in the fallback mode (needs strace; ~10 minutes for the
default class: the reference, classroom layouts, some mutants and equivalents, the chapter's code),
then counts every call each child made after its seccomp filter went on, and those of every
process or thread it started. Prints them, most frequent first, and any that
``sandbox/child/limits.py`` does not allow: a grading that needs one fails in that call.
"""
import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CALL = re.compile(r"^([a-z0-9_]+)\(")
SPAWN = re.compile(r"^(clone3?|fork|vfork)\(.*\)\s+=\s+(\d+)")


def default_class(folder: Path) -> None:
    from tests.classroom import make_class
    from tests.mutants import EQUIVALENTS, MUTANTS, SOLUTIONS

    make_class(folder, ["relative", "one_unet_py", "own_file_names", "missing_file", "writefile_notebook",
                        "numpy_matplotlib", "einops", "endless_test_at_bottom", "softmax_mistake",
                        "unavailable_import", "zip_in_zip"])
    for number, mutant in enumerate(MUTANTS[::6] + EQUIVALENTS[::4]):
        shutil.copytree(SOLUTIONS, folder / f"bank_{number}")
        for module, source in mutant.replacements().items():
            (folder / f"bank_{number}" / f"{module}.py").write_text(source)
    shutil.copytree(ROOT / "tests" / "data" / "chapter", folder / "chapter")
    shutil.copytree(SOLUTIONS, folder / "reference")


def children_calls(traces: Path) -> tuple[int, collections.Counter]:
    """Calls made after PR_SET_SECCOMP in each trace, and by every process started after it."""
    files = {}
    for path in traces.glob("t.*"):
        lines = path.read_text(errors="replace").splitlines()
        seccomp_at = next((i for i, line in enumerate(lines) if "PR_SET_SECCOMP" in line), None)
        spawned = [(i, int(m.group(2))) for i, line in enumerate(lines) if (m := SPAWN.match(line))]
        files[int(path.name.split(".")[1])] = (lines, seccomp_at, spawned)
    inside, todo = set(), [pid for lines, at, spawned in files.values() if at is not None
                           for i, pid in spawned if i > at]
    while todo:
        pid = todo.pop()
        if pid not in inside:
            inside.add(pid)
            todo += [child for _, child in files.get(pid, ([], None, []))[2]]
    calls, children = collections.Counter(), 0
    for pid, (lines, at, _) in files.items():
        if pid in inside:
            start = 0
        elif at is not None:
            start, children = at + 1, children + 1
        else:
            continue
        calls.update(m.group(1) for line in lines[start:] if (m := CALL.match(line)))
    return children, calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submissions", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, help="keep the traces and the batch's output here")
    args = parser.parse_args()
    if shutil.which("strace") is None:
        sys.exit("strace is not installed (Debian: apt-get install strace)")
    from autograder.sandbox.child.limits import ALLOWED, OPENING

    work = args.out or Path(tempfile.mkdtemp(prefix="child-syscalls-"))
    klass, traces = work / "class", work / "traces"
    traces.mkdir(parents=True)
    if args.submissions:
        klass.mkdir()
        for path in args.submissions:
            shutil.copytree(path, klass / path.name) if path.is_dir() else shutil.copy(path, klass)
    else:
        default_class(klass)
    environment = dict(os.environ, AUTOGRADER_ISOLATION="fallback", AUTOGRADER_ACCEPT_RISK="1")
    subprocess.run(["strace", "-f", "-ff", "-qq", "-o", str(traces / "t"), sys.executable, "-m", "autograder.cli",
                    "batch", str(klass), "--out", str(work / "graded"), "--no-figures"],
                   env=environment, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    children, calls = children_calls(traces)
    print(f"{children} children")
    for name, count in calls.most_common():
        # ioctl and fcntl are allowed by request (IOCTLS, FCNTLS): strace -e trace=ioctl,fcntl shows which
        verdict = "   by request" if name in ("ioctl", "fcntl") else "" if name in ALLOWED or name in OPENING \
            else "   NOT ALLOWED"
        print(f"{count:10d} {name}{verdict}")
    if not args.out:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
