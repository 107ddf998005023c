"""Hypothesis strategies over the *valid* configuration space of each component, and its inputs.

A ``Case`` is one point of that space: constructor arguments, input sizes and a seed. Strategies
are plural nouns (``res_block_cases``) as in Hypothesis itself; shrinking moves towards the
smallest channels and sizes, so the counterexample a student sees is the simplest one that fails.
Each strategy is made once per set of arguments: checks holding the same strategy object draw the
same cases (see ``checks/runner.py``).
"""
import contextlib
import dataclasses
import functools
import math
from dataclasses import dataclass, field

import torch
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.internal.conjecture import providers

from .rules import make_inputs

SEEDS = st.integers(0, 2**16)

# --- how Hypothesis runs: one builder, named profiles ----------------------------------------------

# What every grading run needs, whatever the profile: reproducible (no example database, no
# deadline that a loaded machine would trip), quiet (no blob to paste, one bug per run) and never
# refusing a strategy over its health (our strategies filter on purpose).
_GRADING = dict(database=None, deadline=None, print_blob=False, report_multiple_bugs=False)
# ``hypothesis.profile`` in grading_config.yaml or ``--hypothesis-profile``. How many examples each
# profile draws is ``config.PROFILE_EXAMPLES`` (it also sets how many cases a release ships).
#   ci:        grading: shrinks a failure to the smallest input the student then sees
#   thorough:  more examples (trying a new check); shrinks as ci
#   quick:     few examples and no shrinking: seconds, for a check being written
PROFILES = {"ci": {"phases": (Phase.explicit, Phase.generate, Phase.shrink)},
            "thorough": {"phases": (Phase.explicit, Phase.generate, Phase.shrink)},
            "quick": {"phases": (Phase.explicit, Phase.generate)}}


@functools.cache
def _registered() -> None:
    for name, options in PROFILES.items():
        settings.register_profile(f"autograder-{name}", suppress_health_check=list(HealthCheck), **_GRADING, **options)


def hypothesis_settings(max_examples: int, *, profile: str = "ci", shrink: bool = True) -> settings:
    """The one place grading's Hypothesis settings are made (checks and released cases alike). Every
    caller seeds its test (``@seed``): check groups by ``runner._group_seed``, released cases by
    ``RELEASED_SEED``. ``shrink=False`` leaves the shrink phase out whatever the profile.
    """
    _registered()
    if profile not in PROFILES:
        raise ValueError(f"expected a Hypothesis profile in {sorted(PROFILES)} but got profile={profile!r}")
    base = settings.get_profile(f"autograder-{profile}")
    phases = tuple(p for p in base.phases if shrink or p is not Phase.shrink)
    return settings(base, max_examples=max_examples, phases=phases)


# The seed of the released cases. They were first drawn with ``derandomize=True``, whose seed is a
# digest of the drawing function's source text, so any edit to it changed every released case (and
# grades). This is that digest as a number, kept so that the cases stay those already released.
RELEASED_SEED = int(
    "21687170396491212716426891396748946482688267369057300335472424216263146426863585520116420395255206238501179061582610")


@contextlib.contextmanager
def seed_only_draws():
    """Draw cases from the seed alone.

    Hypothesis also mixes in constants found in the source of every "local" module the process has
    imported (one integer draw in twenty), so cases -- and grades -- would depend on what else was
    imported (``batch`` imports more than ``grade``) and on whether the grader was installed
    editable. Inside this block that pool is empty. It reaches into Hypothesis's internals, which
    is why ``pyproject.toml`` pins Hypothesis's version; a rename fails here, loudly.
    """
    original = providers._get_local_constants
    providers._get_local_constants = _no_constants
    providers.CONSTANTS_CACHE.cache.clear()  # may hold permitted constants computed from the pool
    try:
        yield
    finally:
        providers._get_local_constants = original
        providers.CONSTANTS_CACHE.cache.clear()


def _no_constants():
    return providers.Constants()


@dataclass(frozen=True)
class Case:
    component: str
    init: dict
    shapes: dict  # input name -> shape, in call order
    seed: int = 0
    float_timesteps: bool = False
    options: dict = field(default_factory=dict)

    def describe(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.init.items())
        inputs = ", ".join(f"{name} of shape {tuple(shape)}" for name, shape in self.shapes.items())
        kind = " (float timesteps)" if self.float_timesteps else ""
        return f"{self.component}({args}) with {inputs}{kind}"

    def inputs(self) -> list[torch.Tensor]:
        """The input tensors, made from the seed so every run and machine sees the same numbers (the
        public rules, and so check.py, make them the same way: ``rules.make_inputs``)."""
        return make_inputs({"seed": self.seed, "inputs": self.shapes, "float_timesteps": self.float_timesteps})


def _sizes(low=1, high=8):
    return st.integers(low, high)


