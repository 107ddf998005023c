"""Batch grading on Dask (``autograder/cluster.py``): the same OUT as a local batch, from a real cluster.

The packing tests need no grader. The cluster tests start a real scheduler and worker processes on
loopback (``LocalCluster``), grade one small mixed class through ``--scheduler`` and compare with a
local batch of the same class, and kill a worker mid-batch. They grade with two Hypothesis examples
a check (``release_support.fast_config``: the same checks and points): what they prove is the batch's.
"""
import csv
import io
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from autograder.config import load_config
from autograder.errors import AutograderError, ExitCode
from autograder.intake import read_submission
from autograder.output_folder import MAX_ROW
from tests.mutants import MUTANTS
from tests.release_support import fast_config

distributed = pytest.importorskip("distributed")  # the `dask` extra: before anything that imports it

from autograder.cluster import GraderPlugin, Payload, connect, pack, unpack  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions" / "unet"
STUBS = ROOT / "assignments" / "unet"
TOTAL = sum(c.points for checks in load_config(ROOT / "grading_config.yaml").components.values() for c in checks.values())


def read_grades(path: Path) -> dict[str, dict]:
    """grades.csv's students (its row of each column's maximum left out)."""
    return {row["student"]: row for row in csv.DictReader(io.StringIO(path.read_text())) if row["student"] != MAX_ROW}


# --- submissions as bytes: what intake reads on the worker is what it reads here ------------------

def _awkward_folder(root: Path) -> Path:
    folder = root / "alice"
    shutil.copytree(SOLUTIONS, folder / "hw" / "unet")
    shutil.copytree(STUBS, folder / "hw" / "unet_old")  # two folders: intake picks one by content and time
    os.utime(folder / "hw" / "unet_old" / "unet.py", (1_000_000_000.5, 1_000_000_000.5))
    (folder / "hw" / "weights.pt").write_bytes(b"\0" * 4096)  # never read, only listed
    (folder / "hw" / "link.py").symlink_to(folder / "hw" / "unet" / "unet.py")
    os.mkfifo(folder / "hw" / "pipe")
    (folder / ".DS_Store").write_bytes(b"junk")
    (folder / "hw" / "notes.txt").write_text("my notes\n")
    return folder


def _intake_view(path: Path) -> tuple:
    submission = read_submission(path)
    return (submission.files, submission.left_out, submission.sources, submission.notes, submission.review)


def test_a_packed_folder_reads_as_the_folder_itself(tmp_path):
    folder = _awkward_folder(tmp_path / "here")
    payload = pack(folder, max_bytes=50 << 20)
    assert payload.folder and payload.name == "alice"
    (tmp_path / "there").mkdir()
    copy = unpack(payload, tmp_path / "there")
    assert copy.name == "alice"
    assert _intake_view(copy) == _intake_view(folder)
    assert (copy / "hw" / "weights.pt").stat().st_size == 0  # not code: travels empty
    assert (copy / "hw" / "unet_old" / "unet.py").stat().st_mtime == 1_000_000_000.5


def test_a_file_travels_as_it_is_and_an_oversized_one_still_reads_as_oversized(tmp_path):
    archive = tmp_path / "bob.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for file in sorted(SOLUTIONS.glob("*.py")):
            bundle.write(file, f"unet/{file.name}")
    payload = pack(archive, max_bytes=50 << 20)
    assert payload == Payload("bob.zip", folder=False, data=archive.read_bytes())
    small = pack(archive, max_bytes=100)
    assert len(small.data) == 101  # one byte over: intake refuses it as too big, as it would the original


def test_a_payload_cannot_write_outside_its_folder(tmp_path):
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        entry = tarfile.TarInfo("../escaped.py")
        archive.addfile(entry, io.BytesIO(b""))
    (tmp_path / "into").mkdir()
    with pytest.raises(tarfile.FilterError):
        unpack(Payload("mallory", folder=True, data=buffer.getvalue()), tmp_path / "into")
    assert not (tmp_path / "escaped.py").exists()


def test_the_plugin_name_changes_with_the_configuration_and_the_reference(tmp_path):
    config = load_config(ROOT / "grading_config.yaml")
    plugin = GraderPlugin.for_config(config, figures=True)
    assert plugin.name == GraderPlugin.for_config(config, figures=True).name
    assert plugin.name != GraderPlugin.for_config(config, figures=False).name
    assert set(plugin.reference) >= {"res_block.py", "unet.py", "analysis.py"}
    changed = dict(plugin.reference, **{"res_block.py": plugin.reference["res_block.py"] + b"\n"})
    assert GraderPlugin(plugin.config_yaml, changed, True).name != plugin.name
    assert GraderPlugin(plugin.config_yaml.replace("call_timeout_s: 30", "call_timeout_s: 31"),
                        plugin.reference, True).name != plugin.name


