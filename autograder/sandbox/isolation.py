"""How the fork server is walled off from the machine: bubblewrap where it works, a fallback where not.

Two modes, chosen once per process (``AUTOGRADER_ISOLATION=auto|bwrap|fallback`` forces one):

- ``bwrap``: the zygote runs inside bubblewrap with new PID, network, IPC, UTS and mount
  namespaces. Only ``/usr``, the Python installation, the virtual environment and ``child/`` are
  visible (read-only); ``/tmp`` and ``/dev/shm`` are small tmpfs. Children forked by the zygote
  inherit all of it. A root grader runs bwrap without a user namespace (one could map only uid 0)
  and the zygote drops every child to a separate unprivileged uid, so a child can neither signal
  nor trace the zygote; an unprivileged grader gets a user namespace instead (and the child keeps
  its uid, so the zygote relies on PR_SET_DUMPABLE=0 and is restarted if a child kills it).
- ``fallback``: no namespaces. When the grader runs as root, children drop to the separate
  unprivileged uid right after the fork; otherwise they keep the grader's uid.

In both modes each child gets rlimits, a seccomp allow-list (deny by default: no sockets, IPC,
keyrings or file writes; see ``child/limits.py``) and, where the kernel has Landlock, only the files
bubblewrap would show it; as root, PID, IPC, UTS and mount namespaces of its own, every mount read-only
and no /proc;
and the zygote kills every process a child started and sweeps what it could have left
(``child/reaper.py``). What each mode does *not*
isolate is written down in the README's "Security model".
"""
import functools
import os
import platform
import pwd
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .child.limits import landlock_abi

CHILD_FOLDER = Path(__file__).with_name("child")  # the sandbox side, standard library and torch only
SANDBOX_FOLDER = "/sandbox/child"  # where it appears inside bubblewrap
SANDBOX_USER = "autograder-sandbox"
UID_RANGE = (65000, 65500)  # unnamed uids, one per grading process: RLIMIT_NPROC counts per uid
TMPFS_BYTES = 64 << 20
SECCOMP_ARCHES = ("x86_64", "aarch64")
MODES = ("auto", "bwrap", "fallback")
HOST_SCRATCH = ("/tmp", "/var/tmp", "/dev/shm", "/dev/mqueue")  # world-writable: where fallback children could leave things
SYSTEM_FOLDERS = ("/usr", "/bin", "/lib", "/lib64", "/sbin")  # shown read-only in both modes
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")  # bwrap's --dev has these


LOCKS = Path("/run/autograder-sandbox-uids")  # root-only: which uids graders on this machine hold
_held: list[int] = []  # lock file descriptors, open for the life of the process


