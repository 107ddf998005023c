"""Identical or near-identical submissions: fingerprints of normalised source, compared pairwise.

The grader fingerprints each submission's modules (``fingerprint``); report.json keeps only the
hashes, never the source. The class report compares every pair (``similar_pairs``).

Normalising (``normalised_tokens``): Python's tokenizer drops comments and blank lines; docstrings
go; every identifier becomes ``V`` and every other string ``S``; keywords, numbers, operators and
the indentation structure stay. Renaming variables, rewording comments and reformatting change
nothing. The token stream is cut into overlapping k-grams, hashed (a stable hash: workers differ in
``PYTHONHASHSEED``), and winnowed (Schleimer, Wilkerson and Aiken's algorithm, as in MOSS): the
smallest hash of every window of ``WINDOW`` k-grams is kept, so any shared run of
``K + WINDOW - 1`` tokens is certain to share a hash.

What everyone shares is no evidence: hashes of the released stubs and of the reference solution
(the docstrings spell most of it out) are removed before comparing (``base_hashes``), like MOSS's
base file. So two students who both wrote the reference's lines are not flagged; two who share
code of their own are. The similarity of a pair is the Jaccard index of what remains, and a pair
needs ``MIN_SHARED`` hashes in common to count; a hash held by a quarter of the class (and more
than five students) is common knowledge and ignored too. A TA decides what a flagged pair means.
"""
import hashlib
import io
import keyword
import re
import tokenize
from itertools import combinations

__all__ = ["fingerprint", "normalised_tokens", "base_hashes", "similar_pairs", "METHOD"]

K = 12  # tokens per k-gram
WINDOW = 8  # k-grams per winnowing window
METHOD = f"winnow-k{K}-w{WINDOW}-v1"
MIN_SHARED = 8
THRESHOLD = 0.5

_SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.ENCODING, tokenize.ENDMARKER}
_FALLBACK = re.compile(r"[A-Za-z_]\w*|\d[\w.]*|\S")


def normalised_tokens(source: str) -> list[str]:
    """The tokens that say what ``source`` does, not how it is named, commented or laid out."""
    try:
        raw = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError, ValueError):  # IndentationError is a SyntaxError
        return [_normal_word(word) for word in _FALLBACK.findall(source)]  # unreadable Python: plain words
    tokens, line_start = [], True
    for index, token in enumerate(raw):
        kind = token.type
        if kind in _SKIP:
            line_start = line_start or kind in (tokenize.NEWLINE, tokenize.NL)
            continue
        if kind == tokenize.INDENT:
            tokens.append(">")
            continue
        if kind == tokenize.DEDENT:
            tokens.append("<")
            continue
        starts_line, line_start = line_start, False
        if kind == tokenize.STRING and starts_line and _ends_statement(raw, index):
            continue  # a docstring (or any bare string statement): prose, not code
        if kind == tokenize.NAME:
            tokens.append(token.string if keyword.iskeyword(token.string) else "V")
        elif kind in (tokenize.STRING, getattr(tokenize, "FSTRING_START", -1)):
            tokens.append("S")
        elif kind in (getattr(tokenize, "FSTRING_MIDDLE", -1), getattr(tokenize, "FSTRING_END", -1)):
            continue
        else:
            tokens.append(token.string)
    return tokens


def _ends_statement(raw: list, index: int) -> bool:
    following = next((t for t in raw[index + 1:] if t.type not in (tokenize.COMMENT, tokenize.NL)), None)
    return following is None or following.type in (tokenize.NEWLINE, tokenize.ENDMARKER)


def _normal_word(word: str) -> str:
    if word[0].isalpha() or word[0] == "_":
        return word if keyword.iskeyword(word) else "V"
    return word


def _hash(gram: tuple[str, ...]) -> int:
    return int.from_bytes(hashlib.blake2b("\x1f".join(gram).encode(), digest_size=6).digest(), "big")


def _winnowed(tokens: list[str]) -> set[int]:
    hashes = [_hash(tuple(tokens[i:i + K])) for i in range(len(tokens) - K + 1)]
    if len(hashes) <= WINDOW:
        return set(hashes)
    kept, previous = set(), -1
    for start in range(len(hashes) - WINDOW + 1):
        window = hashes[start:start + WINDOW]
        low = min(window)
        position = start + max(i for i, h in enumerate(window) if h == low)  # rightmost minimum
        if position != previous:
            kept.add(low)
            previous = position
    return kept


def fingerprint(sources: dict[str, str]) -> dict:
    """The winnowed hashes of a submission's modules (name -> source text), for report.json."""
    hashes: set[int] = set()
    tokens = 0
    for name in sorted(sources):
        stream = normalised_tokens(sources[name])
        tokens += len(stream)
        hashes |= _winnowed(stream)
    return {"method": METHOD, "tokens": tokens, "hashes": sorted(hashes)}


def base_hashes(sources: list[dict[str, str]]) -> set[int]:
    """Every hash of the given sets of modules (the stubs, the reference): code everybody was given."""
    base: set[int] = set()
    for modules in sources:
        for text in modules.values():
            stream = normalised_tokens(text)
            base |= {_hash(tuple(stream[i:i + K])) for i in range(len(stream) - K + 1)}
    return base


def similar_pairs(fingerprints: dict[str, dict], base: set[int] = frozenset(), threshold: float = THRESHOLD,
                  min_shared: int = MIN_SHARED) -> list[dict]:
    """Pairs of students whose own code (beyond ``base``) overlaps: most similar first.

    Each pair: ``{"students": [a, b], "similarity": Jaccard, "shared": hashes in common,
    "sizes": [own hashes of a, of b]}``. Fingerprints of another method are ignored.
    """
    own = {student: set(f["hashes"]) - base for student, f in fingerprints.items()
           if isinstance(f, dict) and f.get("method") == METHOD}
    holders: dict[int, list[str]] = {}
    for student, hashes in own.items():
        for value in hashes:
            holders.setdefault(value, []).append(student)
    common_knowledge = max(5, len(own) // 4)  # a hash most of the class holds says nothing about a pair
    shared: dict[tuple[str, str], int] = {}
    for students in holders.values():
        if 1 < len(students) <= common_knowledge:
            for pair in combinations(sorted(students), 2):
                shared[pair] = shared.get(pair, 0) + 1
    pairs = []
    for (a, b), common in shared.items():
        union = len(own[a] | own[b])
        similarity = common / union if union else 0.0
        if common >= min_shared and similarity >= threshold:
            pairs.append({"students": [a, b], "similarity": round(similarity, 3), "shared": common,
                          "sizes": [len(own[a]), len(own[b])]})
    return sorted(pairs, key=lambda p: (-p["similarity"], p["students"]))
