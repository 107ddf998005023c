"""Identical or near-identical submissions: fingerprints of normalised source, compared pairwise.

The grader fingerprints each submission's modules (``fingerprint``): the hashes, where in which
module each one lies, and the source itself (capped), all kept in the staff-only report.json so the
class report can put the matching regions of a flagged pair side by side.

Normalising (``normalised_tokens``): the source is first read as Python reads it (``ast``) and written
back in one canonical layout (``_canonical``): one statement a line, no semicolons, no redundant
parentheses, and code that does nothing (``pass``, a bare name or constant, a docstring, an ``if``
on a false constant) gone -- so padding every line with ``; pass`` or wrapping every expression in
parentheses changes nothing. Then Python's tokenizer drops comments and blank lines; every identifier becomes ``V`` and every other string ``S``; keywords, numbers, operators and
the indentation structure stay. Renaming variables, rewording comments and reformatting change
nothing. The token stream is cut into overlapping k-grams, hashed (a stable hash: workers differ in
``PYTHONHASHSEED``), and winnowed (Schleimer, Wilkerson and Aiken's algorithm, as in MOSS): the
smallest hash of every window of ``WINDOW`` k-grams is kept, so any shared run of
``K + WINDOW - 1`` tokens is certain to share a hash.

What everyone was given is no evidence: hashes of the released stubs, the notebook and the
reference solution (the docstrings spell most of it out) are removed before comparing
(``base_hashes``), like MOSS's base file. Nothing else is: code that many students share is not
"common knowledge" -- a group of identical copies is exactly what must be seen.

A pair is flagged by *containment*: the shared hashes as a fraction of the smaller side's own
hashes. Padding a copy with dead code grows one side only, so it lowers the Jaccard index (also
reported) but not the containment. Dead code put *between* the statements cuts every k-gram that
spans two statements, so each submission also keeps a hash per statement of ``MIN_STATEMENT_TOKENS``
tokens or more (``statements``): interleaving leaves those whole, and a pair whose own statements
are contained as much is flagged too (``by``). A pair needs ``MIN_SHARED`` hashes in common to count, so two
tiny hand-ins are not flagged for sharing a line. Students whose own code is the same token for
token (names, comments and layout aside) are *exact copies*, listed as groups (``exact_copies``).
A TA decides what a flag means.
"""
import ast
import hashlib
import io
import keyword
import re
import tokenize
from itertools import combinations

__all__ = ["fingerprint", "normalised_tokens", "base_hashes", "similar_pairs", "exact_copies",
           "matching_regions", "METHOD"]

K = 12  # tokens per k-gram
WINDOW = 8  # k-grams per winnowing window
METHOD = f"winnow-k{K}-w{WINDOW}-v4"
MIN_SHARED = 8
MIN_STATEMENT_TOKENS = 10  # shorter statements (``return V``, ``V = V ( V )``) are everybody's
MIN_SHARED_STATEMENTS = 10
THRESHOLD = 0.5  # containment: half of the smaller side's own code
MAX_SOURCE_CHARS = 60_000  # per submission, kept for the side-by-side view
# per submission, fingerprinted: the parent's time (~1 s per 100,000 characters) and report.json's size
# (a hash and its place per ~13 characters) stay bounded; the reference is 30,000. Past it: ``cut``.
MAX_FINGERPRINT_CHARS = 200_000

_SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.ENCODING, tokenize.ENDMARKER}
_FALLBACK = re.compile(r"[A-Za-z_]\w*|\d[\w.]*|\S")


def normalised_tokens(source: str) -> list[str]:
    """The tokens that say what ``source`` does, not how it is named, commented or laid out."""
    return [token for token, _ in _located_tokens(source)]


_BLOCKS = ("body", "orelse", "finalbody")


def _without_dead_code(statements: list) -> list:
    """``statements`` without those that do nothing -- ``pass``, a bare name or constant (docstrings,
    ``...``), an ``if`` on a false constant (its ``else`` stays) -- at every depth. A body left empty
    gets one ``pass``, as Python needs. Walks statements only, never expressions: it costs little."""
    kept = []
    for statement in statements:
        if isinstance(statement, ast.Pass) or (
                isinstance(statement, ast.Expr) and isinstance(statement.value, (ast.Constant, ast.Name))):
            continue
        if isinstance(statement, ast.If) and isinstance(statement.test, ast.Constant) and not statement.test.value:
            kept += _without_dead_code(statement.orelse)
            continue
        for inner in [statement, *getattr(statement, "handlers", ()), *getattr(statement, "cases", ())]:
            for field in _BLOCKS:
                block = getattr(inner, field, None)
                if block:
                    setattr(inner, field, _without_dead_code(block) or
                            ([ast.copy_location(ast.Pass(), block[0])] if field == "body" else []))
        kept.append(statement)
    return kept


