"""Every file a student handed in, from a folder or an archive (archives in archives too), read lazily and safely.

Archives: ``.zip``, ``.tar``, ``.tar.gz``/``.tgz``, ``.tar.bz2``/``.tbz2``, ``.tar.xz``/``.txz``,
recognised by their first bytes, not their names. Nothing is extracted to disk: an archive is read
in memory, so no path in it can reach the file system, and a member is only read when it can hold
code (``.py``, ``.ipynb``, ``.txt``, a nested archive). Every archive kind obeys the same rules: no
path that climbs out, no links, at most ``max_files`` members, ``max_total_bytes`` read,
``max_unpacked_bytes`` decompressed, ``max_zip_depth`` levels of nesting. Big unrelated files
(checkpoints, data) are listed but never read, so they cost nothing. What is left out --
operating-system junk, caches, links, unsafe paths, archives we cannot open (``.rar``, ``.7z``) --
is recorded with the reason.
"""
import bz2
import contextlib
import gzip
import io
import lzma
import mmap
import os
import stat
import struct
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable

from .safe_text import MAX_NAME, safe_text

JUNK_FOLDERS = {"__MACOSX", "__pycache__", ".ipynb_checkpoints", ".git", ".hg", ".svn", ".idea", ".vscode",
                ".venv", "venv", "env", "site-packages", "node_modules", ".hypothesis", ".pytest_cache", "wandb",
                "check_support"}  # the release's own helper for check.py
JUNK_FILES = {".DS_Store", "Thumbs.db", "desktop.ini"}
# The release's own files that a student's folder holds after using it: left out without a word.
RELEASE_RECORDS = {".module_cells.json"}  # release/notebook_cells.WRITTEN: what each module cell last wrote
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tbz", ".tar.xz", ".txz")
# Formats we cannot open with the standard library: the student (or TA) must unpack them.
UNOPENABLE = {".rar": "a RAR archive", ".7z": "a 7-Zip archive", ".gz": "a gzip file", ".bz2": "a bzip2 file",
              ".xz": "an xz file"}
_MAGIC = ((b"PK\x03\x04", "zip"), (b"PK\x05\x06", "zip"), (b"\x1f\x8b", "gz"), (b"BZh", "bz2"),
          (b"\xfd7zXZ\x00", "xz"), (b"Rar!\x1a\x07", "rar"), (b"7z\xbc\xaf\x27\x1c", "7z"))


def path_label(path: PurePosixPath | str) -> str:
    """A path from a submission as safe text on one line, bounded like a few names."""
    text = path.as_posix() if isinstance(path, PurePosixPath) else str(path)
    return safe_text(text.replace("\n", " ").replace("\t", " "), 2 * MAX_NAME)


class Refused(Exception):
    """The whole hand-in cannot be read (not a zip, over a limit): the message says what to do."""


MAX_PART, MAX_PATH = 255, 4096  # what file systems hold: one name, a whole path


@dataclass(frozen=True)
class Limits:
    max_source_bytes: int = 512 * 1024  # one module or notebook
    max_total_bytes: int = 50 << 20  # everything read, nested zips included
    max_files: int = 10_000
    max_zip_depth: int = 3  # archives in archives, of any kind
    max_folder_depth: int = 24  # folders inside folders (an archive's paths too): deeper is left out, never walked
    max_unpacked_bytes: int = 1 << 30  # streamed out of compressed tars, the whole hand-in's: bombs stop here
    max_notebook_bytes: int = 64 << 20  # a whole notebook, outputs (plots) included; its code obeys max_source_bytes


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
    unopenable: list[tuple[str, str]] = field(default_factory=list)  # (path, what to do): an archive we cannot read
    bytes_read: int = 0
    bytes_unpacked: int = 0  # streamed out of every compressed tar so far (``Limits.max_unpacked_bytes``)


