"""The untrusted side of the door: the process that imports and runs student code.

This file imports only the standard library and torch -- never the rest of ``autograder``, the
reference solution, or the checks -- so it can run where none of those are visible. It is started
as a script (``python -I child.py --zygote FD``): the zygote imports torch once, then forks one
fresh child per component; each child imports the student's modules from sources sent over its
socket and answers requests (build a module, load weights, run forward/backward, describe it).

Everything a child sends back is plain data (tensors, numbers, strings) in a pickle-free format
(a JSON header plus raw tensor bytes, see ``dumps``/``loads``): the parent never unpickles
anything and never trusts anything but the numbers, which it compares itself.
"""
import contextlib
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
SOURCE_LABEL = "submission"  # tracebacks show "submission/res_block.py", line N


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
    """Encode plain data and tensors without pickle: a JSON header, then the raw tensor bytes."""
    import torch

    buffers = []

    def encode(value):
        if isinstance(value, torch.Tensor):
            value = value.detach().to("cpu").contiguous()
            dtype = str(value.dtype).removeprefix("torch.")
            if dtype not in _DTYPES:
                raise TypeError(f"tensors of dtype {dtype} cannot be sent")
            buffers.append(value.reshape(-1).view(torch.uint8).numpy().tobytes() if value.numel() else b"")
            return {"__tensor__": [dtype, list(value.shape), len(buffers[-1])]}
        if isinstance(value, (list, tuple)):
            return [encode(v) for v in value]
        if isinstance(value, dict):
            return {str(k): encode(v) for k, v in value.items()}
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise TypeError(f"a {type(value).__name__} cannot be sent")

    header = json.dumps(encode(obj)).encode()
    return struct.pack("!I", len(header)) + header + b"".join(buffers)


def loads(data: bytes):
    """Decode what ``dumps`` made; anything malformed raises ValueError. Never runs code."""
    import torch

    (header_length,) = struct.unpack_from("!I", data)
    header = json.loads(data[4:4 + header_length])
    offset = 4 + header_length

    def decode(value):
        nonlocal offset
        if isinstance(value, dict) and "__tensor__" in value:
            dtype, shape, nbytes = value["__tensor__"]
            if dtype not in _DTYPES or not all(type(s) is int and s >= 0 for s in shape):
                raise ValueError("malformed tensor header")
            torch_dtype = getattr(torch, dtype)
            expected = math.prod(shape) * torch.empty((), dtype=torch_dtype).element_size()
            if nbytes != expected or offset + nbytes > len(data):
                raise ValueError("tensor data does not match its header")
            raw = bytearray(data[offset:offset + nbytes])
            offset += nbytes
            if not raw:
                return torch.empty(shape, dtype=torch_dtype)
            return torch.frombuffer(raw, dtype=torch.uint8).view(torch_dtype).reshape(shape)
        if isinstance(value, list):
            return [decode(v) for v in value]
        if isinstance(value, dict):
            return {k: decode(v) for k, v in value.items()}
        return value

    return decode(header)


# --- importing the submission from memory ------------------------------------------------------

class SourceImporter(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves ``submission.<module>`` (and bare ``<module>``) from source strings.

    The child never needs to see the submission's files: the parent reads them (with size and
    encoding checks) and sends the text. Bare imports (``from res_block import ResBlock``) are
    accepted too, as students often write them.
    """

    def __init__(self, sources: dict):
        self.sources = sources

    def find_spec(self, fullname, path=None, target=None):
        if fullname == PACKAGE:
            spec = importlib.machinery.ModuleSpec(fullname, self, is_package=True)
            spec.submodule_search_locations = []
            return spec
        name = fullname[len(PACKAGE) + 1:] if fullname.startswith(PACKAGE + ".") else fullname
        if name in self.sources:
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
        exec(compile(source, filename, "exec", dont_inherit=True), module.__dict__)


# --- the child's request loop ------------------------------------------------------------------

class StudentFailure(Exception):
    """Student code raised: reported to the parent as text, never as an object."""


def _student_traceback(exc: BaseException) -> str:
    """The traceback lines inside the submission, plus the error itself: what a student can act on."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(SOURCE_LABEL + "/")]
    lines = traceback.format_list(frames[-6:]) if frames else []
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines).rstrip()