def _has_positions(case: Case) -> bool:
    """GroupNorm needs more than one value per group: a 1x1 map with one channel per group is invalid."""
    shape = next(iter(case.shapes.values()))
    return len(shape) != 4 or shape[2] * shape[3] >= 2


@functools.cache
def time_embedding_cases(min_batch: int = 1, min_frequencies: int = 2):
    """``min_frequencies``: 3 for the sinusoid's values. With 2 (dim 4) the frequencies are 1 and 1/10000
    under any formula that runs from one to the other (evenly spaced, the ``/ (half - 1)`` left out), and
    released cases, smallest first, would all have dim 4 (red team)."""
    return st.builds(
        lambda half, batch, floats, seed: Case(
            "TimeEmbedding", {"dim": 2 * half}, {"t": (batch,)}, seed, float_timesteps=floats
        ),
        st.integers(min_frequencies, 16), st.integers(min_batch, 4), st.booleans(), SEEDS,
    )


def time_sensitive(channels: int) -> bool:
    """Whether adding a per-channel time offset before GroupNorm can change anything.

    With one channel per group (C = 1, 2, 4, 8 under gcd(8, C) groups) the norm subtracts each
    channel's mean, which removes the offset entirely: the architecture itself ignores time there.
    """
    return channels // math.gcd(8, channels) >= 2


@functools.cache
def res_block_cases(min_batch: int = 1, component: str = "ResBlock"):
    """``in_channels == out_channels`` (the nn.Identity skip) about half the time: independent draws
    would hit it once in 16, so ten examples would almost never test that branch."""
    def make(cin, cout, same, temb, batch, h, w, seed):
        cout = cin if same else cout
        return Case(component, {"in_channels": cin, "out_channels": cout, "time_emb_dim": temb},
                    {"x": (batch, cin, h, w), "t_emb": (batch, temb)}, seed)

    return st.builds(make, _sizes(1, 16), _sizes(1, 16), st.booleans(), _sizes(1, 16), st.integers(min_batch, 3),
                     _sizes(1, 8), _sizes(1, 8), SEEDS).filter(_has_positions)


@functools.cache
def down_block_cases(min_batch: int = 1):
    return res_block_cases(min_batch, component="DownBlock")


@functools.cache
def up_block_cases(min_batch: int = 1, explicit_skip: bool | None = None):
    skips = {None: st.one_of(st.none(), _sizes(1, 12)), True: _sizes(1, 12), False: st.none()}[explicit_skip]

    def make(cin, cout, temb, skip, batch, h, w, seed):
        init = {"in_channels": cin, "out_channels": cout, "time_emb_dim": temb}
        if skip is not None:
            init["skip_channels"] = skip
        shapes = {"x": (batch, cin, h, w), "skip": (batch, skip or cout, 2 * h, 2 * w), "t_emb": (batch, temb)}
        return Case("UpBlock", init, shapes, seed)

    cases = st.builds(make, _sizes(1, 12), _sizes(1, 12), _sizes(1, 12), skips, st.integers(min_batch, 3),
                      _sizes(1, 5), _sizes(1, 5), SEEDS)
    if explicit_skip:  # a skip as wide as out_channels cannot tell an UpBlock that ignores skip_channels
        return cases.filter(lambda case: case.init["skip_channels"] != case.init["out_channels"])
    return cases


@functools.cache
def unet_cases(min_batch: int = 1):
    def make(cin, cout, half_base, batch, h, w, seed):
        init = {"in_channels": cin, "out_channels": cout, "base_channels": 2 * half_base}
        return Case("SimpleUNet", init, {"x": (batch, cin, 4 * h, 4 * w), "t": (batch,)}, seed)

    return st.builds(make, _sizes(1, 5), _sizes(1, 5), st.integers(2, 8), st.integers(min_batch, 2),
                     _sizes(1, 3), _sizes(1, 3), SEEDS).filter(lambda c: c.shapes["x"][2] * c.shapes["x"][3] >= 32)


@functools.cache
def attention_cases(min_batch: int = 1, min_positions: int = 1):
    def make(channels, batch, h, w, seed):
        return Case("SelfAttention", {"channels": channels}, {"x": (batch, channels, h, w)}, seed)

    return st.builds(make, _sizes(1, 16), st.integers(min_batch, 3), _sizes(1, 6), _sizes(1, 6), SEEDS).filter(
        lambda c: c.shapes["x"][2] * c.shapes["x"][3] >= max(2, min_positions)
    )


# Channels at which GroupNorm(gcd(8, C), C) differs from each common variant: 9 from min(8, C) groups and from
# one group per channel, 16 from gcd(32, C) groups. Released cases, smallest first, of ``attention_cases`` have
# 1 or 2 channels, where all of them agree (red team).
GROUP_TELLING_CHANNELS = (9, 16)


