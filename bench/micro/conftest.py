"""Shared fixtures of the pytest-benchmark micro-benchmarks.

Run from the repository root (``testpaths`` keeps them out of the plain test run)::

    python -m pytest bench/micro --benchmark-only --benchmark-columns=median,mean,ops,rounds

- ``twin``/``core``: a core benchmark runs on the compiled twin (id ``compiled``) and the
  pure one (id ``pure``); ``core("hashing")`` imports ``goka._core._hashing_c`` or
  ``_hashing_py`` directly, whatever ``GOKA_NO_EXTENSIONS`` says.
- ``bench(group, items, fn)``: benchmarks ``fn()``, one call handling ``items`` items, in
  the pytest-benchmark group ``group`` (so both twins share a table). After
  pytest-benchmark's tables, a summary gives the time per item and the pure/compiled ratio
  by median and by mean (not by min: a round that happens to escape a GC pass flatters
  the allocation-heavy pure twins).
- ``keys``: 10,000 message keys; ``click_group``: the README's click counter.
"""
from __future__ import annotations

import importlib
import os
import random
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import goka
from goka import codec

# the micro-benchmarks share their fakes (table, sink, producer) with bench_core_loop.py
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TWINS = {"compiled": "c", "pure": "py"}


@dataclass
class _Row:
    group: str
    variant: str
    items: int
    stats: Any  # pytest-benchmark's Metadata, complete once the benchmark has run


_rows: list[_Row] = []


@pytest.fixture(scope="session")
def keys() -> list[bytes]:
    """10,000 distinct message keys: half ``user-<7 digits>``, half UUIDs (24 bytes on average)."""
    rnd = random.Random(42)
    users = [b"user-%07d" % i for i in rnd.sample(range(10**7), 5_000)]
    uuids = [str(uuid.UUID(int=rnd.getrandbits(128), version=4)).encode() for _ in range(5_000)]
    out = users + uuids
    rnd.shuffle(out)
    return out


def _count(ctx: goka.Context, msg: str) -> None:
    ctx.set_value((ctx.value() or 0) + 1)


@pytest.fixture(scope="session")
def click_group() -> goka.GroupGraph:
    """The README's click counter: ``Input("user-clicks", String, count)``, ``Persist(Int64)``."""
    return goka.define_group("clicks", goka.Input("user-clicks", codec.String(), _count),
                             goka.Persist(codec.Int64()))


@pytest.fixture(params=list(TWINS))
def twin(request: pytest.FixtureRequest) -> str:
    """``compiled`` or ``pure``: the core twin under test."""
    return str(request.param)


@pytest.fixture
def core(twin: str) -> Callable[[str], ModuleType]:
    """``core(name)`` imports ``goka._core._<name>_c`` or ``_<name>_py`` as ``twin`` says."""

    def load(name: str) -> ModuleType:
        module = f"goka._core._{name}_{TWINS[twin]}"
        try:
            return importlib.import_module(module)
        except ImportError as exc:
            if os.environ.get("GOKA_REQUIRE_EXTENSIONS", "") not in ("", "0"):
                raise
            pytest.skip(f"{module} cannot be imported: {exc}")

    return load


@pytest.fixture
def bench(benchmark: Any, request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``bench(group, items, fn)``: benchmark ``fn()``, which handles ``items`` items."""

    def run(group: str, items: int, fn: Callable[[], Any]) -> Any:
        benchmark.group = group
        benchmark.extra_info["items"] = items
        result = benchmark(fn)
        if benchmark.stats is not None:  # None under --benchmark-disable
            spec = getattr(request.node, "callspec", None)
            variant = request.node.name if spec is None else spec.params.get("twin", spec.id)
            _rows.append(_Row(group, variant, items, benchmark.stats))
        return result

    return run


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's own tables
def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Time per item of every benchmark; on each ``pure`` row, its ratio to ``compiled``."""
    if not _rows:
        return
    groups: dict[str, dict[str, _Row]] = {}
    for row in _rows:
        groups.setdefault(row.group, {})[row.variant] = row
    write = terminalreporter.write_line
    write("")
    write(f"{'per item':<30} {'variant':<9} {'items':>6} {'median':>10} {'mean':>10}  pure/compiled (median, mean)")
    for group, rows in sorted(groups.items()):
        for variant, row in rows.items():
            s, n = row.stats.stats, row.items
            line = f"{group:<30} {variant:<9} {n:>6} {_ns(s.median / n)} {_ns(s.mean / n)}"
            c = rows.get("compiled")
            if variant == "pure" and c is not None:
                line += f"  {s.median / c.stats.stats.median:.2f}x, {s.mean / c.stats.stats.mean:.2f}x"
            write(line)


def _ns(seconds: float) -> str:
    return f"{seconds * 1e9:>7,.0f} ns"
