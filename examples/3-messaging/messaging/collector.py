"""The collector: the last five messages each user received (``collector-table``)."""
from __future__ import annotations

import goka
from messaging import MESSAGE_CODEC, MESSAGE_LIST_CODEC, RECEIVED_STREAM, Message

__all__ = ["GROUP", "TABLE", "MAX_MESSAGES", "define", "STREAMS", "TABLES"]

GROUP = "collector"
TABLE = goka.group_table(GROUP)
MAX_MESSAGES = 5
STREAMS: tuple[str, ...] = (RECEIVED_STREAM,)
TABLES: tuple[str, ...] = ()


def collect(ctx: goka.Context, msg: Message) -> None:
    messages: list[Message] = ctx.value() or []
    messages.append(msg)
    ctx.set_value(messages[-MAX_MESSAGES:])


def define() -> goka.GroupGraph:
    return goka.define_group(GROUP, goka.Input(RECEIVED_STREAM, MESSAGE_CODEC, collect),
                             goka.Persist(MESSAGE_LIST_CODEC))
