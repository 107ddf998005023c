"""Grade a batch on a Dask cluster: the same warm workers and the same files as a local batch.

A local batch (``batch._run``) hands submissions to N worker processes on this machine. Past one
machine, ``run_on_cluster`` hands them to the workers of a running Dask scheduler instead, and
``batch.grade_batch`` writes OUT exactly as before (atomic files, resume, grades.csv, reports):
only where a submission is graded changes.

- **Warm workers.** ``GraderPlugin`` keeps one grading process (``worker.WorkerProcess``: one
  ``Grader``, one torch import, one fork server) beside every Dask worker for all the submissions it
  gets, so a distributed batch pays start-up once per worker, as a local one does. The plugin
  carries the configuration and the reference as bytes and writes them into a private folder on the
  worker: a worker machine needs the grader installed, not this checkout. Its name holds a digest
  of both, so a second batch against the same cluster reuses warm graders, and one with another
  configuration never does. The grading process starts when the plugin is registered, on every
  worker at once, as a local batch starts its workers.
- **Submissions travel as bytes.** A file (zip, tar, notebook) travels as it is; a folder as a tar
  that keeps what intake looks at (paths, times, which entries are links), so the worker grades
  what a local worker would have read. Code files go whole (up to the submission size limit);
  other files, which intake never reads, go empty.
- **Failures.** The same budget as a local batch: the Dask worker watches its grading process, and
  one that holds a submission past ``overdue_limit`` is stopped (that student ``error``, saying why),
  as is one that dies under a submission; the Dask worker lives on and starts a fresh one. A worker
  lost mid-batch (killed, pre-empted) costs a retry of the submissions it held: the scheduler
  reschedules them. A submission whose task keeps killing Dask workers comes back as Dask's
  ``KilledWorker`` and becomes that student's "worker died" result. Student code runs in the same
  sandbox as locally, so it cannot reach the Dask worker.
- **Bounded.** At most a few submissions per worker thread are in flight, so the scheduler never
  holds a whole class of payloads; Ctrl-C cancels what is in flight.

Only a batch with ``--scheduler`` imports this module, and only this module imports Dask.
"""
import dataclasses
import hashlib
import io
import os
import shutil
import stat
import tarfile
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from distributed import WorkerPlugin

from . import warm_start
from .config import GradingConfig, load_config
from .intake.discover import Discovered
from .errors import AutograderError
from .intake.files import content_is_read
from .worker import WorkerProcess, died, overdue_limit

__all__ = ["run_on_cluster", "GraderPlugin", "pack", "unpack"]

IN_FLIGHT_PER_THREAD = 2  # enough to keep a worker busy while results travel back


# --- submissions as bytes ------------------------------------------------------------------------

@dataclass(frozen=True)
class Payload:
    """One submission on its way to a worker: its name, and a file's bytes or a folder as a tar."""

    name: str
    folder: bool
    data: bytes


def pack(source: Path, max_bytes: int) -> Payload:
    """``source`` (a folder or a file) as bytes a remote worker can grade.

    A folder keeps its paths and modification times; links and other non-regular entries become
    dangling links (intake leaves out both, with the same note); a file that is not code becomes
    empty (intake lists such files but never reads them). Code files are cut at ``max_bytes`` + 1
    bytes, which still tells intake that they are too big.
    """
    source = Path(source)
    if not source.is_dir():
        with open(source, "rb") as handle:
            return Payload(source.name, folder=False, data=handle.read(max_bytes + 1))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for folder, subfolders, files in os.walk(source, followlinks=False):
            here = Path(folder)
            for name in sorted(subfolders) + sorted(files):
                _add(archive, here / name, (here / name).relative_to(source).as_posix(), max_bytes)
    return Payload(source.name, folder=True, data=buffer.getvalue())


def _add(archive: tarfile.TarFile, path: Path, arcname: str, max_bytes: int) -> None:
    info = path.lstat()
    entry = tarfile.TarInfo(arcname)
    entry.mtime = info.st_mtime
    if stat.S_ISDIR(info.st_mode):
        entry.type, entry.mode = tarfile.DIRTYPE, 0o755
        archive.addfile(entry)
        return
    if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:  # a link, a pipe, a hard link: left out by intake
        entry.type, entry.linkname = tarfile.SYMTYPE, ".left-out-by-intake"
        archive.addfile(entry)
        return
    entry.mode = 0o644
    if not content_is_read(path.name):  # intake never reads its bytes
        archive.addfile(entry, io.BytesIO(b""))
        return
    with open(path, "rb") as handle:
        data = handle.read(max_bytes + 1)
    entry.size = len(data)
    archive.addfile(entry, io.BytesIO(data))


