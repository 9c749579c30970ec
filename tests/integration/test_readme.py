"""Every ```python block of the README runs on its own, as written: each in a fresh
Python process (so no block can lean on names another defined), in an empty directory,
twice (a rerun must not warn about state the first run left). A block that defines
``test_*`` functions has them called, as pytest would."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
TIMEOUT = 120.0

HARNESS = '''
import runpy, sys
namespace = runpy.run_path(sys.argv[1], run_name="__main__")
for name, func in list(namespace.items()):
    if name.startswith("test_") and callable(func):
        func()
        print(f"[readme] {name} passed")
'''


def python_blocks() -> list[tuple[str, str]]:
    """(heading, code) of every ```python block, in order."""
    text = (ROOT / "README.md").read_text()
    blocks, heading = [], ""
    for m in re.finditer(r"^(#+ [^\n]*)$|^```python\n(.*?)^```", text, re.M | re.S):
        if m.group(1):
            heading = m.group(1).lstrip("# ")
        else:
            blocks.append((heading, m.group(2)))
    return blocks


BLOCKS = python_blocks()


def test_the_readme_has_its_blocks() -> None:
    headings = [h for h, _ in BLOCKS]
    assert headings.count("Running on Kafka") == 2  # the Kafka example and the hashers
    assert {"A processor and its unit test", "Connecting to a secured cluster",
            "When a message cannot be processed"} <= set(headings)


def run_block(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    script = cwd / "snippet.py"
    script.write_text(code)
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_KEY", "KAFKA_SECRET")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-c", HARNESS, str(script)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("n", range(len(BLOCKS)), ids=[f"{n}-{h}" for n, (h, _) in enumerate(BLOCKS)])
def test_readme_block_runs_alone(n: int, tmp_path: Path) -> None:
    heading, code = BLOCKS[n]
    for attempt in (1, 2):
        result = run_block(code, tmp_path)
        assert result.returncode == 0, f"README block {n} ({heading}), run {attempt}:\n{result.stderr}"
        assert "WARNING" not in result.stderr and "Traceback" not in result.stderr, result.stderr
        for name in re.findall(r"^def (test_\w+)", code, re.M):
            assert f"[readme] {name} passed" in result.stdout
        if heading == "Running on Kafka" and "alice" in code:
            assert "alice: 3" in result.stdout and "[0, 1, 2, 3]" in result.stdout
        if "murmur2" in code:
            assert "{'name': 'Bob'}" in result.stdout
        if heading == "Connecting to a secured cluster":
            assert "my-secret" not in result.stdout and "SASL_SSL" in result.stdout
