"""The door itself: what a child keeps, what the parent remembers, and what comes back."""
import os
import platform
import subprocess
import sys

from pathlib import Path

import pytest
import torch

from autograder.plan import load_plan
from autograder.sandbox.child.server import KEPT_MODULES, Child
from autograder.sandbox.launcher import ChildConnection, Pending, SandboxFatal, StudentComponent, StudentError
from autograder.intake import read_submission

from .conftest import SOLUTIONS

BROKEN_INIT = '''
import torch.nn as nn
from .res_block import ResBlock  # noqa: F401


class DownBlock(nn.Module):
    def __init__(self, in_channels, out_channels, time_emb_dim):
        super().__init__()
        raise ValueError(f"no DownBlock for {in_channels} channels")
'''


def _component(grader, name: str, folder=SOLUTIONS) -> StudentComponent:
    plan = load_plan(name, read_submission(folder), grader.reference)
    return StudentComponent(grader._zygote(), plan, grader.config.limits)


@pytest.fixture
def res_block_child(grader):
    child = _component(grader, "ResBlock")
    yield child
    child.stop()


@pytest.fixture
def round_trips(monkeypatch):
    """Every request that reaches a child, by op."""
    sent = []
    original = ChildConnection.send

    def counting(self, op, what, pace, **args):
        sent.append(op)
        return original(self, op, what, pace, **args)

    monkeypatch.setattr(ChildConnection, "send", counting)
    return sent


def test_an_evicted_module_is_rebuilt_with_its_weights(res_block_child):
    """The child keeps a few modules; a request carries its whole recipe, so eviction costs a rebuild only."""
    x, t_emb = torch.randn(1, 2, 3, 3), torch.randn(1, 4)
    first = res_block_child.build("ResBlock", in_channels=2, out_channels=3, time_emb_dim=4)
    state = {k: torch.randn(v.shape) for k, v in _reference_state(res_block_child).items()}
    first.load_state_dict(state)
    before = first.run(x, t_emb).output
    for channels in range(4, 4 + KEPT_MODULES + 2):  # push `first` out of the child
        res_block_child.build("ResBlock", in_channels=2, out_channels=channels, time_emb_dim=4).run(
            torch.randn(1, 2, 3, 3), t_emb)
    again = res_block_child.build("ResBlock", in_channels=2, out_channels=3, time_emb_dim=4)
    again.load_state_dict(state)
    after = again.run(x * 2, t_emb).output  # new inputs: not in the memo, so the child rebuilds
    reference = again.run(x, t_emb).output
    assert torch.equal(reference, before)
    assert not torch.allclose(after, before)


def _reference_state(component: StudentComponent) -> dict:
    module = component.build("ResBlock", in_channels=2, out_channels=3, time_emb_dim=4)
    return {name: torch.empty(shape) for name, shape in module.describe().state_dict.items()}


def test_the_same_request_is_answered_once(res_block_child, round_trips):
    module = res_block_child.build("ResBlock", in_channels=2, out_channels=2, time_emb_dim=3)
    x, t_emb = torch.randn(2, 2, 4, 4), torch.randn(2, 3)
    first = module.run(x, t_emb).output
    asked = len(round_trips)
    second = res_block_child.build("ResBlock", in_channels=2, out_channels=2, time_emb_dim=3).run(x.clone(), t_emb)
    assert len(round_trips) == asked
    assert torch.equal(second.output, first)


def test_collected_requests_go_in_one_round_trip(res_block_child, round_trips):
    inputs = [[torch.randn(b, 2, 4, 4), torch.randn(b, 3)] for b in (1, 2, 3)]
    res_block_child.collect()
    module = res_block_child.build("ResBlock", in_channels=2, out_channels=2, time_emb_dim=3)
    with pytest.raises(Pending):
        module.run_each(inputs)
    with pytest.raises(Pending):
        module.describe()
    assert round_trips == []
    assert res_block_child.flush()
    assert round_trips.count("batch") == 1
    outputs = [r.output for r in module.run_each(inputs)]
    assert [tuple(o.shape) for o in outputs] == [(b, 2, 4, 4) for b in (1, 2, 3)]
    assert module.describe().count() > 0
    assert round_trips.count("batch") == 1
    assert not res_block_child.flush()


