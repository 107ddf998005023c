"""The child's request loop: load a component's modules, then answer the checks' requests.

Each ``op_*`` is one verb of the narrow interface the parent uses (see ``launcher.py``); each
``step_*`` is one step of a program sent in a batch: build (or reuse) a module, load states into
it, then describe it, run it forward (and backward), or call a function. Whatever student code
does, the reply is plain data; an exception is a result (its traceback, in the student's terms).
"""
import base64
import contextlib
import io
import itertools
import json
import marshal
import os
import resource
import sys
import traceback

from . import own_tasks, torch_settings
from .audit import GlobalState
from .codec import FROM_REFERENCE, IN_REFERENCE, dumps, loads, recv_frame, send_frame
from .describe import describe
from .importer import SourceImporter
from .plain import NotPlain, plain
from .watch import CallCounter, Watcher

# Modules kept alive per child, for the next program that asks for the same one: hundreds of live
# modules made every build pay for garbage collection passes over them (0.8 ms instead of 0.45 ms
# for a small ResBlock).
KEPT_MODULES = 8
MAX_TEXT = 8000  # characters of an error or of printed output sent back (the parent caps again)
REFERENCE_LABEL = "<reference>"



COMPILED_NOTE = ("torch.compile is switched off while grading (compiling needs files the sandbox does not allow "
                 "and seconds per run): your code ran eagerly, which gives the same results")


def _compile_eagerly(torch) -> list:
    """``torch.compile`` as ``torch.compile(..., disable=True)``, its documented no-op, in every child.

    Compiling needs a writable cache folder and a C compiler, and costs seconds per module on each fresh
    child (benchmarks/compiled_code.py): a correct ``@torch.compile`` forward would time out or be refused
    a file, a coding-mistake zero for an environment problem. Eager code computes the same values. The
    returned list gets one entry per call, so the student is told.
    """
    original, calls = torch.compile, []

    def compile_eagerly(model=None, **options):  # what ``disable=True`` returns, without its set-up (which makes files)
        calls.append(1)
        return (lambda function: function) if model is None else model

    compile_eagerly.__doc__ = original.__doc__
    torch.compile = compile_eagerly
    return calls


def _default_device_kept(torch, device) -> list:
    """``torch.set_default_device`` to a device grading does not run on does nothing, in every child.

    ``torch.set_default_device("cuda")`` at the top of a file (a Colab habit) made every later tensor a
    CUDA one while the file was still being imported, on a machine without CUDA: the file, and every
    file importing it, failed to import (-52 for one line, red team). With the default left alone the
    code runs where grading runs, with the same results. The returned list gets each device asked for,
    so the student is told."""
    original, asked = torch.set_default_device, []

    def set_default_device(requested):
        try:
            elsewhere = requested is not None and torch.device(requested).type != device.type
        except (RuntimeError, TypeError, ValueError):
            elsewhere = False  # not a device: torch's own error says so
        if elsewhere:
            asked.append(str(requested)[:40])
            return None
        return original(requested)

    set_default_device.__doc__ = original.__doc__
    torch.set_default_device = set_default_device
    return asked


class StudentFailure(Exception):
    """Student code misbehaved in a way we describe ourselves: reported as text, never as an object."""


