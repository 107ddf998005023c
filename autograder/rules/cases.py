"""What the rules share: a case's text, outputs as a list, and the student's module holding our weights."""
from .inputs import own_random_state, random_state
from .tensors import Failed


# --- what the rules share ---------------------------------------------------------------------

# What a homework rule calls, and what its case is: the case's text names the function, not a class.
TASK_CALLS = {"similarity_properties": "embedding_similarity", "map_sums": "attention_map with a SelfAttention",
              "shares": "parameter_shares of the breakdown of a"}


# Rules whose message names the call they watched: their case adds nothing.
WATCHED_KINDS = ("trace_protocol", "experiment_protocol", "same_start", "same_batches")
PROTOCOL_KINDS = ("same_start", "same_batches")  # rules that also need the experiment's given settings


def case_text(class_name: str, case: dict, kind: str | None = None) -> str:
    if kind in WATCHED_KINDS:
        return ""
    if kind in TASK_CALLS:
        if kind == "shares":
            args = ", ".join(f"{k}={v}" for k, v in case["init"].items())
            model = "SimpleUNet" if "base_channels" in case["init"] else "ResBlock"
            return f"{TASK_CALLS[kind]} {model}({args})"
        query = case.get("options", {}).get("query")
        inputs = ", ".join(f"{name} of shape {tuple(shape)}" for name, shape in case["inputs"].items())
        return f"{TASK_CALLS[kind]} on {inputs}" + (f", query {tuple(query)}" if query else "")
    args = ", ".join(f"{k}={v}" for k, v in case["init"].items())
    inputs = ", ".join(f"{name} of shape {tuple(shape)}" for name, shape in case["inputs"].items())
    return f"{class_name}({args}) with {inputs}" + (" (float timesteps)" if case.get("float_timesteps") else "")


def as_list(output) -> list:
    """One output or several (a tuple or list of them, as the student's forward or a child's reply
    gives them) as a list."""
    return list(output) if isinstance(output, (tuple, list)) else [output]


def _weights_problem(described: dict, expected: dict) -> str:
    """The contract's parameters against the module's, briefly (for a load that failed)."""
    frozen = set(described["frozen"])
    ours = {n: list(s) for n, s in described["parameters"].items() if n not in frozen}
    parts = [f"{n} is {ours[n]} in yours, {list(s)} in the contract" for n, s in expected.items()
             if n in ours and list(ours[n]) != list(s)]
    parts += [f"yours has no {n}" for n in expected if n not in ours]
    return "; ".join(parts[:3]) or "the names differ"


def module_with_weights(view, case: dict, state: dict, required: bool = False, partial: bool = True):
    """The student's module holding ``state`` (our weights under the contract's names).

    When they do not fit: with ``required`` (a probe that needs exactly these weights) the check
    fails and says why; else the module gets random weights of our own for its own parameters, so
    the check still judges the function and not the student's initial weights.
    """
    module = view.module(case["init"])
    problem = view.load(module, state, partial)
    if problem is None:
        return module
    described = view.describe(case["init"])
    own = own_constants(described["state_dict"], described["buffers"], described["frozen"], state)
    mapping = by_position({n: s for n, s in described["state_dict"].items() if n not in own}, state)
    if mapping is not None:  # another but equivalent layout (``Sequential(SiLU, Linear)`` for a ``Linear``)
        module = view.module(case["init"])
        if view.load(module, {mapping[name]: tensor for name, tensor in state.items()}, partial) is None:
            return module
    if required:
        raise Failed(
            f"this check sets the contract's weights, and they do not fit your module: "
            f"{_weights_problem(described, {n: list(t.shape) for n, t in state.items()})}",
            hint="Name and size the submodules as the docstring does: the checks load weights by those names.",
        )
    frozen = set(described["frozen"])
    own = own_random_state({n: s for n, s in described["parameters"].items() if n not in frozen}, case["seed"], state)
    module = view.module(case["init"])
    if own is not None and view.load(module, own, partial=True) is None:
        return module
    return view.module(case["init"])


def own_constants(state_dict, buffers, frozen, contract) -> set:
    """The student's own buffers and frozen parameters: constants that are no part of the contract."""
    buffers, frozen = set(buffers), set(frozen)  # sets: a student's model may hold thousands
    return {name for name in state_dict if name not in contract and (name in buffers or name in frozen)}


def by_position(theirs: dict, state: dict) -> dict | None:
    """Contract name -> the student's, where the student's tensors (``theirs``: name -> shape, their own
    constants left out) line up one-to-one with ``state``'s by order and shape; None where they do not.
    How both the hidden checks (``checks.common.transplant``) and the public rules load weights whose
    names differ."""
    ours = [(name, tuple(tensor.shape)) for name, tensor in state.items()]
    if len(theirs) != len(ours) or any(tuple(shape) != s for shape, (_, s) in zip(theirs.values(), ours)):
        return None
    return {our: their for (our, _), their in zip(ours, theirs)}


def our_weights(case: dict, expect: dict, offset: int = 0) -> dict:
    return random_state(expect["state"], case["seed"] + offset)
