"""Student stubs from the reference: each ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region
becomes ``raise NotImplementedError()`` (nbgrader's ClearSolutions convention), everything else --
the docstrings that teach -- is kept. Nested or unterminated markers fail loudly."""
import shutil
from pathlib import Path

from ..errors import ReleaseError

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"


def make_stub(source: str, filename: str = "<source>") -> str:
    """``source`` with every solution region replaced by ``raise NotImplementedError()``."""
    out: list[str] = []
    begin_line = None
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        marker = line.strip()
        if marker == BEGIN:
            if begin_line is not None:
                raise ReleaseError(f"{filename}:{number}: '{BEGIN}' inside the region opened at line {begin_line}")
            begin_line = number
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}raise NotImplementedError()\n")
        elif marker == END:
            if begin_line is None:
                raise ReleaseError(f"{filename}:{number}: '{END}' without a matching '{BEGIN}'")
            begin_line = None
        elif begin_line is None:
            out.append(line)
    if begin_line is not None:
        raise ReleaseError(f"{filename}:{begin_line}: '{BEGIN}' is never closed by '{END}'")
    stub = "".join(out)
    try:
        compile(stub, filename, "exec")
    except SyntaxError as exc:
        raise ReleaseError(f"{filename}: the stub would not be valid Python ({exc.msg}, line {exc.lineno})") from None
    return stub


def solution_lines(source: str) -> list[str]:
    """The stripped code lines inside solution regions: what must never reach students."""
    lines, inside = [], False
    for line in source.splitlines():
        marker = line.strip()
        if marker == BEGIN:
            inside = True
        elif marker == END:
            inside = False
        elif inside and marker and not marker.startswith("#"):
            lines.append(marker)
    return lines


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
