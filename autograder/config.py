"""grading_config.yaml -> validated, frozen settings.

A bad value is one ``ConfigError`` naming the key (``limits.call_timeout_s: ...``), never a
traceback; an unknown key gets a "did you mean". Which check ids exist is known only to
``checks/``, so that cross-check happens there (``checks.bind``), keeping imports one-way.
"""
import difflib
import typing
from pathlib import Path
from typing import Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .contract import GRADED
from .errors import ConfigError

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "grading_config.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limits(_Strict):
    """Per-child limits. Wall times are enforced by the parent; the rest are rlimits in the child."""

    call_timeout_s: float = Field(30, gt=0)
    experiment_timeout_s: float = Field(120, gt=0, description="one run of a homework experiment (it trains)")
    component_timeout_s: float = Field(180, gt=0)
    submission_timeout_s: float = Field(300, gt=0, description="the whole submission, every component together: "
                                        "a class costs at most students x this / workers")
    cpu_s: int = Field(600, gt=0)
    memory_mb: int = Field(4096, ge=1024, description="address space; import torch alone needs ~600 MiB")
    processes: int = Field(256, gt=0)
    file_size_mb: int = Field(16, ge=0)
    open_files: int = Field(256, ge=16)
    max_reply_mb: int = Field(32, gt=0, description="one reply from a child")
    max_memo_mb: int = Field(128, gt=0, description="all replies kept for one component (JSON counted as parsed)")
    max_source_kb: int = Field(512, gt=0)
    max_submission_mb: int = Field(50, gt=0)

    @model_validator(mode="after")
    def _possible(self):
        """Refuse limits that contradict each other: one of them would never apply (a budget shorter
        than one call would fail every honest submission): say so at load time."""
        for inner in ("call_timeout_s", "experiment_timeout_s"):
            if self.component_timeout_s < getattr(self, inner):
                raise ValueError(f"component_timeout_s ({self.component_timeout_s:g}) is shorter than {inner} "
                                 f"({getattr(self, inner):g}): a component's checks together must have at least "
                                 f"one whole call's time; raise component_timeout_s or lower {inner}")
        if self.max_memo_mb < self.max_reply_mb:
            raise ValueError(f"max_memo_mb ({self.max_memo_mb}) is smaller than max_reply_mb ({self.max_reply_mb}): "
                             "the memo keeps whole replies, so one reply that fits could never be kept; "
                             "raise max_memo_mb or lower max_reply_mb")
        longest = max(self.call_timeout_s, self.experiment_timeout_s)
        if self.submission_timeout_s < longest:
            raise ValueError(f"submission_timeout_s ({self.submission_timeout_s:g}) is shorter than one call may take "
                             f"(call_timeout_s {self.call_timeout_s:g}, experiment_timeout_s "
                             f"{self.experiment_timeout_s:g}); make it at least {longest:g}")
        return self


class Tolerance(_Strict):
    """``|student - truth| <= relative_floor * max|truth| + float_error_factor * max|ref32 - truth|``.

    ``truth`` is the reference in float64 with the same weights and inputs; ``ref32`` the reference
    in float32. The second term is the float error measured on this very input, so an equivalent
    formula (einsum, SDPA, another reshape) passes while a real mistake (errors ~1e-2 and up) fails.
    """

    relative_floor: float = Field(1e-5, gt=0, lt=1)
    float_error_factor: float = Field(50, ge=1)


# How many examples a check draws under each Hypothesis profile, from its configured max_examples
# (the profiles' other settings: ``strategies.PROFILES``). ``ci`` grades: exactly as configured.
PROFILE_EXAMPLES = {"ci": lambda n: n, "thorough": lambda n: min(5 * n, 1000), "quick": lambda n: min(n, 2)}


class HypothesisSettings(_Strict):
    max_examples: int = Field(10, ge=1, le=1000)
    profile: Literal["ci", "thorough", "quick"] = Field(
        "ci", description="how hard Hypothesis looks (strategies.PROFILES): ci grades; thorough and quick are for trying checks")


class CheckSettings(_Strict):
    points: float = Field(ge=0)
    visibility: Literal["public", "hidden"] = "hidden"
    max_examples: Optional[int] = Field(None, ge=1, le=1000)