def unpack(payload: Payload, into: Path) -> Path:
    """Write ``payload`` under ``into`` as ``into/<its name>`` and return that path."""
    target = into / payload.name
    if not payload.folder:
        target.write_bytes(payload.data)
        return target
    target.mkdir()
    with tarfile.open(fileobj=io.BytesIO(payload.data), mode="r") as archive:
        archive.extractall(target, filter="data")  # no absolute paths, no climbing out, no devices
    return target


# --- the worker side -----------------------------------------------------------------------------

class GraderPlugin(WorkerPlugin):
    """A Dask worker plugin: one warm grading process per worker, built from the configuration it carries.

    Dask calls ``setup`` on every worker that exists or joins later (a restarted one too), and
    ``teardown`` when the worker closes. A second batch with the same plugin name keeps the
    workers' warm graders (``idempotent``).
    """

    idempotent = True

    def __init__(self, config_yaml: str, reference: dict[str, bytes], figures: bool, device: str = "cpu",
                 saved_results: bytes | None = None):
        self.config_yaml = config_yaml
        self.reference = reference
        self.figures = figures
        self.device = device
        # the client's saved reference results (warm_start.py): a worker's first grading starts warm; a
        # stale copy is ignored by the key inside it, so they are not part of the plugin's name
        self.saved_results = saved_results
        self.name = "unet-autograder-" + _digest(config_yaml, reference, figures, device)

    @classmethod
    def for_config(cls, config: GradingConfig, figures: bool, device: str = "cpu") -> "GraderPlugin":
        import yaml

        settings = config.model_dump(mode="json")
        settings["reference"] = "reference"
        root = config.reference_dir()
        files = {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
                 if p.is_file() and "__pycache__" not in p.parts}
        saved = warm_start.results_file(config.reference_results(), warm_start.key(config, device))
        return cls(yaml.safe_dump(settings, sort_keys=True), files, figures, device,
                   saved.read_bytes() if saved.is_file() else None)

    def setup(self, worker=None) -> None:
        self.lock = threading.Lock()  # one grading at a time: a worker's threads share one grading process
        self.private = Path(tempfile.mkdtemp(prefix="autograder-worker-"))  # 0700: children cannot read it
        (self.private / "grading_config.yaml").write_text(self.config_yaml, encoding="utf-8")
        for relative, data in self.reference.items():
            path = self.private / "reference" / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        self.config = load_config(self.private / "grading_config.yaml")
        if self.saved_results is not None:  # under the worker's own key: loaded only if the two agree
            folder = self.config.reference_results()
            folder.mkdir(mode=0o700, exist_ok=True)
            warm_start.results_file(folder, warm_start.key(self.config, self.device)).write_bytes(self.saved_results)
        # started now, on every worker at once, as a local batch starts its workers: the grader warms up
        # while the client registers and submits, not in each worker's first task (Popen does not block)
        self.process = WorkerProcess(self.config, self.figures, self.device)

    def started(self) -> WorkerProcess:
        """This worker's warm grading process, once it is ready (in a task's thread, not in the
        worker's event loop, so that one that cannot start is that task's error); a fresh one after
        the last was stopped or died under a submission."""
        if not self.process.alive:
            self.process.stop()
            self.process = WorkerProcess(self.config, self.figures, self.device)
        self.process.start()
        return self.process

    def teardown(self, worker=None) -> None:
        self.process.stop()
        shutil.rmtree(self.private, ignore_errors=True)


def _digest(config_yaml: str, reference: dict[str, bytes], figures: bool, device: str) -> str:
    digest = hashlib.sha256(config_yaml.encode() + bytes([figures]) + device.encode())
    for relative in sorted(reference):
        digest.update(relative.encode() + b"\0" + hashlib.sha256(reference[relative]).digest())
    return digest.hexdigest()[:16]