def collect(path: Path, limits: Limits = Limits()) -> Tree:
    """The files under ``path`` (a folder, an archive, or one file), junk left out with the reason.

    Raises ``Refused`` when ``path`` is an archive that cannot be read at all.
    """
    tree = Tree()
    path = Path(path)
    if path.is_dir():
        _walk_folder(path, tree, limits)
        return tree
    if not path.is_file():  # a named pipe, a socket, a device: reading one may never end
        return tree
    kind = archive_kind(path)
    if kind in ("rar", "7z"):
        raise Refused(unopenable_advice(path_label(path.name), kind))
    if kind == "zip":
        try:
            _walk_zip_file(path, PurePosixPath(), tree, limits, depth=1)
        except OSError as exc:
            raise Refused(f"{path_label(path.name)} could not be read ({exc.strerror})") from None
        except _Unreadable as exc:
            raise Refused(f"{path_label(path.name)} is not a readable zip file ({safe_text(exc, 300)}); make the archive "
                          "again (a .zip of the folder of modules is safest)") from None
    elif kind is not None:
        try:
            data = path.read_bytes() if path.stat().st_size <= limits.max_total_bytes else None
        except OSError as exc:
            raise Refused(f"{path_label(path.name)} could not be read ({exc.strerror})") from None
        if data is None:
            raise Refused(f"{path_label(path.name)} is larger than {limits.max_total_bytes >> 20} MiB; submit only your code")
        try:
            _walk_archive(data, PurePosixPath(), tree, limits, depth=1)
        except _Unreadable as exc:
            raise Refused(f"{path_label(path.name)} is not a readable {kind} file ({safe_text(exc, 300)}); make the archive again "
                          "(a .zip of the folder of modules is safest)") from None
    elif path.is_file():
        info = path.stat()
        tree.files.append(FoundFile(PurePosixPath(path.name), info.st_size, info.st_mtime, _file_opener(path)))
    return tree


def archive_kind(path: Path, head: bytes | None = None) -> str | None:
    """"zip", "tar", "gz", "bz2", "xz", "rar", "7z" from the first bytes (names lie), else from the
    name; None for a file that is not an archive."""
    if head is None:
        try:
            with open(path, "rb") as handle:
                head = handle.read(512)
        except OSError:
            head = b""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    name = path.name.lower()
    if name.endswith(".zip"):
        return "zip"  # unreadable, as the walk will say
    for suffix, kind in ((".rar", "rar"), (".7z", "7z")):
        if name.endswith(suffix):
            return kind
    if any(name.endswith(s) for s in ARCHIVE_SUFFIXES):
        return "tar"
    return None


def is_archive_name(name: str) -> bool:
    lowered = name.lower()
    return any(lowered.endswith(s) for s in ARCHIVE_SUFFIXES) or any(lowered.endswith(s) for s in (".rar", ".7z"))


SOURCE_SUFFIXES = (".py", ".ipynb", ".txt")  # the files whose text ``layout`` reads


def content_is_read(name: str) -> bool:
    """Whether intake ever reads the bytes of a file in a folder or archive with this name (code,
    notebooks, text, archives); of any other file it keeps the name (and size) alone. Whoever carries a
    submission elsewhere (``cluster.pack``) may leave the others' bytes behind."""
    return is_archive_name(name) or PurePosixPath(name).suffix.lower() in SOURCE_SUFFIXES


def unopenable_advice(name: str, kind: str) -> str:
    what = UNOPENABLE.get(f".{kind}", f"a {kind} file")
    # A .zip of the same name where it was: in an LMS's download the name says whose it is (a folder there,
    # unpacked in its place, was read as a student of its own, red team); in a student's folder it is theirs.
    return (f"{name} is {what}, which the grader cannot open: unpack it (or ask the student for a .zip of the "
            "folder), zip its files again into a .zip of the same name in its place (in an LMS's download, the name "
            "the download gave it, with .zip for its ending), and regrade this student with --only")


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
    if name in RELEASE_RECORDS:
        return "the release's own record"
    if name.startswith("."):
        return "a hidden file"
    return None


def _admit(tree: Tree, label: PurePosixPath, why: str | None, limits: Limits) -> bool:
    """Record ``label`` as left out (``why``), or keep it; True when it is kept. Both count against the
    file limit: 300,000 members left out (junk names, unsafe paths) cost the parent 24 s and 400 MB."""
    if len(tree.files) + len(tree.skipped) >= limits.max_files:
        raise Refused(f"more than {limits.max_files} files; submit only your code")
    if why:
        tree.skipped.append((path_label(label), why))
        return False
    return True


def _zip_members(data: bytes) -> int:
    """How many members the zip's end record says it has (0 if it has none we can find): read before
    ``zipfile`` lists them all, which alone costs seconds and hundreds of MB for half a million."""
    return _zip_directory(data)[0]


