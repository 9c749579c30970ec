"""The detector: counts messages sent and received per user and blocks spammers.

A sent message is counted for its sender, then *looped back* under the receiver's key
(``detector-loop``) to be counted for the receiver: a callback may only touch the
table value of its own key. A user with at least 200 messages, half or more of them
sent, gets a block event.
"""
from __future__ import annotations

import logging

import msgspec

import goka
from messaging import MESSAGE_CODEC, SENT_STREAM, Message, blocker

__all__ = ["GROUP", "Counters", "define", "STREAMS", "TABLES"]

log = logging.getLogger("example.messaging.detector")

GROUP = "detector"
MIN_MESSAGES = 200
MAX_RATE = 0.5
STREAMS: tuple[str, ...] = (SENT_STREAM, blocker.STREAM)
TABLES: tuple[str, ...] = ()


class Counters(msgspec.Struct):
    Sent: int = 0
    Received: int = 0


def is_spammer(c: Counters) -> bool:
    total = c.Sent + c.Received
    return total >= MIN_MESSAGES and c.Sent / total >= MAX_RATE


def check(ctx: goka.Context, c: Counters) -> None:
    ctx.set_value(c)
    if is_spammer(c):
        log.debug("%s looks like a spammer (sent %d, received %d)", ctx.key, c.Sent, c.Received)
        ctx.emit(blocker.STREAM, ctx.key, blocker.BlockEvent())


def sent(ctx: goka.Context, msg: Message) -> None:
    c: Counters = ctx.value() or Counters()
    c.Sent += 1
    check(ctx, c)
    ctx.loopback(msg.To, msg)  # count it for the receiver too


def received(ctx: goka.Context, msg: Message) -> None:
    c: Counters = ctx.value() or Counters()
    c.Received += 1
    check(ctx, c)


def define() -> goka.GroupGraph:
    return goka.define_group(
        GROUP,
        goka.Input(SENT_STREAM, MESSAGE_CODEC, sent),
        goka.Loop(MESSAGE_CODEC, received),
        goka.Output(blocker.STREAM, blocker.EVENT_CODEC),
        goka.Persist(goka.codec.Json(type=Counters)),
    )
