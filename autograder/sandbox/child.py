"""The untrusted side of the door: the process that imports and runs student code.

This file imports only the standard library and torch -- never the rest of ``autograder``, the
reference solution, or the checks -- so it can run where none of those are visible. It is started
as a script (``python -I child.py --zygote FD``): the zygote imports torch once, then forks a
fresh child per submission (and after any crash); for each component, the child imports the
student's modules from sources sent over its socket, answers requests (build a module, load
weights, run forward/backward, describe it), then forgets them (``op_reset``).

Everything a child sends back is plain data (tensors, numbers, strings) in a pickle-free format
(a JSON header plus raw tensor bytes, see ``dumps``/``loads``): the parent never unpickles
anything and never trusts anything but the numbers, which it compares itself.
"""
import contextlib
import functools
import gc
import importlib.abc
import importlib.machinery
import io
import json
import linecache
import math
import os
import resource
import signal
import socket
import struct
import sys
import traceback

FRAME_HEADER = struct.Struct("!Q")
MAX_CONTROL_BYTES = 64 * 1024
PACKAGE = "submission"
# Modules kept alive per child, for the next program that asks for the same one: hundreds of live
# modules made every build pay for garbage collection passes over them (0.8 ms instead of 0.45 ms
# for a small ResBlock).
KEPT_MODULES = 8
SOURCE_LABEL = "submission"  # tracebacks show "submission/res_block.py", line N
MODULE_ARGUMENT = "__module_argument__"  # a call argument to build here: launcher.ModuleArg


# --- framing (shared with the parent, which imports these three functions) -------------------

def send_frame(sock, payload: bytes) -> None:
    sock.sendall(FRAME_HEADER.pack(len(payload)) + payload)


def recv_frame(sock, max_bytes: int) -> bytes:
    """Read one length-prefixed frame; refuse frames larger than ``max_bytes``."""
    (length,) = FRAME_HEADER.unpack(_recv_exactly(sock, FRAME_HEADER.size))
    if length > max_bytes:
        raise ValueError(f"message of {length} bytes is larger than the {max_bytes}-byte limit")
    return _recv_exactly(sock, length)


