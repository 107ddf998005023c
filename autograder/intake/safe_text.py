"""Safe text: what every string from a submission becomes before the grader keeps it.

A submission sends text into the trusted process through a few doors: file and folder names
(intake, discovery), notebook and source text read for notes, the child's replies (messages,
class names, tracebacks) and the texts of exceptions raised while reading any of these. Each door
passes its text through ``safe_text`` once, as MarkupSafe's ``Markup`` marks a string already
escaped: the result is a ``SafeText`` and passing it again costs nothing. After it, text

- is valid Unicode: a lone surrogate (``os.fsdecode`` of a non-UTF-8 file name makes them) is
  written as ``\\xNN`` for the byte it stood for, or U+FFFD; UTF-8 writers, JSON, CSV and Jinja
  never fail on it;
- holds no control characters but newline and tab: a NUL, an escape sequence or a carriage return
  cannot truncate a file, colour a terminal or rewrite a CSV row (each becomes ``\\xNN``);
- holds no bidirectional overrides or invisible marks (the "Trojan Source" characters, U+202E and
  friends): they would make a page or a spreadsheet show a name or a line other than what it is;
  each becomes ``\\u202e``, so a person sees that it was there;
- is bounded: at most ``limit`` characters, with a note of how many were cut.

Escaping for a page (HTML) or a spreadsheet (a leading ``=``) is the writer's: Jinja's autoescape,
``report.spreadsheet_safe``. Standard library only: ``check.py`` ships this package.
"""
import re

__all__ = ["SafeText", "safe_text", "safe_name_text", "failure_message", "MAX_TEXT", "MAX_NAME"]

MAX_TEXT = 8000  # characters of one message, note or reply text
MAX_NAME = 200  # characters of one file, folder or person name

# Lone surrogates; C0 and C1 controls but \t and \n; bidirectional controls and zero-width marks.
_UNSAFE = re.compile("[\ud800-\udfff\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069"
                     "\ufeff\ufff9-\ufffb]")


class SafeText(str):
    """A ``str`` that has passed ``safe_text``: valid Unicode, no control or bidi characters, bounded."""

    __slots__ = ()


def _replacement(match: re.Match) -> str:
    character = match.group()
    code = ord(character)
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the raw byte of a name that is not UTF-8
        return f"\\x{code - 0xDC00:02x}"
    if 0xD800 <= code <= 0xDFFF:
        return "\ufffd"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(value, limit: int = MAX_TEXT) -> SafeText:
    """``value`` (any object: its ``str``) as safe text of at most ``limit`` characters."""
    if type(value) is SafeText and len(value) <= limit:
        return value
    try:
        text = value if isinstance(value, str) else str(value)
    except Exception as error:  # noqa: BLE001 -- an object whose __str__ fails still gets a text
        text = f"(a {type(value).__name__} that cannot be shown: {type(error).__name__})"
    text = str.__str__(text)  # a str subclass's own methods never run again
    if len(text) <= limit and text.isprintable():  # the common case (a name, a key), in C: nothing to do
        return SafeText(text)
    total = len(text)
    text = _UNSAFE.sub(_replacement, text[: 4 * limit + 64])  # never scan megabytes to keep a few thousand
    total += len(text) - min(total, 4 * limit + 64)  # what escaping added
    if total > limit:
        kept = limit - 40 if limit > 60 else limit - 1
        text = text[:kept] + (f" … [{total - kept:,} more characters]" if limit > 60 else "…")
    return SafeText(text[:limit])


def safe_name_text(value) -> SafeText:
    """A name (file, folder, person) as safe text: ``MAX_NAME`` characters, on one line."""
    return safe_text(str(value).replace("\n", " ").replace("\t", " ") if isinstance(value, str) else value, MAX_NAME)


def failure_message(what: str, error: BaseException) -> SafeText:
    """``what (TypeName: message)`` as safe text: an exception's message may quote student data."""
    return safe_text(f"{what} ({type(error).__name__}: {safe_text(error, 2000)})")