class Child:
    def __init__(self, sock, settings: dict):
        import torch

        self.torch = torch
        self.sock = sock
        self.device = torch.device(settings.get("device", "cpu"))
        self.modules = {}
        self.callables = {}
        self.max_reply_bytes = settings.get("max_reply_bytes", 256 << 20)
        torch.set_num_threads(int(settings.get("threads", 1)))
        if self.device.type == "cuda":
            # TF32 would change results by ~1e-3: far above the measured float error the tolerances allow.
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False

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

    # Each op_* is one verb of the narrow interface that the checks use (see launcher.py).

    def op_load(self, sources: dict, target_module: str, patches: list) -> dict:
        """Import the module under test; then point names at reference dependencies where asked."""
        sys.meta_path.insert(0, SourceImporter(sources))
        importlib.import_module(PACKAGE)
        module = importlib.import_module(f"{PACKAGE}.{target_module}")
        for symbol, dependency_module in patches:
            dependency = importlib.import_module(f"{PACKAGE}.{dependency_module}")
            setattr(module, symbol, getattr(dependency, symbol))
        self.target = module
        return {"names": sorted(n for n in vars(module) if not n.startswith("_"))}

    def _lookup(self, name: str):
        if not hasattr(self.target, name):
            raise StudentFailure(f"{self.target.__name__.split('.')[-1]}.py does not define {name}")
        return getattr(self.target, name)

    def op_build(self, target: str, kwargs: dict) -> int:
        self.torch.manual_seed(0)
        module = self._lookup(target)(**kwargs)
        if not isinstance(module, self.torch.nn.Module):
            raise StudentFailure(f"{target}(...) did not create an nn.Module (got {type(module).__name__})")
        handle = len(self.modules)
        self.modules[handle] = module.to(self.device)
        return handle

    def op_describe(self, handle: int) -> dict:
        module = self.modules[handle]
        return {
            "parameters": [[name, list(p.shape)] for name, p in module.named_parameters()],
            "state_dict": [[name, list(t.shape)] for name, t in module.state_dict().items()],
            "modules": [[name, type(m).__name__, m.extra_repr()] for name, m in module.named_modules()],
        }

    def op_load_state_dict(self, handle: int, state_dict: dict) -> None:
        module = self.modules[handle]
        state_dict = {k: v.to(self.device) for k, v in state_dict.items()}
        module.load_state_dict(state_dict, strict=True)

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
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise StudentFailure(f"returned a {type(value).__name__}, expected tensors")

    def op_run(self, handle: int, args: list, kwargs: dict, submodule: str = "", grad_output=None) -> dict:
        """Forward (and, with ``grad_output``, backward) on given inputs; everything comes back."""
        torch = self.torch
        module = self.modules[handle]
        if submodule:
            module = module.get_submodule(submodule)
        want_grad = grad_output is not None
        inputs = [self._to_device(a, want_grad) for a in args]
        sent = [a.detach().clone() if isinstance(a, torch.Tensor) else a for a in inputs]
        module.zero_grad(set_to_none=True)
        torch.manual_seed(0)
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
            result["input_grads"] = [self._to_plain(a.grad) if isinstance(a, torch.Tensor) else None for a in inputs]
            result["param_grads"] = {n: self._to_plain(p.grad) for n, p in module.named_parameters()}
        result["inputs_changed"] = [
            bool(isinstance(a, torch.Tensor) and not torch.equal(a.detach(), s)) for a, s in zip(inputs, sent)
        ]
        return result

    def op_call(self, target: str, args: list) -> dict:
        self.torch.manual_seed(0)
        inputs = [self._to_device(a, False) for a in args]
        return {"output": self._to_plain(self._lookup(target)(*inputs))}


# --- limits, and the zygote that forks children ----------------------------------------------------

def apply_limits(limits: dict) -> None:
    """rlimits for this child and everything it starts; the parent also enforces wall time."""
    table = {
        "cpu_s": resource.RLIMIT_CPU,
        "address_space_bytes": resource.RLIMIT_AS,
        "file_size_bytes": resource.RLIMIT_FSIZE,
        "open_files": resource.RLIMIT_NOFILE,
        "processes": resource.RLIMIT_NPROC,
    }
    for key, limit in table.items():
        value = limits.get(key)
        if value is not None:
            resource.setrlimit(limit, (int(value), int(value)))


def run_child(sock, settings: dict) -> None:
    os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    apply_limits(settings.get("limits", {}))
    try:
        Child(sock, settings).serve()
    finally:
        os._exit(0)


def zygote(control_fd: int) -> None:
    """Import torch once, then fork a fresh child per request.

    Stays single-threaded and never runs torch ops or student code itself, so every fork starts
    from the same clean state. Control messages are small JSON lines with the child's socket
    attached as a file descriptor.
    """
    import torch  # noqa: F401  -- the expensive import, paid once for all children

    signal.signal(signal.SIGINT, signal.SIG_IGN)
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
            pid = os.fork()
            if pid == 0:
                control.close()
                run_child(child_sock, request["settings"])
            child_sock.close()
            reply = {"pid": pid}
        elif request["op"] == "wait":
            try:
                _, status = os.waitpid(request["pid"], 0)
                reply = {"status": status}
            except ChildProcessError:
                reply = {"status": None}
        else:
            reply = {"error": f"unknown op {request['op']!r}"}
        control.sendall(json.dumps(reply).encode() + b"\n")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--zygote":
        zygote(int(sys.argv[2]))
    else:
        sys.exit("usage: child.py --zygote FD (started by the grader, not by hand)")
