"""Reading a submission: find its modules, and read them as text with size and encoding checks.

The parent reads the files; the child only ever receives their text. So a symlink to
``/etc/shadow``, a 2 GB file, or non-UTF-8 bytes become a clear message on the module they affect,
not a crash, and the child needs no access to the submission's folder at all.
"""
import keyword
from dataclasses import dataclass, field
from pathlib import Path

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


def read_submission(path, max_source_bytes: int = 512 * 1024) -> Submission:
    path = Path(path)
    if not path.exists():
        raise SubmissionError(f"{path}: no such file or folder; pass the folder that holds your modules")
    if not path.is_dir():
        raise SubmissionError(f"{path}: not a folder; pass the folder that holds your .py modules")
    folder = find_module_folder(path)
    submission = Submission(root=folder)
    for file in sorted(folder.glob("*.py")):
        name = file.stem
        if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
            continue  # __init__.py and odd names: the grader builds its own package
        if file.is_symlink() or not file.is_file():
            submission.problems[name] = f"{file.name} is a link or not a regular file; submit the file itself"
            continue
        size = file.stat().st_size
        if size > max_source_bytes:
            submission.problems[name] = (
                f"{file.name} is {size // 1024} KiB, over the {max_source_bytes // 1024} KiB limit for one module"
            )
            continue
        try:
            submission.sources[name] = file.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            submission.problems[name] = f"{file.name} is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8"
    return submission
