"""The fork server: imports torch once, then forks a fresh, limited child per request."""
import gc
import json
import os
import signal
import socket

from .limits import (PR_SET_CHILD_SUBREAPER, PR_SET_DUMPABLE, PR_SET_PDEATHSIG, _prctl, allow_only_what_children_need,
                     apply_limits, collapse_into_huge_pages, confine_files, enter_own_namespaces,
                     fork_into_own_pid_namespace, private_descriptors)
from .reaper import kill_everything, sweep
from .server import Child

MAX_CONTROL_BYTES = 64 * 1024


def fork(options: dict) -> int:
    """``os.fork()``; as root the child is the first process of a PID namespace of its own."""
    if options.get("own_namespaces"):
        return fork_into_own_pid_namespace(options["own_pid_namespace_fd"])
    return os.fork()


def reap(pid: int, cpu_limit_s) -> int | None:
    """Wait for child ``pid``; its exit status as its limits explain it (None: not ours to wait for).

    A child killed past its CPU limit reads as SIGXCPU, however the limit reached it: the soft
    limit's SIGXCPU, or the hard limit's SIGKILL (a namespace's init ignores SIGXCPU; code may catch
    it), which would otherwise read as the memory limit.
    """
    try:
        _, status, usage = os.wait4(pid, 0)
    except ChildProcessError:
        return None
    killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    if killed and cpu_limit_s is not None and usage.ru_utime + usage.ru_stime >= cpu_limit_s:
        return int(signal.SIGXCPU)
    return status


def become_child(settings: dict, options: dict, keep: int) -> None:
    """Right after the fork: no open file description shared with the fork server but ``keep`` (the
    child's own end), own session and (as root) own PID, IPC, UTS and read-only mount namespaces, limits,
    the sandbox uid, the files it may read (Landlock, where the kernel has it), and the seccomp
    allow-list."""
    private_descriptors(keep)
    os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if options.get("own_namespaces"):
        enter_own_namespaces()
    apply_limits(settings.get("limits", {}))
    if options.get("uid") is not None:
        os.setgroups([])
        os.setgid(options["gid"])
        os.setuid(options["uid"])
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # after setuid, which clears it
    if options.get("own_namespaces"):
        # Being dumpable, the child and what it starts may signal one another (``own_tasks``: the check that
        # nothing it started is left). Not the fork server, which is not dumpable; and its memory holds
        # nothing the student's code cannot read.
        _prctl(PR_SET_DUMPABLE, 1)
    if options.get("readable") is not None:
        confine_files(options["readable"])
    if options.get("seccomp"):
        allow_only_what_children_need(any_ioctl=bool(options.get("any_ioctl")))


def run_child(sock, settings: dict, options: dict) -> None:
    """Become a sandboxed child, then serve its requests."""
    try:
        become_child(settings, options, keep=sock.fileno())
        in_pid_namespace = bool(options.get("pid_namespace") or options.get("own_namespaces"))
        Child(sock, settings, own_pid_namespace=in_pid_namespace, procfs=not options.get("own_namespaces")).serve()
    finally:
        os._exit(0)


def probe(paths: list, settings: dict, options: dict) -> list:
    """Which of ``paths`` a child can open for reading: a child made like any other (limits, uid,
    seccomp), asked once at start-up, so the grader can refuse to run where secrets are in reach."""
    readable_end, writable_end = os.pipe()
    pid = fork(options)
    if pid == 0:
        os.close(readable_end)
        found = []
        try:
            become_child(settings, options, keep=writable_end)
            for path in paths:
                try:
                    with open(path, "rb") as handle:
                        handle.read(1)
                    found.append(path)
                except OSError:
                    pass
        finally:
            os.write(writable_end, json.dumps(found).encode()[:60000])
            os._exit(0)
    os.close(writable_end)
    with os.fdopen(readable_end, "rb") as pipe:
        data = pipe.read()
    reap(pid, None)
    kill_everything(options)
    try:
        return json.loads(data)
    except ValueError:
        return list(paths)  # no answer: assume the worst


