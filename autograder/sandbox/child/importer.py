"""Serving the student's modules from source text, under every name their code imports them by.

The parent reads and decodes the submission and sends its text (see ``autograder/intake.py``): a
child never needs the submission's files. Each file becomes one *canonical* module,
``submission.<name>``; every other name the student's code may use for it -- bare
(``res_block``), in a package (``unet.res_block``, ``hw.unet.res_block``, ``from unet import
ResBlock``), in another case (``Unet``) -- is an alias for the same module object. So each file
runs once, and one patch reaches every place that imported from it.

Patching is how a component is graded alone: the reference stands in for the component's
dependencies (``stand_ins``: symbol -> the reference's object, compiled code the parent sent).
After each student module runs, every binding of a replaced symbol in it -- by that name, or to
the student's own object under another name -- points at the stand-in. A dependency module that
cannot even be imported is replaced by its stand-ins, with a note, so a broken ``res_block.py``
costs DownBlock nothing. Contract symbols that are neither graded nor lent (``unavailable``) get
placeholders there instead, which raise when used: a broken ``res_block.py`` then costs
SelfAttention nothing either, though ``attention.py`` imports it, and no reference was lent for it.

A module whose top-level code fails (a test at the bottom of the file, a plot) is run again as its
*definitions only* (``fallback``, made by the parent with the same line numbers), with a note.

Standard library only: ``check.py`` uses this importer too, on the student's own machine, so both
find and load the modules the same way.
"""
import functools
import importlib
import importlib.abc
import importlib.machinery
import linecache
import re
import sys

PACKAGE = "submission"
OWN_PACKAGE = "."  # the key of ``exports`` that names what the graded modules' package exports (``intake.layout``)
_KEPT_ATTRIBUTES = {"__name__", "__spec__", "__loader__", "__package__", "__path__", "__file__", "__builtins__"}


def normalise(name: str) -> str:
    """How module names are matched: case and underscores do not count (``Unet``, ``up_block``)."""
    return name.lower().replace("_", "")


