"""Every file a student handed in, from a folder or a zip (zips in zips too), read lazily and safely.

Nothing is extracted to disk: a zip is read in memory, so no path in it can reach the file system,
and a member is only read when it can hold code (``.py``, ``.ipynb``, ``.txt``, a nested ``.zip``).
Big unrelated files (checkpoints, data) are listed but never read, so they cost nothing. What is
left out -- operating-system junk, caches, links, unsafe paths -- is recorded with the reason.
"""
import io
import os
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable

from .safe_text import MAX_NAME, safe_text

JUNK_FOLDERS = {"__MACOSX", "__pycache__", ".ipynb_checkpoints", ".git", ".hg", ".svn", ".idea", ".vscode",
                ".venv", "venv", "env", "site-packages", "node_modules", ".hypothesis", ".pytest_cache", "wandb",
                "check_support"}  # the release's own helper for check.py
JUNK_FILES = {".DS_Store", "Thumbs.db", "desktop.ini"}
CODE_SUFFIXES = {".py", ".ipynb", ".txt", ".zip"}


def path_label(path: PurePosixPath | str) -> str:
    """A path from a submission as safe text on one line, bounded like a few names."""
    text = path.as_posix() if isinstance(path, PurePosixPath) else str(path)
    return safe_text(text.replace("\n", " ").replace("\t", " "), 2 * MAX_NAME)


class Refused(Exception):
    """The whole hand-in cannot be read (not a zip, over a limit): the message says what to do."""


@dataclass(frozen=True)
class Limits:
    max_source_bytes: int = 512 * 1024  # one module or notebook
    max_total_bytes: int = 50 << 20  # everything read, nested zips included
    max_files: int = 10_000
    max_zip_depth: int = 3
    max_folder_depth: int = 24  # folders inside folders (a zip's paths too): deeper is left out, never walked


@dataclass(frozen=True)
class FoundFile:
    """One file: its path as the student knows it (inside zips too), size, time, and how to read it."""

    path: PurePosixPath
    size: int
    mtime: float
    opener: Callable[[int], bytes] = field(repr=False, compare=False)

    @property
    def label(self) -> str:
        """The path as safe text (a name need not be UTF-8, nor short): what every message shows."""
        return path_label(self.path)

    def read(self, limit: int) -> bytes:
        """At most ``limit + 1`` bytes: one more than allowed says the file is too big (sizes may lie)."""
        return self.opener(limit + 1)


@dataclass
class Tree:
    files: list[FoundFile] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    bytes_read: int = 0


def collect(path: Path, limits: Limits = Limits()) -> Tree:
    """The files under ``path`` (a folder, a zip, or one file), junk left out with the reason."""
    tree = Tree()
    path = Path(path)
    if path.is_dir():
        _walk_folder(path, tree, limits)
    elif zipfile.is_zipfile(path) or path.suffix.lower() == ".zip":
        try:
            data = path.read_bytes() if path.stat().st_size <= limits.max_total_bytes else None
        except OSError as exc:
            raise Refused(f"{path_label(path.name)} could not be read ({exc.strerror})") from None
        if data is None:
            raise Refused(f"{path_label(path.name)} is larger than {limits.max_total_bytes >> 20} MiB; submit only your code")
        try:
            _walk_zip(data, PurePosixPath(), tree, limits, depth=1)
        except zipfile.BadZipFile as exc:
            raise Refused(f"{path_label(path.name)} is not a readable zip file ({safe_text(exc, 300)}); zip the folder of modules again") from None
    elif path.is_file():
        info = path.stat()
        tree.files.append(FoundFile(PurePosixPath(path.name), info.st_size, info.st_mtime, _file_opener(path)))
    return tree


def _file_opener(path: Path):
    def read(limit: int) -> bytes:
        with open(path, "rb") as handle:
            return handle.read(limit)
    return read


def _is_junk(name: str) -> str | None:
    if name in JUNK_FILES or name.startswith("._"):
        return "operating-system metadata"
    if name in JUNK_FOLDERS:
        return "a cache or tool folder"
    if name.startswith("."):
        return "a hidden file"
    return None


def _admit(tree: Tree, label: PurePosixPath, why: str | None, limits: Limits) -> bool:
    """Record ``label`` as left out (``why``), or count it against the file limit; True when it is kept."""
    if why:
        tree.skipped.append((path_label(label), why))
        return False
    if len(tree.files) >= limits.max_files:
        raise Refused(f"more than {limits.max_files} files; submit only your code")
    return True