def _statements(statements: list) -> list[ast.stmt]:
    """Every statement at every depth, in the order they are written."""
    found = []
    for statement in statements:
        found.append(statement)
        for inner in [statement, *getattr(statement, "handlers", ()), *getattr(statement, "cases", ())]:
            for field in _BLOCKS:
                found += _statements(getattr(inner, field, None) or [])
    return found


def _canonical(source: str) -> tuple[str, dict[int, int]] | None:
    """``source`` as Python reads it, written back in one layout without dead code, and for each of its
    lines the line of ``source`` it came from (for the side-by-side view); None if Python cannot read it
    (or it is too deep to write back): the tokens of the text itself are used then."""
    try:
        tree = ast.parse(source)
        tree.body = _without_dead_code(tree.body)
        text = ast.unparse(tree)
        written = ast.parse(text)
    except (SyntaxError, ValueError, TypeError, RecursionError, MemoryError):
        return None
    lines: dict[int, int] = {}
    for original, new in zip(_statements(tree.body), _statements(written.body)):  # outer first: inner ones win
        for line in range(new.lineno, new.end_lineno + 1):
            lines[line] = min(original.lineno + line - new.lineno, original.end_lineno)
    return text, lines


def _located_tokens(source: str, ends: list | None = None) -> list[tuple[str, int]]:
    """``normalised_tokens`` with the line (1-based) of ``source`` each token is on; ``ends``, when
    given, gets the index in that list where each statement ends."""
    canonical = _canonical(source)
    if canonical is not None:
        text, lines = canonical
        return [(token, lines.get(line, line)) for token, line in _tokens_of(text, ends)]
    return _tokens_of(source, ends)


def _tokens_of(source: str, ends: list | None) -> list[tuple[str, int]]:
    try:
        raw = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError, ValueError):  # IndentationError is a SyntaxError
        return _fallback_tokens(source)  # unreadable Python: plain words
    tokens, line_start = [], True
    for index, token in enumerate(raw):
        kind, line = token.type, token.start[0]
        if kind in _SKIP:
            line_start = line_start or kind in (tokenize.NEWLINE, tokenize.NL)
            if kind == tokenize.NEWLINE and ends is not None:
                ends.append(len(tokens))
            continue
        if kind == tokenize.INDENT:
            tokens.append((">", line))
            continue
        if kind == tokenize.DEDENT:
            tokens.append(("<", line))
            continue
        starts_line, line_start = line_start, False
        if kind == tokenize.STRING and starts_line and _ends_statement(raw, index):
            continue  # a docstring (or any bare string statement): prose, not code
        if kind == tokenize.NAME:
            tokens.append((token.string if keyword.iskeyword(token.string) else "V", line))
        elif kind in (tokenize.STRING, getattr(tokenize, "FSTRING_START", -1)):
            tokens.append(("S", line))
        elif kind in (getattr(tokenize, "FSTRING_MIDDLE", -1), getattr(tokenize, "FSTRING_END", -1)):
            continue
        else:
            tokens.append((token.string, line))
    return tokens


def _fallback_tokens(source: str) -> list[tuple[str, int]]:
    tokens = []
    for number, line in enumerate(source.splitlines(), 1):
        tokens += [(_normal_word(word), number) for word in _FALLBACK.findall(line)]
    return tokens


def _ends_statement(raw: list, index: int) -> bool:
    following = next((raw[i] for i in range(index + 1, len(raw)) if raw[i].type not in (tokenize.COMMENT, tokenize.NL)),
                     None)  # by index: a slice copied the rest of the tokens for each string that starts a line
    return following is None or following.type in (tokenize.NEWLINE, tokenize.ENDMARKER)


def _normal_word(word: str) -> str:
    if word[0].isalpha() or word[0] == "_":
        return word if keyword.iskeyword(word) else "V"
    return word