def test_a_constructor_error_is_raised_by_build(grader, make_submission):
    child = _component(grader, "DownBlock", make_submission({"down_block": BROKEN_INIT}))
    try:
        with pytest.raises(StudentError, match="no DownBlock for 3 channels"):
            child.build("DownBlock", in_channels=3, out_channels=4, time_emb_dim=2)
        child.collect()
        module = child.build("DownBlock", in_channels=5, out_channels=4, time_emb_dim=2)  # not known yet: assumed fine
        with pytest.raises(Pending):
            module.run(torch.randn(1, 5, 4, 4), torch.randn(1, 2))
        child.flush()
        with pytest.raises(StudentError, match="no DownBlock for 5 channels"):
            child.build("DownBlock", in_channels=5, out_channels=4, time_emb_dim=2)
    finally:
        child.stop()


def test_replies_are_plain_cpu_tensors(res_block_child):
    module = res_block_child.build("ResBlock", in_channels=2, out_channels=2, time_emb_dim=3)
    result = module.run(torch.randn(2, 2, 4, 4), torch.randn(2, 3), grad_output=torch.ones(2, 2, 4, 4))
    assert type(result.output) is torch.Tensor and result.output.device.type == "cpu"
    assert set(result.param_grads) == {name for name, _ in module.describe().parameters.items()}
    assert result.inputs_changed == [False, False]


def test_questions_asked_of_one_child_can_be_asked_first_of_another(grader, round_trips):
    """What one submission's checks asked on a case is asked up front of the next: no pass to learn it."""
    x, t_emb = torch.randn(2, 2, 4, 4), torch.randn(2, 3)
    first, second = _component(grader, "ResBlock"), _component(grader, "ResBlock")
    try:
        first.record()
        first.collect()
        with pytest.raises(Pending):
            first.build("ResBlock", in_channels=2, out_channels=2, time_emb_dim=3).run(x, t_emb)
        first.flush()
        questions = first.recorded()
        second.ask(questions)
        asked = len(round_trips)
        output = second.build("ResBlock", in_channels=2, out_channels=2, time_emb_dim=3).run(x, t_emb).output
        assert len(round_trips) == asked
        assert tuple(output.shape) == (2, 2, 4, 4)
    finally:
        first.stop()
        second.stop()


def test_an_experiment_asked_of_another_child_keeps_its_longer_limit(grader, monkeypatch):
    """A training call recorded on one submission and asked up front of the next is still an experiment."""
    paces = []
    original = ChildConnection.send

    def sending(self, op, what, pace, **args):
        if op == "batch":
            paces.append((self, pace))
        return original(self, op, what, pace, **args)

    monkeypatch.setattr(ChildConnection, "send", sending)
    first, second = _component(grader, "TimestepEmbeddings"), _component(grader, "TimestepEmbeddings")
    try:
        first.record()
        first.call("timestep_embeddings", 8, [0, 1, 2], experiment=True)
        first.call("embedding_similarity", torch.eye(3))
        second.ask(first.recorded())
        asked = [pace for connection, pace in paces if connection is second.connection]
        assert asked and all(pace.experiment for pace in asked)
        assert {"timestep_embeddings", "embedding_similarity"} <= set().union(*(pace.runs for pace in asked))
    finally:
        first.stop()
        second.stop()


def test_the_codec_carries_plain_data_and_tensors_only():
    from autograder.sandbox.child.codec import dumps, loads

    message = {"ok": True, "value": [1, 2.5, None, "x", (3, 4)],
               "tensors": {"w": torch.randn(3, 4), "empty": torch.empty(0, 2), "flag": torch.tensor(True)}}
    decoded = loads(dumps(message))
    assert decoded["value"] == [1, 2.5, None, "x", [3, 4]]
    for name, tensor in message["tensors"].items():
        assert type(decoded["tensors"][name]) is torch.Tensor
        assert torch.equal(decoded["tensors"][name], tensor)
    with pytest.raises(TypeError):
        dumps({"module": torch.nn.Linear(2, 2)})
    header = b'{"__tensor__": ["float32", [2], 400]}'
    with pytest.raises(ValueError, match="does not match"):
        loads(len(header).to_bytes(4, "big") + header + bytes(8))
    header = b'{"__tensor__": ["object", [1], 8], "extra": 1}'
    with pytest.raises(ValueError, match="malformed"):
        loads(len(header).to_bytes(4, "big") + header + bytes(8))


def _huge_pages_supported() -> bool:
    release = tuple(int(x) for x in platform.release().split(".")[:2] if x.isdigit())
    try:
        setting = open("/sys/kernel/mm/transparent_hugepage/enabled").read()
    except OSError:
        return False
    return release >= (6, 1) and "[never]" not in setting


