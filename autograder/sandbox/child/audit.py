"""The global state one component's code could change for the next: a snapshot to compare.

A child serves a submission's components one after another only while nothing outside their own
modules changed (``launcher.Handover``). This is the "nothing changed" test, run in the child: it
is believed only for honest code -- hostile code is kept apart structurally (``plan.must_not_have_seen``).
"""
import math
import os
import signal
import sys

from . import own_tasks, torch_settings


class GlobalState:
    """What one component's code could change that another's would feel: a snapshot to compare.

    The functions and classes of torch, its ``nn``/``functional``/``init``/``autograd`` namespaces,
    every ``torch.nn`` module class, ``math`` and the builtins (by identity: a patch replaces an
    object, a class gains a shadowing attribute); torch's global settings (``torch_settings.SETTINGS``);
    the import machinery; threads, timers and signal handlers; torch-function and dispatch modes,
    global module hooks.
    New names in a module namespace are ignored (torch adds some lazily, and nothing reads a name
    that was not there). Not covered: kernels registered with ``torch.library`` -- no one does
    that by accident, and on purpose it is no more than one's own file can do.
    """

    def __init__(self, torch, count_processes: bool = False, procfs: bool = True):
        import builtins

        self.torch, self.count_processes, self.procfs = torch, count_processes, procfs
        modules = [torch, torch.nn, torch.nn.functional, torch.nn.init, torch.autograd, torch.linalg, math, sys]
        classes = [torch.Tensor, builtins.__dict__]
        classes += [c for c in vars(torch.nn).values() if isinstance(c, type)]
        self.bindings = []  # (the live namespace, a copy of it now, whether new names count)
        for namespace in modules + classes:
            live = namespace if isinstance(namespace, dict) else vars(namespace)
            self.bindings.append((live, dict(live), namespace not in modules))
        for stream in ("stdout", "stderr"):  # redirected during every request, restored after it
            self.bindings[modules.index(sys)][1].pop(stream)
        self.settings = self._settings()

    def _settings(self) -> tuple:
        import threading

        torch = self.torch
        return (
            torch_settings.snapshot(),  # grad and inference mode, default dtype and device, threads, ...
            tuple(map(id, sys.meta_path)), tuple(map(id, sys.path_hooks)), tuple(sys.path), sys.gettrace(),
            sys.getprofile(), sys.getrecursionlimit(), threading.active_count(), self._tasks(),
            signal.getitimer(signal.ITIMER_REAL), signal.getitimer(signal.ITIMER_VIRTUAL),
            tuple(signal.getsignal(s) for s in (signal.SIGALRM, signal.SIGVTALRM, signal.SIGTERM, signal.SIGINT)),
            os.getcwd(), dict(os.environ),
            # modes and hooks that reach every module and tensor op without replacing a function
            torch._C._len_torch_function_stack(), torch._C._len_torch_dispatch_stack(),
            torch._C._autograd._top_saved_tensors_default_hooks(False) is not None,
            tuple(len(hooks) for name, hooks in vars(torch.nn.modules.module).items()
                  if name.startswith("_global_") and isinstance(hooks, dict)),
        )

    def _tasks(self):
        """Its threads and (in a PID namespace of its own, where every process is the child's: one left
        running outlives the component) its processes; from /proc where the child has one (``own_tasks``)."""
        if not self.procfs:
            return own_tasks.tasks() or object()  # too many to count: never the same
        processes = sum(entry.isdigit() for entry in os.listdir("/proc")) if self.count_processes else None
        return len(os.listdir("/proc/self/task")), processes

    def changes(self) -> list[str]:
        """What differs now from the snapshot: names of changed bindings, or that a setting did."""
        found = [] if self._settings() == self.settings else ["torch or interpreter settings"]
        for live, before, exact in self.bindings:
            found += [name for name, value in before.items() if live.get(name, _MISSING) is not value]
            if exact and len(live) != len(before):
                found += [name for name in live if name not in before]
        return found


_MISSING = object()
