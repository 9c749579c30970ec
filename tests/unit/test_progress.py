"""Recovery progress lines (``goka.runtime.progress``) while partition ends are unknown."""
from __future__ import annotations

import io
import logging
from typing import Any

import pytest

from goka.runtime.progress import RecoveryProgress, render_bar, table_progress


class Recovering:
    """stats() of a processor recovering clicks-table: p0 half way, p1 with no end known yet."""

    def stats(self) -> dict[str, Any]:
        return {"group": "clicks", "tables": {
            "clicks-table/0": {"state": "recovering", "offset": 49, "hwm": 100, "start_offset": 0, "records": 50},
            "clicks-table/1": {"state": "recovering", "offset": None, "hwm": -1, "start_offset": -1, "records": 0},
            "clicks-table/2": {"state": "running", "offset": 6, "hwm": 7, "start_offset": 0, "records": 7},
        }}


def test_an_unknown_end_is_shown_as_unknown(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="goka.progress")
    RecoveryProgress([Recovering()], stream=io.StringIO(), tty=False).poll(now=0.0)
    (line,) = [r.getMessage() for r in caplog.records if r.name == "goka.progress"]
    assert line == "recovering clicks-table (processor clicks): 1/3 partitions, 57/? records; p0 49/100, p1 -/?"
    assert "-1" not in line


def test_the_bar_shows_unknown_ends_too() -> None:
    lines = render_bar(table_progress([Recovering()]))
    assert "57/? records  1/3 partitions" in lines[0]
    assert lines[2].strip().startswith("p1") and "offset - of ?" in lines[2]
