"""Every reply a child sends is checked in one place (sandbox/replies.py): anything that is not
exactly what was asked raises MalformedReply -- never another exception, never a crash."""
import json
import math
import struct

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autograder.sandbox import replies
from autograder.sandbox.child.codec import dumps
from autograder.sandbox.errors import MalformedReply, StudentError

JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from([2 ** 63, -(2 ** 63) - 1, 10 ** 400])
    | st.floats(allow_nan=True) | st.text(max_size=20)
    | st.builds(lambda n: torch.zeros(n), st.integers(0, 3)),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
KEYS = ["output", "inputs_changed", "input_grads", "param_grads", "intermediates", "build", "loads", "steps", "ok",
        "value", "error", "parameters", "state_dict", "buffers", "modules", "missing", "notes", "clean", "cpu_s",
        "address_space_bytes", "progress", "watched", "outputs", "events", "truncated", "arguments", "kind", "lr",
        "loss", "model", "optimizer", "family", "models", "settings", "beta1", "beta2", "eps", "weight_decay",
        "amsgrad", "maximize", "lines", "operations", "global_hooks_left", "requires_grad_changed"]
# junk shaped like replies: the right keys, the wrong contents
SHAPED = st.dictionaries(st.sampled_from(KEYS), JUNK, max_size=6)
PARSERS = [
    lambda v: replies.run_result(v, "run", 2, True, ("conv1",)),
    lambda v: replies.run_result(v, "run", 1, False),
    lambda v: replies.description(v, "describe"),
    lambda v: replies.call_result(v, "call"),
    lambda v: replies.counted_call(v, "count"),
    lambda v: replies.program_answers(v, [(1, 2), (0, 1)], "batch"),
    lambda v: replies.loaded(v, "load"),
    lambda v: replies.reset_state(v, "reset"),
    lambda v: replies.watched_call(v, "watch", 0),
    lambda v: replies.watched_call({"outputs": [], "error": None, "watched": {"events": [v], "truncated": False,
                                                                              "arguments": [], "global_hooks_left": 0}},
                                      "watch", 0),
]


@settings(max_examples=300, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(JUNK, SHAPED, st.lists(SHAPED, max_size=3)), st.sampled_from(range(len(PARSERS))))
def test_a_parser_accepts_what_was_asked_or_raises_malformed_reply(value, parser):
    try:
        PARSERS[parser](value)
    except MalformedReply:
        pass


@settings(max_examples=300, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=200) | st.builds(lambda v: dumps({"ok": True, "value": v}), JUNK)
       | st.builds(lambda h, tail: struct.pack("!I", len(h)) + h + tail, st.binary(max_size=80), st.binary(max_size=40)))
def test_any_bytes_become_a_value_a_student_error_or_malformed_reply(data):
    try:
        replies.envelope(data, "anything")
    except (MalformedReply, StudentError):
        pass


# tensor headers a child could forge: any dtype name, shapes with dimensions past int64, any byte count
FORGED_TENSORS = st.builds(
    lambda dtype, shape, nbytes: {"__tensor__": [dtype, shape, nbytes]},
    st.sampled_from(["float32", "float64", "bool", "complex64", "torch.float32"]),
    st.lists(st.sampled_from([0, 1, 3, -1, 2 ** 31, 2 ** 62, 2 ** 63, 10 ** 30]) | st.integers(), max_size=4),
    st.sampled_from([0, 4, 12, -4, 2 ** 64]) | st.integers(),
)