def _recv_exactly(sock, n: int) -> bytes:
    chunks, remaining = [], n
    while remaining:
        chunk = sock.recv(min(remaining, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the connection")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


_DTYPES = ("float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool")


def dumps(obj) -> bytes:
    """Encode plain data and tensors without pickle: a JSON header, then the raw tensor bytes.

    ``json`` walks the structure in C and hands each tensor to ``default`` in document order, the
    order ``loads`` meets their headers in.
    """
    import torch

    buffers = []

    def encode(value):
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"a {type(value).__name__} cannot be sent")
        value = value.detach().to("cpu").contiguous()
        dtype = str(value.dtype).removeprefix("torch.")
        if dtype not in _DTYPES:
            raise TypeError(f"tensors of dtype {dtype} cannot be sent")
        try:
            data = value.numpy()  # the tensor's own memory: copied once, by the join below
        except TypeError:  # a dtype numpy lacks (bfloat16): its bytes
            data = value.reshape(-1).view(torch.uint8).numpy()
        buffers.append(data)
        return {"__tensor__": [dtype, list(value.shape), data.nbytes]}

    header = json.dumps(obj, default=encode).encode()
    return b"".join([struct.pack("!I", len(header)), header, *buffers])


def loads(data: bytes):
    """Decode what ``dumps`` made: only JSON's plain types and plain CPU tensors come out.

    Anything malformed raises ValueError. Never runs code.
    """
    import torch

    (header_length,) = struct.unpack_from("!I", data)
    payload = memoryview(data)
    offset = 4 + header_length

    def tensor(header: dict):
        nonlocal offset
        if "__tensor__" not in header:
            return header
        try:
            (dtype, shape, nbytes), = header.values()
        except (TypeError, ValueError):
            raise ValueError("malformed tensor header") from None
        if (dtype not in _DTYPES or type(shape) is not list or not all(type(s) is int and s >= 0 for s in shape)
                or type(nbytes) is not int):
            raise ValueError("malformed tensor header")
        torch_dtype = getattr(torch, dtype)
        if nbytes != math.prod(shape) * torch.empty((), dtype=torch_dtype).element_size() or offset + nbytes > len(data):
            raise ValueError("tensor data does not match its header")
        start, offset = offset, offset + nbytes
        if not nbytes:
            return torch.empty(shape, dtype=torch_dtype)
        raw = bytearray(payload[start:offset])  # its own aligned, writable memory
        return torch.frombuffer(raw, dtype=torch_dtype).reshape(shape)

    return json.loads(payload[4:4 + header_length].tobytes(), object_hook=tensor)


# --- importing the submission from memory ------------------------------------------------------

class SourceImporter(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves ``submission.<module>`` (and bare ``<module>``) from source strings.

    The child never needs to see the submission's files: the parent reads them (with size and
    encoding checks) and sends the text. Bare imports (``from res_block import ResBlock``) are
    accepted too, as students often write them.
    """

    def __init__(self, sources: dict):
        self.sources = sources
        self.served = set()  # every module name this importer gave a spec for

    def find_spec(self, fullname, path=None, target=None):
        if fullname == PACKAGE:
            spec = importlib.machinery.ModuleSpec(fullname, self, is_package=True)
            spec.submodule_search_locations = []
            return spec
        name = fullname[len(PACKAGE) + 1:] if fullname.startswith(PACKAGE + ".") else fullname
        if name in self.sources:
            self.served.add(fullname)
            spec = importlib.machinery.ModuleSpec(fullname, self, origin=self.filename(name))
            spec.has_location = True
            return spec
        return None

    def filename(self, name: str) -> str:
        return f"{SOURCE_LABEL}/{name}.py"

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        if module.__name__ == PACKAGE:
            return
        name = module.__name__.split(".", 1)[-1] if module.__name__.startswith(PACKAGE + ".") else module.__name__
        if "." not in module.__name__:
            module.__package__ = ""
        source = self.sources[name]
        filename = self.filename(name)
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        exec(_compiled(source, filename), module.__dict__)


@functools.lru_cache(maxsize=64)
def _compiled(source: str, filename: str):
    """Code objects are immutable: a child imports the same file for several components, compiles it once."""
    return compile(source, filename, "exec", dont_inherit=True)


def _drop_modules(sources: dict, served=()) -> None:
    """Forget every module that ``sources`` could be imported as (and ``served``), and their lines."""
    for name in sources:
        for key in (name, f"{PACKAGE}.{name}"):
            sys.modules.pop(key, None)
        linecache.cache.pop(f"{SOURCE_LABEL}/{name}.py", None)
    for name in (PACKAGE, *served):
        sys.modules.pop(name, None)


# --- the child's request loop ------------------------------------------------------------------

class GlobalState:
    """What one component's code could change that another's would feel: a snapshot to compare.

    The functions and classes of torch, its ``nn``/``functional``/``init``/``autograd`` namespaces,
    every ``torch.nn`` module class, ``math`` and the builtins (by identity: a patch replaces an
    object, a class gains a shadowing attribute); torch's global settings; the import machinery;
    threads, timers and signal handlers; torch-function and dispatch modes, global module hooks.
    New names in a module namespace are ignored (torch adds some lazily, and nothing reads a name
    that was not there). Not covered: kernels registered with ``torch.library`` -- no one does
    that by accident, and on purpose it is no more than one's own file can do.
    """

    def __init__(self, torch, count_processes: bool = False):
        import builtins

        self.torch, self.count_processes = torch, count_processes
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
            torch.get_default_dtype(), torch.is_grad_enabled(), torch.is_inference_mode_enabled(),
            torch.is_anomaly_enabled(), torch.are_deterministic_algorithms_enabled(), torch.get_num_threads(),
            torch.backends.mkldnn.enabled, str(torch.get_default_device()),
            tuple(map(id, sys.meta_path)), tuple(map(id, sys.path_hooks)), tuple(sys.path), sys.gettrace(),
            sys.getprofile(), sys.getrecursionlimit(), threading.active_count(), len(os.listdir("/proc/self/task")),
            signal.getitimer(signal.ITIMER_REAL), signal.getitimer(signal.ITIMER_VIRTUAL),
            tuple(signal.getsignal(s) for s in (signal.SIGALRM, signal.SIGVTALRM, signal.SIGTERM, signal.SIGINT)),
            os.getcwd(), dict(os.environ),
            # modes and hooks that reach every module and tensor op without replacing a function
            torch._C._len_torch_function_stack(), torch._C._len_torch_dispatch_stack(), torch.is_autocast_enabled("cpu"),
            torch._C._autograd._top_saved_tensors_default_hooks(False) is not None,
            tuple(len(hooks) for name, hooks in vars(torch.nn.modules.module).items()
                  if name.startswith("_global_") and isinstance(hooks, dict)),
            # in a PID namespace of its own every process is the child's: one left running outlives the component
            sum(entry.isdigit() for entry in os.listdir("/proc")) if self.count_processes else None,
        )

    def changes(self) -> list[str]:
        """What differs now from the snapshot: names of changed bindings, or that a setting did."""
        found = [] if self._settings() == self.settings else ["torch or interpreter settings"]
        for live, before, exact in self.bindings:
            found += [name for name, value in before.items() if live.get(name, _MISSING) is not value]
            if exact and len(live) != len(before):
                found += [name for name in live if name not in before]
        return found


_MISSING = object()


class StudentFailure(Exception):
    """Student code raised: reported to the parent as text, never as an object."""


def _student_traceback(exc: BaseException) -> str:
    """The traceback lines inside the submission, plus the error itself: what a student can act on."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(SOURCE_LABEL + "/")]
    lines = traceback.format_list(frames[-6:]) if frames else []
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines).rstrip()


