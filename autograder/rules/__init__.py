"""The public checks' verdict rules: one definition, run by the grader and by students' ``check.py``.

Standard library and torch only, and relative imports only: ``autograder release`` copies this
package into ``check_support/rules/`` beside ``check.py``, which imports it from there, and the
grader imports it from here, so the two cannot drift. A rule judges one case from what a *view* of
the student's code answers (``LocalView`` runs it in this process, as check.py does; the grader's
view asks a sandboxed child the same questions) and from public facts only: the contract's shapes
and constructor settings (``public_checks.json``), the sinusoid's closed form (the stub's docstring)
and properties every correct implementation has (attention rows sum to 1; with conv2 zeroed a
ResBlock returns skip(x); ...). Weights are our own, drawn from the case's seed (``random_state``),
so both sides run the student's code on the same numbers and the student's own initialisation
(zero-initialised convolutions, say) changes nothing.

One module per job: ``tensors`` (NaN-aware comparisons, ``Failed``), ``inputs`` (inputs and weights
from a seed), ``description`` (a module's structure), ``plain`` (what the student's code returned, as
plain data), ``local_view`` (the student's code in this process), ``cases`` (what the rules share), ``forward``, ``structure`` and ``real_work`` (the blocks'
rules), ``homework`` (the homework tasks' rules). ``RULES`` below maps a check's ``rule`` to its function.
"""
from .cases import (PROTOCOL_KINDS, TASK_CALLS, WATCHED_KINDS, as_list, by_position, case_text, module_with_weights,
                    our_weights, own_constants)
from .description import describe, describe_module
from .forward import (CONSTANT_VALUE, SINUSOID_ALLOWED, SINUSOID_VARIANTS, concat_order, constant_values,
                      output_shapes, pair, residual, sinusoid, sinusoid_shape, sinusoid_values, softmax_rows,
                      time_sensitivity, weights_shape)
from .homework import (EXPERIMENT_READ, EXPERIMENT_SETTINGS, RAISED, STUDENT_SEED, VARIANTS, as_pairs, batches_problem, experiment_problem,
                       experiment_protocol, map_sums, same_batches, same_start, shares, similarity_properties,
                       trace_protocol, training_calls)
from .inputs import TIMESTEPS, load_weights, make_inputs, moved_inputs, random_state
from .local_view import LocalView, watched
from .real_work import dependence, real_work
from .structure import parameter_count, plural, setting_difference, state_difference, structure
from .tensors import (SAME_ABSOLUTE, SAME_RELATIVE, Failed, allowed_same, as_shape, changed, close, close_where_known,
                      difference_text, largest_difference, magnitude, max_difference, nonfinite_problem, same_nonfinite, shape_problem,
                      short)

__all__ = [
    "CONSTANT_VALUE", "EXPERIMENT_READ", "EXPERIMENT_SETTINGS", "PROTOCOL_KINDS", "RAISED", "RULES", "SAME_ABSOLUTE", "SAME_RELATIVE", "SINUSOID_ALLOWED", "SINUSOID_VARIANTS", "TIMESTEPS",
    "TASK_CALLS", "VARIANTS", "WATCHED_KINDS", "Failed", "LocalView", "allowed_same", "as_list", "as_pairs", "as_shape", "by_position", "case_text",
    "changed", "close", "close_where_known", "dependence", "describe", "describe_module", "difference_text",
    "experiment_problem", "largest_difference", "load_weights", "magnitude", "max_difference", "make_inputs", "module_with_weights",
    "moved_inputs", "nonfinite_problem", "our_weights", "own_constants", "plural", "random_state", "real_work", "same_nonfinite",
    "setting_difference", "shape_problem", "short", "state_difference", "training_calls", "batches_problem", "watched",
    "STUDENT_SEED",
    # the rules, also reached through RULES
    "concat_order", "constant_values", "experiment_protocol", "map_sums", "output_shapes", "pair", "parameter_count",
    "residual", "same_batches", "same_start", "shares", "similarity_properties", "sinusoid", "sinusoid_shape", "sinusoid_values", "softmax_rows",
    "structure", "time_sensitivity", "trace_protocol", "weights_shape",
]

RULES = {
    "output_shapes": output_shapes,
    "pair": pair,
    "weights_shape": weights_shape,
    "sinusoid_shape": sinusoid_shape,
    "sinusoid_values": sinusoid_values,
    "residual": residual,
    "time": time_sensitivity,
    "softmax_rows": softmax_rows,
    "constant_values": constant_values,
    "concat_order": concat_order,
    "structure": structure,
    "parameter_count": parameter_count,
    "similarity_properties": similarity_properties,
    "map_sums": map_sums,
    "shares": shares,
    "trace_protocol": trace_protocol,
    "experiment_protocol": experiment_protocol,
    "same_start": same_start,
    "same_batches": same_batches,
}

