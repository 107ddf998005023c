"""What student-supplied text may show: capped, and with anything that matches the hidden reference
or the hidden checks taken out.

Student code controls its error messages and tracebacks, and those reach the student's own
feedback. A child holds the reference's compiled code for a component's dependencies; code that
disassembles it and raises the result could read the reference in its feedback. So every text that
came from a child passes through ``Redactor.clean`` on its way into a report: lines that contain a
line of the reference's solutions or of the checks (unless the student's own files have that
line), and lines that look like disassembled bytecode, are replaced by a marker.
"""
import re
from pathlib import Path

MAX_OUTPUT_CHARS = 4000  # one check's output
MAX_OUTPUT_LINES = 60
MIN_SECRET_CHARS = 20  # shorter lines (``return out``) say nothing and are everywhere
HIDDEN = "[line hidden: it matches the hidden reference or checks]"
_BYTECODE = re.compile(
    r"\b(LOAD_(ATTR|GLOBAL|FAST|CONST|METHOD|NAME|DEREF|CLOSURE)|STORE_(FAST|ATTR|NAME|GLOBAL)|BINARY_(OP|SUBSCR)"
    r"|RETURN_VALUE|PRECALL|KW_NAMES|PUSH_NULL|RESUME|CALL_FUNCTION(_KW)?|CALL_METHOD|MAKE_FUNCTION|BUILD_TUPLE)\b")


def normalise(line: str) -> str:
    return " ".join(line.split())


class Redactor:
    def __init__(self, secret_lines=()):
        self.secrets = sorted({s for s in map(normalise, secret_lines) if len(s) >= MIN_SECRET_CHARS})

    @classmethod
    def for_grading(cls, reference_secret_lines) -> "Redactor":
        """The reference's solution lines and every line of the hidden checks' code."""
        checks = Path(__file__).resolve().parent / "checks"
        lines = [line for path in sorted(checks.glob("*.py")) for line in path.read_text(encoding="utf-8").splitlines()
                 if not line.strip().startswith(("#", '"""', "import ", "from "))]
        return cls([*reference_secret_lines, *lines])

    def clean(self, text: str, own_lines=frozenset()) -> str:
        """``text`` capped to ``MAX_OUTPUT_CHARS``/``MAX_OUTPUT_LINES``, secret lines replaced."""
        if not text:
            return text
        lines = text[: MAX_OUTPUT_CHARS * 2].split("\n")
        kept = []
        for line in lines[:MAX_OUTPUT_LINES]:
            flat = normalise(line)
            if _BYTECODE.search(line) or (flat not in own_lines and any(s in flat for s in self.secrets)):
                line = HIDDEN
            kept.append(line)
        result = "\n".join(kept)
        if len(lines) > MAX_OUTPUT_LINES or len(result) > MAX_OUTPUT_CHARS:
            result = result[:MAX_OUTPUT_CHARS].rstrip() + "\n[... cut: the rest of this message is not shown]"
        return result


def own_lines(sources) -> frozenset[str]:
    """The student's own lines, normalised: a traceback quoting them hides nothing."""
    return frozenset(normalise(line) for text in sources for line in text.splitlines())
