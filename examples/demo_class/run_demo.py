"""`make demo`: grade a small sample class and say where to look.

The class is made here, from the reference and the test bank's edits (tests/mutants.py), so the
repository ships a few lines per student instead of their files:

    ada   the reference                         full marks
    ben   cosines before sines                  TimeEmbedding loses points
    cara  cosines before sines, like ben        the same mistake: one group of two in report.html
    dev   softmax over the queries              SelfAttention
    eli   the chapter's up1 (no skip_channels)  SimpleUNet: the erratum, seen in the shapes through the U
    fay   ReLU after conv1                      ResBlock (and everything built on it)
    gus   attention with einsum                 a correct variant: full marks
    hal   attention on scaled_dot_product_attention, written his own way
    ivy   hal's file with names and comments changed: flagged as near-identical to hal
    kim   `import einops` in attention.py       an environment problem, not a mistake
    max   SelfAttention.forward calls os._exit(0)  hostile: only the attention components lose points
    zed   a zip that is not a zip               cannot be read: "needs a person"

Usage: .venv/bin/python examples/demo_class/run_demo.py [--out build/demo] [-j 2]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from autograder.pages import STAFF_PAGE, STUDENT_PAGE  # noqa: E402
from autograder.output_folder import OutputFolder  # noqa: E402
from tests.mutants import EQUIVALENT_FILES, EQUIVALENTS, MUTANTS  # noqa: E402

SOLUTIONS = ROOT / "solutions" / "unet"
HOSTILE = ROOT / "tests" / "hostile"


def _mutant(name: str) -> dict[str, str]:
    return next(m for m in MUTANTS + EQUIVALENTS if m.name == name).replacements()


def _renamed(source: str) -> str:
    """The same code with other names, comments and docstring: what copying and disguising looks like."""
    for old, new in (("q", "query"), ("k", "key"), ("v", "value"), ("weights", "probs"), ("attn", "mixed"),
                     ("B", "n"), ("C", "ch"), ("H", "rows"), ("W", "cols")):
        source = re.sub(rf"(?<![.\w]){old}\b", new, source)  # local names only: attributes are the contract
    source = source.replace('"""A correct SelfAttention built on', '"""My attention, using')
    return source.replace("        out = x + self.out(", "        # residual connection around the attention\n        out = x + self.out(")


def make_class(folder: Path) -> None:
    sdpa = (EQUIVALENT_FILES / "sdpa" / "attention.py").read_text()
    reference_attention = (SOLUTIONS / "attention.py").read_text()
    students = {
        "ada": {},
        "ben": _mutant("cosines before sines"),
        "cara": _mutant("cosines before sines"),
        "dev": _mutant("softmax over the queries"),
        "eli": _mutant("chapter's up1 without skip_channels"),
        "fay": _mutant("relu after conv1 instead of before"),
        "gus": _mutant("attention with einsum"),
        "hal": {"attention": sdpa},
        "ivy": {"attention": _renamed(sdpa)},
        "kim": {"attention": "import einops  # for rearrange\n" + reference_attention},
        "max": {"attention": reference_attention.replace(  # hostile, where it runs: inside forward
            "        B, C, H, W = x.shape\n",
            "        B, C, H, W = x.shape\n" + "".join(f"        {line}\n" for line in
                                                  (HOSTILE / "os_exit.py").read_text().splitlines() if line), 1)},
    }
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for student, modules in students.items():
        shutil.copytree(SOLUTIONS, folder / student, ignore=shutil.ignore_patterns("__pycache__"))
        for module, source in modules.items():
            (folder / student / f"{module}.py").write_text(source)
    (folder / "zed.zip").write_bytes(b"PK\x03\x04 not really a zip")


def _sandbox_environment() -> dict[str, str]:
    """The demo's environment: where bubblewrap is missing, the fallback sandbox, said in one line.

    There student code could read the reference (file permissions are all that hide it, and a
    checkout is world-readable), and the grader refuses that unless told to accept the risk. The
    demo's students are made from the reference, so nothing is lost: the demo accepts it, and says so.
    """
    from autograder.sandbox.isolation import detect

    environment = dict(os.environ)
    isolation = detect()
    if isolation.mode != "bwrap" and environment.get("AUTOGRADER_ACCEPT_RISK") is None:
        environment["AUTOGRADER_ACCEPT_RISK"] = "1"
        print("demo: no usable bubblewrap here, so student code runs in the weaker fallback sandbox, where it "
              "may read the reference unless the kernel's Landlock keeps it out (the demo grades anyway: its "
              "students are made from the reference). For real grading: sudo apt-get install bubblewrap; "
              "`autograder doctor` lists what else to fix.",
              flush=True)
    return environment


def main() -> int:
    parser = argparse.ArgumentParser(description="Grade the demo class.")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "demo")
    parser.add_argument("-j", "--jobs", type=int, default=2)
    args = parser.parse_args()
    submissions, graded = args.out / "submissions", args.out / "out"
    make_class(submissions)
    shutil.rmtree(graded, ignore_errors=True)
    status = subprocess.run([sys.executable, "-m", "autograder.cli", "batch", str(submissions), "--out", str(graded),
                             "-j", str(args.jobs)], cwd=ROOT, env=_sandbox_environment()).returncode
    if status not in (0, 1, 4):  # 4: graded, and some need a person (zed.zip, kim's einops), as planned
        return status
    folder = OutputFolder(graded)
    print()
    print(f"The class report:             {(graded / 'report.html').resolve().as_uri()}")
    print(f"One student's feedback:       {(folder.student_dir('ben') / STUDENT_PAGE).resolve().as_uri()}")
    print(f"The same, with hidden checks: {(folder.staff_dir('ben') / STAFF_PAGE).resolve().as_uri()}")
    print(f"{folder.students.resolve()}/ holds only what students may see: hand each student their folder as it is.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