def _zip_directory(data: bytes) -> tuple[int, int]:
    """(members, bytes of the central directory) as the zip's end record says: ``zipfile`` reads and
    lists exactly that many bytes of directory, whatever the rest of the file holds."""
    end = data.rfind(b"PK\x05\x06", max(len(data) - (1 << 16) - 22, 0))
    if end < 0 or end + 22 > len(data):
        return 0, 0
    count, directory = struct.unpack_from("<HI", data, end + 10)
    locator = end - 20  # zip64: the count is in the zip64 end record the locator points at
    if (count == 0xFFFF or directory == 0xFFFFFFFF) and locator >= 0 and data[locator:locator + 4] == b"PK\x06\x07":
        record = struct.unpack_from("<Q", data, locator + 8)[0]
        if data[record:record + 4] == b"PK\x06\x06" and record + 48 <= len(data):
            count, directory = struct.unpack_from("<QQ", data, record + 32)
    return count, directory


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
            if is_archive_name(name):
                _nested_archive(label, lambda: _read_capped(full, tree, limits), info.st_size, tree, limits, depth=1,
                                on_disk=full)
                continue
            tree.files.append(FoundFile(label, info.st_size, info.st_mtime, _file_opener(full)))


def _read_capped(path: Path, tree: Tree, limits: Limits) -> bytes:
    size = path.stat().st_size
    if tree.bytes_read + size > limits.max_total_bytes:
        raise Refused(f"{path_label(path.name)}: the submission's code and archives exceed {limits.max_total_bytes >> 20} MiB")
    tree.bytes_read += size
    return path.read_bytes()


class _Unreadable(Exception):
    """An archive that is not what it claims (a broken zip, a tar that ends early)."""


def _walk_archive(data: bytes, prefix: PurePosixPath, tree: Tree, limits: Limits, depth: int) -> None:
    """The members of the archive in ``data`` (any kind we read), under ``prefix`` (its own path)."""
    kind = archive_kind(PurePosixPath(prefix.name or "archive"), data[:512])
    if kind == "zip":
        _walk_zip(data, prefix, tree, limits, depth)
    elif kind in ("tar", "gz", "bz2", "xz"):
        _walk_tar(data, kind, prefix, tree, limits, depth)
    else:
        raise _Unreadable("not an archive of a kind we read")


def _nested_archive(label: PurePosixPath, read: Callable[[], bytes], size: int, tree: Tree, limits: Limits,
                    depth: int, on_disk: Path | None = None) -> None:
    """An archive found inside the submission: walked if we can, else said (and flagged) with what to do.
    ``on_disk``: its file, when it is one: a zip there is walked without reading it whole."""
    if on_disk is not None and archive_kind(on_disk) == "zip":
        try:
            _walk_zip_file(on_disk, label, tree, limits, depth)
        except (OSError, _Unreadable) as exc:
            tree.skipped.append((path_label(label), f"not a readable zip file ({exc})"))
            tree.unopenable.append((path_label(label), f"{path_label(label)} could not be opened ({exc}): ask the "
                                                      "student for it again, then regrade this student with --only"))
        return
    kind = archive_kind(label, b"")
    if kind in ("rar", "7z"):
        tree.skipped.append((path_label(label), UNOPENABLE[f".{kind}"] + ", which the grader cannot open"))
        tree.unopenable.append((path_label(label), unopenable_advice(path_label(label), kind)))
        return
    if depth > limits.max_zip_depth:
        tree.skipped.append((path_label(label), f"an archive nested more than {limits.max_zip_depth} deep"))
        return
    if tree.bytes_read + size > limits.max_total_bytes:
        tree.skipped.append((path_label(label), f"over the {limits.max_total_bytes >> 20} MiB limit"))
        return
    try:
        data = read()
    except _INFLATE_ERRORS as exc:  # a damaged or encrypted member: this archive is unread, not the hand-in
        tree.skipped.append((path_label(label), f"could not be unpacked ({type(exc).__name__}: {safe_text(exc, 200)})"))
        tree.unopenable.append((path_label(label), f"{path_label(label)} could not be unpacked ({safe_text(exc, 200)}): "
                                                  "ask the student for it again, then regrade this student with --only"))
        return
    kind = archive_kind(label, data[:512])
    if kind in ("rar", "7z"):
        tree.skipped.append((path_label(label), UNOPENABLE[f".{kind}"] + ", which the grader cannot open"))
        tree.unopenable.append((path_label(label), unopenable_advice(path_label(label), kind)))
        return
    try:
        _walk_archive(data, label, tree, limits, depth)
    except _Unreadable as exc:
        tree.skipped.append((path_label(label), f"not a readable {kind} file ({exc})"))
        tree.unopenable.append((path_label(label), f"{path_label(label)} could not be opened ({exc}): ask the student "
                                                  "for it again, then regrade this student with --only"))


