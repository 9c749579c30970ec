"""README's test command on a machine without chromium: the browser tests skip with a
reason naming the apt packages, unless GOKA_REQUIRE_BROWSER=1 makes that an error.

Runs pytest on one browser test of test_web.py in a subprocess with GOKA_CHROMIUM
pointing to a binary that does not exist (the rest of the machine is as it is)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.twin_neutral  # no core twin involved: the compiled pass covers it

ROOT = Path(__file__).parents[2]
TEST = "tests/integration/test_web.py::test_query_returns_values"


def run_browser_test(tmp_path: Path, require: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "GOKA_REQUIRE_BROWSER"}
    env["GOKA_CHROMIUM"] = str(tmp_path / "no-such-chromium")
    if require is not None:
        env["GOKA_REQUIRE_BROWSER"] = require
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rsE", "-p", "no:cacheprovider", TEST],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )


@pytest.mark.timeout(200)
def test_missing_browser_skips_naming_the_packages(tmp_path: Path) -> None:
    result = run_browser_test(tmp_path, None)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 skipped" in result.stdout, result.stdout[-3000:]
    assert "apt-get install chromium chromium-driver" in result.stdout
    assert "no-such-chromium" in result.stdout


@pytest.mark.timeout(200)
def test_missing_browser_fails_when_required(tmp_path: Path) -> None:
    result = run_browser_test(tmp_path, "1")
    assert result.returncode != 0, result.stdout[-3000:]
    assert "1 error" in result.stdout, result.stdout[-3000:]
    assert "skipped" not in result.stdout
    assert "GOKA_REQUIRE_BROWSER=1" in result.stdout
    assert "apt-get install chromium chromium-driver" in result.stdout
