"""Student stubs from the reference, written into a release folder (``solution_markers.make_stub``
does each file). Nested or unterminated markers fail loudly."""
import shutil
from pathlib import Path

from ..errors import ReleaseError
from ..solution_markers import BEGIN, END, make_stub, solution_lines

__all__ = ["BEGIN", "END", "make_stub", "solution_lines", "release_stubs"]


def release_stubs(solutions_dir, out_dir) -> list[Path]:
    """Write a stub for every module of ``solutions_dir`` into ``out_dir``; return the files written."""
    solutions_dir, out_dir = Path(solutions_dir), Path(out_dir)
    if not solutions_dir.is_dir():
        raise ReleaseError(f"{solutions_dir}: no such folder; point --solutions at the reference package")
    stubs = {
        path.name: make_stub(path.read_text(encoding="utf-8"), str(path))
        for path in sorted(solutions_dir.glob("*.py"))
    }
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    written = []
    for name, text in stubs.items():
        target = out_dir / name
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written