def _member_path(raw: str, prefix: PurePosixPath, tree: Tree, limits: Limits) -> PurePosixPath | None:
    """A member's path inside the submission, or None (recorded) when it would climb out, is too deep, or
    has a name no file system holds (archives allow any length: every later step reads names whole)."""
    if len(raw) > MAX_PATH or any(len(part) > MAX_PART for part in raw.replace("\\", "/").split("/")):
        tree.skipped.append((path_label(prefix / raw[:MAX_PART]), f"a name longer than {MAX_PART} characters; left out"))
        return None
    raw = raw.replace("\\", "/")
    name = PurePosixPath(raw)
    if raw.startswith("/") or name.is_absolute() or ".." in name.parts or (name.parts and ":" in name.parts[0]):
        tree.skipped.append((path_label(prefix / raw.lstrip("/")), "an unsafe path (outside the archive); left out"))
        return None
    parts = [p for p in name.parts if p != "."]
    if len(parts) > limits.max_folder_depth:
        tree.skipped.append((path_label(prefix / name), f"folders nested more than {limits.max_folder_depth} "
                             "deep; left out"))
        return None
    return PurePosixPath(*parts) if parts else None


def _walk_zip(data: bytes, prefix: PurePosixPath, tree: Tree, limits: Limits, depth: int) -> None:
    """The members of the zip in ``data``, under ``prefix`` (the nested zip's own path)."""
    # left open (it holds only ``data``): the members are read from it later, each once
    _walk_zip_members(io.BytesIO(data), _zip_members(data), prefix, tree, limits, depth)


def _walk_zip_file(path: Path, prefix: PurePosixPath, tree: Tree, limits: Limits, depth: int) -> None:
    """The members of the zip file at ``path``, read from disk as they are needed: its size alone never
    refuses it (a 60 MiB checkpoint beside the code), what is read of it obeys the limits."""
    handle = open(path, "rb")  # left open once listed, as above: the members are read from it later
    try:
        size = os.fstat(handle.fileno()).st_size
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if size else contextlib.nullcontext(b"") as mapped:
            members, directory = _zip_directory(mapped)
        if directory > limits.max_total_bytes:  # listing it is the work: bounded as for a zip read whole
            raise _Unreadable(f"its list of members alone is over {limits.max_total_bytes >> 20} MiB")
        _walk_zip_members(handle, members, prefix, tree, limits, depth)
    except BaseException:
        handle.close()
        raise


def _walk_zip_members(source, members: int, prefix: PurePosixPath, tree: Tree, limits: Limits, depth: int) -> None:
    if len(tree.files) + len(tree.skipped) + members > limits.max_files:
        raise Refused(f"more than {limits.max_files} files; submit only your code")
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError) as exc:
        raise _Unreadable(str(exc) or "not a zip") from None
    for info in archive.infolist():
        name = _member_path(info.filename, prefix, tree, limits)
        if info.is_dir() or name is None:
            continue
        label = prefix / name
        why = next((w for w in map(_is_junk, name.parts) if w), None)
        if why is None and stat.S_ISLNK(info.external_attr >> 16):
            why = "a link; zip the files themselves"
        if not _admit(tree, label, why, limits):
            continue
        if is_archive_name(name.name):
            def read(info=info):
                inner = _read_member(archive, info, limits.max_total_bytes - tree.bytes_read)
                tree.bytes_read += len(inner)
                return inner
            _nested_archive(label, read, info.file_size, tree, limits, depth + 1)
            continue
        tree.files.append(FoundFile(label, info.file_size, _zip_time(info), _member_opener(archive, info, tree, limits)))


class _Capped(io.RawIOBase):
    """A decompressing reader that counts what it gives against the whole hand-in's ``limit``: a tar
    bomb stops there, and so do a thousand small ones (each just under a limit per archive cost hours)."""

    def __init__(self, stream, tree: Tree, limit: int):
        self.stream, self.tree, self.limit = stream, tree, limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self.stream.read(len(buffer))
        self.tree.bytes_unpacked += len(chunk)
        if self.tree.bytes_unpacked > self.limit:
            raise Refused(f"its archives unpack to more than {self.limit >> 20} MiB; submit only your code")
        buffer[:len(chunk)] = chunk
        return len(chunk)


