"""Every ``genops`` name the seed guide's Python blocks use, found in the blocks themselves:
modules and what is imported from them, the keywords passed to them, the attributes and
methods used on what they return (followed through assignments and ``with ... as``, with
the real objects' type hints), and the keys read from those results.

Each name is checked against the real objects as it is found: ``True`` (it exists and
takes the keyword), ``False`` (it does not), or ``None`` for a key read from a plain
``dict`` result, which only running the block checks (tests/guide/test_seed_guide.py).
"""

from __future__ import annotations

import ast
import collections.abc
import contextlib
import dataclasses
import importlib
import inspect
import re
import typing
from dataclasses import dataclass
from types import ModuleType
from typing import Any


@dataclass(frozen=True)
class Instance:
    """A value the guide got from a genops call: its type when the hints tell, and where
    it came from (``GenOpsWandbAdapter.get_metrics()``)."""

    cls: type | None
    label: str


@dataclass(frozen=True)
class Bound:
    """``obj.method`` of an Instance: the method, and the class it belongs to."""

    cls: type
    name: str
    function: Any


def _accepts(function: Any, keyword: str) -> bool:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    if keyword in parameters:
        return parameters[keyword].kind in (
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            inspect.Parameter.KEYWORD_ONLY,
        )
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def _returned(function: Any) -> type | None:
    """The class a callable returns per its hints; a context manager's yielded class."""
    try:
        hint = typing.get_type_hints(function).get("return")
    except Exception:  # noqa: BLE001 (hints naming what cannot be resolved: unknown type)
        return None
    for _ in range(3):  # unwrap Iterator[X], Generator[X, ...], ContextManager[X], X | None
        origin = typing.get_origin(hint)
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if origin is None or not args:
            break
        if origin in (dict, list, tuple, collections.abc.Mapping):
            return origin
        hint = args[0]
    if isinstance(hint, type) and hint.__module__ != "builtins" or hint in (dict, list):
        return hint
    return None


def _has(cls: type, name: str) -> bool:
    if hasattr(cls, name):
        return True
    if dataclasses.is_dataclass(cls) and name in {f.name for f in dataclasses.fields(cls)}:
        return True
    return any(name in getattr(c, "__annotations__", {}) for c in cls.__mro__)


