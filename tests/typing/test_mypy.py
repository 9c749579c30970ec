"""mypy --strict on goka and on the public-API examples in ``typing_examples.py``.

One mypy run checks both: the examples' revealed types and expected errors must match
their ``R:``/``E:`` comments exactly, and goka itself must be clean.
"""
from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("mypy")

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = Path(__file__).with_name("typing_examples.py")

_LINE = re.compile(
    r"^(?P<path>[^:]+):(?P<line>\d+): (?P<kind>error|note): (?P<msg>.*?)(?:  \[(?P<code>[a-z0-9-]+)\])?$"
)
_REVEALED = re.compile(r'^Revealed type is "(?P<type>.*)"$')


@dataclass(frozen=True)
class Message:
    path: str
    line: int
    kind: str
    msg: str
    code: str | None


def _normalize(t: str) -> str:
    return t.replace("builtins.", "").strip()


@pytest.fixture(scope="module")
def mypy_messages() -> list[Message]:
    examples = EXAMPLES.relative_to(ROOT).as_posix()
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--show-error-codes", "--no-pretty",
         "--no-error-summary", "--no-color-output", "--hide-error-context",
         "goka", examples],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    if proc.returncode not in (0, 1) or proc.stderr.strip():
        pytest.fail(f"mypy did not run (exit {proc.returncode}):\n{proc.stderr}{proc.stdout}")
    messages = []
    for raw in proc.stdout.splitlines():
        m = _LINE.match(raw)
        if m is None:
            pytest.fail(f"unparsed mypy output line: {raw!r}")
        messages.append(Message(Path(m["path"]).as_posix(), int(m["line"]), m["kind"],
                                m["msg"], m["code"]))
    return messages


def _expectations() -> tuple[dict[int, str], dict[int, str]]:
    reveals: dict[int, str] = {}
    errors: dict[int, str] = {}
    for n, text in enumerate(EXAMPLES.read_text().splitlines(), 1):
        if m := re.search(r"\breveal_type\(.*#\s*R:\s*(.+?)\s*$", text):
            reveals[n] = _normalize(m[1])
        elif m := re.search(r"#\s*E:\s*([a-z0-9-]+)\s*$", text):
            errors[n] = m[1]
    return reveals, errors


def test_examples_cover_the_public_api() -> None:
    reveals, errors = _expectations()
    assert len(reveals) >= 80 and len(errors) >= 8
    source = EXAMPLES.read_text()
    for name in ("define_group", "Json(type=User).decode", "Processor(", "View(", "Emitter(",
                 "ctx.value()", "ctx.emit(", "ctx.defer_commit()", "goka.hash.goka("):
        assert name in source, name


def test_revealed_types_and_errors(mypy_messages: list[Message]) -> None:
    reveals, errors = _expectations()
    here = EXAMPLES.relative_to(ROOT).as_posix()
    mine = [m for m in mypy_messages if m.path == here]
    problems: list[str] = []

    revealed: dict[int, str] = {}
    for m in mine:
        if m.kind == "note" and (r := _REVEALED.match(m.msg)):
            revealed[m.line] = _normalize(r["type"])
    for line, want in sorted(reveals.items()):
        got = revealed.get(line)
        if got != want:
            problems.append(f"line {line}: revealed {got!r}, expected {want!r}")
    problems += [f"line {line}: unexpected reveal_type" for line in sorted(set(revealed) - set(reveals))]

    reported = {(m.line, m.code) for m in mine if m.kind == "error"}
    for line, code in sorted(errors.items()):
        if (line, code) not in reported:
            problems.append(f"line {line}: expected error [{code}] not reported")
    for m in mine:
        if m.kind == "error" and errors.get(m.line) != m.code:
            problems.append(f"line {m.line}: unexpected error: {m.msg} [{m.code}]")
    assert not problems, "\n".join(problems)


def test_goka_is_mypy_strict_clean(mypy_messages: list[Message]) -> None:
    errors = [f"{m.path}:{m.line}: {m.msg} [{m.code}]" for m in mypy_messages
              if m.kind == "error" and m.path.startswith("goka/")]
    assert not errors, "mypy --strict errors in goka/:\n" + "\n".join(errors)
