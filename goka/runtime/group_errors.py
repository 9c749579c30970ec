"""Consumer-group errors no retry cures, and what to do about each.

librdkafka retries a failed JoinGroup/SyncGroup by itself and reports the failure as a
consumer error event (``consume()`` returns a message whose ``error()`` is set; the
error is not marked fatal). For most codes that is right -- a coordinator moving, a
rebalance, a broker down -- but for the codes in :data:`GROUP_FATAL` every retry fails
the same way: a processor would stay silent forever. It stops with a
:class:`goka.GroupError` that says what to do instead.
"""
from __future__ import annotations

from typing import Any

from goka.errors import GroupError

__all__ = ["GROUP_FATAL", "group_error"]

#: Kafka error code -> what to do
GROUP_FATAL = {
    23: "the group's current members use another protocol or partition assignor (a Go Goka processor, "
        "or a consumer with another partition.assignment.strategy -- goka uses 'range'); Python and Go "
        "instances cannot share a consumer group: stop the other members, or give this group another "
        "name (an empty group keeps its protocol on some brokers until its committed offsets expire)",
    24: "the group id is not valid on this broker: choose another group name",
    26: "the consumer's session.timeout.ms is outside the broker's group.min.session.timeout.ms .. "
        "group.max.session.timeout.ms: change consumer_config['session.timeout.ms'] (goka: 10000)",
    29: "this client may not read the group's input topics: grant it Read on them (ACLs) or connect "
        "with other credentials (goka.Kafka(..., config={...}))",
    30: "this client may not use the consumer group: grant it Read on the group (ACLs) or connect "
        "with other credentials (goka.Kafka(..., config={...}))",
    35: "the broker does not support the group protocol version librdkafka uses: check the broker "
        "version and api.version.request",
    81: "the group has reached the broker's group.max.size: run fewer instances or raise group.max.size",
    82: "another member uses the same group.instance.id: give each instance its own",
}


def group_error(group: str, err: Any) -> GroupError | None:
    """The :class:`GroupError` for consumer error ``err`` (a ``KafkaError``) if no retry can
    cure it (a code in :data:`GROUP_FATAL`, or an error librdkafka marks fatal), else None."""
    advice = GROUP_FATAL.get(err.code())
    if advice is None and not err.fatal():
        return None
    return GroupError(f"group {group!r} cannot consume: {err.str()} ({err.name()}): "
                      + (advice or "librdkafka reports it as fatal (see its log)"))