class _Xz(io.RawIOBase):
    """An .xz stream decompressed with a memory limit: ``lzma.LZMAFile`` takes none, and a 147 KB
    .tar.xz whose header asks for a 1 GiB dictionary made it hold ~900 MiB (red team)."""

    def __init__(self, raw):
        self.raw, self.decompressor, self.pending = raw, lzma.LZMADecompressor(memlimit=MAX_XZ_MEMORY), b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.pending:
            if self.decompressor.eof:
                if not self.decompressor.unused_data and not self.raw.read(1):
                    return 0  # one stream: what follows it is not read
                raise lzma.LZMAError("data after the end of the xz stream")
            chunk = self.raw.read(1 << 16)
            if not chunk and self.decompressor.needs_input:
                raise EOFError("the xz stream ends early")
            self.pending = self.decompressor.decompress(chunk, max_length=len(buffer))
        size = min(len(buffer), len(self.pending))
        buffer[:size], self.pending = self.pending[:size], self.pending[size:]
        return size


MAX_XZ_MEMORY = 96 << 20  # xz -9 needs 65 MiB to decompress (a 64 MiB dictionary): any tar a student makes
_DECOMPRESS = {"gz": lambda raw: gzip.GzipFile(fileobj=raw), "bz2": bz2.BZ2File, "xz": _Xz}

# Python's tarfile (before 3.11.10, 3.12.6) searches a pax header with patterns that take time in the square
# of its longest run of digits: a 10 KB .tgz holding a header of 100,000 digits cost 26 s of intake, 200,000
# digits 126 s (CVE-2024-6232; red team). A real header's numbers are lengths, sizes and times (a few dozen
# digits); a name in one may be long (40,000 characters, left out later). Bounded: every run of digits,
# and all pax headers together, so the patterns cost at most MAX_PAX_BYTES * MAX_PAX_DIGITS steps.
MAX_PAX_DIGITS, MAX_PAX_BYTES = 256, 1 << 20
_NOT_DIGITS = bytes(b if 48 <= b <= 57 else 32 for b in range(256))  # every byte but 0-9 becomes a space


class _Replay:
    """A tar stream whose next read gives back ``data``, read from it already; the rest goes to the stream."""

    def __init__(self, stream, data: bytes):
        self.stream, self.data = stream, data

    def read(self, size: int = -1) -> bytes:
        if self.data is not None:
            data, self.data = self.data, None
            return data
        return self.stream.read(size)

    def __getattr__(self, name):
        return getattr(self.stream, name)


def _sparse_refused() -> Refused:
    # tarfile reads a sparse 1.0 map as one Python int per line of the member's data: a 100 KB .tgz of "0\n"
    # lines cost 60 s and 0.7 GB (red team). No code file is sparse.
    return Refused("its tar archive holds a sparse file, which no code file is; pack your files again as a .zip")


def _bounded_tar_info():
    """A TarInfo class that reads a pax header itself, and refuses one past the bounds before tarfile searches it."""
    read = 0

    class BoundedTarInfo(tarfile.TarInfo):
        def _count(self):
            nonlocal read
            read += self.size
            if read > MAX_PAX_BYTES:
                raise Refused(f"its tar archive holds over {MAX_PAX_BYTES >> 20} MiB of extended headers (pax, or GNU "
                              "long names), more than a tar of code ever needs; pack your files again as a .zip")

        def _proc_sparse(self, archive):  # GNU's old sparse format (type S)
            raise _sparse_refused()

        def _proc_gnulong(self, archive):  # a GNU long name: read whole into memory by tarfile
            self._count()
            return super()._proc_gnulong(archive)

        def _proc_pax(self, archive):  # tarfile's step for a pax header, called with its size read, its text not
            self._count()
            stream = archive.fileobj
            data = stream.read(self._block(self.size))
            if max(map(len, data[:self.size].translate(_NOT_DIGITS).split()), default=0) > MAX_PAX_DIGITS:
                raise Refused(f"its tar archive holds an extended (pax) header with a number of over {MAX_PAX_DIGITS} "
                              "digits, which no tar of code holds; pack your files again as a .zip")
            if b"GNU.sparse." in data:  # pax's sparse formats
                raise _sparse_refused()
            archive.fileobj = _Replay(stream, data)
            try:
                return super()._proc_pax(archive)
            finally:
                archive.fileobj = stream

    return BoundedTarInfo