def _walk_folder(root: Path, tree: Tree, limits: Limits) -> None:
    for folder, subfolders, files in os.walk(root, followlinks=False):
        here = Path(folder)
        relative = PurePosixPath(here.relative_to(root).as_posix()) if here != root else PurePosixPath()
        if len(relative.parts) >= limits.max_folder_depth:  # os.walk recurses: a deep tree must stop here
            if subfolders:
                tree.skipped.append((path_label(relative) + "/", f"folders nested more than "
                                     f"{limits.max_folder_depth} deep; left out"))
            subfolders[:] = []
        for name in sorted(subfolders):
            why = _is_junk(name) or ("a link" if (here / name).is_symlink() else None)
            if why:
                tree.skipped.append((path_label(relative / name) + "/", why))
        subfolders[:] = sorted(n for n in subfolders if not _is_junk(n) and not (here / n).is_symlink())
        for name in sorted(files):
            full, label = here / name, relative / name
            why = _is_junk(name)
            if why is None:
                try:
                    info = full.lstat()
                except OSError:
                    why = "unreadable"
                else:
                    if stat.S_ISLNK(info.st_mode) or not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:
                        why = "a link or not a regular file; submit the file itself"
            if not _admit(tree, label, why, limits):
                continue
            if full.suffix.lower() == ".zip":
                _walk_zip(_read_capped(full, tree, limits), label, tree, limits, depth=1)
                continue
            tree.files.append(FoundFile(label, info.st_size, info.st_mtime, _file_opener(full)))


def _read_capped(path: Path, tree: Tree, limits: Limits) -> bytes:
    size = path.stat().st_size
    if tree.bytes_read + size > limits.max_total_bytes:
        raise Refused(f"{path_label(path.name)}: the submission's code and archives exceed {limits.max_total_bytes >> 20} MiB")
    tree.bytes_read += size
    return path.read_bytes()


def _walk_zip(data: bytes, prefix: PurePosixPath, tree: Tree, limits: Limits, depth: int) -> None:
    """The members of the zip in ``data``, under ``prefix`` (the nested zip's own path)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        if depth == 1 and prefix == PurePosixPath():
            raise
        tree.skipped.append((path_label(prefix), "not a readable zip file"))
        return
    with archive:
        for info in archive.infolist():
            raw = info.filename.replace("\\", "/")
            name = PurePosixPath(raw)
            if raw.startswith("/") or name.is_absolute() or ".." in name.parts or (name.parts and ":" in name.parts[0]):
                tree.skipped.append((path_label(prefix / raw.lstrip("/")), "an unsafe path (outside the zip); left out"))
                continue
            if info.is_dir() or not name.parts:
                continue
            if len(name.parts) > limits.max_folder_depth:
                tree.skipped.append((path_label(prefix / name), f"folders nested more than {limits.max_folder_depth} "
                                     "deep; left out"))
                continue
            label = prefix / name
            why = next((w for w in map(_is_junk, name.parts) if w), None)
            if why is None and stat.S_ISLNK(info.external_attr >> 16):
                why = "a link; zip the files themselves"
            if not _admit(tree, label, why, limits):
                continue
            mtime = _zip_time(info)
            if name.suffix.lower() == ".zip":
                if depth >= limits.max_zip_depth:
                    tree.skipped.append((path_label(label), f"a zip nested more than {limits.max_zip_depth} deep"))
                    continue
                if tree.bytes_read + info.file_size > limits.max_total_bytes:
                    tree.skipped.append((path_label(label), f"over the {limits.max_total_bytes >> 20} MiB limit"))
                    continue
                inner = _read_member(archive, info, limits.max_total_bytes - tree.bytes_read)
                tree.bytes_read += len(inner)
                _walk_zip(inner, label, tree, limits, depth + 1)
                continue
            tree.files.append(FoundFile(label, info.file_size, mtime, _member_opener(archive.filename, data, info)))


def _zip_time(info: zipfile.ZipInfo) -> float:
    import datetime

    try:
        return datetime.datetime(*info.date_time).timestamp()
    except (ValueError, OverflowError):
        return 0.0


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    with archive.open(info) as handle:
        return handle.read(max(limit, 0))


def _member_opener(_name, data: bytes, info: zipfile.ZipInfo):
    def read(limit: int) -> bytes:
        with zipfile.ZipFile(io.BytesIO(data)) as archive, archive.open(info) as handle:
            return handle.read(limit)
    return read