@pytest.mark.skipif(not _huge_pages_supported(), reason="MADV_COLLAPSE needs Linux 6.1 and transparent huge pages")
def test_the_fork_server_memory_is_collapsed_into_huge_pages():
    """What makes a child's fork and exit cheap: torch's anonymous memory in 2 MiB pages."""
    script = (
        "import re, torch\n"
        "from autograder.sandbox.child.limits import collapse_into_huge_pages\n"
        "def huge(): return int(re.search(r'AnonHugePages:\\s+(\\d+)', open('/proc/self/smaps_rollup').read()).group(1))\n"
        "before = huge(); collapsed = collapse_into_huge_pages()\n"
        "print(collapsed >> 20, (huge() - before) >> 10)\n"
    )
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    collapsed_mib, gained_mib = map(int, output.split())
    assert collapsed_mib >= 32 and gained_mib >= 32  # of the ~180 MB torch leaves


def _counting_forks(monkeypatch) -> list:
    from autograder.sandbox.launcher import Zygote

    forks, original = [], Zygote.fork
    monkeypatch.setattr(Zygote, "fork", lambda self, settings: forks.append(1) or original(self, settings))
    return forks


def test_a_submission_that_changes_nothing_global_is_graded_in_one_child(grader, monkeypatch):
    """Components hand their child on: one fork a submission (and one for each component that starts
    its child early, ``plan.grading_schedule``), and the same grades as a child per component."""
    forks = _counting_forks(monkeypatch)
    report = grader.grade(SOLUTIONS)
    assert all(c.passed for c in report.checks)
    assert len(forks) == 1 + sum(len(names) for names in grader.schedule.starts.values())


LEAKS = {
    "a patched torch function": "torch.nn.functional.group_norm = lambda x, *args, **kwargs: x",
    "a global default dtype": "torch.set_default_dtype(torch.float64)",
    "a global forward hook": "torch.nn.modules.module.register_module_forward_hook(lambda m, i, o: o * 2)",
}


@pytest.mark.parametrize("leak", LEAKS.values(), ids=LEAKS.keys())
def test_what_one_component_changes_globally_never_reaches_the_next(grader, make_submission, monkeypatch, leak):
    """time_embedding.py changes torch for everyone at import: ResBlock, graded next, must not feel it."""
    source = (SOLUTIONS / "time_embedding.py").read_text()
    folder = make_submission({"time_embedding": source.replace("import torch\n", f"import torch\n{leak}\n", 1)})
    forks = _counting_forks(monkeypatch)
    report = grader.grade(folder)
    res_block = [c for c in report.checks if c.component == "ResBlock"]
    assert res_block and all(c.passed for c in res_block), [c.output for c in res_block if not c.passed]
    assert len(forks) >= 2  # the child that imported time_embedding.py was not handed on


def test_a_process_left_running_is_not_handed_on(grader, make_submission, monkeypatch):
    """Where the sandbox has its own PID namespace, a component's leftover process ends with its child."""
    if not grader._zygote().isolation.zygote_options(sys.executable).get("pid_namespace"):
        pytest.skip("no PID namespace in this sandbox mode: the zygote kills leftovers when the child ends")
    source = (SOLUTIONS / "time_embedding.py").read_text()
    spawn = "import os, time\nif os.fork() == 0:\n    time.sleep(60)\n    os._exit(0)\n"
    folder = make_submission({"time_embedding": spawn + source})
    forks = _counting_forks(monkeypatch)
    grader.grade(folder)
    assert len(forks) >= 2


def test_a_python_thread_left_running_is_not_handed_on(grader, make_submission, monkeypatch):
    source = (SOLUTIONS / "time_embedding.py").read_text()
    spawn = "import threading, time\nthreading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
    forks = _counting_forks(monkeypatch)
    report = grader.grade(make_submission({"time_embedding": spawn + source}))
    assert all(c.passed for c in report.checks if c.component == "ResBlock")
    assert len(forks) >= 2


def test_a_child_with_namespaces_of_its_own_has_no_proc(grader, make_submission):
    """Every entry a procfs makes for a process takes its inode number from one counter of the whole host:
    a child moved it by making entries and the next student's child read it in stat (red team: 8 bits a
    hand-over, every try). Where the child has namespaces of its own (a root grader with bubblewrap), /proc
    is an empty folder; what the audit needs it learns otherwise (``own_tasks``: the tests above)."""
    if not grader._zygote().isolation.zygote_options(sys.executable).get("own_namespaces"):
        pytest.skip("no namespaces of the child's own in this sandbox mode (README: Security model)")
    probe = "import os\nassert os.listdir('/proc') == [] and not os.path.exists('/proc/self'), os.listdir('/proc')[:5]\n"
    source = (SOLUTIONS / "time_embedding.py").read_text()
    report = grader.grade(make_submission({"time_embedding": probe + source}))
    time_embedding = [c for c in report.checks if c.component == "TimeEmbedding"]
    assert time_embedding and all(c.passed for c in time_embedding), [c.output[:300] for c in time_embedding]


