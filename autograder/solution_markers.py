"""The reference's solution markers: each ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region is
what students never see. A stub replaces each region with ``raise NotImplementedError()``
(nbgrader's ClearSolutions convention) and keeps everything else, the docstrings that teach; the
grader redacts the regions' lines from feedback. Nested or unterminated markers fail loudly.

This lives with the reference (``reference.py`` reads the secret lines), below ``release/`` and
``pages/``, which both make stubs from it.
"""
from .errors import ReleaseError

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