def _claim(uid: int) -> bool:
    """Hold ``uid`` for this process (an exclusive lock the kernel drops when the process ends)."""
    import fcntl

    LOCKS.mkdir(mode=0o700, exist_ok=True)
    info = LOCKS.stat()
    if info.st_uid != 0 or info.st_mode & 0o077:
        raise RuntimeError(f"{LOCKS} must belong to root and be private (chmod 700 {LOCKS})")
    fd = os.open(LOCKS / f"{uid}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    _held.append(fd)
    return True


def _sandbox_ids() -> tuple[int, int] | None:
    """The uid/gid student code runs as, or None when the grader is not root (it cannot switch).

    Every grading process -- each worker of a batch -- gets a uid no other grader on the machine
    holds: rlimits count processes per uid, and ``kill(-1)`` reaches every process of a uid, so a
    shared uid would let one student's code stop another's. ``AUTOGRADER_SANDBOX_UID`` asks for one
    uid (refused if another grader holds it); else the user ``autograder-sandbox`` if it exists and
    is free; else a free uid from ``UID_RANGE``.
    """
    if os.geteuid() != 0:
        return None
    if os.environ.get("AUTOGRADER_SANDBOX_UID"):
        uid = int(os.environ["AUTOGRADER_SANDBOX_UID"])
        if not _claim(uid):
            raise RuntimeError(f"AUTOGRADER_SANDBOX_UID={uid} is in use by another grading process; two graders "
                               "must never share a sandbox uid: unset it (each picks a free one) or give each its own")
        return uid, uid
    try:
        entry = pwd.getpwnam(SANDBOX_USER)
        if _claim(entry.pw_uid):
            return entry.pw_uid, entry.pw_gid
    except KeyError:
        pass
    span = UID_RANGE[1] - UID_RANGE[0]
    for offset in range(span):
        uid = UID_RANGE[0] + (os.getpid() + offset) % span
        if _claim(uid):
            return uid, uid
    raise RuntimeError(f"every sandbox uid from {UID_RANGE[0]} to {UID_RANGE[1] - 1} is in use by another grader")


@dataclass(frozen=True)
class Isolation:
    """One way to launch the zygote, and the plain-words list of what it protects."""

    mode: str  # "bwrap" or "fallback"
    uid: int | None  # the uid student code runs as (None: the grader's own)
    gid: int | None
    seccomp: bool
    notes: tuple = field(default=())

    @property
    def protections(self) -> list[str]:
        found = []
        confined = landlock_abi() > 0
        if self.mode == "bwrap":
            found.append("bubblewrap (no network, private PID/IPC/UTS namespaces, only /usr and Python visible read-only)")
        elif confined:
            found.append("no namespaces (bubblewrap unavailable), but Landlock: only /usr and Python can be opened")
        else:
            found.append("no namespaces (bubblewrap unavailable): the network and world-readable files are reachable")
        found.append(f"uid {self.uid}" if self.uid is not None else "the grader's own uid")
        if self.uid is not None:
            found.append("PID, IPC, UTS and read-only mount namespaces and no /proc per child")
        found.append("rlimits (CPU, memory, processes, file size, open files)")
        found.append("seccomp allow-list: no sockets, IPC, keyrings or file writes" if self.seccomp else "no seccomp filter")
        return found

    def describe(self) -> str:
        text = f"autograder: sandbox mode {self.mode}: " + "; ".join(self.protections)
        return text + "".join(f"\nautograder: {note}" for note in self.notes)

    def zygote_options(self, python: str = sys.executable) -> dict:
        """What the zygote needs to know to set up each child (see ``child.zygote``)."""
        return {
            "uid": self.uid,
            "gid": self.gid,
            "seccomp": self.seccomp,
            "pid_namespace": self.mode == "bwrap",
            # as root, each child gets PID, IPC, UTS and read-only mount namespaces of its own (``child.limits``)
            "own_namespaces": self.uid is not None,
            "private_ipc": self.mode == "bwrap",  # the zygote's IPC namespace: every object in it is a child's
            # where a child's leftovers would sit on the host, found by the sandbox uid (``child.reaper.sweep``)
            "scratch": list(HOST_SCRATCH) if self.mode == "fallback" and self.uid is not None else [],
            "wipe": ["/tmp", "/dev/shm"] if self.mode == "bwrap" else [],
            # bound into a wiped folder (a virtualenv under /tmp): never walked or deleted
            "keep": [str(root) for root in _python_roots(python)] if self.mode == "bwrap" else [],
            "readable": self.readable(python),
            "any_ioctl": any(Path("/dev").glob("nvidia*")),  # a GPU's driver: every ioctl request (README)
        }

    def readable(self, python: str = sys.executable) -> list[str]:
        """Every path a child may open, to read only (``child.limits.confine_files``): what bubblewrap
        shows it, named as the child sees it. Deny by default: anything else -- other students'
        hand-ins, the output folder, the host's /tmp, /etc, /home -- is out of reach in both modes."""
        paths = [*SYSTEM_FOLDERS, *(str(root) for root in _python_roots(python)), "/proc", *DEVICES]
        if self.mode == "bwrap":  # without bubblewrap the child's code stays out too: the fork server imported it
            paths.append(SANDBOX_FOLDER)  # all, and it lies in the grader's package, which is secret
        paths += [str(device) for device in sorted(Path("/dev").glob("nvidia*"))]
        if Path("/dev/nvidiactl").exists():
            paths.append("/sys")
        return paths

    def command(self, python: str, control_fd: int, options: str) -> list[str]:
        """argv that starts the zygote (``child.py --zygote FD OPTIONS``) in this mode."""
        if self.mode == "fallback":
            return [python, "-I", str(CHILD_FOLDER / "__main__.py"), "--zygote", str(control_fd), options]
        argv = ["bwrap"]

        made = {"/"}

        def bind(path: Path, target: str):
            # Parents bwrap creates are mode 700: make them 755 so the sandbox uid can walk to
            # the bound folder even where the host's is private (pyenv under /root).
            for parent in reversed(Path(target).parents):
                if str(parent) not in made:
                    made.add(str(parent))
                    argv.extend(["--perms", "0755", "--dir", str(parent)])
            argv.extend(["--ro-bind", str(path), target])

        if self.uid is None:  # an unprivileged grader: bwrap needs a user namespace
            argv += ["--unshare-all", "--unshare-user", "--disable-userns"]
        else:  # root: no user namespace (it could map only uid 0); the zygote drops each child to self.uid
            argv += ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
        argv += ["--die-with-parent", "--new-session", "--ro-bind", "/usr", "/usr"]
        for link in ("bin", "lib", "lib64", "sbin"):
            if Path("/", link).is_symlink():
                argv += ["--symlink", os.readlink(f"/{link}"), f"/{link}"]
            elif Path("/", link).is_dir():
                argv += ["--ro-bind", f"/{link}", f"/{link}"]
        # The tmpfs mounts come before the binds: a virtualenv under /tmp (a CI checkout, say)
        # must be bound *onto* the private /tmp, not hidden beneath it.
        argv += ["--proc", "/proc", "--dev", "/dev",
                 "--perms", "1777", "--size", str(TMPFS_BYTES), "--tmpfs", "/tmp",
                 "--perms", "1777", "--size", str(TMPFS_BYTES), "--tmpfs", "/dev/shm"]
        made.update({"/tmp", "/dev", "/dev/shm"})
        roots = _python_roots(python)
        for root in roots:
            bind(root, str(root))
        package = CHILD_FOLDER.parent.parent.resolve()  # the grader's own package, when installed in the venv
        if any(package.is_relative_to(root) for root in roots):
            argv += ["--tmpfs", str(package)]  # an empty folder over it: its checks are not for children
        bind(CHILD_FOLDER, SANDBOX_FOLDER)
        for device in sorted(Path("/dev").glob("nvidia*")):  # --device cuda
            argv += ["--dev-bind", str(device), str(device)]
        if Path("/dev/nvidiactl").exists():
            argv += ["--ro-bind", "/sys", "/sys"]
        argv += ["--chdir", "/tmp", "--", python, "-I", f"{SANDBOX_FOLDER}/__main__.py", "--zygote", str(control_fd), options]
        return argv


def _python_roots(python: str) -> list[Path]:
    """The folders the interpreter and its packages live in: the venv and the base installation."""
    roots = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    executable = Path(python)
    roots.add(executable.resolve().parent.parent)
    if executable.is_symlink() or executable.parent.parent != executable.resolve().parent.parent:
        roots.add(executable.absolute().parent.parent)
    ordered = sorted(roots, key=lambda p: len(p.parts))
    return [r for i, r in enumerate(ordered) if not any(r.is_relative_to(o) for o in ordered[:i])]


def _bwrap_works(isolation: Isolation, python: str) -> str | None:
    """None if a trial sandbox starts Python; else why not, in a few words."""
    if shutil.which("bwrap") is None:
        return "bwrap is not installed (Debian: apt-get install bubblewrap)"
    argv = isolation.command(python, 0, "{}")
    probe = "import os, sys\n"
    if isolation.uid is not None:
        probe += f"os.setgroups([]); os.setgid({isolation.gid}); os.setuid({isolation.uid})\n"
    probe += "[os.listdir(p) for p in sys.path if os.path.isdir(p)]\n"
    argv = argv[: argv.index("--") + 1] + [python, "-I", "-c", probe]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=30, cwd="/")
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bwrap could not start ({exc})"
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip().splitlines()
        return f"bwrap failed ({reason[-1] if reason else f'status {done.returncode}'})"
    return None