FRAMES_PROBE = """import sys as _sys
_seen, _frame = [], _sys._getframe()
while _frame is not None:  # every frame below this import: the child's own, then the fork server's
    _seen.append(repr(_frame.f_locals))
    _frame = _frame.f_back
_SEEN = " ".join(_seen)
_LEAK = str(77 << 8) in _SEEN or repr("sw" + "ept") in _SEEN  # spelled so: this source is in a frame too
"""


def test_no_frame_below_a_childs_code_holds_an_earlier_childs_exit(grader, make_submission):
    """A child is forked inside the fork server's loop: the frames under its code are the fork server's,
    and one held the reply about the previous child, its exit status (red team: a student's code ended
    its child with os._exit(77), the next student's read 77 << 8 = 19712 there: 8 bits a hand-over)."""
    source = (SOLUTIONS / "time_embedding.py").read_text()
    exits = {path.stem: "import os\nos._exit(77)\n" + path.read_text() for path in SOLUTIONS.glob("*.py")}
    grader.grade(make_submission(exits, name="exits"))  # every child it has ends so
    definition = "def sinusoidal_embedding(t, dim):\n"
    looks = FRAMES_PROBE + source.replace(definition, definition + "    assert not _LEAK, 'an earlier child is in reach'\n")
    report = grader.grade(make_submission({"time_embedding": looks}, name="looks"))
    time_embedding = [c for c in report.checks if c.component == "TimeEmbedding"]
    assert time_embedding and all(c.passed for c in time_embedding), [c.output[:300] for c in time_embedding]


ADDRESS_SPACE = '''
import resource
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, resource.RLIM_INFINITY))
import torch
from autograder.sandbox.child.own_tasks import address_space_bytes
for size in (0, 50_000_000):
    kept = torch.zeros(size)
    found = address_space_bytes()
    with open("/proc/self/statm") as statm:
        print(found, int(statm.read().split()[0]) * resource.getpagesize())
'''