def _hash(gram: tuple[str, ...]) -> int:
    return int.from_bytes(hashlib.blake2b("\x1f".join(gram).encode(), digest_size=6).digest(), "big")


def _winnowed(tokens: list[str]) -> dict[int, int]:
    """The kept hashes, each with the index of the first k-gram that gave it."""
    hashes = [_hash(tuple(tokens[i:i + K])) for i in range(len(tokens) - K + 1)]
    if len(hashes) <= WINDOW:
        return {h: i for i, h in reversed(list(enumerate(hashes)))}
    kept, previous = {}, -1
    for start in range(len(hashes) - WINDOW + 1):
        window = hashes[start:start + WINDOW]
        low = min(window)
        position = start + max(i for i, h in enumerate(window) if h == low)  # rightmost minimum
        if position != previous:
            kept.setdefault(low, position)
            previous = position
    return kept


def _statement_hashes(located: list[tuple[str, int]], ends: list[int]) -> dict[int, list[int]]:
    """A hash per long enough statement (its normalised tokens, indentation left out): its lines."""
    found, start = {}, 0
    for end in ends:
        statement = [(t, line) for t, line in located[start:end] if t not in "<>"]
        start = end
        if len(statement) >= MIN_STATEMENT_TOKENS:
            found.setdefault(_hash(("statement",) + tuple(t for t, _ in statement)),
                             [statement[0][1], statement[-1][1]])
    return found


def fingerprint(sources: dict[str, str]) -> dict:
    """A submission's modules (name -> source text) as report.json keeps them for similarity: the
    winnowed hashes, each hash's place (module, first line, last line), a digest of the whole
    normalised code (equal digests: exact copies) and the source, capped, for the side-by-side view.
    Only the first ``MAX_FINGERPRINT_CHARS`` (modules in name order) are read: past them, ``cut`` says
    how many characters were handed in, for a person to compare the rest."""
    hashes: dict[int, list] = {}
    statements: dict[int, list] = {}
    tokens = 0
    whole = hashlib.blake2b(digest_size=16)
    kept_source, room = {}, MAX_SOURCE_CHARS
    budget, total = MAX_FINGERPRINT_CHARS, sum(len(text) for text in sources.values())
    for name in sorted(sources):
        read, budget = sources[name][:budget], max(budget - len(sources[name]), 0)
        ends: list[int] = []
        located = _located_tokens(read, ends)
        stream = [token for token, _ in located]
        for value, (first, last) in _statement_hashes(located, ends).items():
            statements.setdefault(value, [name, first, last])
        tokens += len(stream)
        whole.update(("\x1e" + name + "\x1d" + "\x1f".join(stream)).encode())
        for value, start in _winnowed(stream).items():
            hashes.setdefault(value, [name, located[start][1], located[start + K - 1][1]])
        text = sources[name][:room]
        kept_source[name], room = text, room - len(text)
    found = {"method": METHOD, "tokens": tokens, "hashes": sorted(hashes), "statements": sorted(statements),
             "digest": whole.hexdigest(), "places": {str(h): place for h, place in {**statements, **hashes}.items()},
             "source": kept_source}
    return found | ({"cut": total} if total > MAX_FINGERPRINT_CHARS else {})


def base_hashes(sources: list[dict[str, str]]) -> set[int]:
    """Every hash of the given sets of modules (stubs, notebook, reference), k-grams and statements:
    code everybody was given."""
    base: set[int] = set()
    for modules in sources:
        for text in modules.values():
            ends: list[int] = []
            located = _located_tokens(text, ends)
            stream = [token for token, _ in located]
            base |= {_hash(tuple(stream[i:i + K])) for i in range(len(stream) - K + 1)}
            base |= set(_statement_hashes(located, ends))
    return base


def _own(fingerprints: dict[str, dict], base, kind: str = "hashes") -> dict[str, set[int]]:
    return {student: set(f.get(kind, ())) - base for student, f in fingerprints.items()
            if isinstance(f, dict) and f.get("method") == METHOD}


def _overlaps(own: dict[str, set[int]]) -> dict[tuple[str, str], int]:
    """How many hashes each pair of students has in common (an index of holders, not all pairs)."""
    holders: dict[int, list[str]] = {}
    for student, hashes in own.items():
        for value in hashes:
            holders.setdefault(value, []).append(student)
    shared: dict[tuple[str, str], int] = {}
    for students in holders.values():
        for pair in combinations(sorted(students), 2):
            shared[pair] = shared.get(pair, 0) + 1
    return shared