@pytest.mark.grading
def test_each_worker_starts_from_the_clients_saved_reference_results(tmp_path):
    """The plugin carries the client's saved results and the worker's grader takes them under its own key:
    a worker's first grading is as warm as a local worker's."""
    from autograder import warm_start

    reference = shutil.copytree(SOLUTIONS, tmp_path / "solutions" / "unet")
    config = load_config().model_copy(update={"reference": str(reference)})
    warm_start.save(config.reference_results(), warm_start.key(config, "cpu"), {}, {})
    plugin = GraderPlugin.for_config(config, figures=False)
    plugin.setup()
    try:
        assert plugin.started().started_warm
    finally:
        plugin.teardown()


def test_no_scheduler_is_one_clear_error():
    with pytest.raises(AutograderError, match="no Dask scheduler answered at tcp://127.0.0.1:9.*dask scheduler"):
        connect("tcp://127.0.0.1:9", timeout=2)


@pytest.mark.grading  # a fresh interpreter
def test_a_local_batch_never_imports_dask():
    code = ("import sys, autograder.cli, autograder.batch, autograder.nbgrader_course; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in {'dask', 'distributed'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "[]"


def test_the_slurm_recipe_renders_a_job_that_runs_one_single_threaded_worker_in_our_venv():
    pytest.importorskip("dask_jobqueue")
    sys.path.insert(0, str(ROOT / "examples" / "cluster"))
    try:
        import slurm
    finally:
        sys.path.pop(0)
    with slurm.make_cluster(queue="gpu-free", account="cs231", scheduler_options={"host": "127.0.0.1"}) as cluster:
        script = cluster.job_script()
    assert "#SBATCH -p gpu-free" in script and "#SBATCH -A cs231" in script
    assert "#SBATCH --mem=6G" in script and "#SBATCH --cpus-per-task=1" in script
    assert "export OMP_NUM_THREADS=1" in script
    worker = next(line for line in script.splitlines() if "dask_worker" in line)
    assert worker.startswith(str(ROOT / ".venv" / "bin" / "python")) and "--nthreads 1" in worker
    assert "tcp://127.0.0.1:" in worker


# --- a real cluster on loopback -----------------------------------------------------------------

@pytest.fixture(scope="module")
def small_class(tmp_path_factory) -> Path:
    """A correct zip, the stubs, a real mistake, a syntax error, a student who ends the process."""
    root = tmp_path_factory.mktemp("dask-class") / "submissions"
    root.mkdir()
    with zipfile.ZipFile(root / "alice.zip", "w") as bundle:
        for file in sorted(SOLUTIONS.glob("*.py")):
            bundle.write(file, f"unet/{file.name}")
    shutil.copytree(STUBS, root / "bob")
    shutil.copytree(SOLUTIONS, root / "carol")
    mutant = next(m for m in MUTANTS if m.component == "ResBlock")
    for module, source in mutant.replacements().items():
        (root / "carol" / f"{module}.py").write_text(source)
    shutil.copytree(SOLUTIONS, root / "dave")
    (root / "dave" / "down_block.py").write_text((ROOT / "tests" / "hostile" / "os_exit.py").read_text())
    return root


@pytest.fixture(scope="module")
def few_examples(tmp_path_factory) -> Path:
    return fast_config(tmp_path_factory.mktemp("dask-config"), examples=2)


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as local:
        yield local


def _batch(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder.cli", "batch", *map(str, args)],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)


def test_a_dask_batch_writes_the_grades_a_local_batch_writes(small_class, few_examples, cluster, tmp_path):
    local = _batch(small_class, "--out", tmp_path / "local", "-j", "2", "--config", few_examples)
    remote = _batch(small_class, "--out", tmp_path / "dask", "--scheduler", cluster.scheduler_address,
                    "--config", few_examples)
    assert remote.returncode == local.returncode, remote.stdout + remote.stderr
    assert (tmp_path / "dask" / "grades.csv").read_bytes() == (tmp_path / "local" / "grades.csv").read_bytes()
    grades = read_grades(tmp_path / "dask" / "grades.csv")
    assert set(grades) == {"alice", "bob", "carol", "dave"}
    assert float(grades["alice"]["total"]) > float(grades["carol"]["total"]) > float(grades["bob"]["total"])
    assert grades["dave"]["DownBlock"] == "0" and grades["dave"]["ResBlock"] == grades["alice"]["ResBlock"]
    assert "layout: folders (4 submissions" in remote.stdout
    again = _batch(small_class, "--out", tmp_path / "dask", "--scheduler", cluster.scheduler_address,
                   "--config", few_examples)
    assert "4 already graded" in again.stdout  # resume works as locally


def test_a_worker_lost_mid_batch_costs_only_a_retry(small_class, few_examples, tmp_path):
    out = tmp_path / "out"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as local, distributed.Client(local) as client:
        batch = subprocess.Popen([sys.executable, "-m", "autograder.cli", "batch", str(small_class), "--out", str(out),
                                  "--scheduler", local.scheduler_address, "--config", str(few_examples)],
                                 cwd=ROOT, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            deadline, busy = time.monotonic() + 600, None
            while busy is None and time.monotonic() < deadline and batch.poll() is None:
                grading = {w: keys for w, keys in client.processing().items()
                           if any(str(k).startswith("grade_task") for k in keys)}
                busy = next(iter(grading), None)
                time.sleep(0.1)
            assert busy is not None, "no submission was ever being graded"
            pid = client.run(os.getpid, workers=[busy])[busy]
            os.kill(pid, 9)  # pre-empted: the nanny starts a fresh worker, the scheduler reschedules its task
            output, _ = batch.communicate(timeout=900)
        finally:
            batch.kill()
    assert batch.returncode in (ExitCode.OK, ExitCode.NEEDS_REVIEW), output  # not FAILURES: nobody lost
    grades = read_grades(out / "grades.csv")
    assert sorted(grades) == ["alice", "bob", "carol", "dave"], output
    assert not [g for g in grades.values() if g["status"] == "error"], output
    assert float(grades["alice"]["total"]) == TOTAL and float(grades["bob"]["total"]) == 0
    assert output.count("could not grade") == 1 and "could not grade 0" in output  # only the summary line


def _worker_pids(client) -> dict:
    return client.run(os.getpid)


def test_a_submission_past_its_limit_is_an_error_and_the_dask_workers_live_on(few_examples, cluster, tmp_path,
                                                                               monkeypatch):
    """The local batch's watchdog, on Dask: a grading past ``overdue_limit`` (here 0.2 s: any grading) is
    stopped, that student is ``error`` saying why, and the next submission on the same Dask worker is
    graded by a fresh grading process; no Dask worker is lost or restarted."""
    from autograder import cluster as cluster_module
    from autograder.batch import grade_batch

    submissions = tmp_path / "class"
    for name in ("ada", "bob", "cy"):  # three on two workers: one worker grades two in turn
        shutil.copytree(SOLUTIONS, submissions / name)
    monkeypatch.setattr(cluster_module, "overdue_limit", lambda config: 0.2)
    with distributed.Client(cluster.scheduler_address) as client:
        before = _worker_pids(client)
        summary = grade_batch(submissions, tmp_path / "out", config=few_examples, scheduler=cluster.scheduler_address,
                              progress=False)
        assert _worker_pids(client) == before
    grades = read_grades(tmp_path / "out" / "grades.csv")
    assert sorted(grades) == ["ada", "bob", "cy"]
    for row in grades.values():
        assert row["status"] == "error" and "took more than 0.2 s" in row["reason"], row
    assert summary.exit_code == ExitCode.FAILURES


def test_ctrl_c_cancels_what_is_in_flight(small_class, few_examples, cluster, tmp_path):
    """Ctrl-C mid-batch: the command says so and exits 1, and the scheduler is left holding none of its tasks."""
    with distributed.Client(cluster.scheduler_address) as client:
        batch = subprocess.Popen([sys.executable, "-m", "autograder.cli", "batch", str(small_class), "--out",
                                  str(tmp_path / "out"), "--scheduler", cluster.scheduler_address, "--config",
                                  str(few_examples)], cwd=ROOT, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and batch.poll() is None and not _grade_tasks(client):
                time.sleep(0.1)
            assert _grade_tasks(client), "no submission was ever on the cluster"
            batch.send_signal(signal.SIGINT)
            output, _ = batch.communicate(timeout=120)
        finally:
            batch.kill()
        assert batch.returncode == ExitCode.FAILURES, output
        assert "interrupted: " in output and "rerun the same command" in output, output
        deadline = time.monotonic() + 30
        while _grade_tasks(client) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _grade_tasks(client) == []


def _grade_tasks(client) -> list:
    """The grading tasks the scheduler holds, from any client."""
    return client.run_on_scheduler(
        lambda dask_scheduler: [str(key) for key in dask_scheduler.tasks if str(key).startswith("grade_task")])