@functools.lru_cache(maxsize=None)
def detect(python: str = sys.executable, requested: str | None = None) -> Isolation:
    """The strongest mode this machine allows (or the one ``AUTOGRADER_ISOLATION`` asks for)."""
    requested = requested or os.environ.get("AUTOGRADER_ISOLATION", "auto")
    if requested not in MODES:
        raise ValueError(f"AUTOGRADER_ISOLATION={requested!r}: expected one of {', '.join(MODES)}")
    ids = _sandbox_ids()
    uid, gid = ids if ids else (None, None)
    seccomp = sys.platform == "linux" and platform.machine() in SECCOMP_ARCHES
    notes = []
    if requested != "fallback":
        candidate = Isolation("bwrap", uid, gid, seccomp)
        problem = _bwrap_works(candidate, python)
        if problem is None:
            return candidate
        if requested == "bwrap":
            raise RuntimeError(f"AUTOGRADER_ISOLATION=bwrap, but {problem}")
        notes.append(problem)
    if uid is None:
        notes.append("not running as root, so student code keeps the grader's uid")
    return Isolation("fallback", uid, gid, seccomp, tuple(notes))


_announced = set()


def announce(isolation: Isolation) -> None:
    """Say once per process, on stderr, which protections are active."""
    if isolation not in _announced:
        _announced.add(isolation)
        print(isolation.describe(), file=sys.stderr, flush=True)
