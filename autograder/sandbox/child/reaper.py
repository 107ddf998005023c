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
            try:
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.unlink(path)
            except OSError:
                pass