def _plugin(name: str) -> GraderPlugin:
    from distributed import get_worker

    return get_worker().plugins[name]


def catalogue_task(plugin_name: str) -> list[tuple]:
    """Every check as (component, id, name, points, visibility), for "worker died" results."""
    plugin = _plugin(plugin_name)
    with plugin.lock:
        return plugin.started().catalogue


def grade_task(plugin_name: str, index: int, item: Discovered, payload: Payload, overdue_s: float):
    """Grade one submission on this worker's warm grading process: the task each submission becomes.

    The process is watched as a local batch's workers are (``WorkerProcess.grade``): past
    ``overdue_s`` it is stopped and the student is ``error`` saying why; this Dask worker lives on
    and starts a fresh grading process for its next submission.
    """
    plugin = _plugin(plugin_name)
    with plugin.lock, tempfile.TemporaryDirectory(prefix="autograder-submission-") as scratch:
        local = dataclasses.replace(item, source=unpack(payload, Path(scratch)))
        return plugin.started().grade(index, local, overdue_s)


# --- the client side -----------------------------------------------------------------------------

def connect(address: str, timeout: float = 30.0):
    """A Dask client for the scheduler at ``address``; one clear error when there is none."""
    try:
        from distributed import Client
    except ImportError:
        raise AutograderError("--scheduler needs Dask: pip install -e \".[dask]\" (make setup installs it)") from None
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as error:
        raise AutograderError(f"no Dask scheduler answered at {address} ({error}); start one with "
                              f"`dask scheduler` and workers with `dask worker {address} --nthreads 1`") from None


def run_on_cluster(items: list[Discovered], config: GradingConfig, address: str, on_outcome,
                   figures: bool = True, device: str = "cpu") -> None:
    """Grade ``items`` on the Dask cluster at ``address``; call ``on_outcome`` for each as it finishes.

    The counterpart of ``batch._run``: ``on_outcome`` gets the same ``GradedSubmission`` objects.
    """
    from distributed import as_completed
    from distributed.client import FutureCancelledError

    client = connect(address)
    futures = []
    try:
        plugin = GraderPlugin.for_config(config, figures, device)
        try:
            client.register_plugin(plugin, name=plugin.name)
            catalogue = client.submit(catalogue_task, plugin.name, pure=False).result()
        except Exception as error:  # noqa: BLE001 -- a worker that cannot grade: one line, as locally
            raise AutograderError(f"the Dask workers could not start a grader ({type(error).__name__}: {error}); "
                                  "run `autograder doctor` on a worker machine") from None
        threads = max(sum(client.nthreads().values()), 1)
        overdue_s = overdue_limit(config)  # the client's: one budget for the whole batch, as locally
        max_bytes = config.limits.max_submission_mb << 20
        pending = list(enumerate(items))[::-1]
        running = as_completed(loop=client.loop)
        submitted: dict = {}

        def submit_next() -> None:
            index, item = pending.pop()
            try:  # an entry discovery could not take as a hand-in travels empty: the worker reports its problem
                payload = pack(item.source, max_bytes) if not item.problem else Payload(item.source.name, False, b"")
            except OSError as error:
                payload = Payload(item.source.name, False, b"")
                item = dataclasses.replace(item, problem=f"it could not be read here ({error.strerror}); "
                                                         "make it readable, then regrade it with --only")
            # the payload rides in the task itself, which the scheduler keeps: scattered data would die
            # with the worker holding it, and the task with it, instead of being rescheduled
            future = client.submit(grade_task, plugin.name, index, item, payload, overdue_s, pure=False)
            submitted[future.key] = (index, item)
            futures.append(future)
            running.add(future)

        while pending and len(futures) < IN_FLIGHT_PER_THREAD * threads:
            submit_next()
        for future in running:
            index, item = submitted.pop(future.key)
            try:
                outcome = future.result()
            except FutureCancelledError:
                raise KeyboardInterrupt("cancelled") from None
            except Exception as error:  # noqa: BLE001 -- KilledWorker: it took workers down with it
                outcome = died(index, item, f"none: {type(error).__name__}", catalogue)
            futures.remove(future)
            on_outcome(outcome)
            if pending:
                submit_next()
    finally:
        if futures:
            client.cancel(futures)
        client.close()