class Child:
    def __init__(self, sock, settings: dict, own_pid_namespace: bool = False):
        import torch

        self.torch = torch
        self.sock = sock
        self.device = torch.device(settings.get("device", "cpu"))
        self.modules = {}  # json [target, kwargs] -> {"module", "loads", "errors"}, oldest first
        torch.set_num_threads(int(settings.get("threads", 1)))
        # oneDNN's per-call set-up costs more than grading's tiny convolutions: 35-40 % slower
        # forward/backward here (benchmarks/grade_one.py). Same maths, plain kernels.
        torch.backends.mkldnn.enabled = False
        if self.device.type == "cuda":
            # TF32 would change results by ~1e-3: far above the measured float error the tolerances allow.
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        self.importer = None
        self.baseline = GlobalState(torch, count_processes=own_pid_namespace)  # before any student code

    def serve(self) -> None:
        while True:
            try:
                request = loads(recv_frame(self.sock, 1 << 30))
            except EOFError:
                return
            printed = io.StringIO()
            try:
                with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
                    value = getattr(self, "op_" + request["op"])(**request.get("args", {}))
                reply = {"ok": True, "value": value}
            except StudentFailure as failure:
                reply = {"ok": False, "error": str(failure)}
            except BaseException as exc:  # student code: any exception, even SystemExit, is a result
                reply = {"ok": False, "error": _student_traceback(exc)}
            reply["printed"] = printed.getvalue()[-2000:]
            try:
                data = dumps(reply)
            except Exception as exc:
                data = dumps({"ok": False, "error": f"the result could not be sent back: {exc}", "printed": ""})
            send_frame(self.sock, data)

    # Each op_* is one verb of the narrow interface the checks use (see launcher.py); each step_*
    # is one step of a program sent in a batch.

    def op_load(self, sources: dict, target_module: str, patches: list) -> dict:
        """Import the module under test; then point names at reference dependencies where asked."""
        self._forget_modules()
        _drop_modules(sources)  # whatever sits under these names (put there by hand, say) is not this load's
        self.importer = SourceImporter(sources)
        sys.meta_path.insert(0, self.importer)
        importlib.import_module(PACKAGE)
        module = importlib.import_module(f"{PACKAGE}.{target_module}")
        for symbol, dependency_module in patches:
            dependency = importlib.import_module(f"{PACKAGE}.{dependency_module}")
            setattr(module, symbol, getattr(dependency, symbol))
        self.target = module
        return {"names": sorted(n for n in vars(module) if not n.startswith("_"))}

    def op_reset(self) -> dict:
        """Forget the component just graded, so that this child can serve the next one of the same
        submission as a fresh child would; report what the parent needs to decide whether it may.

        ``clean`` is False when anything the next component could feel has changed since the child
        started: torch's or the standard library's functions, global torch settings, threads,
        signal handlers. Honest code never trips it; code that does gets a fresh child next.
        """
        self._forget_modules()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        with open("/proc/self/statm") as statm:
            address_space = int(statm.read().split()[0]) * resource.getpagesize()
        return {
            "clean": self.baseline.changes() == [],
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "address_space_bytes": address_space,
        }

    def _forget_modules(self) -> None:
        """Drop the loaded component: its modules (student and reference), kept builds, and source lines."""
        self.modules.clear()
        self.target = None
        if self.importer is None:
            return
        sys.meta_path[:] = [finder for finder in sys.meta_path if finder is not self.importer]
        _drop_modules(self.importer.sources, self.importer.served)
        self.importer = None

    def _lookup(self, name: str):
        if not hasattr(self.target, name):
            raise StudentFailure(f"{self.target.__name__.split('.')[-1]}.py does not define {name}")
        return getattr(self.target, name)

    def _reseed(self) -> None:
        """Every build and run starts from the same random state (random init, dropout), on any machine.

        ``torch.manual_seed`` also queues seeding for lazily started accelerators, formatting a stack
        trace each time: on the CPU the generator's own seed is all that matters, at 1/50 the cost.
        """
        if self.device.type == "cpu":
            self.torch.default_generator.manual_seed(0)
        else:
            self.torch.manual_seed(0)

    def op_batch(self, states: dict, programs: list) -> list:
        """Many requests in one round trip: each program builds (or reuses) a module, loads states, runs steps.

        A program's module is ``{"target", "kwargs", "loads"}`` (``loads`` names entries of
        ``states``), or None for plain function calls. Every failure is reported where it happened
        -- the constructor, one load, one step -- and the other steps still run.
        """
        return [self._program(states, program.get("module"), program["steps"]) for program in programs]

    def _program(self, states: dict, module_spec, steps: list) -> dict:
        result = {"build": None, "loads": [], "steps": []}
        module = None
        if module_spec is not None:
            try:
                module, result["loads"] = self._module_for(states, **module_spec)
            except StudentFailure as failure:
                result["build"] = str(failure)
                return result
            except BaseException as exc:  # student code: any exception is a result
                result["build"] = _student_traceback(exc)
                return result
        for step in steps:
            try:
                value = getattr(self, "step_" + step["op"])(module, **step["args"])
                result["steps"].append({"ok": True, "value": value})
            except StudentFailure as failure:
                result["steps"].append({"ok": False, "error": str(failure)})
            except BaseException as exc:
                result["steps"].append({"ok": False, "error": _student_traceback(exc)})
        return result

    def _module_for(self, states: dict, target: str, kwargs: dict, loads: list):
        """The module built from (target, kwargs) with ``loads`` applied in order; reused when it can be.

        A kept module is reused when the loads it has seen are a prefix of those asked for (the
        parent sends a module's unloaded requests before its loaded ones); otherwise it is rebuilt,
        so the answer never depends on what ran before.
        """
        key = json.dumps([target, kwargs], sort_keys=True)
        entry = self.modules.pop(key, None)
        if entry is None or entry["loads"] != loads[:len(entry["loads"])]:
            entry = {"module": self._build(target, kwargs), "loads": [], "errors": []}
        for name in loads[len(entry["loads"]):]:
            entry["errors"].append(self._load(entry["module"], states[name]))
            entry["loads"].append(name)
        self.modules[key] = entry
        while len(self.modules) > KEPT_MODULES:
            del self.modules[next(iter(self.modules))]
        return entry["module"], list(entry["errors"])

    def _build(self, target: str, kwargs: dict):
        self._reseed()
        module = self._lookup(target)(**kwargs)
        if not isinstance(module, self.torch.nn.Module):
            raise StudentFailure(f"{target}(...) did not create an nn.Module (got {type(module).__name__})")
        return module.to(self.device)

    def _load(self, module, state_dict: dict) -> str | None:
        try:
            module.load_state_dict({k: v.to(self.device) for k, v in state_dict.items()}, strict=True)
        except BaseException as exc:
            return _student_traceback(exc)
        return None

    def step_describe(self, module) -> dict:
        return {
            "parameters": [[name, list(p.shape)] for name, p in module.named_parameters()],
            "state_dict": [[name, list(t.shape)] for name, t in module.state_dict().items()],
            "modules": [[name, type(m).__name__, m.extra_repr()] for name, m in module.named_modules()],
        }

    def _to_device(self, value, requires_grad: bool):
        torch = self.torch
        if isinstance(value, torch.Tensor):
            value = value.to(self.device)
            if requires_grad and value.is_floating_point():
                value.requires_grad_(True)
            return value
        return value

    def _to_plain(self, value):
        """Results back as plain CPU tensors (never subclasses) inside lists and dicts."""
        torch = self.torch
        if isinstance(value, torch.Tensor):
            return value.detach().to("cpu").clone().contiguous().as_subclass(torch.Tensor)
        if isinstance(value, (tuple, list)):
            return [self._to_plain(v) for v in value]
        if isinstance(value, dict):
            if not all(type(k) is str and k != "__tensor__" for k in value):
                raise StudentFailure("returned a dict whose keys are not all strings (names)")
            return {k: self._to_plain(v) for k, v in value.items()}
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise StudentFailure(f"returned a {type(value).__name__}, expected tensors")

    def step_run(self, module, args: list, kwargs: dict, submodule: str = "", grad_output=None) -> dict:
        """Forward (and, with ``grad_output``, backward) on given inputs; everything comes back."""
        torch = self.torch
        if submodule:
            module = module.get_submodule(submodule)
        want_grad = grad_output is not None
        leaves = [self._to_device(a, want_grad) for a in args]
        # With gradients on, the module gets copies of the leaves: an in-place change then shows up
        # as a changed input (and autograd follows it) instead of raising about a leaf.
        inputs = [a.clone() if isinstance(a, torch.Tensor) and a.requires_grad else a for a in leaves]
        sent = [a.detach().clone() if isinstance(a, torch.Tensor) else a for a in inputs]
        module.zero_grad(set_to_none=True)
        self._reseed()
        with torch.set_grad_enabled(want_grad):
            output = module(*inputs, **kwargs)
        result = {"output": self._to_plain(output)}
        if want_grad:
            outputs = output if isinstance(output, (tuple, list)) else [output]
            grads = grad_output if isinstance(grad_output, list) else [grad_output]
            pairs = [(o, g.to(self.device)) for o, g in zip(outputs, grads)
                     if isinstance(o, torch.Tensor) and o.requires_grad and g is not None]
            if pairs:
                torch.autograd.backward([o for o, _ in pairs], [g for _, g in pairs])
            result["input_grads"] = [self._to_plain(a.grad) if isinstance(a, torch.Tensor) else None for a in leaves]
            result["param_grads"] = {n: self._to_plain(p.grad) for n, p in module.named_parameters()}
        result["inputs_changed"] = [
            bool(isinstance(a, torch.Tensor) and not torch.equal(a.detach(), s)) for a, s in zip(inputs, sent)
        ]
        return result

    def step_call(self, _module, target: str, args: list) -> dict:
        function = self._lookup(target)
        inputs = [self._module_argument(**a[MODULE_ARGUMENT]) if isinstance(a, dict) and MODULE_ARGUMENT in a
                  else self._to_device(a, False) for a in args]
        self._reseed()
        return {"output": self._to_plain(function(*inputs))}

    def _module_argument(self, target: str, kwargs: dict, state_dict) -> object:
        """Build ``target(**kwargs)`` for a call: the module under test's class, else the first module of
        the plan that defines it (a dependency's is its reference stand-in); load ``state_dict``."""
        found = getattr(self.target, target, None)
        for name in self.importer.sources if found is None else ():
            if name.startswith("_"):
                continue
            try:
                found = getattr(importlib.import_module(f"{PACKAGE}.{name}"), target, None)
            except BaseException:  # a broken module that is not a stand-in: look further
                continue
            if found is not None:
                break
        if found is None:
            raise StudentFailure(f"no module of the submission defines {target}, which this check builds")
        self._reseed()
        module = found(**kwargs)
        if not isinstance(module, self.torch.nn.Module):
            raise StudentFailure(f"{target}(...) did not create an nn.Module (got {type(module).__name__})")
        if state_dict is not None:
            module.load_state_dict(state_dict, strict=True)
        return module.to(self.device)


