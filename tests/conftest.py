"""Shared fixtures: each ``goka._core`` module is tested against both of its twins.

Add a core module's fixtures with one line each::

    storage = twin_fixture("storage")      # params "py" and "c"
    storage_c = compiled_fixture("storage")  # the compiled twin only (differential tests)

The fixtures are session-scoped (modules are stateless), so hypothesis tests may use
them. The compiled twin is skipped when it cannot be imported, except under
``GOKA_REQUIRE_EXTENSIONS=1`` where that is a failure.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
from types import ModuleType
from typing import Any

import pytest

__all__ = ["twin_fixture", "compiled_fixture", "import_twin"]


def _env_set(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def import_twin(name: str, kind: str) -> ModuleType:
    """``goka._core._<name>_<kind>`` (kind "py" or "c"), skipping/failing as the env says."""
    module = f"goka._core._{name}_{kind}"
    if kind == "py":
        return importlib.import_module(module)
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if _env_set("GOKA_NO_EXTENSIONS"):
            pytest.skip(f"{module} not built (GOKA_NO_EXTENSIONS is set)")
        if _env_set("GOKA_REQUIRE_EXTENSIONS"):
            pytest.fail(f"{module} cannot be imported under GOKA_REQUIRE_EXTENSIONS: {exc}")
        pytest.skip(f"{module} cannot be imported: {exc}")


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