class Child:
    def __init__(self, sock, settings: dict, own_pid_namespace: bool = False, procfs: bool = True):
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
        self.question_settings = None  # torch's settings after the import (``op_load``)
        self.compiled = _compile_eagerly(torch)
        self.devices_asked = _default_device_kept(torch, self.device)
        self.protected = frozenset(sys.modules)  # imported before any student code: never theirs
        self.baseline = GlobalState(torch, count_processes=own_pid_namespace, procfs=procfs)  # before any student code

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
                reply = {"ok": False, "error": str(failure)[:MAX_TEXT]}
            except BaseException as exc:  # student code: any exception, even SystemExit, is a result
                reply = {"ok": False, "error": self.traceback_of(exc)}
            reply["printed"] = printed.getvalue()[-2000:]
            try:
                data = dumps(reply)
            except Exception as exc:
                data = dumps({"ok": False, "error": f"the result could not be sent back: {exc}"[:MAX_TEXT],
                              "printed": ""})
            send_frame(self.sock, data)

    def traceback_of(self, exc: BaseException) -> str:
        """The traceback lines inside the submission, plus the error itself: what a student can act on.

        Frames are named by the submission's own paths (``unet/res_block.py, line 12``; a notebook's
        by cell); the reference's frames only as ``<reference>``, without lines.
        """
        lines = []
        try:
            frames = traceback.extract_tb(exc.__traceback__)
        except Exception:  # noqa: BLE001 -- a frame we cannot describe costs the traceback, not the reply
            frames = []
        shown, last = [], None
        for frame in frames:
            where = self.importer.where(frame.filename, frame.lineno) if self.importer is not None else None
            if where is not None:
                shown.append(f"  File {where}, in {frame.name}\n" + (f"    {frame.line.strip()}\n" if frame.line else ""))
                last = "student"
            elif frame.filename == REFERENCE_LABEL:
                shown.append(f"  (the reference's code, in {frame.name})\n")
                last = "reference"
        lines += shown[-6:]
        library = _library_module(frames[-1].filename) if frames and last is not None else None
        if library:  # raised in a library the student's code called: named, so that the cause can be told
            # apart (a PermissionError from multiprocessing is a worker process, not a file written)
            lines.append(f"  (raised in {library}, in {frames[-1].name})\n")
        try:
            lines += traceback.format_exception_only(type(exc), exc)
        except Exception:  # noqa: BLE001 -- an exception whose str() raises
            lines.append(f"{type(exc).__name__} (its message could not be shown)\n")
        if last == "reference":  # never blame the student for what our stand-in did
            allowed_call = isinstance(exc, (TypeError, AttributeError, ValueError))
            lines.insert(0, (IN_REFERENCE if allowed_call else FROM_REFERENCE) + "\n")  # first: never cut off
        return "".join(lines).rstrip()[:MAX_TEXT]

    # --- loading and forgetting a component ----------------------------------------------------

    def op_load(self, modules: dict, symbols: dict, target_symbols: list, aliases: dict | None = None,
                packages: list | None = None, stand_in_code: str | None = None, replaced: list | None = None,
                refused: dict | None = None, required: list | None = None, prefer_fallback: list | None = None,
                stand_in_modules: dict | None = None, unavailable: list | None = None,
                exports: dict | None = None) -> dict:
        """Import the modules that hold the component under test, with the reference standing in for
        the ``replaced`` symbols (its compiled code, never its source); report what was done."""
        self._forget_modules()
        stand_ins = self._stand_ins(stand_in_code, replaced or [])
        self.importer = SourceImporter(
            modules, aliases=aliases, packages=packages or (), symbols=symbols, stand_ins=stand_ins,
            refused=refused, required=required or (), prefer_fallback=prefer_fallback or (), protected=self.protected,
            stand_in_modules=stand_in_modules, unavailable=unavailable, on_execute=self._importing, exports=exports,
            targets=target_symbols,
        )
        self.importer.install()
        settings = torch_settings.snapshot()
        try:
            self.importer.run_package_inits()
            for canonical in required or []:
                self.importer.module(canonical)
        finally:
            # torch's settings as the checks need them, whatever the files' top-level code changed, said in a note
            put_back = torch_settings.put_back(settings)
        self.importer.patch_all()  # a module imported before a later one's originals were known
        self.question_settings = torch_settings.snapshot()  # every question starts from these (``_program``)
        missing = [s for s in target_symbols if not self._defines(s)]
        notes = list(self.importer.notes) + put_back
        if self.compiled:
            notes.append(COMPILED_NOTE)
        if self.devices_asked:
            notes.append(f"torch.set_default_device({self.devices_asked[0]!r}) did nothing while grading: grading runs on "
                         f"the {self.device.type}, and your code ran there (write device-independent code: tensors made "
                         "where their inputs live)")
        return {"missing": missing, "notes": notes}

    def _importing(self, canonical: str, running: bool) -> None:
        """Tell the parent which file's code starts or ends: if one never ends, its top-level code is why."""
        if self.sock is not None:
            send_frame(self.sock, dumps({"progress": [canonical, running]}))

    def _stand_ins(self, code_text: str | None, replaced: list) -> dict:
        if not code_text:
            return {}
        namespace = {"__name__": "reference", "__builtins__": __builtins__}
        exec(marshal.loads(base64.b64decode(code_text)), namespace)
        return {symbol: namespace[symbol] for symbol in replaced}

    def _defines(self, symbol: str) -> bool:
        try:
            self.importer.symbol(symbol)
        except (LookupError, AttributeError):
            return False
        return True

    def op_reset(self) -> dict:
        """Forget the component just graded, so that this child can serve the next one of the same
        submission as a fresh child would; report what the parent needs to decide whether it may.

        ``clean`` is False when anything the next component could feel has changed since the child
        started: torch's or the standard library's functions, global torch settings, threads,
        signal handlers. Honest code never trips it; code that does gets a fresh child next.
        """
        self._forget_modules()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "clean": self.baseline.changes() == [],
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "address_space_bytes": own_tasks.address_space_bytes(),  # without /proc, which a child may lack
        }

    def _forget_modules(self) -> None:
        """Drop the loaded component: its modules (student and reference), kept builds, and source lines."""
        self.modules.clear()
        if self.importer is not None:
            self.importer.forget()
            self.importer = None

    def _lookup(self, name: str):
        try:
            return self.importer.symbol(name)
        except (LookupError, AttributeError):
            raise StudentFailure(f"your submission does not define {name}") from None

    def _reseed(self) -> None:
        """Every build and run starts from the same random state (random init, dropout), on any machine.

        ``torch.manual_seed`` also queues seeding for lazily started accelerators, formatting a stack
        trace each time: on the CPU the generator's own seed is all that matters, at 1/50 the cost.
        """
        if self.device.type == "cpu":
            self.torch.default_generator.manual_seed(0)
        else:
            self.torch.manual_seed(0)

    # --- programs ----------------------------------------------------------------------------

    def op_batch(self, states: dict, programs: list) -> list:
        """Many requests in one round trip: each program builds (or reuses) a module, loads states, runs steps.

        A program's module is ``{"target", "kwargs", "loads"}`` (``loads`` names entries of
        ``states``), or None for plain function calls. Every failure is reported where it happened
        -- the constructor, one load, one step -- and the other steps still run.
        """
        return [self._program(states, program.get("module"), program["steps"]) for program in programs]

    def _program(self, states: dict, module_spec, steps: list) -> dict:
        # A setting an earlier question's code changed for good (skip_ablation's set_default_dtype(float64))
        # is that code's behaviour, seen by its own checks; this question is asked as of after the import.
        if self.question_settings is not None:
            torch_settings.put_back(self.question_settings)
        result = {"build": None, "loads": [], "steps": []}
        module = None
        if module_spec is not None:
            try:
                module, result["loads"] = self._module_for(states, **module_spec)
            except StudentFailure as failure:
                result["build"] = str(failure)[:MAX_TEXT]
                return result
            except BaseException as exc:  # student code: any exception is a result
                result["build"] = self.traceback_of(exc)
                return result
        for step in steps:
            try:
                value = getattr(self, "step_" + step["op"])(module, states, **step["args"])
                result["steps"].append({"ok": True, "value": value})
            except StudentFailure as failure:
                result["steps"].append({"ok": False, "error": str(failure)[:MAX_TEXT]})
            except BaseException as exc:
                result["steps"].append({"ok": False, "error": self.traceback_of(exc)})
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

    def _fresh_module(self, states: dict, target: str, kwargs: dict, loads: list):
        module = self._build(target, kwargs)
        return module, [self._load(module, states[name]) for name in loads]

    def _build(self, target: str, kwargs: dict):
        self._reseed()
        module = self._lookup(target)(**kwargs)
        if not isinstance(module, self.torch.nn.Module):
            raise StudentFailure(f"{target}(...) did not create an nn.Module (got {type(module).__name__})")
        return module if self._on_device(module) else module.to(self.device)

    def _on_device(self, module) -> bool:
        """Whether ``module.to(device)`` would change nothing: every parameter and buffer is there, and
        no module overrides how it moves (``to``, ``_apply``). A tenth of a build, saved on nearly all."""
        base = self.torch.nn.Module
        if type(module).to is not base.to:
            return False
        for part in module.modules():
            if type(part)._apply is not base._apply:
                return False
        device = self.device
        return all(t.device == device for t in itertools.chain(module.parameters(), module.buffers()))

    def _load(self, module, state: dict) -> str | None:
        """Load ``state["tensors"]``; None if it fit, else why not, in the student's terms.

        The contract's weights must all find a place, and every trainable parameter of the module
        must get one -- except with ``partial`` (only some parts are given). Buffers the student
        added (a table of frequencies, say) and parameters frozen with ``requires_grad=False`` keep
        their own values: they are constants, not part of the contract.
        """
        tensors = {k: v.to(self.device) for k, v in state["tensors"].items()}
        try:
            result = module.load_state_dict(tensors, strict=False)
        except BaseException as exc:
            return self.traceback_of(exc)
        parameters = {name for name, p in module.named_parameters() if p.requires_grad}
        missing = [k for k in result.missing_keys if k in parameters and not state.get("partial")]
        problems = []
        if result.unexpected_keys:
            problems.append("no place for " + ", ".join(result.unexpected_keys[:8]))
        if missing:
            problems.append("nothing loaded into " + ", ".join(missing[:8]))
        return f"the weights do not fit your module: {'; '.join(problems)}" if problems else None

    # --- steps -------------------------------------------------------------------------------

    def step_describe(self, module, _states) -> dict:
        return describe(module)  # the one description (``describe.py``), which the public rules read too

    def _to_device(self, value, requires_grad: bool):
        torch = self.torch
        if isinstance(value, torch.Tensor):
            value = value.to(self.device)
            if requires_grad and value.is_floating_point():
                value.requires_grad_(True)
            return value
        return value

    def _to_plain(self, value, read: dict | None = None):
        """What student code returned as plain data (``plain.py``; ``read``: the keys a documented dict is
        read by); anything else is the student's failure."""
        try:
            return plain(value, read=read)
        except NotPlain as refused:
            raise StudentFailure(str(refused)) from None

    def step_run(self, module, _states, args: list, kwargs: dict, submodule: str = "", grad_output=None,
                 capture: list | None = None) -> dict:
        """Forward (and, with ``grad_output``, backward) on given inputs; everything comes back.

        ``capture``: submodules whose inputs and output to record on the way (forward hooks), so a
        check can say which part first departs from the reference.
        """
        torch = self.torch
        if submodule:
            module = module.get_submodule(submodule)
        want_grad = grad_output is not None
        leaves = [self._to_device(a, want_grad) for a in args]
        # With gradients on, the module gets copies of the leaves: an in-place change then shows up
        # as a changed input (and autograd follows it) instead of raising about a leaf.
        inputs = [a.clone() if isinstance(a, torch.Tensor) and a.requires_grad else a for a in leaves]
        sent = [a.detach().clone() if isinstance(a, torch.Tensor) else a for a in inputs]
        captured, handles = {}, []
        for name in capture or []:
            handles.append(module.get_submodule(name).register_forward_hook(self._recorder(captured, name)))
        module.zero_grad(set_to_none=True)
        self._reseed()
        try:
            with torch.set_grad_enabled(want_grad):
                output = module(*inputs, **kwargs)
        finally:
            for handle in handles:
                handle.remove()
        result = {"output": self._to_plain(output)}
        if capture:
            result["intermediates"] = captured
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

    def _recorder(self, captured: dict, name: str):
        def hook(_module, inputs, output):
            if name not in captured:  # the first call: a submodule used twice keeps its first use
                captured[name] = {"inputs": [self._to_plain(i) if isinstance(i, self.torch.Tensor) else None
                                             for i in inputs],
                                  "output": self._to_plain(output)}
        return hook

    def step_call(self, _module, states: dict, target: str, args: list, watch: dict | None = None,
                  count: dict | None = None) -> dict:
        """Call a function of the submission; an argument ``{"__module__": program}`` is a module built
        in here (the component's stand-in for a dependency, else the student's class), fresh for this call.

        ``watch``: record what the call did to its models (``watch.Watcher``) and report it even when
        the function raises: ``{"repeat": n}`` calls it n times on the same arguments, ``{"eval": True}``
        puts the module arguments in eval mode first, ``{"read": keys}`` reads a dict result by those keys
        alone (``plain``), ``{"reseed_global": True}`` seeds torch's global generator alike after every
        optimizer step (``Watcher``). ``count``, ``{"size": n}``: also report how many
        lines of the submission's files the call ran and how many torch operations met a tensor with a
        dimension of n (``watch.CallCounter``).
        """
        resolved = [self._argument(a, states) for a in args]
        function = self._lookup(target)
        if count is not None:
            self._reseed()
            with CallCounter(frozenset(self.importer.labels), int(count["size"])) as counter:
                output = function(*resolved)
            return {"output": self._to_plain(output), "lines": counter.lines, "operations": counter.operations}
        if watch is None:
            self._reseed()
            return {"output": self._to_plain(function(*resolved))}
        modules = [a for a in resolved if isinstance(a, self.torch.nn.Module)]
        if watch.get("eval"):
            for module in modules:
                module.eval()
        outputs, error = [], None
        with Watcher(modules, reseed_global=bool(watch.get("reseed_global"))) as watcher:
            for _ in range(max(1, min(3, int(watch.get("repeat", 1))))):
                self._reseed()
                try:
                    outputs.append(self._to_plain(function(*resolved), watch.get("read")))
                except StudentFailure:
                    raise
                except BaseException as exc:  # student code: the error is part of what was watched
                    error = self.traceback_of(exc)
                    break
        return {"outputs": outputs, "error": error, "watched": watcher.report()}

    def _edit(self, module, frozen: list, buffers: list) -> None:
        """A module argument made as a model in use may be: some parts frozen, a buffer in others."""
        for name in frozen:
            for parameter in module.get_submodule(name).parameters():
                parameter.requires_grad_(False)
        for name, size in buffers:
            module.get_submodule(name).register_buffer("grader_buffer", self.torch.zeros(int(size), device=self.device))

    def _argument(self, value, states: dict):
        if isinstance(value, dict) and set(value) == {"__module__"}:
            # Never a kept module: the function may leave hooks or modes on it that no other call should see.
            recipe = dict(value["__module__"])
            edits = recipe.pop("edits", None)
            module, errors = self._fresh_module(states, **recipe)
            problems = [e for e in errors if e]
            if problems:
                raise StudentFailure(f"the {recipe['target']} given to it could not be set up: {problems[0]}")
            if edits:
                self._edit(module, **edits)
            return module
        return self._to_device(value, False)


def _library_module(filename: str) -> str | None:
    """The dotted name of an installed or standard-library module's file, else None (never a path)."""
    for folder in sorted((p for p in sys.path if p and os.path.isabs(p)), key=len, reverse=True):
        if filename.startswith(folder.rstrip("/") + "/") and filename.endswith(".py"):
            dotted = filename[len(folder.rstrip("/")) + 1:-3].replace("/", ".").removesuffix(".__init__")
            return dotted if all(part.isidentifier() for part in dotted.split(".")) else None
    return None