def _tar_members(archive: tarfile.TarFile, limits: Limits):
    """Each member of a tar read as a stream, once. Every header counts against ``max_files``, folders and
    names left out too, and none is kept: tarfile lists every member it read, and 200,000 folder entries in
    a 1 MB .tgz cost 5 s and 115 MB (1 GiB unpacked: ten times that)."""
    for count, info in enumerate(iter(archive.next, None), 1):
        archive.members.clear()
        if count > limits.max_files:
            raise Refused(f"more than {limits.max_files} files; submit only your code")
        yield info


def _walk_tar(data: bytes, kind: str, prefix: PurePosixPath, tree: Tree, limits: Limits, depth: int) -> None:
    """The members of the (compressed) tar in ``data``: read as a stream, once, code members kept in memory."""
    raw = io.BytesIO(data)
    stream = _Capped(_DECOMPRESS[kind](raw) if kind in _DECOMPRESS else raw, tree, limits.max_unpacked_bytes)
    nested = []
    try:
        with tarfile.open(fileobj=io.BufferedReader(stream), mode="r|", tarinfo=_bounded_tar_info()) as archive:
            for info in _tar_members(archive, limits):
                name = _member_path(info.name, prefix, tree, limits)
                if info.isdir() or name is None:
                    continue
                label = prefix / name
                why = next((w for w in map(_is_junk, name.parts) if w), None)
                if why is None and (info.issym() or info.islnk()):
                    why = "a link; pack the files themselves"
                elif why is None and not info.isfile():
                    why = "not a regular file"
                if not _admit(tree, label, why, limits):
                    continue
                if content_is_read(name.name):
                    cap = limits.max_total_bytes - tree.bytes_read
                    content = archive.extractfile(info).read(max(min(info.size, cap), 0) + 1)
                    tree.bytes_read += len(content)
                    if is_archive_name(name.name):
                        nested.append((label, content, info.size))
                        continue
                    tree.files.append(FoundFile(label, info.size, float(info.mtime), _bytes_opener(content)))
                else:  # never read: listed, so that it can be named
                    tree.files.append(FoundFile(label, info.size, float(info.mtime), _bytes_opener(b"")))
    # ValueError: a field tarfile cannot read (a sparse map's, say)
    except (tarfile.TarError, EOFError, OSError, lzma.LZMAError, zlib.error, ValueError) as exc:
        raise _Unreadable(str(exc) or type(exc).__name__) from None
    for label, content, size in nested:
        _nested_archive(label, lambda content=content: content, 0, tree, limits, depth + 1)


def _bytes_opener(content: bytes):
    return lambda limit: content[:limit]


def _zip_time(info: zipfile.ZipInfo) -> float:
    import datetime

    try:
        return datetime.datetime(*info.date_time).timestamp()
    except (ValueError, OverflowError):
        return 0.0


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    with archive.open(info) as handle:
        return handle.read(max(limit, 0))


def _member_opener(archive: zipfile.ZipFile, info: zipfile.ZipInfo, tree: Tree, limits: Limits):
    """Reads the member from the archive already listed: listing it again per member cost the parent
    time in the square of the members (a 1 MiB zip of 9,900 tiny files: over ten minutes, measured).

    What a member inflates to counts against ``max_total_bytes``, like everything else read: a 265-byte
    bzip2 member inflates to 64 MiB, and ten thousand of them in a small zip cost hours of reading."""
    budget = max(limits.max_total_bytes, limits.max_notebook_bytes)  # one notebook at its limit always fits

    def read(limit: int) -> bytes:
        left = budget - tree.bytes_read
        data = _read_member(archive, info, min(limit, left + 1)) if left > 0 else b"?"
        tree.bytes_read += len(data)
        if len(data) > left:
            raise Refused(f"the submission's files inflate to more than {budget >> 20} MiB, so "
                          "this one was not read; submit only your code (the limit is max_submission_mb in "
                          "grading_config.yaml)")
        return data
    return read


# What inflating a damaged zip or tar member raises (bad CRC, a broken stream, an unsupported method, a password).
_INFLATE_ERRORS = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError, ValueError, RuntimeError,
                   NotImplementedError)