class Collector:
    def __init__(self) -> None:
        self.names: dict[str, bool | None] = {}
        self.env: dict[str, Any] = {}

    def note(self, name: str, ok: bool | None) -> None:
        previous = self.names.get(name)
        self.names[name] = ok if previous is None else previous and bool(ok)

    # -- statements ---------------------------------------------------------------
    def block(self, code: str) -> None:
        self.env = {}
        with contextlib.suppress(SyntaxError):
            for statement in ast.parse(code).body:
                self.statement(statement)

    def statement(self, node: ast.stmt) -> None:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("genops"):
            module = self.module(node.module)
            for alias in node.names:
                found = getattr(module, alias.name, None) if module else None
                self.note(f"{node.module}.{alias.name}", found is not None)
                self.env[alias.asname or alias.name] = found
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("genops"):
                    module = self.module(alias.name)
                    self.env[(alias.asname or alias.name).split(".")[0]] = (
                        module if alias.asname else self.module("genops")
                    )
            return
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            value = self.expr(node.value) if node.value is not None else None
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    self.env[target.id] = value
                else:
                    self.expr(target)
            return
        if isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                value = self.expr(item.context_expr)
                if isinstance(item.optional_vars, ast.Name):
                    self.env[item.optional_vars.id] = value
            for statement in node.body:
                self.statement(statement)
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for decorator in node.decorator_list:
                self.expr(decorator)
        self.children(node)

    def children(self, node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                self.statement(child)
            elif isinstance(child, ast.expr):
                self.expr(child)
            else:  # except handlers, arguments' defaults, keywords, match cases
                self.children(child)

    def module(self, name: str) -> ModuleType | None:
        try:
            module = importlib.import_module(name)
        except ImportError:
            module = None
        self.note(name, module is not None)
        return module

    # -- expressions --------------------------------------------------------------
    def expr(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Name):
            return self.env.get(node.id)
        if isinstance(node, ast.Attribute):
            return self.attribute(self.expr(node.value), node.attr)
        if isinstance(node, ast.Call):
            function = self.expr(node.func)
            for argument in node.args:
                self.expr(argument)
            for keyword in node.keywords:
                self.expr(keyword.value)
            return self.call(function, [k.arg for k in node.keywords if k.arg])
        if isinstance(node, ast.Subscript):
            value = self.expr(node.value)
            self.expr(node.slice)
            if isinstance(value, Instance) and isinstance(node.slice, ast.Constant):
                key = node.slice.value
                if isinstance(key, str):
                    # a dict (or a dict subclass) has its keys only at run time
                    known = value.cls if value.cls and not issubclass(value.cls, dict) else None
                    self.note(f"{value.label}['{key}']", _has(known, key) if known else None)
            return None
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                self.expr(child)
            elif isinstance(child, ast.comprehension):
                self.expr(child.iter)
                for condition in child.ifs:
                    self.expr(condition)
        return None

    def attribute(self, value: Any, name: str) -> Any:
        if isinstance(value, ModuleType) and value.__name__.startswith("genops"):
            found = getattr(value, name, None)
            self.note(f"{value.__name__}.{name}", found is not None)
            return found
        if inspect.isclass(value) and value.__module__.startswith("genops"):
            found = getattr(value, name, None)
            self.note(f"{value.__name__}.{name}", found is not None)
            return found
        if isinstance(value, Instance) and value.cls not in (None, dict, list):
            cls = value.cls
            self.note(f"{cls.__name__}.{name}", _has(cls, name))
            member = inspect.getattr_static(cls, name, None)
            if callable(member) and not inspect.isclass(member):
                return Bound(cls, name, getattr(cls, name))
            if isinstance(member, property) and member.fget is not None:
                returned = _returned(member.fget)
                return Instance(returned, f"{cls.__name__}.{name}") if returned else None
        return None

    def call(self, function: Any, keywords: list[str]) -> Any:
        if isinstance(function, Bound):
            label = f"{function.cls.__name__}.{function.name}"
            target = function.function
        elif inspect.isclass(function) and function.__module__.startswith("genops"):
            label, target = f"{function.__module__}.{function.__name__}", function
        elif callable(function) and getattr(function, "__module__", "").startswith("genops"):
            label, target = f"{function.__module__}.{function.__qualname__}", function
        else:
            return None
        for keyword in keywords:
            self.note(f"{label}({keyword}=)", _accepts(target, keyword))
        if inspect.isclass(target):
            return Instance(target, target.__name__)
        return Instance(_returned(target), f"{label}()")


def guide_names(blocks: list[str]) -> dict[str, bool | None]:
    collector = Collector()
    for code in blocks:
        collector.block(code)
    return collector.names


REFERENCE_MODULES = (
    "genops.providers.wandb",
    "genops.providers.wandb_validation",
    "genops.providers.wandb_cost_aggregator",
)


def _reference_object(name: str) -> Any:
    for module in REFERENCE_MODULES:
        found = getattr(importlib.import_module(module), name, None)
        if found is not None:
            return found
    return None


def reference_names(section: str) -> dict[str, bool | None]:
    """The API reference's method bullets (``- `name(a, b)` → ...`` under a class's
    heading) and the parameters of its signature listings, checked on the real objects."""
    names: dict[str, bool | None] = {}
    owner = None
    for line in section.splitlines():
        heading = re.match(r"^#+ `(\w+)`", line)
        if heading:
            owner = _reference_object(heading.group(1))
            label = heading.group(1)
            continue
        bullet = re.match(r"^- `(\w+)\(([^)]*)\)`", line)
        if bullet and inspect.isclass(owner):
            method = getattr(owner, bullet.group(1), None)
            names[f"{label}.{bullet.group(1)}"] = method is not None
            for parameter in (p.strip() for p in bullet.group(2).split(",")):
                if parameter and not parameter.startswith("*"):
                    key = f"{label}.{bullet.group(1)}({parameter}=)"
                    names[key] = method is not None and _accepts(method, parameter)
    for signature in re.finditer(r"^\s*(?:class|def) (\w+)", section, flags=re.M):
        name = signature.group(1)
        if name != "__init__":
            names[name] = _reference_object(name) is not None
    return names
