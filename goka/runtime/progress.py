"""Recovery progress of tables: each partition's local copy against the high watermark.

A processor recovers its table partitions on every assignment, a view all partitions
on start. :func:`table_progress` reads where each partition stands; a
:class:`RecoveryProgress` thread reports it: a redrawn progress bar on a terminal,
plain log lines (logger ``goka.runtime.progress``) otherwise::

    with goka.View(brokers, "clicks-table", codec.Int64()) as view, \\
            RecoveryProgress(views=[view]):
        view.wait_recovered()
"""
from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import IO, Any

__all__ = ["PartitionProgress", "RecoveryProgress", "render_bar", "table_progress", "view_tables"]

log = logging.getLogger("goka.progress")


@dataclass(frozen=True)
class PartitionProgress:
    """Where one table partition stands; ``owner`` is ``"processor <group>"`` or ``"view"``."""

    owner: str
    topic: str
    partition: int
    state: str
    offset: int | None  # last applied table offset (None: nothing stored)
    hwm: int  # high watermark (-1: not known yet)
    start: int  # first offset read in this recovery (-1: not assigned yet)
    records: int  # records applied since the table was opened

    @property
    def label(self) -> str:
        return f"{self.topic} ({self.owner})"

    @property
    def done(self) -> int:
        """Records recovered so far (offset-based)."""
        if self.start < 0:
            return 0
        applied = self.start if self.offset is None else self.offset + 1
        return max(0, applied - self.start)

    @property
    def total(self) -> int:
        """Records to recover (offset-based; 0 when unknown)."""
        return max(0, self.hwm - self.start) if self.start >= 0 and self.hwm >= 0 else 0

    @property
    def known(self) -> bool:
        """Whether the partition's end (high watermark) and starting point are known yet."""
        return self.state == "running" or (self.start >= 0 and self.hwm >= 0)

    @property
    def end(self) -> str:
        """The high watermark as text, ``"?"`` while unknown."""
        return str(self.hwm) if self.hwm >= 0 else "?"

    @property
    def fraction(self) -> float:
        if self.state == "running":
            return 1.0
        if self.start < 0 or self.hwm < 0:
            return 0.0
        return min(1.0, self.done / self.total) if self.total > 0 else 1.0  # nothing to read


def view_tables(view: Any) -> list[dict[str, Any]]:
    """Per-partition table stats of a :class:`goka.View` (``partition`` added to each).

    Reads the Kafka backend's ``PartitionTable`` list (``view._backend.tables``): ``View``
    has no public stats yet. Views of other backends (the tester) give ``[]``.
    """
    tables = getattr(getattr(view, "_backend", None), "tables", None) or []
    out = []
    for table in list(tables):
        try:
            entry = dict(table.stats())
        except Exception:  # storage closed by a concurrent stop()
            continue
        entry["partition"] = table.partition
        entry["topic"] = table.topic
        out.append(entry)
    return out


def _entry(owner: str, topic: str, partition: int, stats: dict[str, Any]) -> PartitionProgress:
    offset = stats.get("offset")
    hwm = int(stats.get("hwm", -1))
    if hwm >= 0 and offset is not None and offset >= hwm:
        hwm = offset + 1  # the reader refreshes watermarks only at the end of the partition
    return PartitionProgress(owner, topic, partition, str(stats.get("state", "idle")), offset, hwm,
                             int(stats.get("start_offset", -1)), int(stats.get("records", 0)))


def table_progress(processors: Iterable[Any] = (), views: Iterable[Any] = (),
                   tables: Iterable[Any] = ()) -> list[PartitionProgress]:
    """Progress of every table partition the processors and views hold or recover, and
    of ``tables`` (``PartitionTable`` objects read directly, owner ``"reader"``)."""
    out: list[PartitionProgress] = []
    for proc in processors:
        try:
            stats = proc.stats()
        except Exception:
            continue
        for name, entry in sorted(stats.get("tables", {}).items()):
            topic, _, part = str(name).rpartition("/")
            out.append(_entry(f"processor {stats.get('group', '?')}", topic, int(part), entry))
    for view in views:
        for entry in view_tables(view):
            out.append(_entry("view", entry["topic"], entry["partition"], entry))
    for table in tables:
        out.append(_entry("reader", table.topic, table.partition, table.stats()))
    return out


def _bar(fraction: float, width: int) -> str:
    filled = int(round(fraction * width))
    return "█" * filled + "░" * (width - filled)


def render_bar(parts: Sequence[PartitionProgress], width: int = 24, max_lines: int = 8) -> list[str]:
    """Terminal lines for one table's partitions: a total line, then one per partition."""
    done, total = sum(p.done for p in parts), sum(p.total for p in parts)
    fraction = sum(p.fraction for p in parts) / len(parts) if parts else 1.0
    finished = sum(1 for p in parts if p.state == "running")
    total_text = f"{total:,}" if all(p.known for p in parts) else "?"
    lines = [f"recovering {parts[0].label if parts else '?'}  {_bar(fraction, width)} {fraction:4.0%}  "
             f"{done:,}/{total_text} records  {finished}/{len(parts)} partitions"]
    for p in parts[:max_lines]:
        lines.append(f"  p{p.partition:<3} {_bar(p.fraction, width)} {p.fraction:4.0%}  "
                     f"offset {'-' if p.offset is None else p.offset} of {p.end}  {p.state}")
    if len(parts) > max_lines:
        lines.append(f"  ... {len(parts) - max_lines} more partitions")
    return lines