def exact_copies(fingerprints: dict[str, dict], base: set[int] = frozenset(),
                 min_shared: int = MIN_SHARED) -> list[list[str]]:
    """Groups of two or more students whose code is the same token for token, and more than what
    they were given (``min_shared`` own hashes): largest group first."""
    own = _own(fingerprints, base)
    groups: dict[str, list[str]] = {}
    for student in sorted(own):
        if len(own[student]) >= min_shared:
            groups.setdefault(fingerprints[student].get("digest", ""), []).append(student)
    found = [students for digest, students in groups.items() if digest and len(students) > 1]
    return sorted(found, key=lambda g: (-len(g), g))


def similar_pairs(fingerprints: dict[str, dict], base: set[int] = frozenset(), threshold: float = THRESHOLD,
                  min_shared: int = MIN_SHARED) -> list[dict]:
    """Pairs of students whose own code (beyond ``base``) overlaps: most contained first.

    Each pair: ``{"students": [a, b], "containment": shared / smaller side (k-grams or statements,
    the larger), "similarity": Jaccard of k-grams, "shared": k-grams in common, "sizes": [own k-grams of
    a, of b], "exact": same code token for token, "by": which fingerprints flagged it, "statements":
    [own statements in common, of a, of b]}``.
    Fingerprints of another method are ignored.
    """
    own, own_statements = _own(fingerprints, base), _own(fingerprints, base, "statements")
    by_grams, by_statements = _overlaps(own), _overlaps(own_statements)
    pairs = []
    for a, b in sorted(set(by_grams) | set(by_statements)):
        common, lines = by_grams.get((a, b), 0), by_statements.get((a, b), 0)
        smaller = min(len(own[a]), len(own[b]))
        containment = common / smaller if smaller else 0.0
        fewer = min(len(own_statements[a]), len(own_statements[b]))
        statement_containment = lines / fewer if fewer else 0.0
        found = [why for why, flagged in (
            ("k-grams", common >= min_shared and containment >= threshold),
            ("statements", lines >= MIN_SHARED_STATEMENTS and statement_containment >= threshold)) if flagged]
        if found:
            exact = fingerprints[a].get("digest") is not None and fingerprints[a].get("digest") == fingerprints[b].get("digest")
            union = len(own[a] | own[b])
            pairs.append({"students": [a, b], "containment": round(max(containment, statement_containment), 3),
                          "similarity": round(common / union, 3) if union else 0.0, "shared": common,
                          "sizes": [len(own[a]), len(own[b])], "exact": exact, "by": found,
                          "statements": [lines, len(own_statements[a]), len(own_statements[b])]})
    return sorted(pairs, key=lambda p: (-p["containment"], -p["shared"], p["students"]))


def matching_regions(first: dict, second: dict, base: set[int] = frozenset(), most: int = 12) -> list[dict]:
    """The regions two fingerprints share, for a side-by-side view: runs of shared hashes merged per
    pair of modules into ``{"left": [module, first line, last line], "right": [...]}``, longest first."""
    places_a, places_b = first.get("places", {}), second.get("places", {})
    shared = sorted((set(first.get("hashes", [])) & set(second.get("hashes", []))
                     | set(first.get("statements", [])) & set(second.get("statements", []))) - set(base))
    spans: dict[tuple[str, str], list[list[int]]] = {}
    for value in shared:
        a, b = places_a.get(str(value)), places_b.get(str(value))
        if not a or not b:
            continue
        spans.setdefault((a[0], b[0]), []).append([a[1], a[2], b[1], b[2]])
    regions = []
    for (left, right), found in spans.items():
        found.sort()
        merged = [found[0]]
        for span in found[1:]:
            last = merged[-1]
            if span[0] <= last[1] + 1 and span[2] <= last[3] + K and span[3] >= last[2] - K:  # overlaps on both sides
                last[1], last[2], last[3] = max(last[1], span[1]), min(last[2], span[2]), max(last[3], span[3])
            else:
                merged.append(span)
        regions += [{"left": [left, s[0], s[1]], "right": [right, s[2], s[3]]} for s in merged]
    regions.sort(key=lambda r: (-(r["left"][2] - r["left"][1]), r["left"]))
    return regions[:most]