# --- limits, and the zygote that forks children ----------------------------------------------------

PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS, PR_SET_CHILD_SUBREAPER = 1, 4, 38, 36
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
# audit arch, socket(), io_uring_setup() (io_uring can create sockets too) per machine
SECCOMP_SYSCALLS = {"x86_64": (0xC000003E, 41, 425), "aarch64": (0xC00000B7, 198, 425)}


def _prctl(option: int, arg2=0) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, arg2, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


MADV_HUGEPAGE, MADV_COLLAPSE = 14, 25
HUGE_PAGE = 2 << 20


def collapse_into_huge_pages() -> int:
    """Back the zygote's anonymous memory with 2 MiB pages; return how many bytes were collapsed.

    ``import torch`` leaves ~180 MB of anonymous memory (C++ registrations, Python objects), and
    ``fork`` copies one page-table entry per 4 KiB of it, then ``exit`` tears them down: 12 ms a
    child here. In huge pages that is 512 times fewer entries: 4 ms. A child's write still copies
    only the 4 KiB it touches (the kernel splits a shared huge page on copy-on-write). Best effort:
    ``MADV_COLLAPSE`` needs Linux 6.1 and transparent huge pages not set to "never".
    """
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    collapsed = 0
    with open("/proc/self/maps") as maps:
        regions = [line.split() for line in maps]
    for fields in regions:
        anonymous = len(fields) == 5 or fields[5] == "[heap]"
        if not anonymous or not fields[1].startswith("rw"):
            continue
        start, end = (int(x, 16) for x in fields[0].split("-"))
        start, end = -(-start // HUGE_PAGE) * HUGE_PAGE, end // HUGE_PAGE * HUGE_PAGE
        if end > start and libc.madvise(start, end - start, MADV_HUGEPAGE) == 0 \
                and libc.madvise(start, end - start, MADV_COLLAPSE) == 0:
            collapsed += end - start
    return collapsed


def refuse_sockets() -> None:
    """A seccomp filter: every later ``socket()`` (and io_uring) fails with EACCES.

    The child's own socketpair already exists, and nothing else a module needs opens a socket; so
    no network, no abstract Unix sockets, no loopback listeners -- also where bubblewrap is missing.
    A system call from another ABI (x32, i386) is refused too, so it cannot dodge the numbers.
    """
    import ctypes
    import errno
    import platform

    arch, nr_socket, nr_io_uring = SECCOMP_SYSCALLS[platform.machine()]
    LD_ABS, JEQ, JGE, RET = 0x20, 0x15, 0x35, 0x06
    ALLOW, DENY = 0x7FFF0000, 0x00050000 | errno.EACCES
    program = [  # (code, jump if true, jump if false, k); jumps count instructions skipped
        (LD_ABS, 0, 0, 4),            # 0: arch
        (JEQ, 1, 0, arch),            # 1: our ABI -> 3
        (RET, 0, 0, DENY),            # 2
        (LD_ABS, 0, 0, 0),            # 3: system call number
        (JGE, 3, 0, 0x40000000),      # 4: x32 numbers -> 8
        (JEQ, 2, 0, nr_socket),       # 5: -> 8
        (JEQ, 1, 0, nr_io_uring),     # 6: -> 8
        (RET, 0, 0, ALLOW),           # 7
        (RET, 0, 0, DENY),            # 8
    ]

    class Instruction(ctypes.Structure):
        _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(Instruction))]

    instructions = (Instruction * len(program))(*program)
    fprog = Program(len(program), instructions)
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "seccomp filter refused")


