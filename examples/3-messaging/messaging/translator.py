"""The translator: a table of word translations fed by ``translate-word`` events."""
from __future__ import annotations

import logging
from typing import Any

import goka

__all__ = ["GROUP", "TABLE", "STREAM", "define", "translate_word", "STREAMS", "TABLES"]

log = logging.getLogger("example.messaging.translator")

GROUP = "translator"
TABLE = goka.group_table(GROUP)
STREAM = "translate-word"
STREAMS: tuple[str, ...] = (STREAM,)
TABLES: tuple[str, ...] = ()


def translate(ctx: goka.Context, translation: str) -> None:
    ctx.set_value(translation)
    log.info("translating %r with %r", ctx.key, translation)


def define() -> goka.GroupGraph:
    return goka.define_group(GROUP, goka.Input(STREAM, goka.codec.String(), translate),
                             goka.Persist(goka.codec.String()))


def translate_word(brokers: Any, word: str, translation: str) -> None:
    """What the ``translate-word`` command does: emit one translation."""
    with goka.Emitter(brokers, STREAM, goka.codec.String()) as emitter:
        emitter.emit_sync(word, translation)
    log.info("sent translation %r -> %r", word, translation)