def test_a_childs_address_space_is_measured_without_proc_to_within_a_mib():
    done = subprocess.run([sys.executable, "-c", ADDRESS_SPACE], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    pairs = [tuple(map(int, line.split())) for line in done.stdout.split("\n") if line]
    assert len(pairs) == 2 and pairs[1][1] - pairs[0][1] >= 150 << 20, pairs  # the tensor's 200 MB counted
    assert all(abs(found - statm) <= 2 << 20 for found, statm in pairs), pairs


@pytest.mark.parametrize("first, then, forks", [
    ("DownBlock", "UpBlock", 1),       # DownBlock's child held the reference ResBlock: UpBlock may have it too
    ("DownBlock", "ResBlock", 2),      # ... but ResBlock's own code must never run where it was
    ("TimeEmbedding", "Integration", 1),
    ("SelfAttention", "Integration", 1),  # SelfAttention depends on nothing: its child held no reference
    ("AttnResBlock", "Integration", 2),  # any block's reference is out of bounds for Integration
])
def test_a_child_never_serves_a_component_whose_reference_it_held(grader, monkeypatch, first, then, forks):
    from autograder.sandbox.launcher import Handover

    submission = read_submission(SOLUTIONS)
    counted = _counting_forks(monkeypatch)
    with Handover(grader._zygote()) as handover:
        for name in (first, then):
            results, _ = grader._grade_component(name, submission, handover)
            assert all(r.passed for r in results)
    assert len(counted) == forks


def test_a_module_planted_under_another_files_name_is_gone_for_the_next_component(grader, make_submission):
    """sys.modules is not part of the audit: every name a component's sources could take is cleared instead."""
    plant = ("import sys, types\n"
             "_fake = types.ModuleType('res_block')\n"
             "sys.modules['res_block'] = sys.modules['submission.res_block'] = _fake\n")
    source = (SOLUTIONS / "time_embedding.py").read_text()
    report = grader.grade(make_submission({"time_embedding": plant + source}))
    res_block = [c for c in report.checks if c.component == "ResBlock"]
    assert res_block and all(c.passed for c in res_block), [c.output for c in res_block if not c.passed]


FROZEN_CONSTANT = '''
        self.register_parameter("scale", nn.Parameter(torch.ones(1), requires_grad=False))
'''


def test_a_frozen_parameter_is_a_constant_like_a_buffer(grader, make_submission):
    """``nn.Parameter(..., requires_grad=False)`` is how some code keeps a constant: the contract's
    weights load around it, it keeps its value, and it is no trainable parameter of the count."""
    source = (SOLUTIONS / "res_block.py").read_text()
    anchor = "        self.norm2 = nn.GroupNorm(math.gcd(8, out_channels), out_channels)\n"
    child = _component(grader, "ResBlock", make_submission({"res_block": source.replace(anchor, anchor + FROZEN_CONSTANT)}))
    try:
        module = child.build("ResBlock", in_channels=2, out_channels=3, time_emb_dim=4)
        described = module.describe()
        assert described.frozen == ("scale",) and "scale" in described.parameters
        contract = {name: torch.randn(shape) for name, shape in described.state_dict.items() if name != "scale"}
        module.load_state_dict(contract)  # no error: "scale" needs no value
        assert described.count() == sum(t.numel() for t in contract.values())
    finally:
        child.stop()


SPIN = '''
        deadline = time.process_time() + 60
        while time.process_time() < deadline:  # burns CPU, never sleeps
            pass
'''


def test_a_child_over_its_cpu_time_is_told_so_not_blamed_on_memory(grader, make_submission):
    source = (SOLUTIONS / "res_block.py").read_text()
    spinning = "import time\n" + source.replace("    def forward(self, x, t_emb):\n",
                                                "    def forward(self, x, t_emb):\n" + SPIN, 1)
    plan = load_plan("ResBlock", read_submission(make_submission({"res_block": spinning})), grader.reference)
    limits = grader.config.limits.model_copy(update={"cpu_s": 2, "call_timeout_s": 30})
    child = StudentComponent(grader._zygote(), plan, limits)
    try:
        module = child.build("ResBlock", in_channels=2, out_channels=2, time_emb_dim=3)
        with pytest.raises(SandboxFatal, match="used more than 2 s of CPU time during ResBlock.forward"):
            module.run(torch.randn(1, 2, 4, 4), torch.randn(1, 3))
    finally:
        child.stop()


@pytest.mark.parametrize("returned", ["torch.zeros(2_000_000)", "torch.zeros(2_000_000).numpy()"],
                         ids=["tensor", "numpy array"])
def test_a_reply_over_the_size_limit_is_not_asked_for_again(grader, make_submission, round_trips, returned):
    """Every check that runs the same forward would ask again, and each time the child computes and
    sends the whole oversized reply before it is cut off. A numpy array is read as a tensor and sent as
    one: no way around the limit."""
    source = (SOLUTIONS / "res_block.py").read_text()
    huge = source.replace("    def forward(self, x, t_emb):\n",
                          f"    def forward(self, x, t_emb):\n        return {returned}\n", 1)
    plan = load_plan("ResBlock", read_submission(make_submission({"res_block": huge})), grader.reference)
    child = StudentComponent(grader._zygote(), plan, grader.config.limits.model_copy(update={"max_reply_mb": 1}))
    try:
        module = child.build("ResBlock", in_channels=2, out_channels=2, time_emb_dim=3)
        x, t_emb = torch.randn(1, 2, 4, 4), torch.randn(1, 3)
        with pytest.raises(SandboxFatal, match="during ResBlock.forward"):
            module.run(x, t_emb)
        asked = round_trips.count("batch")
        with pytest.raises(SandboxFatal, match="during ResBlock.forward"):
            module.run(x, t_emb)
        assert round_trips.count("batch") == asked
        assert module.describe().count() > 0  # other questions are still asked
    finally:
        child.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="the sweep finds a child's leftovers by the sandbox uid, which only a root grader has")
