"""Intake: what a student handed in -> the modules the grader loads, and what a person should know.

Folders any depth down, zips (in zips), notebooks, any file names and encodings, one big file or
many (see ``layout``'s rules). Reads, never runs, student code; standard library only, so the
student's ``check.py`` finds and reads modules exactly as the grader does.

``discover`` is the class's intake (a batch: who handed in what, in a Gradescope or nbgrader export,
or an LMS's download, whose names ``lms`` reads); it reads YAML, and neither is shipped with
``check.py`` (``release.student.write_check_support``).
"""
from .files import Limits, Refused
from .layout import ModuleFile, PackagePolicy, Submission, read_submission

__all__ = ["Limits", "ModuleFile", "PackagePolicy", "Refused", "Submission", "read_submission"]
