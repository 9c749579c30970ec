"""The blocker: keeps ``{"Blocked": bool}`` per user from ``block_user`` events."""
from __future__ import annotations

import logging
from typing import Any

import msgspec

import goka

__all__ = ["GROUP", "TABLE", "STREAM", "BlockEvent", "BlockValue", "EVENT_CODEC", "VALUE_CODEC",
           "define", "block_user", "STREAMS", "TABLES"]

log = logging.getLogger("example.messaging.blocker")

GROUP = "blocker"
TABLE = goka.group_table(GROUP)
STREAM = "block_user"
STREAMS: tuple[str, ...] = (STREAM,)
TABLES: tuple[str, ...] = ()


class BlockEvent(msgspec.Struct):
    Unblock: bool = False


class BlockValue(msgspec.Struct):
    Blocked: bool = False


EVENT_CODEC = goka.codec.Json(type=BlockEvent)
VALUE_CODEC = goka.codec.Json(type=BlockValue)


def block(ctx: goka.Context, event: BlockEvent) -> None:
    value: BlockValue = ctx.value() or BlockValue()
    if value.Blocked == (not event.Unblock):
        return  # no change (the detector repeats its verdict for every message)
    value.Blocked = not event.Unblock
    ctx.set_value(value)
    log.info("user %s %s", ctx.key, "blocked" if value.Blocked else "unblocked")


def define() -> goka.GroupGraph:
    return goka.define_group(GROUP, goka.Input(STREAM, EVENT_CODEC, block), goka.Persist(VALUE_CODEC))


def block_user(brokers: Any, user: str, unblock: bool = False) -> None:
    """What the ``block-user`` command does: emit one block (or unblock) event."""
    with goka.Emitter(brokers, STREAM, EVENT_CODEC) as emitter:
        emitter.emit_sync(user, BlockEvent(Unblock=unblock))
    log.info("sent %s event for %s", "unblock" if unblock else "block", user)