def test_the_reaper_removes_what_the_sandbox_uid_left_on_the_host(config, tmp_path):
    """Should anything get past the allow-list, the fallback mode still leaves nothing on the host:
    after a child ends, the zygote removes SysV objects and scratch files the sandbox uid owns."""
    import ctypes
    import uuid
    from pathlib import Path

    from autograder.sandbox.isolation import detect
    from autograder.sandbox.launcher import Zygote, child_settings
    from autograder.sandbox.zygote_client import end_child

    libc = ctypes.CDLL(None, use_errno=True)
    with Zygote(isolation=detect(sys.executable, "fallback")) as zygote:
        uid = zygote.isolation.uid
        left = Path("/dev/shm", f"left-{uuid.uuid4().hex}")
        left.write_text("for a later child")
        os.chown(left, uid, uid)
        done, made = os.pipe()
        if os.fork() == 0:  # as the sandbox uid, without the filter: what an escape would leave
            os.setuid(uid)
            os.write(made, str(libc.shmget(0, 4096, 0o1000 | 0o600)).encode())  # IPC_PRIVATE, IPC_CREAT
            os._exit(0)
        os.close(made)
        shm = int(os.read(done, 32))
        os.wait()
        assert shm >= 0 and any(line.split()[1] == str(shm) for line in Path("/proc/sysvipc/shm").open())
        try:
            end_child(zygote, *zygote.fork(child_settings(config.limits)), zygote.generation)
            assert f"SysV shm {shm}" in zygote.swept and str(left) in zygote.swept, zygote.swept
            assert not left.exists()
            assert not any(line.split()[1] == str(shm) for line in Path("/proc/sysvipc/shm").open())
        finally:  # whatever happened, the host keeps nothing of this test
            libc.shmctl(shm, 0, None)
            left.unlink(missing_ok=True)


def test_the_child_describes_a_module_as_the_rules_do(res_block_child):
    """One description (child/describe.py): the child's answer, parsed, is what the rules' ``describe``
    says of the same class built in this process, and both say what the solution's code builds."""
    import importlib.util

    from autograder import rules

    described = res_block_child.build("ResBlock", in_channels=4, out_channels=6, time_emb_dim=5).describe()
    spec = importlib.util.spec_from_file_location("solution_res_block", SOLUTIONS / "res_block.py")
    solution = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(solution)
    local = rules.describe(solution.ResBlock(in_channels=4, out_channels=6, time_emb_dim=5))
    assert {n: tuple(s) for n, s in local["parameters"].items()} == described.parameters
    assert {n: tuple(s) for n, s in local["state_dict"].items()} == described.state_dict
    assert [m.name for m in described.modules] == list(local["modules"])
    for info in described.modules:
        mine = local["modules"][info.name]
        assert (info.type, list(info.torch), info.config, info.extra_repr) == \
            (mine["type"], mine["torch"], mine["config"], mine["extra_repr"]), info.name
    # by hand, from the solution: GroupNorm(gcd(8, 6) = 2, 6), a 3x3 Conv2d(6, 6) with padding 1, a 1x1 skip
    assert described.module("norm2").config["num_groups"] == 2 and described.module("norm2").config["num_channels"] == 6
    assert described.module("conv2").is_a("Conv2d") and described.module("conv2").config["kernel_size"] == [3, 3]
    assert described.module("conv2").config["padding"] == [1, 1] and described.parameters["skip.weight"] == (6, 4, 1, 1)
    assert "kernel_size=(3, 3)" in described.module("conv2").extra_repr


IOCTL_PROBE = '''
import array, fcntl, os, socket, struct, sys
from autograder.sandbox.child.limits import allow_only_what_children_need
path = sys.argv[1]
reader = os.open(path, os.O_RDONLY)
ours, theirs = socket.socketpair()
flags = array.array("l", [0])
fcntl.ioctl(reader, 0x80086601, flags, True)  # FS_IOC_GETFLAGS, before the filter
flags[0] |= 0x40  # FS_NODUMP_FL: harmless, and readable by anyone who can open the file
allow_only_what_children_need()
try:
    fcntl.ioctl(reader, 0x40086602, flags, True)  # FS_IOC_SETFLAGS, on a read-only descriptor of our own file
    print("set inode flags")
except OSError as error:
    print("refused", error.errno)
try:
    fcntl.fcntl(reader, 37, struct.pack("hhqqi4x", fcntl.F_RDLCK, 0, 4242, 1, 0))  # F_OFD_SETLK
    print("locked")
except OSError as error:
    print("lock refused", error.errno)
os.set_inheritable(reader, True)  # F_GETFD/F_SETFD (or FIOCLEX)
ours.setblocking(False)  # FIONBIO
print("isatty", os.isatty(reader), open(path).read())  # TCGETS, as every open() in text mode asks
'''


