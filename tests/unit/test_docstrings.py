"""Every public class and function documents every parameter, in one style (numpy:
a ``Parameters`` section with a ``name : type`` line per parameter), and ``goka``'s lazy
``EmbeddedCluster`` shows in ``dir(goka)`` and ``help(goka)``."""
from __future__ import annotations

import importlib
import inspect
import pydoc
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import goka

#: modules whose public names (``__all__``) are the API, besides ``goka`` itself
MODULES = ["goka.codec", "goka.hash", "goka.tester", "goka.web", "goka.storage", "goka.topics", "goka.kafka",
           "goka.policy", "goka.options", "goka.errors"]
#: and these names (the storage builders; the storages they open implement goka.storage.Storage)
NAMES = {"goka.storage.lmdb": ["LMDB"], "goka.storage.memory": ["Memory"]}


def _public(obj: Any) -> list[str]:
    return list(getattr(obj, "__all__", [n for n in dir(obj) if not n.startswith("_")]))


def _callables() -> Iterator[tuple[str, Callable[..., Any], str | None]]:
    """(qualified name, callable, docstring that must document its parameters)."""
    seen: set[int] = set()
    modules = [(m, _public(m)) for m in (goka, *(importlib.import_module(m) for m in MODULES))]
    modules += [(importlib.import_module(m), names) for m, names in NAMES.items()]
    for module, names in modules:
        for name in names:
            obj = getattr(module, name)
            if id(obj) in seen or inspect.ismodule(obj):
                continue
            seen.add(id(obj))
            qual = f"{module.__name__}.{name}"
            if inspect.isclass(obj):
                if issubclass(obj, BaseException) or _is_enum(obj):
                    continue
                init = obj.__dict__.get("__init__") or obj.__dict__.get("__new__")
                if (init is not None or _is_dataclass(obj)) and not getattr(obj, "_is_protocol", False):
                    yield qual, obj, _class_doc(obj)
                for attr, member in vars(obj).items():
                    if attr.startswith("_") or not callable(member) and not isinstance(member, (classmethod, staticmethod)):
                        continue
                    func = member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
                    if inspect.isfunction(func) or type(func).__name__ == "cython_function_or_method":
                        # an override without a docstring inherits its base's
                        yield f"{qual}.{attr}", func, inspect.getdoc(getattr(obj, attr))
            elif callable(obj) and type(obj).__name__ in ("function", "cython_function_or_method"):
                yield qual, obj, obj.__doc__


def _is_enum(cls: type) -> bool:
    import enum

    return issubclass(cls, enum.Enum)


def _is_dataclass(cls: type) -> bool:
    import dataclasses

    return dataclasses.is_dataclass(cls)


def _class_doc(cls: type) -> str | None:
    """A class documents its constructor in its own docstring (or in ``__init__``'s)."""
    init = cls.__dict__.get("__init__")
    return "\n".join(d for d in (cls.__doc__, getattr(init, "__doc__", None)) if d) or None


def _parameters(func: Callable[..., Any]) -> list[str]:
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return []
    names = []
    for p in sig.parameters.values():
        if p.name in ("self", "cls"):
            continue
        names.append(("*" if p.kind is p.VAR_POSITIONAL else "**" if p.kind is p.VAR_KEYWORD else "") + p.name)
    return names


CASES = sorted({q: (f, d) for q, f, d in _callables()}.items())


def test_the_walk_finds_the_api() -> None:
    names = {q for q, _ in CASES}
    for expected in ("goka.Processor", "goka.View", "goka.Emitter", "goka.Input", "goka.define_group",
                     "goka.EmbeddedCluster", "goka.codec.Json", "goka.hash.murmur2", "goka.tester.Tester",
                     "goka.web.serve", "goka.web.Action", "goka.storage.lmdb.LMDB", "goka.Processor.visit_all",
                     "goka.TopicManager.describe", "goka.Kafka.from_properties"):
        assert expected in names


@pytest.mark.parametrize("qual, case", CASES, ids=[q for q, _ in CASES])
def test_every_parameter_is_documented_numpy_style(qual: str, case: tuple[Callable[..., Any], str | None]) -> None:
    func, doc = case
    params = _parameters(func)
    doc = inspect.cleandoc(doc or "")
    assert ":param" not in doc, f"{qual}: reST ':param' (use a numpy 'Parameters' section)"
    if not params:
        return
    assert doc, f"{qual} has no docstring"
    section = re.search(r"^Parameters\n-{10}\n(.*?)(?:\n\n[A-Z][a-z]+\n-+\n|\Z)", doc, re.S | re.M)
    assert section, f"{qual}: no numpy 'Parameters' section for {params}"
    documented = set()
    for line in section.group(1).splitlines():
        m = re.match(r"(\**\w+(?:, \**\w+)*)\s*(?::|$)", line)
        if m and not line.startswith(" "):
            documented.update(n.strip() for n in m.group(1).split(","))
    missing = [p for p in params if p not in documented and p.lstrip("*") not in documented]
    assert not missing, f"{qual}: parameters not documented: {missing}"


def test_embedded_cluster_is_listed_by_dir_and_help() -> None:
    assert "EmbeddedCluster" in dir(goka)
    assert "EmbeddedCluster" in pydoc.render_doc(goka, renderer=pydoc.plaintext)
