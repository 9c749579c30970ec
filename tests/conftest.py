"""Shared fixtures: each ``goka._core`` module is tested against both of its twins.

Add a core module's fixtures with one line each::

    storage = twin_fixture("storage")      # params "py" and "c"
    storage_c = compiled_fixture("storage")  # the compiled twin only (differential tests)

The fixtures are session-scoped (modules are stateless), so hypothesis tests may use
them. The compiled twin is imported directly, whatever ``GOKA_NO_EXTENSIONS`` says (that
switch selects what goka itself runs on): a pure-twin pass (``GOKA_NO_EXTENSIONS=1``)
still runs the compiled-twin and differential tests when the compiled modules are built.
When one cannot be imported, its tests fail, saying to build first (``pip install -e .``
or ``python setup.py build_ext --inplace``): a pass that silently skipped them looked
green while testing half. Where no compiled module can exist (a deliberately pure build),
``GOKA_SKIP_COMPILED=1`` skips them instead, explicitly.

A pure-twin pass (``GOKA_NO_EXTENSIONS=1``) deselects what does not depend on the twins,
so that CI's second pass tests the twins and not the same broker behaviour twice: the
Tansu runs of tests parametrized over both brokers and tests that use a Tansu broker (the
compiled pass runs them; the twins differ only below the runtime, which is the same for
both brokers), and tests marked ``twin_neutral`` (client configuration, CLI messages, topic
administration). ``GOKA_PURE_ALL=1`` keeps everything; pytest's summary counts the
deselected tests.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
from types import ModuleType
from typing import Any

import pytest

__all__ = ["twin_fixture", "compiled_fixture", "import_twin", "compiled_skipped"]

_TANSU_FIXTURES = frozenset({"tansu", "tansu_broker"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the twin-independent tests in a pure-twin pass (see the module docstring)."""
    if not _env_set("GOKA_NO_EXTENSIONS") or _env_set("GOKA_PURE_ALL"):
        return
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_tansu = (callspec is not None and callspec.params.get("broker") == "tansu") or bool(
            _TANSU_FIXTURES & set(getattr(item, "fixturenames", ())))
        (dropped if on_tansu or item.get_closest_marker("twin_neutral") else keep).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def _env_set(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def compiled_skipped() -> bool:
    """Whether compiled-twin tests may skip (``GOKA_SKIP_COMPILED=1``, see above)."""
    return _env_set("GOKA_SKIP_COMPILED") and not _env_set("GOKA_REQUIRE_EXTENSIONS")


def import_twin(name: str, kind: str) -> ModuleType:
    """``goka._core._<name>_<kind>`` (kind "py" or "c"), skipping/failing as the env says."""
    module = f"goka._core._{name}_{kind}"
    if kind == "py":
        return importlib.import_module(module)
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if compiled_skipped():
            pytest.skip(f"{module} not built (GOKA_SKIP_COMPILED is set)")
        pytest.fail(f"{module} cannot be imported ({exc}): build the compiled twins first "
                    "(pip install -e . or python setup.py build_ext --inplace), or set "
                    "GOKA_SKIP_COMPILED=1 to skip the compiled-twin tests in a pure build")


def twin_fixture(name: str) -> Any:
    """A fixture called ``name`` that yields the pure twin, then the compiled one."""

    @pytest.fixture(
        name=name,
        scope="session",
        params=["py", pytest.param("c", marks=pytest.mark.c_extension)],
    )
    def _twin(request: pytest.FixtureRequest) -> ModuleType:
        return import_twin(name, request.param)

    return _twin


def compiled_fixture(name: str) -> Any:
    """A fixture called ``<name>_c`` that yields only the compiled twin."""

    @pytest.fixture(
        name=f"{name}_c",
        scope="session",
        params=[pytest.param("c", marks=pytest.mark.c_extension)],
    )
    def _compiled(request: pytest.FixtureRequest) -> ModuleType:
        return import_twin(name, request.param)

    return _compiled


hashing = twin_fixture("hashing")
hashing_c = compiled_fixture("hashing")
dispatch = twin_fixture("dispatch")
dispatch_c = compiled_fixture("dispatch")
partition = twin_fixture("partition")
partition_c = compiled_fixture("partition")
messages = twin_fixture("messages")
produce = twin_fixture("produce")


@pytest.fixture(scope="session")
def faults() -> ModuleType:
    """tests/faults.py: damaged store files, broker outages, failed requests (see there)."""
    spec = importlib.util.spec_from_file_location(
        "goka_test_faults", os.path.join(os.path.dirname(__file__), "faults.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
