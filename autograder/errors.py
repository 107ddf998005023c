"""Errors a user can cause. Each message says what went wrong and what to do next."""


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
