"""Synthetic submissions for the benchmarks: a class of mixed quality made from the test bank."""
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.mutants import EQUIVALENTS, MUTANTS  # noqa: E402

SOLUTIONS = ROOT / "solutions" / "unet"


def make_submissions(folder: Path, n: int) -> list[str]:
    """N folders: the reference first, then mutants and equivalents alternately; returns 'folder: variant'."""
    variants = [None]
    for i in range(max(len(MUTANTS), len(EQUIVALENTS))):
        variants += [m for m in (MUTANTS[i] if i < len(MUTANTS) else None,
                                 EQUIVALENTS[i] if i < len(EQUIVALENTS) else None) if m is not None]
    names = []
    for index in range(n):
        variant = variants[index % len(variants)]
        name = f"s{index:03d}"
        shutil.copytree(SOLUTIONS, folder / name)
        for module, source in (variant.replacements() if variant else {}).items():
            (folder / name / f"{module}.py").write_text(source)
        names.append(f"{name}: {variant.name if variant else 'reference'}")
    return names