class Packages(_Strict):
    """Third-party imports in student code. ``allowed`` ones must be installed where grading runs
    (they are imported once per worker, so a top-level ``import matplotlib.pyplot`` costs nothing);
    ``refused`` ones fail with their message; any other fails with "not available in the grading
    environment: use torch". Either way the TA sees it as an environment problem."""

    allowed: tuple[str, ...] = ("numpy", "matplotlib", "einops", "tqdm", "IPython")
    refused: dict[str, str] = Field(default_factory=dict)

    def preload(self) -> list[str]:
        # IPython (a notebook's clear_output, display) only where a student imports it: every worker
        # would pay its import, and few files use it
        return [*(p for p in self.allowed if p not in LOADED_WHEN_USED),
                *(["matplotlib.pyplot"] if "matplotlib" in self.allowed else [])]


LOADED_WHEN_USED = {"IPython"}


class Gradescope(_Strict):
    hidden_visibility: Literal["hidden", "after_due_date", "after_published"] = "after_published"
    # Gradescope stops a run after the assignment's "Autograder timeout" (10 minutes unless raised, at
    # most 40) and then shows no results at all; the bundle stops grading a minute earlier, and says so.
    timeout_s: int = Field(600, ge=120, le=2400, description="the assignment's autograder timeout on Gradescope")


class GradingConfig(_Strict):
    reference: str = "solutions/unet"
    limits: Limits = Limits()
    tolerance: Tolerance = Tolerance()
    hypothesis: HypothesisSettings = HypothesisSettings()
    gradescope: Gradescope = Gradescope()
    packages: Packages = Packages()
    components: dict[str, dict[str, CheckSettings]]
    source_path: Optional[str] = Field(None, exclude=True)

    @field_validator("components")
    @classmethod
    def _known_components(cls, components):
        """A misspelled component would leave the real one without settings: say which was meant."""
        for name in components:
            if name not in GRADED:
                raise ValueError(f"{name}: unknown component{did_you_mean(name, GRADED)}")
        return components

    @property
    def total_points(self) -> float:
        """The grade's maximum: the points of every configured check (tests pin the shipped 130 once,
        in ``test_config.py``; everything else reads it here)."""
        return sum(settings.points for checks in self.components.values() for settings in checks.values())

    def reference_dir(self) -> Path:
        base = Path(self.source_path).parent if self.source_path else Path.cwd()
        return (base / self.reference).resolve()

    def reference_results(self) -> Path:
        return reference_results_folder(self.reference_dir())

    def max_examples(self, settings: CheckSettings) -> int:
        return PROFILE_EXAMPLES[self.hypothesis.profile](settings.max_examples or self.hypothesis.max_examples)

    def with_profile(self, profile: str | None) -> "GradingConfig":
        """These settings under another Hypothesis profile (``--hypothesis-profile``); None keeps the file's."""
        if profile is None:
            return self
        if profile not in PROFILE_EXAMPLES:
            raise ConfigError(f"--hypothesis-profile {profile!r}: unknown profile{did_you_mean(profile, PROFILE_EXAMPLES)}")
        return self.model_copy(update={"hypothesis": self.hypothesis.model_copy(update={"profile": profile})})


def _known_keys(path: tuple) -> list[str]:
    """The keys allowed beside ``path``'s last part, for a "did you mean", at any depth: through
    models by field name and through dicts (``components.ResBlock.structure``) by their values' type."""
    annotation = GradingConfig
    for part in path[:-1]:
        if typing.get_origin(annotation) is dict:
            annotation = typing.get_args(annotation)[1]
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel) and part in annotation.model_fields:
            annotation = annotation.model_fields[part].annotation
        else:
            return []
    if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return []
    return [name for name in annotation.model_fields if name != "source_path"]


def _describe(error: dict) -> str:
    location = ".".join(str(part) for part in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        known = _known_keys(error["loc"])
        return f"{location}: unknown key" + (did_you_mean(str(error["loc"][-1]), known) if known else "")
    if error["type"] == "value_error":  # our own validators: the message is the reason
        return f"{location}: {error['msg'].removeprefix('Value error, ')}"
    return f"{location}: {error['msg']} (got {error.get('input')!r})"


def did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else f"; expected one of {', '.join(sorted(choices))}"


def reference_results_folder(reference_dir) -> Path:
    """Where the reference's saved results live (``warm_start.py``): beside the reference folder, not in
    it, so that a copy of the folder (a test submission made from the reference) never carries them."""
    reference_dir = Path(reference_dir)
    return reference_dir.parent / f".{reference_dir.name}.reference-results"


def load_config(path=None) -> GradingConfig:
    path = Path(path) if path else DEFAULT_CONFIG
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file; pass --config with the path of your grading_config.yaml") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    try:
        return GradingConfig(**raw, source_path=str(path.resolve()))
    except ValidationError as exc:
        problems = "\n  ".join(_describe(e) for e in exc.errors())
        raise ConfigError(f"{path}: invalid configuration:\n  {problems}") from None
