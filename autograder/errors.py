"""Errors a user can cause, and the exit statuses of the command line. Each message says what went
wrong and what to do next."""
import enum


class ExitCode(enum.IntEnum):
    """Exit statuses of ``autograder``. Grading that completed is OK whatever the score."""

    OK = 0  # every submission graded (a batch: every student in its output folder, earlier runs' too)
    FAILURES = 1  # some submissions could not be graded (status "error"), or the run was interrupted
    USAGE_ERROR = 2  # bad arguments, config or input: the message says what to fix
    INTERNAL_ERROR = 3
    NEEDS_REVIEW = 4  # all graded, but some need a person (status "needs_review"; see grades.csv)


class AutograderError(Exception):
    """Base class: the CLI prints these as one ``error: ...`` line, never a traceback."""


class ConfigError(AutograderError):
    """grading_config.yaml is missing, malformed, or has a bad value."""


class SubmissionError(AutograderError):
    """The submission path cannot be graded at all (it does not exist, or holds no modules)."""


class ReferenceError_(AutograderError):
    """The instructor's reference solution cannot be loaded."""


class ReleaseError(AutograderError):
    """The solutions cannot be turned into stubs (e.g. unterminated solution markers)."""
