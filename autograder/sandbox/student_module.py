"""The student's code as the checks hold it: proxies that name what to build in the child, never the
thing itself.

``LoadPlan`` is what a component's child imports; ``StudentModule`` is a module of the student's
named by its recipe (class, constructor arguments, states loaded), whose every question goes to the
component's memo (``questions.py``); ``ModuleArg`` is a module to build in the child and pass to a
student's function.
"""
import functools
import json
from dataclasses import dataclass, field

from ..fingerprint import fingerprint
from . import replies
from .questions import all_of
from .replies import ModuleDescription, RunResult


@dataclass(frozen=True)
class LoadPlan:
    """What one component's child imports: the student's modules, under which names, and which of
    their symbols the reference stands in for (as compiled code, ``stand_in_code``)."""

    modules: dict  # canonical name -> {"source", "label", "fallback", "cells", "broken"}
    symbols: dict  # contract symbol -> canonical module that defines it
    target_symbols: tuple  # the symbols of the component under test
    required: tuple = ()  # canonical modules that hold them
    aliases: dict = field(default_factory=dict)
    packages: tuple = ()
    exports: dict = field(default_factory=dict)  # package -> {name: canonical}: ``from pkg import *``
    refused: dict = field(default_factory=dict)
    stand_in_code: str | None = None  # base64 of the marshalled, line-less reference code
    replaced: tuple = ()  # the symbols the stand-ins replace
    stand_in_modules: dict = field(default_factory=dict)  # contract modules the submission lacks -> symbols served
    references: tuple = ()  # the components whose reference the plan holds
    unavailable: tuple = ()  # contract symbols neither graded nor lent: placeholders where their file fails

    def request(self, prefer_fallback=()) -> dict:
        return {"modules": self.modules, "symbols": self.symbols, "target_symbols": list(self.target_symbols),
                "aliases": self.aliases, "packages": list(self.packages), "exports": self.exports, "stand_in_code": self.stand_in_code,
                "replaced": list(self.replaced), "refused": self.refused, "required": list(self.required),
                "prefer_fallback": sorted(prefer_fallback), "stand_in_modules": self.stand_in_modules,
                "unavailable": list(self.unavailable)}

    def fallbacks(self) -> set:
        """The modules that have a definitions-only version to fall back on."""
        return {name for name, entry in self.modules.items() if entry.get("fallback")}


@dataclass(frozen=True)
class ModuleArg:
    """A module to build in the child and pass to a student's function (``StudentComponent.call``):
    the component's stand-in when ``class_name`` is one of its dependencies, else the student's class."""

    class_name: str
    init: dict
    state_dict: dict | None = None
    partial: bool = False
    frozen: tuple = ()  # submodules whose parameters are frozen (requires_grad=False) once built
    buffers: tuple = ()  # (submodule, size): a buffer of that many elements registered there once built


@dataclass
class StudentModule:
    """A module of the student's, named by its recipe: class, constructor arguments, states loaded."""

    component: object  # the StudentComponent (launcher.py) whose child answers and whose memo keeps the answers
    class_name: str
    init: dict
    loads: tuple = ()  # fingerprints of the state_dicts loaded so far, failed loads included

    def __post_init__(self):
        self.spec = (self.class_name, json.dumps(self.init, sort_keys=True))  # the recipe's fixed part

    @property
    def call(self) -> str:
        return f"{self.class_name}({', '.join(f'{k}={v!r}' for k, v in self.init.items())})"

    def describe(self) -> ModuleDescription:
        what = f"describing {self.class_name}"
        return replies.description(self.component.questions.answer(self, {"op": "describe", "args": {}}, what), what)

    def load_state_dict(self, state_dict: dict, name: str | None = None, partial: bool = False) -> None:
        """Load ``state_dict`` (``name``: its fingerprint, if the caller has it already).

        ``partial``: only some of the module's parameters are given (the parts a check is about).
        Buffers the student added of their own, and parameters frozen with ``requires_grad=False``,
        are never required: they keep their values.
        """
        name = name or fingerprint([state_dict, partial] if partial else state_dict)
        self.loads = self.loads + (name,)  # even if it fails: a failed load may have changed some weights
        self.component.questions.load(self, {"tensors": state_dict, "partial": partial}, name)

    def run_each(self, inputs: list[list], **kwargs) -> list[RunResult]:
        """One forward pass per entry of ``inputs``; while collecting, all are queued before waiting."""
        return all_of(*[functools.partial(self.run, *args, **kwargs) for args in inputs])

    def run(self, *args, submodule: str = "", grad_output=None, capture=(), **kwargs) -> RunResult:
        where = f"{self.class_name}.{submodule + '.' if submodule else ''}forward"
        if grad_output is not None:
            where += " / backward"
        step = {"op": "run", "args": {"args": list(args), "kwargs": kwargs, "submodule": submodule,
                                      "grad_output": grad_output}}
        if capture:
            step["args"]["capture"] = list(capture)
        value = self.component.questions.answer(self, step, where)
        return replies.run_result(value, where, len(args), grad_output is not None, capture)
