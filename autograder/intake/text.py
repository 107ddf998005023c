"""Bytes to Python source text, the way editors on every system save it.

UTF-8 with or without a byte-order mark (Windows Notepad adds one), UTF-16/32 with a mark, a PEP 263
``# -*- coding: ... -*-`` line, and -- as a last resort, with a note -- Windows-1252, which is what
an accented comment typed on Windows often is. Line endings become ``\\n`` (CRLF and old Mac CR
alike). Binary files (NUL bytes) are refused: they are not source code.
"""
import codecs
import io
import tokenize

_MARKS = [(codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
          (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")]


# The codecs a coding line may name that editors save source in, by the family of their canonical
# name (``codecs.lookup``): each decodes in time linear in the bytes. Deny by default: another codec
# (``punycode`` is quadratic: a megabyte took a minute, red team; ``idna``, ``rot13``, ``uu``) is not
# how anyone saves code, and the file is read as UTF-8 instead.
_SOURCE_CODECS = ("utf", "latin", "iso8859", "cp", "ascii", "mac", "koi8", "gb", "big5", "shift_jis", "euc",
                  "iso2022", "hz", "johab", "tis", "ptcp", "kz1048", "hp_roman8")


def _source_codec(name: str) -> str:
    """``name`` where it is a codec source is saved in (``_SOURCE_CODECS``), else UTF-8."""
    try:
        canonical = codecs.lookup(name).name
    except LookupError:
        return "utf-8"
    return name if canonical.replace("-", "_").startswith(_SOURCE_CODECS) else "utf-8"


class NotText(Exception):
    """The bytes are not text in any encoding we accept; the message says what to do."""


def decode(data: bytes, label: str) -> tuple[str, str | None]:
    """(text, note or None). The note tells the student what we had to assume."""
    text, note = _decode(data, label)
    if "\x00" in text:
        raise NotText(f"{label} is not a text file (it holds NUL bytes); submit the .py source itself")
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n"), note


def _decode(data: bytes, label: str) -> tuple[str, str | None]:
    for mark, encoding in _MARKS:
        if data.startswith(mark):
            try:
                return data.decode(encoding), None
            except UnicodeDecodeError:
                raise NotText(f"{label} starts like {encoding.upper()} text but is not; save it as UTF-8") from None
    try:
        encoding = _source_codec(tokenize.detect_encoding(io.BytesIO(data).readline)[0])  # BOM and coding cookie
    except SyntaxError:
        encoding = "utf-8"
    try:
        return data.decode(encoding), None
    except (UnicodeDecodeError, LookupError):
        pass
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        first_error = exc
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        raise NotText(f"{label} is not UTF-8 text ({first_error.reason} at byte {first_error.start}); "
                      "save it as UTF-8") from None
    return text, (f"{label} is not UTF-8 (byte {first_error.start}); it was read as Windows-1252. "
                  "Save your files as UTF-8.")
