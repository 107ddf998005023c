"""Reading a submission: find its modules, and read them as text with size and encoding checks.

The parent reads the files; the child only ever receives their text. So a symlink to
``/etc/shadow``, a 2 GB file, or non-UTF-8 bytes become a clear message on the module they affect,
not a crash, and the child needs no access to the submission's folder at all.
"""
import keyword
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .contract import PACKAGE_MODULES
from .errors import SubmissionError


@dataclass
class Submission:
    root: Path
    sources: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)

    def module_problem(self, module: str) -> str | None:
        """Why ``module`` cannot be used, or None when it was read."""
        if module in self.problems:
            return self.problems[module]
        if module not in self.sources:
            return f"{module}.py is missing from your submission (looked in {self.root.name}/)"
        return None


def find_module_folder(path: Path) -> Path:
    """The folder that holds the modules: ``path`` itself or one folder down (as zips often arrive)."""
    def holds_modules(folder: Path) -> bool:
        return any((folder / f"{m}.py").is_file() for m in PACKAGE_MODULES)

    if holds_modules(path):
        return path
    candidates = sorted(p for p in path.iterdir() if p.is_dir() and not p.is_symlink() and holds_modules(p))
    if len(candidates) == 1:
        return candidates[0]
    if len(candidates) > 1:
        names = ", ".join(p.name for p in candidates)
        raise SubmissionError(f"{path}: several folders hold UNet modules ({names}); submit exactly one")
    expected = ", ".join(f"{m}.py" for m in PACKAGE_MODULES)
    raise SubmissionError(f"{path}: no UNet modules found; expected some of {expected} here or one folder down")


def _notebook_hint(path: Path) -> str:
    return (f"{path}: a notebook, not modules; export each module as a .py file "
            "(the assignment's cells marked %%writefile do it) and submit the folder of .py files")


def read_zip(path: Path, max_source_bytes: int, max_total_bytes: int) -> Submission:
    """Read a zipped submission in memory: nothing is extracted, so no path in it can reach the disk.

    Refused as a whole: a file that is not a zip, absolute or ``..`` paths, links, more than
    ``max_total_bytes`` uncompressed. Modules are taken from the top level or one folder down,
    like a folder; a module over ``max_source_bytes`` or not UTF-8 becomes that module's problem.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SubmissionError(f"{path}: not a readable zip file ({exc}); zip the folder of modules again") from None
    with archive:
        entries = [info for info in archive.infolist() if not info.is_dir()]
        total = 0
        for info in entries:
            name = PurePosixPath(info.filename.replace("\\", "/"))
            if name.is_absolute() or ".." in name.parts or info.filename.startswith("/"):
                raise SubmissionError(f"{path}: holds an unsafe path {info.filename!r}; zip the folder of modules itself")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise SubmissionError(f"{path}: holds a link {info.filename!r}; zip the files themselves")
            total += info.file_size
        if total > max_total_bytes:
            raise SubmissionError(
                f"{path}: unpacks to {total >> 20} MiB, over the {max_total_bytes >> 20} MiB limit; submit only your modules"
            )
        python = {}
        for info in entries:
            name = PurePosixPath(info.filename.replace("\\", "/"))
            if name.suffix == ".py" and not any(p.startswith(("__MACOSX", ".")) for p in name.parts):
                python.setdefault(str(name.parent), {})[name.stem] = info
        folders = [f for f, modules in python.items() if any(m in modules for m in PACKAGE_MODULES)]
        folders = [f for f in folders if f == "."] or folders
        if not folders:
            if any(info.filename.endswith(".ipynb") for info in entries):
                raise SubmissionError(_notebook_hint(path))
            expected = ", ".join(f"{m}.py" for m in PACKAGE_MODULES)
            raise SubmissionError(f"{path}: no UNet modules found in the zip; expected some of {expected}")
        if len(folders) > 1:
            raise SubmissionError(f"{path}: several folders in the zip hold UNet modules ({', '.join(sorted(folders))}); submit one")
        submission = Submission(root=path)
        for name, info in sorted(python[folders[0]].items()):
            if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
                continue
            if info.file_size > max_source_bytes:
                submission.problems[name] = (
                    f"{name}.py is {info.file_size // 1024} KiB, over the {max_source_bytes // 1024} KiB limit for one module"
                )
                continue
            with archive.open(info) as handle:
                data = handle.read(max_source_bytes + 1)  # the header's size may lie
            if len(data) > max_source_bytes:
                submission.problems[name] = f"{name}.py is over the {max_source_bytes // 1024} KiB limit for one module"
                continue
            _decode(submission, name, f"{name}.py", data)
        return submission


def _decode(submission: Submission, name: str, filename: str, data: bytes) -> None:
    try:
        submission.sources[name] = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        submission.problems[name] = f"{filename} is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8"


def read_submission(path, max_source_bytes: int = 512 * 1024, max_total_bytes: int = 50 << 20) -> Submission:
    """A folder of modules (or one folder down), or a .zip of one; never follows links out of it."""
    path = Path(path)
    if not path.exists():
        raise SubmissionError(f"{path}: no such file or folder; pass the folder that holds your modules")
    if path.is_file() and zipfile.is_zipfile(path) or path.suffix.lower() == ".zip":
        return read_zip(path, max_source_bytes, max_total_bytes)
    if path.suffix.lower() == ".ipynb":
        raise SubmissionError(_notebook_hint(path))
    if not path.is_dir():
        raise SubmissionError(f"{path}: not a folder or a .zip; pass the folder that holds your .py modules")
    try:
        folder = find_module_folder(path)
    except SubmissionError:
        if any(path.glob("*.ipynb")) or any(path.glob("*/*.ipynb")):
            raise SubmissionError(_notebook_hint(path)) from None
        raise
    submission = Submission(root=folder)
    for file in sorted(folder.glob("*.py")):
        name = file.stem
        if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
            continue  # __init__.py and odd names: the grader builds its own package
        if file.is_symlink() or not file.is_file() or file.stat().st_nlink > 1:
            submission.problems[name] = f"{file.name} is a link or not a regular file; submit the file itself"
            continue
        size = file.stat().st_size
        if size > max_source_bytes:
            submission.problems[name] = (
                f"{file.name} is {size // 1024} KiB, over the {max_source_bytes // 1024} KiB limit for one module"
            )
            continue
        with open(file, "rb") as handle:
            data = handle.read(max_source_bytes + 1)  # it may have grown since stat
        if len(data) > max_source_bytes:
            submission.problems[name] = f"{file.name} is over the {max_source_bytes // 1024} KiB limit for one module"
            continue
        _decode(submission, name, file.name, data)
    return submission