def test_a_child_can_ask_a_descriptor_what_python_asks_and_nothing_else(tmp_path):
    """ioctl and fcntl are allowed by request: with a read-only descriptor of a file it owns (every file
    of the grader's, in the fallback mode without root) a child could otherwise set inode flags, which
    stay on the host for a later child to read; and a lock on any file it may read is a number that
    another child reads while both run. The requests CPython makes still work."""
    owned = tmp_path / "owned.txt"
    owned.write_text("read back")
    done = subprocess.run([sys.executable, "-c", IOCTL_PROBE, str(owned)], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "refused 25" in done.stdout and "set inode flags" not in done.stdout, done.stdout  # ENOTTY
    assert "lock refused 13" in done.stdout and "locked" not in done.stdout  # EACCES
    assert "isatty False read back" in done.stdout


EVICT_PROBE = '''
import ctypes, mmap, os, sys
from autograder.sandbox.child.limits import allow_only_what_children_need
path = sys.argv[1]
reader = os.open(path, os.O_RDONLY)
mapped = mmap.mmap(reader, 0, prot=mmap.PROT_READ)
anonymous = mmap.mmap(-1, 1 << 16)
libc = ctypes.CDLL(None, use_errno=True)
def sysinfo():  # its sharedram: every shared mapping on the host, which another child's mmap moves
    if libc.sysinfo(ctypes.create_string_buffer(256)) != 0:
        raise OSError(ctypes.get_errno(), "sysinfo")
allow_only_what_children_need()
for name, call in (("fadvise", lambda: os.posix_fadvise(reader, 0, 0, os.POSIX_FADV_DONTNEED)),
                   ("pageout", lambda: mapped.madvise(21)), ("cold", lambda: mapped.madvise(20)),
                   # they move machine-wide counters (/proc/vmstat) a later child reads
                   ("free", lambda: anonymous.madvise(8)), ("populate", lambda: anonymous.madvise(23)),
                   ("mergeable", lambda: anonymous.madvise(12)), ("collapse", lambda: anonymous.madvise(25)),
                   ("sysinfo", sysinfo)):
    try:
        call()
        print(name, "evicted")
    except OSError as error:
        print(name, "refused", error.errno)
for advice in (mmap.MADV_DONTNEED, mmap.MADV_WILLNEED, mmap.MADV_HUGEPAGE, mmap.MADV_NORMAL):
    anonymous.madvise(advice)  # what allocators ask: still allowed
print("dontneed ok", os.pread(reader, 4, 0))
'''


def test_a_child_cannot_evict_a_file_from_the_page_cache(tmp_path):
    """The page cache is the host's: a page a child evicts at will (fadvise DONTNEED, madvise
    PAGEOUT or COLD) and another child later times is a bit passed between them (red-team round:
    reference bytes passed between two students). Nor may it move machine-wide page counters
    (MADV_FREE set /proc/vmstat's pglazyfree to a message), nor read one (sysinfo's sharedram, moved by
    another child's shared mappings). What allocators ask of madvise still works."""
    readable = tmp_path / "readable.bin"
    readable.write_bytes(bytes(1 << 16))
    done = subprocess.run([sys.executable, "-c", EVICT_PROBE, str(readable)], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "evicted" not in done.stdout and done.stdout.count("refused") == 8, done.stdout
    assert "dontneed ok" in done.stdout


COUNTER_PROBE = '''
import ctypes, mmap, os, platform, signal
from autograder.sandbox.child.limits import SYSCALL_NUMBERS, allow_only_what_children_need
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
allow_only_what_children_need()
try:
    mmap.mmap(-1, 4096)  # MAP_SHARED | MAP_ANONYMOUS: an inode of the host's shmem mount
    print("shared mapping made")
except OSError as error:
    print("shared mapping refused", error.errno)
private = mmap.mmap(-1, 4096, flags=mmap.MAP_PRIVATE)  # what allocators make: still allowed
private[:2] = b"ok"
for name, flag in (("user", 0x10000000), ("network", 0x40000000), ("mount", 0x00020000)):
    made = libc.syscall(SYSCALL_NUMBERS[platform.machine()]["clone"], flag | signal.SIGCHLD, 0, 0, 0, 0)
    if made == 0:
        os._exit(0)
    print(f"{name} namespace", "made" if made > 0 else f"refused {ctypes.get_errno()}")
CLONE_PIDFD = 0x1000  # a pidfd's inode number: one counter of the whole host
pidfd = ctypes.c_int(-1)
made = libc.syscall(SYSCALL_NUMBERS[platform.machine()]["clone"], CLONE_PIDFD | signal.SIGCHLD, 0,
                    ctypes.byref(pidfd), 0, 0)
if made == 0:
    os._exit(0)
print("pidfd", "made" if made > 0 else f"refused {ctypes.get_errno()}")
try:
    os.pipe()  # a pipe's inode number: the host's per-CPU counter of such inodes
    print("pipe made")
except OSError as error:
    print("pipe refused", error.errno)
pid = os.fork()  # a plain fork (clone without namespace flags) still works
if pid == 0:
    os._exit(7)
print("fork ok", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), bytes(private[:2]))
'''


def test_a_child_moves_no_shmem_inode_counter_and_makes_no_namespace():
    """A shared anonymous mapping is an inode of the host's one shmem mount, numbered from a counter that
    every child moves and /proc/self/maps shows: a child left a number there that a later student's child
    read (red team: ~10 bits a hand-over, both modes); a pidfd's and a pipe's inode numbers are host-wide
    counters too (5 and ~2 bits). clone into a new user, network or mount namespace reached kernel code no
    child needs. All refused; private mappings and a plain fork still work."""
    done = subprocess.run([sys.executable, "-c", COUNTER_PROBE], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "shared mapping refused 13" in done.stdout, done.stdout  # EACCES
    assert done.stdout.count("namespace refused 13") == 3, done.stdout
    assert "pidfd refused 13" in done.stdout and "pipe refused 13" in done.stdout, done.stdout
    assert "fork ok 7 b'ok'" in done.stdout, done.stdout


def test_a_build_is_moved_to_the_device_unless_nothing_would_change():
    """The child skips ``module.to(device)`` only where it would change nothing: a module that
    overrides how it moves (``to``, or ``_apply`` anywhere inside) or holds a tensor elsewhere is moved."""
    child = Child(sock=None, settings={"device": "cpu", "threads": 1})
    plain = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.GroupNorm(1, 2))
    assert child._on_device(plain)

    class OwnTo(torch.nn.Linear):
        def to(self, *args, **kwargs):
            return super().to(*args, **kwargs)

    class OwnApply(torch.nn.Linear):
        def _apply(self, fn, recurse=True):
            return super()._apply(fn, recurse)

    assert not child._on_device(OwnTo(2, 2))
    assert not child._on_device(torch.nn.Sequential(torch.nn.Identity(), OwnApply(2, 2)))
    elsewhere = torch.nn.Linear(2, 2)
    elsewhere.register_buffer("table", torch.zeros(2, device="meta"))
    assert not child._on_device(elsewhere)


def test_student_code_sees_an_interpreters_argv_not_the_graders_options(grader, make_submission):
    """The fork server's command line holds the grader's options (paths, settings): a file's top-level
    ``argparse`` (a script habit) refused them as unrecognised arguments, and ``repr(sys.argv)`` in an
    error put them in the feedback. A child's ``sys.argv`` is an interpreter's: ``[""]``."""
    source = (Path(__file__).resolve().parent.parent / "solutions" / "unet" / "down_block.py").read_text()
    probe = "import argparse\nimport sys\n\nARGS = argparse.ArgumentParser().parse_args()\nassert sys.argv == [''], sys.argv\n"
    child = _component(grader, "DownBlock", make_submission({"down_block": probe + source}))
    try:
        module = child.build("DownBlock", in_channels=3, out_channels=4, time_emb_dim=2)
        child.flush()
        assert module is not None and not child.notes, child.notes
    finally:
        child.stop()


def test_an_error_raised_in_a_library_names_the_library_and_worker_processes_get_their_hint(grader, make_submission):
    """A DataLoader with num_workers=2 fails in the child (no worker processes) with a bare
    PermissionError at the student's loop, which read as a file written: the library module the error
    was raised in is named (never its path), and the hint says what to do."""
    from autograder.checks.hints import explain

    source = (Path(__file__).resolve().parent.parent / "solutions" / "unet" / "down_block.py").read_text()
    init = "        super().__init__()\n"
    assert init in source
    workers = init + ("        import torch\n        import torch.utils.data as data\n"
                      "        next(iter(data.DataLoader(data.TensorDataset(torch.zeros(4, 1)), num_workers=2)))\n")
    child = _component(grader, "DownBlock", make_submission({"down_block": source.replace(init, workers, 1)}))
    try:
        with pytest.raises(StudentError) as raised:
            child.build("DownBlock", in_channels=3, out_channels=4, time_emb_dim=2)
            child.flush()
            child.build("DownBlock", in_channels=3, out_channels=4, time_emb_dim=2)
        said = str(raised.value)
        assert "(raised in multiprocessing" in said and "/" not in said.split("(raised in", 1)[1].split(")")[0], said
        assert "num_workers=0" in explain(said, "DownBlock")
    finally:
        child.stop()