@dataclass
class _Episode:
    started: float
    baseline: dict[int, int]  # partition -> records when the episode began
    last_log: float = float("-inf")


class RecoveryProgress:
    """Reports recoveries of the tables of ``processors`` and ``views`` until stopped.

    ``tty`` (default: ``stream.isatty()``) selects a progress bar redrawn on ``stream``
    (default ``sys.stderr``) every ``refresh`` seconds; otherwise an INFO log line per
    recovering table every ``interval`` seconds and one when it is recovered.
    """

    def __init__(self, processors: Iterable[Any] = (), views: Iterable[Any] = (), *,
                 tables: Iterable[Any] = (), stream: IO[str] | None = None, tty: bool | None = None,
                 interval: float = 2.0, refresh: float = 0.1) -> None:
        self.processors = list(processors)
        self.views = list(views)
        self.tables = list(tables)
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)()) if tty is None else tty
        self.interval = interval
        self.refresh = refresh
        self._episodes: dict[str, _Episode] = {}
        self._last: dict[tuple[str, str, int], PartitionProgress] = {}
        self._drawn = 0  # lines of the bar block on screen
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> RecoveryProgress:
        self._thread = threading.Thread(target=self._run, name="goka-progress", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop reporting (a last poll reports recoveries that finished meanwhile)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
        self._thread = None

    def __enter__(self) -> RecoveryProgress:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _run(self) -> None:
        while True:
            stopping = self._stop.wait(self.refresh)
            try:
                self.poll()
            except Exception:  # reporting must never take the worker down
                log.debug("recovery progress poll failed", exc_info=True)
            if stopping:
                self._clear()
                return

    # -- one step --------------------------------------------------------------------
    def poll(self, now: float | None = None) -> None:
        """Look at every table partition once and report what changed."""
        now = time.monotonic() if now is None else now
        current = table_progress(self.processors, self.views, self.tables)
        by_label: dict[str, list[PartitionProgress]] = {}
        for p in current:
            by_label.setdefault(p.label, []).append(p)
        block: list[str] = []
        for label, parts in by_label.items():
            recovering = [p for p in parts if p.state == "recovering"]
            episode = self._episodes.get(label)
            if recovering and episode is None:
                baseline = {p.partition: self._previous_records(p) for p in parts}
                episode = self._episodes[label] = _Episode(now, baseline)
            if episode is not None:
                shown = [p for p in parts if p.partition in episode.baseline or p.state == "recovering"]
                for p in shown:
                    episode.baseline.setdefault(p.partition, self._previous_records(p))
                if recovering:
                    self._report_progress(label, shown, episode, now, block)
                else:
                    self._finish(label, shown, episode, now)
                    del self._episodes[label]
            else:
                # recovered between two polls: new (or reassigned) partitions already running
                fresh = [p for p in parts if p.state == "running" and self._is_new(p)]
                records = sum(p.records - self._previous_records(p) for p in fresh)
                if fresh and records > 0:
                    self._finish(label, fresh, _Episode(now, {p.partition: self._previous_records(p)
                                                              for p in fresh}), now)
        self._last = {(p.owner, p.topic, p.partition): p for p in current}
        if self.tty:
            self._draw(block)

    def _previous_records(self, p: PartitionProgress) -> int:
        prev = self._last.get((p.owner, p.topic, p.partition))
        return prev.records if prev is not None else 0

    def _is_new(self, p: PartitionProgress) -> bool:
        prev = self._last.get((p.owner, p.topic, p.partition))
        return prev is None or prev.state not in ("running", "recovering")

    def _report_progress(self, label: str, parts: list[PartitionProgress], episode: _Episode,
                         now: float, block: list[str]) -> None:
        if self.tty:
            block.extend(render_bar(parts))
        elif now - episode.last_log >= self.interval:
            episode.last_log = now
            done, total = sum(p.done for p in parts), sum(p.total for p in parts)
            finished = sum(1 for p in parts if p.state == "running")
            # a partition whose end is not known yet makes the total unknown, not smaller
            if all(p.known for p in parts):
                records = f"{done}/{total} records ({100.0 * done / total if total else 100.0:.0f}%)"
            else:
                records = f"{done}/? records"
            log.info("recovering %s: %d/%d partitions, %s; %s", label, finished, len(parts), records,
                     ", ".join(f"p{p.partition} {'-' if p.offset is None else p.offset}/{p.end}"
                               for p in parts if p.state == "recovering"))

    def _finish(self, label: str, parts: list[PartitionProgress], episode: _Episode, now: float) -> None:
        records = sum(max(0, p.records - episode.baseline.get(p.partition, 0)) for p in parts)
        partitions = ",".join(str(p.partition) for p in sorted(parts, key=lambda p: p.partition))
        message = (f"recovered {label}: partitions {partitions}, {records:,} records "
                   f"in {now - episode.started:.1f} s")
        if self.tty:
            self._clear()
            self.stream.write(message + "\n")
            self.stream.flush()
        else:
            log.info("%s", message)

    # -- terminal drawing ------------------------------------------------------------
    def _clear(self) -> None:
        if self.tty and self._drawn:
            self.stream.write(f"\x1b[{self._drawn}F\x1b[J")
            self.stream.flush()
            self._drawn = 0

    def _draw(self, lines: list[str]) -> None:
        if not lines and not self._drawn:
            return
        self._clear()
        if lines:
            self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()
            self._drawn = len(lines)