def apply_limits(limits: dict) -> None:
    """rlimits for this child and everything it starts; the parent also enforces wall time."""
    table = {
        "cpu_s": resource.RLIMIT_CPU,
        "address_space_bytes": resource.RLIMIT_AS,
        "file_size_bytes": resource.RLIMIT_FSIZE,
        "open_files": resource.RLIMIT_NOFILE,
        "processes": resource.RLIMIT_NPROC,
    }
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for key, limit in table.items():
        value = limits.get(key)
        if value is not None:
            resource.setrlimit(limit, (int(value), int(value)))


def run_child(sock, settings: dict, options: dict) -> None:
    """Become a sandboxed child: own session, limits, the sandbox uid, no sockets; then serve."""
    try:
        os.setsid()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        apply_limits(settings.get("limits", {}))
        if options.get("uid") is not None:
            os.setgroups([])
            os.setgid(options["gid"])
            os.setuid(options["uid"])
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # after setuid, which clears it
        if options.get("seccomp"):
            refuse_sockets()
        Child(sock, settings, own_pid_namespace=bool(options.get("pid_namespace"))).serve()
    finally:
        os._exit(0)


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
                    import shutil

                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.unlink(path)
            except OSError:
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

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Out of the collector's sight: else each child's first full collection walks (and so copies on
    # write) every object torch made here -- 100 ms of a child's life, measured.
    gc.freeze()
    collapse_into_huge_pages()
    control = socket.socket(fileno=control_fd)
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, MAX_CONTROL_BYTES, 1)
        except (ConnectionError, OSError):
            return
        if not message:
            return
        request = json.loads(message)
        if request["op"] == "fork":
            child_sock = socket.socket(fileno=fds[0])
            try:
                pid = os.fork()
            except OSError as exc:
                reply = {"error": f"could not start a child: {exc}"}
            else:
                if pid == 0:
                    control.close()
                    run_child(child_sock, request["settings"], options)
                reply = {"pid": pid}
            child_sock.close()
        elif request["op"] == "kill":
            for kill in (os.killpg, os.kill):
                try:
                    kill(request["pid"], signal.SIGKILL)
                except OSError:
                    pass
            try:
                _, status = os.waitpid(request["pid"], 0)
            except ChildProcessError:
                status = None
            kill_everything(options)
            reply = {"status": status}
        else:
            reply = {"error": f"unknown op {request['op']!r}"}
        control.sendall(json.dumps(reply).encode() + b"\n")


if __name__ == "__main__":
    if len(sys.argv) in (3, 4) and sys.argv[1] == "--zygote":
        zygote(int(sys.argv[2]), json.loads(sys.argv[3]) if len(sys.argv) == 4 else {})
    else:
        sys.exit("usage: child.py --zygote FD [OPTIONS] (started by the grader, not by hand)")
