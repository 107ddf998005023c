"""The grading machine: a device it lacks is one usage error before any grading (issue 25), and a check
that fails because of the machine blames no student."""
import os
import sys

import pytest
from typer.testing import CliRunner

from autograder import machine
from autograder.cli import app
from autograder.errors import ExitCode
from autograder.machine import DeviceUnavailable, machine_fault, require_device, usable_cores

from .conftest import SOLUTIONS, full_outputs


@pytest.fixture
def no_cuda(monkeypatch):
    """This machine as one without CUDA, whatever it really has."""
    monkeypatch.setattr(machine, "_cuda_count", lambda: 0)


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(machine, "_cuda_count", lambda: 2)


def test_cpu_is_always_there():
    assert require_device("cpu") == "cpu"


@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_cuda_without_cuda_says_what_the_machine_has(no_cuda, device):
    with pytest.raises(DeviceUnavailable) as refused:
        require_device(device)
    assert "no CUDA device" in str(refused.value) and "cpu" in str(refused.value)


def test_a_gpu_index_out_of_range(two_gpus):
    assert require_device("cuda:1") == "cuda:1"
    with pytest.raises(DeviceUnavailable, match="no CUDA device 2"):
        require_device("cuda:2")


@pytest.mark.skipif(sys.platform == "darwin", reason="MPS may exist on macOS")
def test_mps_off_macos():
    with pytest.raises(DeviceUnavailable, match="only on macOS"):
        require_device("mps")


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "", "cpu cuda"])
def test_not_a_device(device):
    with pytest.raises(DeviceUnavailable, match="not a device"):
        require_device(device)


@pytest.mark.parametrize("command", ["grade", "batch"])
def test_cli_refuses_a_missing_device_before_writing_anything(no_cuda, tmp_path, command):
    out = tmp_path / "out"
    argv = (["grade", str(SOLUTIONS), "--results", str(out / "results.json"), "--device", "cuda"]
            if command == "grade" else ["batch", str(SOLUTIONS.parent), "--out", str(out), "--device", "cuda"])
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == ExitCode.USAGE_ERROR
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --device cuda: this machine has no CUDA device"), lines
    assert not out.exists()


def test_the_device_can_come_from_the_environment(no_cuda, tmp_path):
    """How the Gradescope bundle's run_autograder passes a device: AUTOGRADER_DEVICE."""
    result = CliRunner().invoke(app, ["grade", str(SOLUTIONS), "--results", str(tmp_path / "r.json")],
                                env={"AUTOGRADER_DEVICE": "cuda:1"})
    assert result.exit_code == ExitCode.USAGE_ERROR and "cuda:1" in result.output
    assert not (tmp_path / "r.json").exists()


@pytest.fixture
def full_disk(monkeypatch):
    monkeypatch.setattr(machine, "_free_bytes", lambda: 1 << 20)


@pytest.mark.parametrize("error, device, fault", [
    ("OSError: [Errno 28] No space left on device: '/tmp/x'", "cpu", "disk is full"),
    ("RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB", "cuda", "GPU ran out of memory"),
    ("RuntimeError: CUDA error: an illegal memory access was encountered", "cuda:0", "GPU failed"),
    ("AssertionError: Torch not compiled with CUDA enabled", "cuda", "cannot use its GPU"),
])
def test_machine_faults_are_recognised(full_disk, error, device, fault):
    assert fault in machine_fault(error, device)


@pytest.mark.parametrize("error", [
    "AssertionError: Torch not compiled with CUDA enabled",  # on the CPU: the code hard-coded cuda
    "RuntimeError: mat1 and mat2 shapes cannot be multiplied (4x8 and 16x8)",
    "NotImplementedError",
    "MemoryError",  # the student's allocation, under the student's memory limit
])
def test_the_students_own_errors_stay_theirs_on_the_cpu(full_disk, error):
    assert machine_fault(error, "cpu") is None


def test_a_disk_error_with_room_on_the_disk_is_the_students(monkeypatch):
    """A child that fills its private /tmp, or raises ENOSPC itself, does not make the machine's disk full."""
    monkeypatch.setattr(machine, "_free_bytes", lambda: 10 << 30)
    assert machine_fault("OSError: [Errno 28] No space left on device: '/tmp/x'", "cpu") is None


FULL_DISK = '''
import errno
import torch.nn as nn


class ResBlock(nn.Module):
    def __init__(self, in_channels, out_channels, time_emb_dim):
        super().__init__()
        raise OSError(errno.ENOSPC, "No space left on device", "/tmp/cache")
'''


def test_a_full_disk_is_not_the_students_mistake(grader, make_submission, full_disk):
    report = grader.grade(make_submission({"res_block": FULL_DISK}))
    outputs = full_outputs(report)
    lost = [outputs[c.name] for c in report.checks if c.component == "ResBlock"]
    assert lost and all("grading machine" in output and "not a mistake in your code" in output for output in lost)
    assert not any("Hint:" in output for output in lost)
    assert report.status == "needs_review"
    assert any("disk is full" in reason and "not the student's code" in reason for reason in report.review)


@pytest.mark.parametrize("files, quota", [
    ({"cpu.max": "150000 100000\n"}, 1),  # 1.5 cores: a second busy process would only contend
    ({"cpu.max": "250000 100000\n"}, 2),
    ({"cpu.max": "50000 100000\n"}, 1),
    ({"cpu.max": "max 100000\n"}, None),  # no quota: the cores this process may run on
    ({"cpu.max": "100000 0\n"}, None),
    ({"a/cpu.max": "100000 100000\n"}, 1),  # on a cgroup above this process's (v2)
    ({"a/b/cpu.max": "max 100000\n", "cpu.max": "max 100000\n"}, None),
    ({"cpu/a/cpu.cfs_quota_us": "100000\n", "cpu/a/cpu.cfs_period_us": "100000\n"}, 1),  # cgroup v1
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
    ({"cpu.max": "garbage\n"}, None),
    ({}, None),
])
def test_usable_cores_follow_a_cpu_quota(tmp_path, files, quota):
    cgroup = tmp_path / "cgroup"
    for name, text in files.items():
        (cgroup / name).parent.mkdir(parents=True, exist_ok=True)
        (cgroup / name).write_text(text)
    membership = tmp_path / "membership"
    membership.write_text("4:memory:/elsewhere\n1:cpu,cpuacct:/a/b\n0::/a/b\n")
    cores = len(os.sched_getaffinity(0))
    assert usable_cores(cgroup, membership) == (cores if quota is None else min(cores, quota))