def preload(names: list) -> None:
    """Import the third-party packages students may use (``grading_config.yaml``'s ``packages``) once,
    here: a top-level ``import matplotlib.pyplot`` then costs a child nothing. A package that is not
    installed is skipped; the student's import of it fails as it would anywhere."""
    import importlib

    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 -- not installed, or broken: the child reports the import itself
            pass


def zygote(control_fd: int, options: dict) -> None:
    """Import torch once, then fork a fresh child per request.

    Stays single-threaded and never runs torch ops or student code itself, so every fork starts
    from the same clean state. Control messages are small JSON lines with the child's socket
    attached as a file descriptor. Not dumpable (children cannot ptrace it or read its memory),
    a subreaper (it inherits and kills whatever the children leave behind), and it dies with the
    grader.
    """
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    _prctl(PR_SET_DUMPABLE, 0)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    import ctypes  # noqa: F401  -- needed after the fork, when the child may not read the disk
    import platform  # noqa: F401

    import torch  # noqa: F401  -- the expensive import, paid once for all children
    # torch imports these lazily (sympy, on some backward passes): import them here, once, rather
    # than in every child -- where the sandbox uid may not even be able to read them.
    import torch.fx.experimental.symbolic_shapes  # noqa: F401
    # An optimizer's first use imports torch._dynamo: 1.6-1.9 s of every student's skip_ablation run.
    import torch._dynamo  # noqa: F401
    # Which vector instructions torch's kernels use, found once from /proc/cpuinfo: a child sees no
    # /proc/cpuinfo (``limits.enter_own_namespaces``), and kernels for another set would round differently.
    torch.backends.cpu.get_cpu_capability()

    preload(options.get("preload", []))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Out of the collector's sight: else each child's first full collection walks (and so copies on
    # write) every object torch made here -- 100 ms of a child's life, measured.
    gc.freeze()
    if options.get("huge_pages", True):  # 1.6 s once, 8 ms less a fork: for a zygote that forks many
        collapse_into_huge_pages()
    if options.get("own_namespaces"):  # where each child's PID namespace is made, the fork server comes back
        options["own_pid_namespace_fd"] = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    cpu_limits = {}  # pid -> the CPU seconds that child may use (``reap``)
    control = socket.socket(fileno=control_fd)
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, MAX_CONTROL_BYTES, 1)
        except (ConnectionError, OSError):
            return
        if not message:
            return
        control.sendall(json.dumps(_answer(json.loads(message), fds, control, options, cpu_limits)).encode() + b"\n")
        # A child is forked inside ``_answer``: this frame, which its student code can reach (``f_back``),
        # holds the request that made it and nothing of an earlier one (red team: a previous reply's exit
        # status, left here, carried 8 bits from one student's child to the next student's).
        message = fds = None


def _answer(request: dict, fds: list, control, options: dict, cpu_limits: dict) -> dict:
    """The fork server's reply to one request; its locals end with it."""
    if request["op"] == "fork":
        child_sock = socket.socket(fileno=fds[0])
        try:
            pid = fork(options)
        except OSError as exc:
            child_sock.close()
            return {"error": f"could not start a child: {exc}"}
        if pid == 0:  # never returns (``run_child`` ends the process)
            control.close()
            cpu_limits.clear()  # the other children's numbers are the fork server's to know
            run_child(child_sock, request["settings"], options)
        child_sock.close()
        cpu_limits[pid] = request["settings"].get("limits", {}).get("cpu_s")
        return {"pid": pid}
    if request["op"] == "probe":
        return {"readable": probe(request["paths"], request["settings"], options)}
    if request["op"] == "kill":
        for kill in (os.killpg, os.kill):
            try:
                kill(request["pid"], signal.SIGKILL)
            except OSError:
                pass
        status = reap(request["pid"], cpu_limits.get(request["pid"]))
        kill_everything(options)  # every child: none outlives a kill
        cpu_limits.clear()
        return {"status": status, "swept": sweep(options)}
    return {"error": f"unknown op {request['op']!r}"}
