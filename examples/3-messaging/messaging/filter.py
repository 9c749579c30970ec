"""The filter: drops messages of blocked senders, translates words, and re-emits the
rest to ``message_received`` keyed by receiver.

The blocker table is *joined*: it is co-partitioned with ``message_sent`` (both keyed by
user), so each instance holds just its partitions of it. The translator table is keyed
by word, so it is *looked up*: every instance keeps all of it (a view).
"""
from __future__ import annotations

import collections
import logging

import goka
from messaging import MESSAGE_CODEC, RECEIVED_STREAM, SENT_STREAM, Message, blocker, translator

__all__ = ["GROUP", "define", "dropped", "STREAMS", "TABLES"]

log = logging.getLogger("example.messaging.filter")

GROUP = "message_filter"
STREAMS: tuple[str, ...] = (SENT_STREAM, RECEIVED_STREAM)
# joined and looked-up tables must exist even if the blocker and translator do not run
TABLES: tuple[str, ...] = (blocker.TABLE, translator.TABLE)

#: messages dropped per blocked sender (in this process), for the curious
dropped: collections.Counter[str] = collections.Counter()


def should_drop(ctx: goka.Context) -> bool:
    value: blocker.BlockValue | None = ctx.join(blocker.TABLE)
    return value is not None and value.Blocked


def translate(ctx: goka.Context, msg: Message) -> Message:
    words = [ctx.lookup(translator.TABLE, w) or w for w in msg.Content.split(" ")]
    return Message(From=msg.From, To=msg.To, Content=" ".join(words))


def filter_message(ctx: goka.Context, msg: Message) -> None:
    if should_drop(ctx):
        dropped[ctx.key] += 1
        log.debug("dropped message of blocked user %s", ctx.key)
        return
    translated = translate(ctx, msg)
    ctx.emit(RECEIVED_STREAM, translated.To, translated)


def define() -> goka.GroupGraph:
    return goka.define_group(
        GROUP,
        goka.Input(SENT_STREAM, MESSAGE_CODEC, filter_message),
        goka.Output(RECEIVED_STREAM, MESSAGE_CODEC),
        goka.Join(blocker.TABLE, blocker.VALUE_CODEC),
        goka.Lookup(translator.TABLE, goka.codec.String()),
    )
