"""Whether a student's grade on disk is still the grade of what is there now.

A batch resumes by skipping the students it has graded. A grade depends on the hand-in's bytes and on
the grading scheme (the checks' points and settings, the reference); where either changed since (a
late hand-in that replaced the file in a new LMS download, a points table changed between runs), the
record on disk is stale, and a resume grades that student again and says so. ``graded_as`` is what a
record keeps of both; the grader's own code is not part of it (``--regrade`` after an upgrade).
"""
import hashlib
import json
import os
from pathlib import Path

from .config import GradingConfig
from .warm_start import feed_sources

READ_AT_MOST = 256 << 20  # bytes of a hand-in read for its digest; past it, only names and sizes count


def scheme_digest(config: GradingConfig) -> str:
    """The grading scheme: every setting (not where the files are) and the reference's files."""
    digest = hashlib.blake2b(digest_size=12)
    settings = config.model_dump(mode="json", exclude={"reference", "source_path"})
    digest.update(json.dumps(settings, sort_keys=True).encode() + b"\0")
    feed_sources(digest, config.reference_dir())
    return digest.hexdigest()


def handin_digest(source: Path) -> str:
    """A hand-in's files (a file, or a folder's files, links not followed): names, sizes and bytes."""
    digest = hashlib.blake2b(digest_size=12)
    budget = READ_AT_MOST
    for path in _files(Path(source)):
        try:
            size = path.stat().st_size
            digest.update(f"{path.relative_to(source).as_posix() if path != source else ''}\0{size}\0".encode(
                "utf-8", "surrogateescape"))
            if size <= budget:
                budget -= size
                with open(path, "rb") as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(block)
        except OSError:
            digest.update(b"unreadable\0")
    return digest.hexdigest()


def graded_as(source: Path, scheme: str) -> str:
    return f"{scheme}:{handin_digest(source)}"


def _files(source: Path) -> list[Path]:
    if source.is_symlink() or not source.is_dir():
        return [source] if source.is_file() and not source.is_symlink() else []
    found = []
    for folder, folders, names in os.walk(source, followlinks=False):
        folders.sort()
        found += [Path(folder) / name for name in sorted(names) if not (Path(folder) / name).is_symlink()]
    return found