@functools.cache
def attention_structure_cases():
    """SelfAttention's constructor at ``GROUP_TELLING_CHANNELS``: what its structure check reads."""
    return st.sampled_from([Case("SelfAttention", {"channels": c}, {"x": (1, c, 2, 2)}) for c in GROUP_TELLING_CHANNELS])


@functools.cache
def res_block_structure_cases():
    """ResBlock's constructor with each norm at ``GROUP_TELLING_CHANNELS`` (its released cases, smallest first,
    have no 16: gcd(32, C) groups passed check.py -- red team), with the identity skip and with the 1x1 one."""
    made = []
    for cin in GROUP_TELLING_CHANNELS:
        for cout in GROUP_TELLING_CHANNELS:
            made.append(Case("ResBlock", {"in_channels": cin, "out_channels": cout, "time_emb_dim": 4},
                             {"x": (1, cin, 2, 2), "t_emb": (1, 4)}))
    return st.sampled_from(made)


@functools.cache
def attn_res_block_cases(min_batch: int = 1):
    def make(channels, temb, batch, h, w, seed):
        return Case("AttnResBlock", {"channels": channels, "time_emb_dim": temb},
                    {"x": (batch, channels, h, w), "t_emb": (batch, temb)}, seed)

    return st.builds(make, _sizes(1, 12), _sizes(1, 12), st.integers(min_batch, 3), _sizes(1, 5), _sizes(1, 5),
                     SEEDS).filter(_has_positions)


_RELEASED: dict = {}  # (id(strategy), count) -> (strategy, cases)


def released_cases(strategy, count: int) -> list[Case]:
    """``count`` distinct cases of ``strategy``, the same on every run, smallest first.

    The public checks run on exactly these, in the grader and in the students' ``check.py``
    (``public_checks.json`` ships them), so the first failing case is the same on both sides.
    """
    key = (id(strategy), count)
    known = _RELEASED.get(key)
    if known is None or known[0] is not strategy:
        known = _RELEASED[key] = (strategy, _draw(strategy, count))
    return list(known[1])


def _draw(strategy, count: int) -> list[Case]:
    from hypothesis import given, seed

    found: dict[str, Case] = {}

    @seed(RELEASED_SEED)
    @settings(hypothesis_settings(max(count * 3, 10)), phases=(Phase.generate,))
    @given(strategy)
    def collect(case):
        found.setdefault(repr(case), case)

    with seed_only_draws():
        collect()
    return sorted(found.values(), key=_size)[:count]


def _size(case: Case) -> tuple:
    elements = sum(math.prod(shape) for shape in case.shapes.values())
    return (sum(v for v in case.init.values() if isinstance(v, int)), elements, case.seed)


def default_unet_case() -> Case:
    """The chapter's own configuration: SimpleUNet(4, 4, 64) on a (2, 4, 64, 64) latent."""
    return Case("SimpleUNet", {"in_channels": 4, "out_channels": 4, "base_channels": 64},
                {"x": (2, 4, 64, 64), "t": (2,)}, seed=0)


# --- the homework tasks (analysis.py) -------------------------------------------------------------

@functools.cache
def no_skip_unet_cases():
    """SimpleUNet's configurations, for the NoSkipUNet built from them."""
    return unet_cases().map(lambda case: dataclasses.replace(case, component="NoSkipUNet"))


@functools.cache
def parameter_breakdown_cases():
    """Models to break down: SimpleUNets of random widths, and ResBlocks (an Identity skip has no parameters)."""
    return st.one_of(unet_cases(), res_block_cases())


@functools.cache
def attention_map_cases():
    """A SelfAttention, its input, and a query position ``options["query"] = (row, col)`` inside it."""
    def make(channels, batch, h, w, row, col, seed):
        return Case("SelfAttention", {"channels": channels}, {"x": (batch, channels, h, w)}, seed,
                    options={"query": (row % h, col % w)})

    return st.builds(make, _sizes(1, 12), st.integers(1, 3), _sizes(1, 6), _sizes(1, 6), st.integers(0, 35),
                     st.integers(0, 35), SEEDS).filter(lambda c: c.shapes["x"][2] * c.shapes["x"][3] >= 2)


@functools.cache
def timestep_embedding_cases():
    """``timestep_embeddings(dim, timesteps)``: T timesteps, as a tensor or (``options["as_list"]``) a list."""
    def make(half, count, floats, as_list, seed):
        return Case("timestep_embeddings", {"dim": 2 * half}, {"t": (count,)}, seed, float_timesteps=floats,
                    options={"as_list": as_list})

    return st.builds(make, st.integers(2, 16), st.integers(1, 12), st.booleans(), st.booleans(), SEEDS)


@functools.cache
def embedding_matrix_cases():
    """``embedding_similarity(embeddings)`` on a random ``(T, D)`` matrix: rows of different lengths."""
    return st.builds(lambda rows, features, seed: Case("embedding_similarity", {}, {"embeddings": (rows, features)}, seed),
                     st.integers(1, 12), st.integers(1, 16), SEEDS)
