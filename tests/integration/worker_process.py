"""A worker script run as a Python process whose stdout and stderr go to log files the test
polls; shared by test_multiprocess.py (``mp_worker.py``) and test_windows.py
(``window_worker.py``), which load it with :func:`load` (test modules are imported by path).
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

__all__ = ["WorkerProcess", "load"]


def load(name: str) -> ModuleType:
    """The module ``tests/integration/<name>.py``, imported by path."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class WorkerProcess:
    """``python SCRIPT ARGS...``; ``start()`` again starts a new run (each run has its own
    ``<name>-<n>.out`` and ``.err`` in ``logs``); ``kill()`` SIGKILLs every run still alive."""

    def __init__(self, name: str, script: Path, args: list[str], logs: Path) -> None:
        self.name = name
        self.args = [sys.executable, str(script), *args]
        self.logs = logs
        self.runs: list[tuple[subprocess.Popen[bytes], Path, Path]] = []

    @property
    def proc(self) -> subprocess.Popen[bytes]:
        return self.runs[-1][0]

    def start(self) -> WorkerProcess:
        n = len(self.runs)
        out, err = self.logs / f"{self.name}-{n}.out", self.logs / f"{self.name}-{n}.err"
        with open(out, "wb") as fout, open(err, "wb") as ferr:
            proc = subprocess.Popen(self.args, stdout=fout, stderr=ferr, stdin=subprocess.DEVNULL)
        self.runs.append((proc, out, err))
        return self

    def lines(self, run: int = -1) -> list[str]:
        """Complete stdout lines of run ``run`` (a line still being written is left out)."""
        return self.runs[run][1].read_text().split("\n")[:-1]

    def stderr(self, run: int = -1) -> str:
        return self.runs[run][2].read_text()

    def alive(self) -> bool:
        """True while running; fails the test with the worker's stderr if it exited."""
        rc = self.proc.poll()
        if rc is not None:
            pytest.fail(f"worker {self.name} exited with {rc}:\n{self.stderr()[-3000:]}")
        return True

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"worker {self.name} still running {timeout} s after it was told to stop:\n"
                        f"{self.stderr()[-3000:]}")

    def kill(self) -> None:
        for proc, _, _ in self.runs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