@settings(max_examples=300, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
@given(FORGED_TENSORS, st.binary(max_size=64))
def test_a_forged_tensor_header_is_a_malformed_reply(tensor, tail):
    """A zero-sized shape with a dimension past int64 once made torch raise TypeError or RuntimeError
    in the decoder, which escaped as "the grader failed on this submission" and cost every component."""
    header = json.dumps({"ok": True, "value": {"output": tensor}}).encode()
    try:
        replies.envelope(struct.pack("!I", len(header)) + header + tail, "forged")
    except MalformedReply:
        pass


def test_exactly_the_parts_asked_for():
    """One gradient per input asked: a missing or extra one is malformed, not "nothing to compare"."""
    answer = {"output": torch.zeros(2), "inputs_changed": [False, False], "input_grads": [torch.zeros(2)],
              "param_grads": {}}
    for wrong in ([], [torch.zeros(2)], [torch.zeros(2), None, None], "nope"):
        try:
            replies.run_result(dict(answer, input_grads=wrong), "run", 2, True)
        except MalformedReply as error:
            assert "malformed reply" in str(error)
        else:
            raise AssertionError(f"input_grads={wrong!r} was accepted for two inputs")
    accepted = replies.run_result(dict(answer, input_grads=[torch.zeros(2), None]), "run", 2, True)
    assert accepted.input_grads[1] is None
    header = json.dumps({"ok": True, "value": 1}).encode()
    too_big = struct.pack("!I", replies.MAX_HEADER_BYTES + 1) + header
    try:
        replies.envelope(too_big, "big")
    except MalformedReply as error:
        assert "header" in str(error) or "longer" in str(error)


def test_a_reply_of_small_json_items_counts_as_the_objects_it_becomes():
    """The memo bound (max_memo_mb) counts what a kept reply costs the parent: JSON as parsed objects,
    tensors as their bytes, so millions of small items cannot hide under a raw-size bound."""
    items = dumps({"ok": True, "value": [[0.5, 1, "a"]] * 10_000})
    tensor = dumps({"ok": True, "value": torch.zeros(100_000)})
    parsed = len(json.dumps([[0.5, 1, "a"]] * 10_000))
    assert replies.kept_bytes(items) >= replies.JSON_GROWTH * parsed
    assert 400_000 <= replies.kept_bytes(tensor) < 400_000 + replies.JSON_GROWTH * 200
    assert replies.kept_bytes(b"") == 0 and replies.kept_bytes(b"\xff\xff\xff\xff") == 4 * replies.JSON_GROWTH


def test_numbers_past_int64_and_shapes_of_many_huge_sizes_are_refused_before_any_arithmetic():
    """A reset report's 10**400 CPU seconds once escaped as OverflowError (the whole submission an error);
    a shape of 190,000 sizes of 10**18 cost minutes of big-int products in the parent."""
    step = {"kind": "step", "optimizer": "Adam", "family": ["Adam"], "lr": [10 ** 400], "settings": [{}], "models": [0]}
    forged = [
        lambda: replies.reset_state({"clean": True, "cpu_s": 10 ** 400, "address_space_bytes": 0}, "reset"),
        lambda: replies.watched_call({"outputs": [], "error": None,
                                      "watched": {"events": [step], "truncated": False, "arguments": [], "global_hooks_left": 0}}, "watch", 0),
        lambda: replies.description({"parameters": {"w": [10 ** 18] * 100_000 + [0]}, "state_dict": {}, "buffers": [],
                                     "modules": []}, "describe"),
    ]
    header = json.dumps({"ok": True, "value": {"__tensor__": ["float32", [10 ** 18] * 100_000 + [0], 0]}}).encode()
    forged.append(lambda: replies.envelope(struct.pack("!I", len(header)) + header, "forged"))
    for parse in forged:
        try:
            parse()
        except MalformedReply:
            continue
        raise AssertionError("accepted")


ADAM = {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False, "maximize": False}


def _step_settings(settings: list, rates: int | None = None):
    step = {"kind": "step", "optimizer": "Adam", "family": ["Adam"], "lr": [0.01] * (rates or len(settings)),
            "settings": settings, "models": [0]}
    return replies.watched_call({"outputs": [], "error": None,
                                 "watched": {"events": [step], "truncated": False, "arguments": [], "global_hooks_left": 0}}, "watch", 0)


def test_an_optimizer_steps_settings_are_numbers_and_flags_of_the_names_asked_or_malformed():
    """The settings that make a step Adam's decide training_task: each is read as exactly what it
    may be -- a bounded finite number, a true/false, or None for what the watcher could not read."""
    read = _step_settings([ADAM, dict(ADAM, beta1=None, amsgrad=None, eps=1)]).events[0].settings
    assert read == (ADAM, dict(ADAM, beta1=None, amsgrad=None, eps=1.0))
    assert type(read[1]["eps"]) is float
    forged = [dict(ADAM, beta2=1e300), dict(ADAM, eps=math.nan), dict(ADAM, weight_decay=-math.inf),
              dict(ADAM, weight_decay=10 ** 400), dict(ADAM, beta1="0.9"), dict(ADAM, beta1=True),
              dict(ADAM, beta1=[0.9]), dict(ADAM, amsgrad=1), dict(ADAM, maximize="false"),
              {k: v for k, v in ADAM.items() if k != "eps"}, dict(ADAM, nesterov=True), [0.9, 0.999]]
    for settings in forged:
        try:
            _step_settings([settings])
        except MalformedReply:
            continue
        raise AssertionError(f"accepted {settings}")
    for groups in ([], [ADAM, ADAM]):  # one group's settings per learning rate, no more, no fewer
        try:
            _step_settings(groups, rates=1)
        except MalformedReply:
            continue
        raise AssertionError(f"accepted {len(groups)} groups' settings for one rate")


def test_trainable_parameters_per_child_are_counted_in_one_pass_as_count_counts_them():
    """``trainable_by_child`` (the parameter-shares picture: once per child, each over every parameter,
    a model of thousands of children cost minutes) says what ``count`` says for each child."""
    from autograder.sandbox.replies import ModuleDescription

    parameters = {"weight": (3,), **{f"extra{i}.p": (i % 4 + 1, 2) for i in range(300)},
                  "down.conv.weight": (8, 4, 3, 3), "down.conv.bias": (8,)}
    frozen = tuple(f"extra{i}.p" for i in range(0, 300, 7))
    described = ModuleDescription(parameters, dict(parameters), (), [], frozen)
    counts = described.trainable_by_child()
    children = {name.split(".", 1)[0] for name in parameters if "." in name}
    assert {c: counts.get(c, 0) for c in children} == {c: described.count(c) for c in children}
    assert counts[""] == 3 and counts.get("extra7", 0) == 0 and counts["down"] == 8 * 4 * 9 + 8
    assert sum(counts.values()) == described.count() == sum(
        math.prod(s) for n, s in parameters.items() if n not in frozen)


def test_numbers_and_arrays_numpy_made_are_read_as_the_values_they_are():
    """``np.mean(...)`` is a np.float32 and ``np.prod(shape)`` a np.int64: to a student, numbers. The child
    sends them as Python numbers, and a numpy array of numbers as the tensor of the same values and dtype
    (whatever its memory order), so the parent's parser, unchanged, reads them as it reads a tensor's."""
    import numpy as np

    from autograder.sandbox.child.plain import plain

    from fractions import Fraction

    scalars = {np.float32(0.25): (float, 0.25), np.float16(1.5): (float, 1.5), np.int64(3): (int, 3),
               np.uint8(255): (int, 255), np.bool_(True): (bool, True), np.str_("ok"): (str, "ok"),
               Fraction(1, 4): (float, 0.25)}  # parameter_shares' "fraction", taken literally
    for value, (kind, expected) in scalars.items():
        got = plain(value)
        assert type(got) is kind and got == expected, value
    grid = np.arange(12, dtype=np.float64).reshape(3, 4) / 8
    arrays = [grid.astype(np.float32), grid, grid.astype(np.float16), np.arange(6, dtype=np.int64),
              np.arange(6, dtype=np.int32), np.array([1, 0, 2], dtype=np.uint8), np.array([True, False]),
              np.array(0.5, dtype=np.float32),  # 0-d: a loss's `.numpy()`
              grid.T, grid[:, ::2], grid.astype(">f8")]  # transposed, strided, big-endian
    for array in arrays:
        got = replies.plain(plain({"value": [array]}), "call")["value"][0]
        assert type(got) is torch.Tensor and tuple(got.shape) == array.shape
        assert str(got.dtype) == f"torch.{array.dtype.name}"
        assert got.tolist() == array.tolist(), array


def test_anything_else_numpy_makes_is_refused_by_name():
    """Deny by default: arrays of objects, records, text, complex numbers, a dtype a reply cannot carry
    and array subclasses (a masked array's mask would be lost) keep the refusal, saying what they were."""
    import numpy as np

    from autograder.sandbox.child.plain import RETURNED, NotPlain, plain

    refused = {
        "dtype object": np.array([torch.zeros(1), 1], dtype=object),
        "dtype void": np.zeros(2, dtype=[("a", "f4"), ("b", "i4")]),
        "dtype str": np.array(["a", "b"]),
        "dtype complex128": np.ones(2, dtype=np.complex128),
        "dtype uint32": np.ones(2, dtype=np.uint32),
        "dtype datetime64": np.array(["2026-12-07"], dtype="datetime64[D]"),
        "MaskedArray": np.ma.masked_array([1.0, 2.0], mask=[False, True]),
        "numpy complex64": np.complex64(1 + 2j),
        "numpy datetime64": np.datetime64("2026-12-07"),
    }
    for said, value in refused.items():
        try:
            plain([value])
        except NotPlain as refusal:
            assert said in str(refusal) and "expected tensors, numbers or strings" in str(refusal), str(refusal)
            assert str(refusal).startswith(RETURNED)  # the grader says what was returned, not an error raised
        else:
            raise AssertionError(f"{said}: read as plain data")


def test_reading_a_value_never_imports_numpy(monkeypatch):
    """The child may not import numpy for the student: it reads numpy's types from sys.modules only."""
    import sys

    from autograder.sandbox.child.plain import NotPlain, plain

    monkeypatch.setitem(sys.modules, "numpy", None)  # importing numpy now raises ImportError
    assert plain([1.5, {"t": torch.ones(2)}])[0] == 1.5
    try:
        plain(object())
    except NotPlain as refusal:
        assert "returned a object" in str(refusal)
    else:
        raise AssertionError("an object read as plain data")


def test_an_int_past_int64_that_student_code_returned_is_read_as_the_float_nearest_it():
    """10**400 as a share made math.isclose raise, and a sum of 4,300-digit counts made str() raise: grader
    errors, the submission sent to staff. Every later step now gets a float it can compare and write."""
    answer = replies.call_result({"output": {"a": 10 ** 400, "b": -(10 ** 400), "c": 2 ** 64, "d": [7, -(2 ** 63)]}}, "call")
    assert answer == {"a": math.inf, "b": -math.inf, "c": float(2 ** 64), "d": [7, -(2 ** 63)]}
    assert type(answer["d"][1]) is int and type(answer["c"]) is float
