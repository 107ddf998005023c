"""Rules on a module's structure: constructor settings, parameter names and shapes, parameter counts."""
import math

from .cases import case_text, own_constants
from .tensors import Failed, short


# --- structure ------------------------------------------------------------------------------

_SETTINGS = [  # constructor settings compared, in this order, and how a message names them
    ("num_groups", "the number of groups"), ("num_channels", "the number of channels"), ("eps", "eps"),
    ("affine", "affine"), ("in_channels", "in_channels"), ("out_channels", "out_channels"),
    ("in_features", "in_features"), ("out_features", "out_features"), ("kernel_size", "the kernel size"),
    ("stride", "the stride"), ("padding", "the padding"), ("output_padding", "output_padding"),
    ("dilation", "the dilation"), ("groups", "groups (of the convolution)"), ("bias", "bias"),
    ("padding_mode", "padding_mode"),
]
_CONTAINERS = {"Sequential", "ModuleList", "ModuleDict", "Identity"}


def _settings(info: dict) -> dict:
    """A submodule's settings, ``padding='same'``/``'valid'`` written out as numbers."""
    config = dict(info["config"])
    padding, kernel = config.get("padding"), config.get("kernel_size")
    if isinstance(padding, str) and isinstance(kernel, list):
        dilation = config.get("dilation") or [1] * len(kernel)
        config["padding"] = [0] * len(kernel) if padding == "valid" else [d * (k - 1) // 2 for k, d in zip(kernel, dilation)]
    return config


def _shown(value) -> str:
    return short(tuple(value) if isinstance(value, list) else value, 200)


def _setting_hint(name: str, key: str, label: str, want, info: dict) -> str:
    if key == "num_groups":
        channels = info["config"].get("num_channels")
        return (f"Use nn.GroupNorm(math.gcd(8, C), C): for C={channels} that is {plural(want, 'group')}. GroupNorm "
                "needs C to be a multiple of its groups: the chapter's GroupNorm(8, C) cannot be built for the 4 "
                "latent channels of the first block, and gcd(8, C) is still 8 for 64, 128, ... channels.")
    if key == "eps":
        return f"Leave eps at the default ({want!r}): another eps changes every normalised value a little."
    return f"Build {name} with {label} {_shown(want)}, as the docstring does."


def plural(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def setting_difference(name: str, info: dict, found: dict | None) -> tuple | None:
    """(message, hint) for the first constructor setting in which the student's submodule ``found``
    differs from the contract's ``info``; None when they agree or cannot be compared (absent: a
    functional call instead; a class of the student's own, not a torch layer)."""
    if not info["torch"] or info["torch"][0] in _CONTAINERS or found is None or not found["torch"]:
        return None
    if info["torch"][0] not in found["torch"]:
        return (f"{name} is a {found['type']}; the contract's {name} is an nn.{info['torch'][0]}",
                f"Build {name} as the docstring says.")
    want, got = _settings(info), _settings(found)
    for key, label in _SETTINGS:
        if key in want and want[key] is not None and got.get(key) != want[key]:
            return (f"{name} is an nn.{info['torch'][0]} with {label} {_shown(got.get(key))}; "
                    f"the contract's has {_shown(want[key])}", _setting_hint(name, key, label, want[key], info))
    return None


def structure(view, case: dict, expect: dict) -> None:
    """Parameter names and shapes, then every contract-relevant constructor setting of every
    submodule (groups, eps, affine, kernel, stride, padding, bias, ...), then no dropout of one's own."""
    prefix = expect.get("prefix", "")
    described = view.describe(case["init"])
    expected = {n: list(s) for n, s in expect["state_dict"].items() if n.startswith(prefix)}
    constants = own_constants(described["state_dict"], described["buffers"], described["frozen"], expect["state_dict"])
    ours = {n: list(s) for n, s in described["state_dict"].items() if n.startswith(prefix) and n not in constants}
    owner = f"your {expect['class']}" + (f"'s {prefix[:-1]}" if prefix else "")
    if ours != expected:
        frozen = set(described["frozen"])
        count = sum(math.prod(s) for n, s in described["parameters"].items() if n.startswith(prefix) and n not in frozen)
        wanted = sum(math.prod(s) for s in expected.values())
        message = (f"{owner} has {count:,} trainable parameters, the contract {wanted:,}" if count != wanted
                   else f"{owner}'s parameters are named or shaped differently from the contract")
        lacking = [n for n in expected if n not in ours]
        biases = lacking and not set(ours) - set(expected) and all(n.endswith(".bias") for n in lacking)
        extra = sorted(set(ours) - set(expected)) if not lacking else []
        raise Failed(message + ": " + state_difference(ours, expected),
                     hint=("res is ResBlock(out_channels + skip_channels, out_channels, time_emb_dim), and "
                           "skip_channels=None means out_channels." if prefix == "res." else
                           f"Keep the bias of {', '.join(n.removesuffix('.bias') for n in lacking[:4])} (bias=True, "
                           "torch's default): the contract's layers have one." if biases else
                           f"Learn no parameters beyond the contract's (yours: {', '.join(extra[:4])}): the "
                           "docstring lists them all; a constant of your own can be a buffer (register_buffer) "
                           "or frozen (requires_grad=False)." if extra else
                           "Name and size the submodules as the docstring does: the grader loads weights by those names.")
                     + _per_submodule(described, expect, prefix)
                     + (f" Your own buffers and frozen constants ({', '.join(sorted(constants)[:4])}) are fine: they are "
                        "not part of the contract." if constants else ""))
    for name, info in expect["modules"].items():
        if name.startswith(prefix):
            problem = setting_difference(name, info, described["modules"].get(name))
            if problem:
                raise Failed(*problem)
    for name, found in described["modules"].items():
        dropout = any("Dropout" in base for base in found["torch"])
        if name.startswith(prefix) and dropout and name not in expect["modules"] and (found["config"].get("p") or 0) > 0:
            raise Failed(f"{name} is a {found['type']}(p={found['config']['p']}) that the contract does not have: "
                         "in training mode it zeroes random activations, so no output can match",
                         hint="Leave dropout out: the contract has none.")


def state_difference(ours: dict, expected: dict) -> str:
    lacking = [n for n in expected if n not in ours]
    extra = [n for n in ours if n not in expected]
    shaped = [n for n in expected if n in ours and ours[n] != expected[n]]
    parts = []
    if lacking:
        parts.append("the contract has, and yours lacks: " + ", ".join(f"{n} {expected[n]}" for n in lacking[:8]))
    if extra:
        parts.append("yours has, and the contract lacks: " + ", ".join(f"{n} {ours[n]}" for n in extra[:8]))
    if shaped:
        parts.append("different shape: " + ", ".join(f"{n} is {ours[n]} in yours, {expected[n]} in the contract"
                                                     for n in shaped[:8]))
    return "; ".join(parts)


def _differing_submodules(described: dict, expect: dict, prefix: str = "") -> dict:
    """Submodule -> (the student's trainable parameters in it, the contract's), where they differ."""
    differing, frozen = {}, set(described["frozen"])
    for name, count in expect["per_submodule"].items():
        if prefix and prefix != name + ".":
            continue
        got = sum(math.prod(s) for n, s in described["parameters"].items()
                  if (n == name or n.startswith(name + ".")) and n not in frozen)
        if got != count:
            differing[name] = (got, count)
    return differing


def _per_submodule(described: dict, expect: dict, prefix: str = "") -> str:
    lines = [f"{name}: {got:,} (expected {count:,})" for name, (got, count) in
             _differing_submodules(described, expect, prefix).items()]
    return (" Per submodule: " + "; ".join(lines) + ".") if lines else ""


_UP1_HINT = ("up1 upsamples to base channels and concatenates down2's skip of 2*base: 3*base channels, not the "
             "2*base the chapter builds its ResBlock for, so up1 needs skip_channels=2 * base_channels, and UpBlock "
             "must build its res for out_channels + skip_channels.")


def parameter_count(view, case: dict, expect: dict) -> None:
    described = view.describe(case["init"])
    frozen = set(described["frozen"])
    count = sum(math.prod(s) for n, s in described["parameters"].items() if n not in frozen)
    if count != expect["parameters"]:
        differing = _differing_submodules(described, expect)
        # the chapter's second erratum where up1 is what differs; else the submodules named above say where
        up1 = "up1" in differing or not differing
        raise Failed(
            f"{case_text(expect['class'], case).split(' with ')[0]} has {count:,} trainable parameters; expected "
            f"{expect['parameters']:,}." + _per_submodule(described, expect),
            hint="Check each submodule's channels against the wiring in the docstring." + (f" {_UP1_HINT}" if up1 else
                 f" Yours differ in {', '.join(differing)}: compare their constructors with the docstring's."),
        )
