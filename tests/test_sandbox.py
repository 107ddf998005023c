"""The door itself: what a child keeps, and what the parent gets back."""
import pytest
import torch

from autograder.plan import load_plan
from autograder.sandbox.child import KEPT_MODULES
from autograder.sandbox.launcher import StudentComponent, StudentError
from autograder.submission import read_submission

from .conftest import SOLUTIONS


@pytest.fixture
def res_block_child(grader):
    plan = load_plan("ResBlock", read_submission(SOLUTIONS), grader.reference)
    child = StudentComponent(grader._zygote(), plan, grader.config.limits)
    yield child
    child.stop()


def test_child_keeps_only_the_latest_modules(res_block_child):
    """Hundreds of live modules slowed every build down (garbage collection over all of them)."""
    modules = [res_block_child.build("ResBlock", in_channels=2, out_channels=3, time_emb_dim=4)
               for _ in range(KEPT_MODULES + 4)]
    latest = modules[-1].run(torch.randn(1, 2, 3, 3), torch.randn(1, 4))
    assert tuple(latest.output.shape) == (1, 3, 3, 3)
    with pytest.raises(StudentError, match="already released"):
        modules[0].describe()


def test_replies_are_plain_cpu_tensors(res_block_child):
    module = res_block_child.build("ResBlock", in_channels=2, out_channels=2, time_emb_dim=3)
    result = module.run(torch.randn(2, 2, 4, 4), torch.randn(2, 3), grad_output=torch.ones(2, 2, 4, 4))
    assert type(result.output) is torch.Tensor and result.output.device.type == "cpu"
    assert set(result.param_grads) == {name for name, _ in module.describe().parameters.items()}
    assert result.inputs_changed == [False, False]