class SourceImporter(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """A ``sys.meta_path`` finder and loader for one component's view of a submission.

    ``modules``: canonical name -> ``{"source", "label", "fallback", "cells"}`` (``label``: the
    file's path in the submission, shown in tracebacks; ``fallback``: the definitions-only source
    or None; ``cells``: for notebooks, ``[[first line, cell number], ...]``; ``broken``: names whose
    statement the parent left out because it does not parse -> Python's message).
    ``aliases``: other names -> canonical; ``packages``: names that are the student's package
    (``unet``, the submission's folders); ``symbols``: contract symbol -> canonical home module;
    ``refused``: top-level package -> the message its import raises; ``required``: canonical
    modules that must run as written or defined-only (they hold the component under test);
    ``protected``: module names that were imported before any student code (never served or dropped);
    ``stand_in_modules``: contract modules the submission lacks -> the symbols they serve (stand-ins,
    else placeholders); ``unavailable``: contract symbols that may get a placeholder;
    ``exports``: package -> {name: canonical module}, what ``from package import *`` gives (its
    ``__init__.py``'s, as the parent read it; a package with none exports nothing, as in Python;
    ``"."``: the graded modules' own package, which they import as ``from . import *``);
    ``on_execute``: called with a canonical name and True when that file's code starts, False when
    it is done (the child tells the parent, so a file whose top-level code hangs or ends the process
    can be named); ``targets``: the contract symbols under test (``_run_each``).
    """

    def __init__(self, modules: dict, aliases: dict | None = None, packages=(), symbols: dict | None = None,
                 stand_ins: dict | None = None, refused: dict | None = None, required=(), prefer_fallback=(),
                 protected=(), stand_in_modules: dict | None = None, unavailable=(), on_execute=None, exports: dict | None = None,
                 targets=()):
        self.modules = modules
        self.targets = frozenset(targets)  # the contract symbols under test: their own errors are theirs to show
        self.on_execute = on_execute or (lambda canonical, running: None)  # told when a file's code starts and ends
        self.stand_in_modules = {normalise(k): (k, v) for k, v in (stand_in_modules or {}).items()}
        self.protected = frozenset(protected)
        self.aliases = {normalise(name): name for name in modules}
        self.aliases.update((normalise(alias), canonical) for alias, canonical in (aliases or {}).items())
        self.packages = {normalise(p) for p in packages} | {normalise(PACKAGE)}
        self.exports = {normalise(p): dict(names) for p, names in (exports or {}).items() if p != OWN_PACKAGE}
        if OWN_PACKAGE in (exports or {}):  # the graded modules' own package: ``from . import *`` in them
            # its names only: the package itself (``unet``) runs its __init__, once, in its order
            self.exports[normalise(PACKAGE)] = {k: v for k, v in exports[OWN_PACKAGE].items() if k != "__init__.py"}
        self.symbols = dict(symbols or {})
        self.stand_ins = dict(stand_ins or {})
        self.unavailable = frozenset(unavailable) - self.stand_ins.keys()
        self.refused = dict(refused or {})
        self.required = set(required)
        self.prefer_fallback = set(prefer_fallback)
        self.labels = {entry["label"]: name for name, entry in modules.items()}
        self.served: set[str] = set()
        self.notes: list[str] = []
        # id of a student's object for a replaced symbol -> (the symbol, the object): held, so that its id
        # cannot pass to a later object (a class defined after it was replaced) that patching would then replace
        self._originals: dict[int, tuple[str, object]] = {}
        self._executed: list = []  # canonical modules run so far
        self._running: set[str] = set()  # canonical modules whose code is running now (imports in progress)
        self._initialising = 0  # packages whose __init__ is being done now (``_init_package``)
        self._packages: dict = {}  # normalised package name -> its module, for those with exports

    # --- finding -------------------------------------------------------------------------------

    def resolve(self, fullname: str):
        """("module", canonical), ("package", None) or None for a name this importer does not serve.

        Leading parts that name the student's package or one of its modules are only containers:
        ``hw.unet.res_block``, ``unet.res_block`` and ``res_block`` are all ``res_block``. A name
        the interpreter had imported before any student code (``copy``, ``torch``) is never served,
        as on the student's own machine, where it would not reach their file either.
        """
        if fullname == PACKAGE:
            return "package", None
        if fullname in self.protected:
            return None
        if fullname.startswith(PACKAGE + ".") and fullname[len(PACKAGE) + 1:] in self.modules:
            return "module", fullname[len(PACKAGE) + 1:]  # the canonical name itself
        parts = fullname.split(".")
        container = None
        while len(parts) > 1 and normalise(parts[0]) in self.packages | self.aliases.keys():
            container = normalise(parts[0])
            parts = parts[1:]
        if len(parts) != 1:
            return None
        if (container in self.aliases and container not in self.packages
                and self.aliases.get(normalise(parts[0])) == self.aliases[container]):
            return None  # ``res_block.ResBlock`` (``from .res_block import ResBlock`` it lacks) is no module in
            # itself; ``unet.unet`` is: the package unet's module unet.py
        if parts[0] in self.symbols and parts[0] not in self.modules:
            return None  # ``unet.TimeEmbedding`` is a class, not a module, however it is spelled
        key = normalise(parts[0])
        if key in self.packages:  # before modules: ``unet`` is the package even beside a ``unet.py``
            return "package", None
        if key in self.aliases:
            return "module", self.aliases[key]
        if key in self.stand_in_modules:
            return "stand-in", self.stand_in_modules[key][0]
        return None

    def find_spec(self, fullname, path=None, target=None):
        top = fullname.split(".")[0]
        if top in self.refused:
            raise ModuleNotFoundError(self.refused[top], name=fullname)
        resolved = self.resolve(fullname)
        if resolved is None and fullname.startswith(PACKAGE + "."):  # a relative import: our package's name is no one's
            missing = fullname[len(PACKAGE) + 1:]
            raise ModuleNotFoundError(f"No module named '{missing}': your code imports it from its own folder (from "
                                      f".{missing} import ...), and the hand-in has no {missing.replace('.', '/')}.py: "
                                      "hand in that file too", name=fullname)
        if resolved is None:
            return None
        kind, canonical = resolved
        self.served.add(fullname)
        if kind == "stand-in":
            return importlib.machinery.ModuleSpec(fullname, self)
        if kind == "package":
            spec = importlib.machinery.ModuleSpec(fullname, self, is_package=True)
            spec.submodule_search_locations = []
            return spec
        if fullname == f"{PACKAGE}.{canonical}":
            spec = importlib.machinery.ModuleSpec(fullname, self, origin=self.modules[canonical]["label"])
            spec.has_location = True
            return spec
        return importlib.machinery.ModuleSpec(fullname, self)  # an alias: the canonical module itself

    # --- loading -------------------------------------------------------------------------------

    def create_module(self, spec):
        resolved = self.resolve(spec.name)
        if resolved and resolved[0] == "module" and spec.name != f"{PACKAGE}.{resolved[1]}":
            return importlib.import_module(f"{PACKAGE}.{resolved[1]}")  # the alias gets the same object
        return None

    def exec_module(self, module):
        kind, canonical = self.resolve(module.__spec__.name)
        if kind == "package":
            last = module.__spec__.name.split(".")[-1]
            module.__getattr__ = functools.partial(self._package_attribute, last)
            self._init_package(module, normalise(last))
            return
        if kind == "stand-in":  # a contract module the submission lacks: stand-ins, else placeholders
            symbols = self.stand_in_modules[normalise(canonical)][1]
            self._serve(module, symbols, f"{canonical}.py is missing")
            lent = [s for s in symbols if s in self.stand_ins]
            self.notes.append(f"{canonical}.py is missing; " + (f"the reference {', '.join(lent)} stood in for it here"
                              if lent else f"{', '.join(symbols)} cannot be used here"))
            return
        if module.__spec__.name != f"{PACKAGE}.{canonical}":
            module.__spec__ = sys.modules[f"{PACKAGE}.{canonical}"].__spec__  # an alias: already run
            return
        self._execute(module, canonical)

    def _execute(self, module, canonical: str) -> None:
        entry = self.modules[canonical]
        label, fallback = entry["label"], entry.get("fallback")
        module.__path__ = []  # so `import unet.res_block` works where `unet` is this module
        module.__file__ = label
        linecache.cache[label] = (len(entry["source"]), None, entry["source"].splitlines(True), label)
        self._seed_unhoused(module, canonical)
        self.on_execute(canonical, True)
        self._running.add(canonical)
        try:
            self._execute_text(module, canonical, label, fallback)
        finally:
            self._running.discard(canonical)
        self.on_execute(canonical, False)
        homeless = sorted(s for s, home in self.symbols.items() if home == canonical and s not in vars(module)
                          and (s in self.stand_ins or s in self.unavailable))
        if homeless:  # a contract name this file should hold but does not define: served, as for a missing file
            self._serve(module, homeless, f"{label} does not define it")
            lent = [s for s in homeless if s in self.stand_ins]
            broken = entry.get("broken") or {}  # left out by the parent: their statement does not parse
            said = (f"{label}'s {', '.join(homeless)} could not be read (SyntaxError: {broken[homeless[0]]})"
                    if homeless[0] in broken else f"{label} does not define {', '.join(homeless)}")
            self.notes.append(f"{said}; " + (
                f"the reference {', '.join(lent)} stood in for it here" if lent else "it cannot be used here"))
        self._remember_originals(module, canonical)
        self._executed.append(module)
        self.patch(module)

    def _seed_unhoused(self, module, canonical: str) -> None:
        """A contract name no file of the hand-in defines (ResBlock left out of a one-file unet.py) is
        served in each file before its code runs, as a missing file's names are: its stand-in where one
        is lent, else a placeholder that says why. The file's own definitions, run after, take its place."""
        unhoused = sorted(s for s in (*self.stand_ins, *self.unavailable) if s not in self.symbols)
        used = [s for s in unhoused if re.search(rf"\b{s}\b", self.modules[canonical]["source"])]
        if not used:
            return
        self._serve(module, used, "no file of your hand-in defines it")
        lent = [s for s in used if s in self.stand_ins]
        note = f"no file of your hand-in defines {', '.join(lent)}; the reference stood in for it where your code uses it"
        if lent and note not in self.notes:  # where nothing is lent, the component's own checks say it is missing
            self.notes.append(note)

    def _execute_text(self, module, canonical: str, label: str, fallback) -> None:
        entry = self.modules[canonical]
        if fallback and canonical in self.prefer_fallback:
            self.notes.append(f"{label}: its top-level code did not finish (it hung or ended the process), "
                              "so only its definitions were graded")
            self._run(module, fallback, label)
        else:
            try:
                self._run(module, entry["source"], label)
            except BaseException as error:
                if not self._recover(module, canonical, error):
                    raise

    def run_package_inits(self) -> None:
        """Import each package that has an ``__init__.py``, as ``import unet.res_block`` would first:
        its modules then run in its order. A failure here is left to the import that needs the module."""
        for package, names in self.exports.items():
            if "__init__.py" in names:
                try:
                    importlib.import_module(package)
                except (Exception, SystemExit):  # noqa: BLE001 -- the required modules' own import says what is wrong
                    pass

    def _init_package(self, package, key: str) -> None:
        """Do what the package's ``__init__.py`` does (as the parent read it): import its modules in its
        order and bind what it exports, so ``from unet import *`` inside the package sees, at each
        moment, what Python would. A module that cannot be imported and holds nothing under test is
        left out (its names are missing), so it costs only what uses it."""
        exported = self.exports.get(key)
        if not exported or "__init__.py" not in exported:  # a module's names (``unet.py``), served when asked
            return
        self._packages[key] = package
        self._initialising += 1
        try:
            self._bind_exports(package, key, exported)
        finally:
            self._initialising -= 1
        self.patch(package)

    def _bind_exports(self, package, key: str, exported: dict) -> None:
        for canonical in dict.fromkeys(exported.values()):
            if canonical not in self.modules or canonical in self._running:
                continue
            try:
                self.module(canonical)
            except Exception:  # noqa: BLE001 -- student code: the names it held are missing, as they would be
                if canonical in self.required:
                    raise
                continue
            for name, home in exported.items():
                if home == canonical and not name.startswith("__"):
                    try:
                        setattr(package, name, self._package_attribute(key, name))
                    except AttributeError:
                        pass

    def _recover(self, module, canonical: str, error: BaseException) -> bool:
        """After ``module`` raised on import: run its definitions only, or stand in for it. False: neither."""
        entry = self.modules[canonical]
        label, fallback = entry["label"], entry.get("fallback")
        what = _said(error)
        if fallback and fallback != entry["source"]:
            _clear(module)
            try:
                self._run(module, fallback, label)
            except BaseException:  # noqa: BLE001 -- then the definitions themselves are broken
                pass
            else:
                self.notes.append(f"{label}: its top-level code raised {what}; graded its definitions without it")
                return True
        # Only where nothing else is being imported: inside another file's import or a package's
        # __init__, a failure may be the import order's (a circle), and the import is tried again later.
        alone = self._running <= {canonical} and not self._initialising
        if alone and self._run_each(module, canonical, fallback or entry["source"], label):
            return True
        covered = sorted(s for s, home in self.symbols.items()
                         if home == canonical and (s in self.stand_ins or s in self.unavailable))
        if canonical in self.required or not covered:
            return False
        _clear(module)
        self._serve(module, covered, f"{label} could not be imported")
        lent = [s for s in covered if s in self.stand_ins]
        self.notes.append(f"{label} could not be imported ({what}); " + (
            f"the reference {', '.join(lent)} stood in for it here (it is graded on its own)" if lent
            else f"{', '.join(covered)} cannot be used here (graded on its own)"))
        return True

    def _run_each(self, module, canonical: str, source: str, label: str) -> bool:
        """Run ``source``'s top-level statements one by one, each that raises left out: one broken
        definition then costs only the components that use it, not every one its file holds. In a
        notebook, whose cells ran in any order, a statement that needs a name a later one defines
        runs after it (unless a later statement defines its own names again). False, with nothing
        kept, where a statement that defines a symbol under test fails: its own error is the one to show."""
        import ast

        try:
            statements = ast.parse(source, label).body
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return False
        _clear(module)
        in_notebook = bool(self.modules[canonical].get("cells"))
        binds = [_binds(statement) for statement in statements]
        failed, waiting, done = {}, [], set()

        def run(index: int) -> None:
            code = compile(ast.Module([statements[index]], type_ignores=[]), label, "exec", dont_inherit=True)
            try:
                exec(code, module.__dict__)
            except NameError as error:
                failed[index] = error
                if in_notebook and index not in waiting:
                    waiting.append(index)
            except (Exception, SystemExit) as error:  # noqa: BLE001 -- student code: left out, and said
                failed[index] = error
            else:
                failed.pop(index, None)
                done.add(index)

        for index in range(len(statements)):
            run(index)
        ran_first = set(done)
        while waiting:
            before = len(done)
            for index in list(waiting):
                redefined = set().union(*(binds[i] for i in done if i > index))
                if binds[index] & redefined:
                    waiting.remove(index)  # superseded: a later cell defines the same names
                    failed.pop(index, None)
                    continue
                run(index)
                if index in done:
                    waiting.remove(index)
            if len(done) == before:
                break
        lost = set().union(*(binds[i] for i in failed))
        if lost & self.targets:
            _clear(module)
            return False
        for index, error in sorted(failed.items()):
            what = _said(error)
            names = ", ".join(sorted(binds[index])) or "its statement"
            self.notes.append(f"{self._line(label, statements[index])}: {what}; left out ({names} cannot be used), "
                              "the rest graded")
        late = sorted(name for i in done - ran_first for name in binds[i])
        if late:
            self.notes.append(f"{label}: {', '.join(late)} {'needs' if len(late) == 1 else 'need'} names that later "
                              "cells define (the cells ran out of order): defined after them, as the notebook's kernel "
                              "had them; run the notebook top to bottom before handing it in")
        return True

    def _line(self, label: str, statement) -> str:
        return self.where(label, statement.lineno) or f'"{label}"'

    def _serve(self, module, symbols, why: str) -> None:
        """Fill ``module`` with the stand-ins of ``symbols``, and placeholders for the rest."""
        for symbol in symbols:
            setattr(module, symbol, self.stand_ins[symbol] if symbol in self.stand_ins else _placeholder(symbol, why))

    def _run(self, module, source: str, label: str) -> None:
        exec(_compiled(source, label), module.__dict__)

    def _remember_originals(self, module, canonical: str) -> None:
        for symbol, home in self.symbols.items():
            if home == canonical and symbol in self.stand_ins and symbol in vars(module):
                original = vars(module)[symbol]
                self._originals[id(original)] = (symbol, original)

    def patch(self, module) -> None:
        """Point every binding of a replaced symbol in ``module`` at its stand-in, and every class of the
        module derived from one at its stand-in too (``_rebase``)."""
        namespace = vars(module)
        for name, value in list(namespace.items()):
            symbol = name if name in self.stand_ins else self._replaced_symbol(value)
            if symbol is not None and value is not self.stand_ins[symbol]:
                namespace[name] = self.stand_ins[symbol]
            elif isinstance(value, type) and value.__module__ == module.__name__:
                self._rebase(value)
        if "__getattr__" not in namespace:
            namespace["__getattr__"] = functools.partial(self._package_attribute, None, asker=module.__name__)

    def _rebase(self, cls: type) -> None:
        """A class derived from a replaced symbol where it was defined (``class NoSkipUNet(SimpleUNet)``
        below the student's SimpleUNet, in one file or notebook) derives from its stand-in instead, as it
        does when its file imports the name from another file: a mistake in SimpleUNet costs SimpleUNet,
        not the task built on it. (A base whose layout Python will not swap stays as written.)"""
        bases = tuple(self.stand_ins[symbol] if (symbol := self._replaced_symbol(base)) else base
                      for base in cls.__bases__)
        if bases != cls.__bases__:
            try:
                cls.__bases__ = bases
            except TypeError:
                pass

    def _replaced_symbol(self, value) -> str | None:
        """The symbol whose student object ``value`` is (the very object, not one at its old address)."""
        symbol, original = self._originals.get(id(value), (None, None))
        return symbol if original is value else None

    def patch_all(self) -> None:
        for module in [*self._executed, *self._packages.values()]:
            self.patch(module)

    def _package_attribute(self, package: str | None, name: str, asker: str | None = None):
        """``from unet import ResBlock``, ``unet.SimpleUNet``, ``from . import res_block``: the symbol
        from its home, a module, or -- for a package named like a module (``unet``) -- that module's name."""
        exported = self.exports.get(normalise(package)) if package is not None else None
        if name == "__all__" and exported is not None:  # as far as the package's __init__ has got
            bound = vars(self._packages.get(normalise(package), object))
            names = [n for n in exported if not n.startswith("__")]
            return [n for n in names if n in bound] if normalise(package) in self._packages else names
        if name.startswith("__"):
            raise AttributeError(name)
        if exported and exported.get(name) in self.modules and name not in self.symbols:
            return _defined(self.module(exported[name]), name)
        if name in self.stand_ins:
            return self.stand_ins[name]
        if name in self.symbols:
            return _defined(self.module(self.symbols[name]), name)
        if normalise(name) in self.aliases:
            if asker is not None and normalise(asker.rpartition(".")[2]) == normalise(name):
                raise AttributeError(name)  # res_block's ResBlock (not written yet) is not res_block itself
            return self.module(self.aliases[normalise(name)])
        if package is not None and normalise(package) in self.aliases:
            namesake = self.module(self.aliases[normalise(package)])
            if name in vars(namesake):
                return vars(namesake)[name]
        raise AttributeError(name)

    # --- using and forgetting ------------------------------------------------------------------

    def module(self, canonical: str):
        return importlib.import_module(f"{PACKAGE}.{canonical}")

    def symbol(self, name: str):
        """The object the component sees under contract name ``name``: a stand-in or the student's."""
        if name in self.stand_ins:
            return self.stand_ins[name]
        home = self.symbols.get(name)
        if home is None:
            raise LookupError(name)
        return getattr(self.module(home), name)

    def where(self, filename: str, lineno: int | None) -> str | None:
        """``"label", line N`` for a traceback frame in a student file (a notebook's: its cell), else None."""
        canonical = self.labels.get(filename)
        if canonical is None:
            return None
        cells = self.modules[canonical].get("cells")
        if cells and lineno is not None:
            start, cell = max(((s, c) for s, c in cells if s <= lineno), default=(1, None))
            if cell is not None:
                return f'"{filename}", cell {cell}, line {lineno - start + 1}'
        return f'"{filename}", line {lineno}'

    def install(self) -> None:
        """Go first on ``sys.meta_path``, after dropping whatever already sits under names we serve
        (a module planted there by earlier student code is not this submission's file)."""
        self._drop_served_names()
        sys.meta_path.insert(0, self)

    def forget(self) -> None:
        """Take this importer and everything it served out of the interpreter."""
        sys.meta_path[:] = [finder for finder in sys.meta_path if finder is not self]
        self._drop_served_names()
        for label in self.labels:
            linecache.cache.pop(label, None)

    def _drop_served_names(self) -> None:
        for name in list(sys.modules):
            if name in self.served or self.resolve(name) is not None:
                sys.modules.pop(name, None)


def _placeholder(symbol: str, why: str):
    """A name that imports but cannot be used: a class (so a subclass can still be defined) or a function."""
    def unavailable(*_args, **_kwargs):
        raise RuntimeError(f"{symbol} cannot be used here: {why}")

    if symbol[:1].isupper():
        return type(symbol, (), {"__init__": unavailable, "__module__": "unavailable"})
    return unavailable


def _said(error: BaseException) -> str:
    """``Type: message``, first line: the student's exception may not even say itself."""
    try:
        text = f"{type(error).__name__}: {error}"
    except Exception:  # noqa: BLE001 -- its __str__ raised
        text = type(error).__name__
    return (text.splitlines() or [""])[0][:300]


def _defined(module, name: str):
    """``name`` as ``module`` itself defines it: not through its ``__getattr__``, which asks this
    importer again -- for a symbol its home does not define, without end."""
    try:
        return vars(module)[name]
    except KeyError:
        raise AttributeError(f"{getattr(module, '__file__', None) or module.__name__} does not define {name}") from None


def _binds(statement) -> set:
    """The names a top-level statement defines or assigns, and those in the blocks of an
    ``if``/``try``/``with``/loop (a device chosen beside a ``print``): enough to see one defined again
    and to say what a statement left out takes with it. Not imports: a failed ``from unet import
    ResBlock`` above the notebook's own ResBlock takes nothing under test with it."""
    import ast

    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {statement.name}
    targets = statement.targets if isinstance(statement, ast.Assign) else (
        [statement.target] if isinstance(statement, ast.AnnAssign) else [])
    names = {node.id for target in targets for node in ast.walk(target) if isinstance(node, ast.Name)}
    blocks = [getattr(statement, field, None) or [] for field in ("body", "orelse", "finalbody")]
    blocks += [handler.body for handler in getattr(statement, "handlers", [])]
    for block in blocks:
        for inner in block:
            names |= _binds(inner)
    return names


def _clear(module) -> None:
    for name in [n for n in vars(module) if n not in _KEPT_ATTRIBUTES]:
        delattr(module, name)


_CODE_CACHE: dict = {}


def _compiled(source: str, label: str):
    """Code objects are immutable: a child imports the same file for several components, compiles it once."""
    key = (source, label)
    code = _CODE_CACHE.get(key)
    if code is None:
        if len(_CODE_CACHE) > 64:
            _CODE_CACHE.clear()
        code = _CODE_CACHE[key] = compile(source, label, "exec", dont_inherit=True)
    return code
