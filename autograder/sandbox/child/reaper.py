"""After a child: kill every process it started, however it detached, reap them, and wipe its scratch space."""
import os
import shutil
import signal


def _descendants(root: int) -> list[int]:
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    ppid = int(handle.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for pid in children.get(todo.pop(), []):
            found.append(pid)
            todo.append(pid)
    return found


def kill_everything(options: dict) -> None:
    """Kill every process the children started, however they detached, and reap them all.

    The zygote is a subreaper, so orphans become its children: when ``waitpid`` says there are
    none left, nothing a child started is still alive. In a PID namespace ``kill(-1)`` reaches all
    of them at once (everyone but the namespace's init and the zygote itself); elsewhere the zygote
    walks its descendants in /proc, repeatedly, as a fork bomb keeps making new ones.
    """
    while True:
        if options.get("pid_namespace"):
            try:
                os.kill(-1, signal.SIGKILL)
            except ProcessLookupError:
                pass
        else:
            for pid in _descendants(os.getpid()):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        try:
            while os.waitpid(-1, os.WNOHANG) != (0, 0):
                pass
        except ChildProcessError:
            break
    for folder in options.get("wipe", []):  # bwrap's private /tmp and /dev/shm: nothing left for the next child
        for entry in os.listdir(folder):
            path = os.path.join(folder, entry)
            if any(kept == path or kept.startswith(path + "/") for kept in options.get("keep", [])):
                continue
            _remove(path)


def _remove(path: str) -> None:
    """A file, link or folder tree, gone; what cannot be removed stays (the next sweep says so)."""
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except OSError:
        pass


SYSV_IPC = {"shm": "shmctl", "msg": "msgctl", "sem": "semctl"}  # /proc/sysvipc/NAME -> the call that removes one
IPC_RMID = 0


def sweep(options: dict) -> list[str]:
    """After the children's processes are gone: remove what they could have left in the kernel or on
    disk for a later child, and say what was found (honest code leaves nothing).

    The seccomp allow-list already refuses every call that makes such a thing; this checks that it
    held. SysV IPC objects: in the zygote's own IPC namespace (bwrap) every object is a child's;
    otherwise those of the sandbox uid, which belongs to this grading process alone (as root).
    Files and POSIX message queues the sandbox uid owns in the host's shared scratch folders
    (fallback mode as root). Processes need no check here: ``kill_everything`` returns only once
    ``waitpid`` says the zygote, a subreaper, has no descendant left. Without a
    sandbox uid of its own and a namespace of its own (fallback, not root), nothing here can tell a
    child's object from the user's: the seccomp filter alone stands.
    """
    uid, private = options.get("uid"), bool(options.get("private_ipc"))
    if uid is None and not private:
        return []
    found = []
    for kind, remover in SYSV_IPC.items():
        for ident, owners in _sysv_objects(kind):
            if private or uid in owners:
                found.append(f"SysV {kind} {ident}")
                _remove_sysv(remover, ident)
    if uid is not None:
        for folder in options.get("scratch", []):
            try:
                entries = os.listdir(folder)
            except OSError:
                continue
            for entry in entries:
                path = os.path.join(folder, entry)
                try:
                    if os.lstat(path).st_uid != uid:
                        continue
                except OSError:
                    continue
                found.append(path)
                _remove(path)
    return found


def _sysv_objects(kind: str) -> list[tuple[int, set]]:
    """(id, {owner uid, creator uid}) of each SysV object of ``kind`` in this IPC namespace."""
    try:
        with open(f"/proc/sysvipc/{kind}") as table:
            header, *rows = [line.split() for line in table]
    except (OSError, ValueError):
        return []
    column = {name: index for index, name in enumerate(header)}
    return [(int(row[column[id_column]]), {int(row[column["uid"]]), int(row[column["cuid"]])})
            for row in rows for id_column in [{"shm": "shmid", "msg": "msqid", "sem": "semid"}[kind]]]


def _remove_sysv(remover: str, ident: int) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if remover == "semctl":
        libc.semctl(ident, 0, IPC_RMID)
    else:
        getattr(libc, remover)(ident, IPC_RMID, None)
