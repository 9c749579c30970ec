"""Smoke tests of examples/: each runs as a subprocess (``main.py --smoke``) to its known output.

All examples start at once, when the first test asks for them, and run side by side
(each on its own embedded cluster, HTTP servers on free ports); each test then waits for
its own and checks the exit code and the lines it must have printed.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TIMEOUT = 90.0  # per example, from the common start; they take 2-10 s each

#: example -> what its output must contain (plain substrings, or compiled patterns)
EXPECTED: dict[str, list[str | re.Pattern[str]]] = {
    "1-simplest": ["message emitted", "key = some-key, counter = 1, msg = some-value", "processor stopped"],
    "2-clicks": ["[proc] key: user-3 clicks: 5", 'GET /user-3 -> {"Clicks":5}'],
    "3-messaging": ["translating 'lunch' with '1[_]n<)-('", "user Bob blocked",
                    re.compile(r"a translated message: .*1\[_\]n<\)-\("),
                    re.compile(r"filter dropped [1-9]\d* messages of Bob"), "Latest messages for Alice"],
    "4-tests": [re.compile(r"\b1[0-9] passed\b")],
    "5-multiple": ["instance 1 holds partitions [0, 1, 2, 3, 4, 5, 6, 7]", "instance 2 holds partitions",
                   "all 240 clicks counted by 2 instances", "query user-7: User(Clicks=5)"],
    "6-reconnecting-view": ["View is in state: running", "broker down", "View is in state: connecting",
                            "during the outage the view still serves: before = 'emitted before the outage'",
                            "view reconnected: after = 'emitted after the outage'", "View is in state: stopped"],
    "8-monitoring": [re.compile(r"monitor: mini-group +running +partitions \[0, 1\] consumed 40 lag 0"),
                     "action visit-action1: finished, visited 40 keys",
                     'query mini-group user-3: {"Clicks": 1}', "goka_ samples"],
    "9-defer-commit": ["received message time:", "restarting it",
                       "consumer received 8 messages, 0 of them more than once"],
    "10-visit": ["before reset: {'key-0': 5,", "visited 10 values", "after reset: {'key-0': 0,",
                 "one click later: {'key-0': 1,"],
    "11-timers": ["6 orders, paid: customer-0, customer-2, customer-4",
                  "reminder for customer-3: order A-3 is still unpaid",
                  "reminded exactly the unpaid customers: customer-1, customer-3, customer-5",
                  "paid customers: paid A-0, paid A-2, paid A-4"],
    "12-windows": ["user-0 12:00-12:01: 2 clicks", "user-3 12:02-12:03: 4 clicks",
                   "late click of user-1 at 12:00:30 dropped",
                   "view: user-0: 12:00-12:01 2, 12:01-12:02 1, 12:02-12:03 1",
                   "view: user-2: 12:00-12:01 3, 12:01-12:02 3, 12:02-12:03 3",
                   "late clicks dropped: 1"],
}


@dataclass
class Run:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    out: IO[bytes]
    started: float

    def wait(self) -> tuple[int, str]:
        """Exit code (killed after ``TIMEOUT``) and output."""
        try:
            code = self.proc.wait(timeout=max(1.0, self.started + TIMEOUT - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.out.close()
        return code, self.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    logs = tmp_path_factory.mktemp("examples")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started: dict[str, Run] = {}
    try:
        for name in EXPECTED:
            log = logs / f"{name}.log"
            out = open(log, "wb")  # files, not pipes: nothing blocks while a test waits for another
            proc = subprocess.Popen([sys.executable, str(EXAMPLES / name / "main.py"), "--smoke"],
                                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=logs, env=env)
            started[name] = Run(name, proc, log, out, time.monotonic())
        yield started
    finally:
        for run in started.values():
            if run.proc.poll() is None:
                run.proc.kill()
                run.proc.wait()
            run.out.close()


@pytest.mark.parametrize("name", list(EXPECTED))
def test_example(runs: dict[str, Run], name: str) -> None:
    code, output = runs[name].wait()
    tail = output[-4000:]
    assert code == 0, f"{name} exited with {code}:\n{tail}"
    for expected in EXPECTED[name]:
        if isinstance(expected, re.Pattern):
            assert expected.search(output), f"{name}: no match for {expected.pattern!r} in:\n{tail}"
        else:
            assert expected in output, f"{name}: {expected!r} missing from:\n{tail}"
    assert "Traceback" not in output, f"{name} printed a traceback:\n{tail}"


def test_every_example_is_smoke_tested() -> None:
    dirs = {p.name for p in EXAMPLES.iterdir() if p.is_dir() and re.match(r"\d+-", p.name)}
    assert dirs == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_help_describes_the_example(name: str) -> None:
    out = subprocess.run([sys.executable, str(EXAMPLES / name / "main.py"), "--help"], capture_output=True,
                         text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    assert "pytest.main()" not in out.stdout and "file_or_dir" not in out.stdout, out.stdout
    doc = (EXAMPLES / name / "main.py").read_text().split('"""')[1].strip()
    first_paragraph = " ".join(doc.split("\n\n")[0].split())
    assert first_paragraph.startswith(name + ":")
    assert first_paragraph in " ".join(out.stdout.split()), out.stdout  # the whole of it, not its first line
