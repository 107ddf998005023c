"""The student-facing contract: which module defines what, and which components depend on which.

Everything else (what the child imports, which reference modules stand in for dependencies, the
order of the report) is derived from this table, so the contract is written down exactly once.
"""
from dataclasses import dataclass

PACKAGE_MODULES = ("time_embedding", "res_block", "down_block", "up_block", "unet", "attention", "analysis")
INTEGRATION = "Integration"


@dataclass(frozen=True)
class Component:
    name: str
    module: str
    symbols: tuple[str, ...]
    depends_on: tuple[str, ...] = ()
    # A homework task: functions run on the blocks, not a module whose forward is the exercise (so
    # no "does its forward do real work" gate: ``checks.public_checks.require_real_work``).
    task: bool = False

    @property
    def filename(self) -> str:
        return f"{self.module}.py"


COMPONENTS: tuple[Component, ...] = (
    Component("TimeEmbedding", "time_embedding", ("sinusoidal_embedding", "TimeEmbedding")),
    Component("ResBlock", "res_block", ("ResBlock",)),
    Component("DownBlock", "down_block", ("DownBlock",), ("ResBlock",)),
    Component("UpBlock", "up_block", ("UpBlock",), ("ResBlock",)),
    Component("SimpleUNet", "unet", ("SimpleUNet",), ("TimeEmbedding", "DownBlock", "UpBlock")),
    Component("SelfAttention", "attention", ("SelfAttention",)),
    Component("AttnResBlock", "attention", ("AttnResBlock",), ("ResBlock", "SelfAttention")),
    # The chapter's five homework tasks (analysis.py), each graded with the reference blocks it uses.
    Component("ShapeTrace", "analysis", ("shape_trace",), ("SimpleUNet",), task=True),
    Component("SkipAblation", "analysis", ("NoSkipUNet", "shape_images", "skip_ablation"), ("SimpleUNet",),
              task=True),
    Component("TimestepEmbeddings", "analysis", ("timestep_embeddings", "embedding_similarity"),
              ("TimeEmbedding",), task=True),
    Component("AttentionMap", "analysis", ("attention_map",), ("SelfAttention",), task=True),
    Component("ParameterBreakdown", "analysis", ("parameter_breakdown", "parameter_shares"), ("SimpleUNet",),
              task=True),
)
BY_NAME = {c.name: c for c in COMPONENTS}
GRADED = tuple(c.name for c in COMPONENTS) + (INTEGRATION,)


def is_task(name: str) -> bool:
    return name in BY_NAME and BY_NAME[name].task


def component(name: str) -> Component:
    return BY_NAME[name]


def dependencies(name: str) -> tuple[Component, ...]:
    """All components ``name`` needs, transitively, in contract order."""
    needed: set[str] = set()
    stack = list(BY_NAME[name].depends_on)
    while stack:
        dep = stack.pop()
        if dep not in needed:
            needed.add(dep)
            stack.extend(BY_NAME[dep].depends_on)
    return tuple(c for c in COMPONENTS if c.name in needed)
