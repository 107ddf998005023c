"""The reference's saved results: used only under their own key, secret like the reference, never in a copy of it.

That a grader started from them grades exactly like one that computes them is shown where grading is
compared every way (test_runner.py's warm and fresh graders); these tests need no grading.
"""
import os
import shutil
import stat

import pytest
import torch

from autograder import warm_start
from autograder.config import load_config
from autograder.reference import Reference
from autograder.sandbox.exposure import make_private, secret_paths

from .conftest import SOLUTIONS


@pytest.fixture
def own_reference(tmp_path):
    """A config whose reference is a copy of the real one, so its saved results are this test's alone."""
    reference = shutil.copytree(SOLUTIONS, tmp_path / "solutions" / "unet")
    return load_config().model_copy(update={"reference": str(reference)})


def _state():
    drawn = {("ResBlock", "output_shape", 5, False): {"cases": [1, 2, 3]}}
    references = {("reference", "ResBlock", 0): {"out": torch.arange(6.0).reshape(2, 3).requires_grad_(),
                                                  "ids": torch.tensor([1, 2]), "half": torch.ones(2).bfloat16()}}
    return drawn, references


def test_saved_results_come_back_under_their_key_only(own_reference):
    folder, key = own_reference.reference_results(), warm_start.key(own_reference, "cpu")
    reference = Reference(own_reference.reference_dir())
    assert warm_start.load(folder, key, reference) is None  # nothing saved yet
    path = warm_start.save(folder, key, *_state())
    assert path == warm_start.results_file(folder, key)
    drawn, references = warm_start.load(folder, key, reference)
    saved = references[("reference", "ResBlock", 0)]
    assert drawn == _state()[0]
    assert torch.equal(saved["out"], _state()[1][("reference", "ResBlock", 0)]["out"]) and saved["out"].requires_grad
    assert saved["ids"].dtype == torch.int64 and saved["half"].dtype == torch.bfloat16
    assert warm_start.load(folder, warm_start.key(own_reference, "cuda"), reference) is None
    shutil.copy(path, warm_start.results_file(folder, "another-key"))  # renamed: its first line still says whose
    assert warm_start.load(folder, "another-key", reference) is None
    path.write_bytes(key.encode() + b"\nnot a pickle")
    assert warm_start.load(folder, key, reference) is None  # damaged: computed afresh, never an error


def test_results_that_cannot_be_saved_are_not_saved_and_never_an_error(own_reference):
    """Saving runs after a grading: whatever it meets (a lambda, nesting past the recursion limit) must not
    turn that grading into an error; nothing half-written stays behind."""
    folder = own_reference.reference_results()
    nested: list = []
    for _ in range(100_000):
        nested = [nested]
    for unsaveable in ({"build": lambda: None}, {"deep": nested}):
        assert warm_start.save(folder, "key", {}, unsaveable) is None
    assert list(folder.iterdir()) == []


def test_configurations_in_use_side_by_side_keep_their_own_results_and_old_ones_go(own_reference):
    folder = own_reference.reference_results()
    keys = [f"key{index}" for index in range(warm_start.KEEP + 2)]
    for index, key in enumerate(keys):
        warm_start.save(folder, key, *_state())
        os.utime(warm_start.results_file(folder, key), (1000 + index, 1000 + index))
    assert warm_start.load(folder, keys[0], Reference(own_reference.reference_dir())) is None  # pruned
    warm_start.save(folder, "newest", *_state())
    assert {p.stem for p in folder.glob("*.pickle")} == {*keys[-(warm_start.KEEP - 1):], "newest"}


def test_the_key_changes_with_what_the_results_depend_on_and_not_with_where_they_are(own_reference, tmp_path):
    key = warm_start.key(own_reference, "cpu")
    moved = shutil.copytree(own_reference.reference_dir(), tmp_path / "elsewhere" / "unet")
    assert warm_start.key(own_reference.model_copy(update={"reference": str(moved)}), "cpu") == key
    tolerance = own_reference.tolerance.model_copy(update={"float_error_factor": 60})
    assert warm_start.key(own_reference.model_copy(update={"tolerance": tolerance}), "cpu") != key
    edited = own_reference.reference_dir() / "res_block.py"
    edited.write_text(edited.read_text() + "\n# an edit\n")
    assert warm_start.key(own_reference, "cpu") != key


def test_saved_results_are_a_secret_beside_the_reference_never_inside_it(own_reference):
    path = warm_start.save(own_reference.reference_results(), "key", *_state())
    assert path.parent.parent == own_reference.reference_dir().parent  # a copy of the reference folder leaves them out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert str(path) in secret_paths(own_reference.reference_dir(), None)  # the start-up exposure probe reads it
    os.chmod(path, 0o644)
    make_private(own_reference.reference_dir(), None)
    assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_reference_folder_means_no_saved_results_not_an_error(own_reference):
    folder = own_reference.reference_dir().parent
    os.chmod(folder, 0o555)
    try:
        assert warm_start.save(own_reference.reference_results(), "key", *_state()) is None
    finally:
        os.chmod(folder, 0o755)
