"""The grader's end of the fork server: start it in the strongest sandbox the machine allows, ask it
for children, and have it kill them (and everything they started)."""
import json
import os
import signal
import socket
import shutil
import subprocess
import sys
import tempfile

from ..config import Limits
from .errors import SandboxFatal
from .isolation import Isolation, announce, detect

ZYGOTE_START_TIMEOUT_S = 120
MATPLOTLIB_DIR = "/tmp/.matplotlib"  # in bwrap's private /tmp: the font cache, made once and kept for every child


def _sandbox_environment(matplotlib_dir: str) -> dict:
    return {
        "PATH": os.defpath,
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "PYTHONHASHSEED": "0",
        "HOME": "/nonexistent",
        "MPLBACKEND": "Agg",  # students' top-level `import matplotlib.pyplot` must not look for a display
        "MPLCONFIGDIR": matplotlib_dir,
    }


class Zygote:
    """A fork server: one ``import torch`` for all the children of a grading run or batch worker.

    It runs in the strongest isolation the machine allows (``isolation.detect``), announced once
    on stderr. If a child manages to kill it, the next ``fork`` starts a fresh one.
    """

    def __init__(self, python: str = sys.executable, isolation: Isolation | None = None, preload=(),
                 huge_pages: bool = True):
        self.python = python
        # The zygote's memory in 2 MiB pages (child.limits.collapse_into_huge_pages): 1.6 s at start for
        # 8 ms less per fork, worth it for a batch worker's thousands of forks, not for one grading.
        self.huge_pages = huge_pages
        self.isolation = isolation or detect(python)
        self.preload = tuple(preload)  # third-party packages students may import, imported once here
        self.swept: list[str] = []  # what children left behind and the reaper removed (see ``kill``)
        # Ending a child ends every child (the reaper kills all the zygote started): a child is alive
        # only while no kill came after its fork (``ChildConnection.alive``).
        self.generation = 0
        # Without a private /tmp, matplotlib's cache goes to a folder of our own that children can read, not write.
        self._scratch = None if self.isolation.mode == "bwrap" else tempfile.mkdtemp(prefix="autograder-mpl-")
        if self._scratch is not None:
            os.chmod(self._scratch, 0o755)
        announce(self.isolation)
        self._start()

    def _start(self) -> None:
        ours, theirs = socket.socketpair()
        options = dict(self.isolation.zygote_options(self.python), preload=list(self.preload),
                       huge_pages=self.huge_pages)
        matplotlib_dir = self._scratch or MATPLOTLIB_DIR
        options["keep"] = options.get("keep", []) + [MATPLOTLIB_DIR]
        options["readable"] = options["readable"] + [matplotlib_dir]
        options = json.dumps(options)
        self.process = subprocess.Popen(
            self.isolation.command(self.python, theirs.fileno(), options),
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=_sandbox_environment(matplotlib_dir),
            cwd="/",
            start_new_session=True,
        )
        theirs.close()
        self.control = ours
        self.replies = ours.makefile("rb")

    def _ask(self, message: dict, fds=()) -> dict:
        self.control.settimeout(ZYGOTE_START_TIMEOUT_S)
        try:
            socket.send_fds(self.control, [json.dumps(message).encode()], list(fds))
            line = self.replies.readline(64 * 1024)
        except OSError:
            line = b""
        if not line:
            raise RuntimeError("the grading fork server stopped; rerun the command (see the README's troubleshooting)")
        return json.loads(line)

    def alive(self) -> bool:
        return self.process.poll() is None

    def outlived(self, generation: int) -> bool:
        """Whether a child forked at ``generation`` is gone: a kill (or a restart) came after its fork."""
        return generation != self.generation

    def fork(self, settings: dict) -> tuple[int, socket.socket]:
        if not self.alive():  # a child killed it (same uid without a separate sandbox uid)
            self.close()
            self._start()
            self.generation += 1  # its children went with it
        ours, theirs = socket.socketpair()
        try:
            reply = self._ask({"op": "fork", "settings": settings}, [theirs.fileno()])
        finally:
            theirs.close()
        if "pid" not in reply:
            ours.close()
            raise SandboxFatal(reply.get("error", "the fork server could not start a child"))
        return reply["pid"], ours

    def readable(self, paths: list[str], settings: dict) -> list[str]:
        """Which of ``paths`` a child made with ``settings`` can read (see ``child.zygote.probe``)."""
        return self._ask({"op": "probe", "paths": list(paths), "settings": settings}).get("readable", list(paths))

    def kill(self, pid: int):
        """Kill child ``pid`` and everything it started (inside the sandbox); return its exit status.

        The zygote does the killing: in a PID namespace ``pid`` means nothing out here.
        """
        self.generation += 1
        reply = self._ask({"op": "kill", "pid": pid})
        # What the reaper found a child had left for a later one (``child.reaper.sweep``): nothing, while
        # the seccomp allow-list holds. Kept, bounded, for tests and for anyone debugging a sandbox.
        self.swept = (self.swept + list(reply.get("swept", []))[:20])[-100:]
        return reply["status"]

    def close(self) -> None:
        try:
            self.replies.close()
            self.control.close()
            self.process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()

    def shutdown(self) -> None:
        """Close the fork server for good (``close`` alone is also how a killed one is restarted)."""
        self.close()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()


def describe_exit(status, limits: Limits) -> str:
    if status is None:
        return "stopped unexpectedly"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return {
            signal.SIGKILL: f"was killed (likely over the {limits.memory_mb} MiB memory limit)",
            signal.SIGXCPU: f"used more than {limits.cpu_s} s of CPU time",
            signal.SIGXFSZ: f"wrote a file larger than {limits.file_size_mb} MiB",
            signal.SIGSEGV: "crashed with a segmentation fault",
        }.get(sig, f"was stopped by signal {signal.Signals(sig).name}")
    return f"exited with status {os.WEXITSTATUS(status)} (does your code call sys.exit or os._exit?)"


def end_child(zygote: Zygote, pid: int, sock: socket.socket, generation: int):
    """Close our end and have the zygote kill the child and all it started; its exit status, if known.

    A child forked before the zygote's last kill (``generation``) went with it: nothing is asked of
    the zygote then (its pid may be another process's by now)."""
    sock.close()
    if zygote.outlived(generation):
        return None
    try:
        return zygote.kill(pid)
    except (OSError, RuntimeError, ValueError):
        return None


