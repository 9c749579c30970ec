"""The chat of Go Goka's messaging example: messages, their codecs and streams.

Users send messages through the service (``POST /<user>/send``) into ``message_sent``;
the filter drops those of blocked users, translates words and re-emits them to
``message_received``, keyed by receiver; the collector keeps each user's last five
received messages, which the service shows (``GET /<user>/feed``). The detector
counts what each user sends and receives and blocks spammers through ``block_user``.
"""
from __future__ import annotations

import msgspec

from goka import codec

__all__ = ["Message", "MESSAGE_CODEC", "MESSAGE_LIST_CODEC", "SENT_STREAM", "RECEIVED_STREAM", "PARTITIONS"]

SENT_STREAM = "message_sent"          # keyed by sender
RECEIVED_STREAM = "message_received"  # keyed by receiver
PARTITIONS = 8                        # of every topic the example creates (as topicinit in Go)


class Message(msgspec.Struct):
    """A chat message; JSON ``{"From": ..., "To": ..., "Content": ...}`` as in Go."""

    From: str = ""
    To: str = ""
    Content: str = ""


MESSAGE_CODEC = codec.Json(type=Message)
MESSAGE_LIST_CODEC = codec.Json(type=list[Message])
