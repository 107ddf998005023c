"""What the grader keeps of a module whose top-level code cannot run (a notebook's cells, a file with a
test at the bottom): the contract's definitions and exactly the module-level names they read."""
import ast

import pytest

from autograder.intake.python_source import definitions_only

NOTEBOOK_LIKE = '''\
import math
import torch
from torch import nn as tnn

STEPS = 50
SCALE = 2.0
results = None
model = None
device = "cuda" if torch.cuda.is_available() else "cpu"


def helper(x):
    return x * SCALE


def register(cls):
    return cls


@register
class Block(tnn.Module):
    width = int(math.sqrt(16))

    def forward(self, x):
        inner = [helper(v) for v in x]
        def nested():
            return torch.stack(inner).to(device)
        return nested()


def skip_ablation(steps=STEPS, seed=0):
    results = {}
    model = Block()
    for step in range(steps):
        results[step] = model(torch.zeros(2))
    return results


model = Block()
results = skip_ablation()
print(results)
for epoch in range(10**9):
    model(torch.zeros(2))
'''


def _kept(text: str, roots=None) -> list[str]:
    sliced = definitions_only(text, ast.parse(text), roots)
    assert len(sliced.split("\n")) == len(text.split("\n"))  # line numbers unchanged
    return [line for line in sliced.split("\n") if line.strip()]


def test_a_functions_own_locals_never_pull_in_top_level_code_of_the_same_name():
    kept = _kept(NOTEBOOK_LIKE)
    assert "results = skip_ablation()" not in kept  # `results` is skip_ablation's own local
    assert "model = Block()" not in kept  # so is `model`
    assert "results = None" not in kept and "model = None" not in kept
    assert not any(line.startswith(("print", "for epoch")) for line in kept)


@pytest.mark.parametrize("line", [
    "STEPS = 50",  # a default argument, read when the def runs
    "SCALE = 2.0",  # read by a helper the class calls from a comprehension
    "import math",  # a class attribute's value
    "from torch import nn as tnn",  # a base class
    'device = "cuda" if torch.cuda.is_available() else "cpu"',  # read by a nested function
    "def register(cls):",  # a decorator
    "def helper(x):",
])
def test_every_module_level_name_a_definition_reads_is_kept(line):
    assert line in _kept(NOTEBOOK_LIKE)


def test_only_the_requested_definitions_and_what_they_need():
    kept = _kept(NOTEBOOK_LIKE, {"Block"})
    assert "class Block(tnn.Module):" in kept and "def skip_ablation(steps=STEPS, seed=0):" not in kept
    assert "STEPS = 50" not in kept and "SCALE = 2.0" in kept


def test_a_name_a_function_declares_global_is_kept():
    text = "counter = 0\nnoise = print('side effect')\n\n\ndef step():\n    global counter\n    counter += 1\n"
    kept = _kept(text)
    assert "counter = 0" in kept and "noise = print('side effect')" not in kept


def test_each_statement_is_read_once_however_long_the_chain_of_names(monkeypatch):
    """``a0 = a1``, ``a1 = a2``, ...: what a definition needs is found name by name, each statement's names
    read once (the fixpoint rescanned every statement per link: quadratic, 27 s of the grader's time at
    4,000 links, in intake, before any budget)."""
    from autograder.intake import python_source

    links = 300
    source = "def skip_ablation():\n    return a0\n\n" + "".join(f"a{i} = a{i + 1}\n" for i in range(links)) + f"a{links} = 1\n"
    tree = ast.parse(source)
    calls = []
    original = python_source.bound_names
    monkeypatch.setattr(python_source, "bound_names", lambda node: calls.append(node) or original(node))
    kept = python_source.kept_statements(tree, {"skip_ablation"})
    assert len(kept) == links + 2  # the function and every link
    assert len(calls) <= len(tree.body)
