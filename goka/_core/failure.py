"""What a partition does with a message whose processing failed: the error policies of
:mod:`goka.policy` applied, shared by both twins of ``goka._core.partition`` and by the
tester (the failure path is rare, so it is plain Python; the hot path only checks whether
any policy other than :class:`goka.Fail` is configured).

The caller has already discarded what the failed attempt did (its rollback) when it
calls :func:`settle`; each retry that fails is rolled back the same way.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from goka.errors import GroupError, ProcessingError
from goka.policy import DeadLetter, Fail, Policy, Retry, Skip, check_policy, dead_letter_topics

__all__ = ["policies_of", "dead_letter_targets", "check_dead_letters", "settle", "describe", "error_headers",
           "raw_headers", "handle_failure"]

log = logging.getLogger("goka.processor")


def policies_of(graph: Any, default: Policy | None) -> dict[str, Policy] | None:
    """The policy of each consumed topic (the edge's, else ``default``), or ``None`` when
    every topic fails (then the failure path only rolls back and re-raises)."""
    default = check_policy(default, f"group {graph.group!r}")
    edges = list(graph.inputs) + ([graph.loop] if graph.loop is not None else [])
    topics = graph.consumed_topics
    policies: dict[str, Policy] = {}
    for topic, edge in zip(topics, edges):
        policy = getattr(edge, "on_error", None) or default
        if policy is not None and not isinstance(policy, Fail):
            policies[topic] = policy
    return policies or None


def dead_letter_targets(graph: Any, default: Policy | None) -> list[str]:
    """Every dead-letter topic of the group's edges and of the processor-wide ``default``."""
    edges = list(graph.inputs) + ([graph.loop] if graph.loop is not None else [])
    topics = [t for e in edges for t in dead_letter_topics(getattr(e, "on_error", None) or default)]
    return list(dict.fromkeys(topics))


def check_dead_letters(graph: Any, policy: Policy | None) -> None:
    """:class:`goka.GroupError` if ``policy`` (processor-wide) dead-letters into a topic the
    group reads or owns."""
    check_policy(policy, f"group {graph.group!r}")
    own = {*graph.consumed_topics, graph.table_topic, graph.loop_topic, *graph.joins, *graph.lookups}
    for topic in dead_letter_topics(policy):
        if topic in own:
            raise GroupError(f"group {graph.group!r}: dead-letter topic {topic!r} is a topic the group "
                             f"reads or owns; use a topic of its own")


def _by_fail(exc: BaseException) -> bool:
    return isinstance(exc, ProcessingError) and exc.by_fail


def settle(policy: Policy, exc: Exception, attempt: Callable[[], Any], rollback: Callable[[], None],
           sleep: Callable[[float], bool]) -> tuple[Policy, Exception] | None:
    """Apply ``policy`` to a message whose attempt raised ``exc``: retry (``attempt()``,
    after ``sleep(seconds)``, which returns ``True`` to give up because the processor
    stops), then re-raise for :class:`Fail` and ``ctx.fail``, or return the final
    policy (:class:`Skip` or :class:`DeadLetter`) with the last error. ``None``: a retry
    succeeded."""
    if _by_fail(exc):
        raise exc
    if isinstance(policy, Retry):
        for n in range(1, policy.attempts):
            if sleep(policy.delay(n)):
                raise exc
            try:
                attempt()
                return None
            except BaseException as again:
                rollback()
                if not isinstance(again, Exception) or _by_fail(again):
                    raise
                exc = again
        policy = policy.then
    if isinstance(policy, (Skip, DeadLetter)):
        return policy, exc
    raise exc


def _cause(exc: BaseException) -> BaseException:
    """The callback's own exception for a callback failure, else the error itself."""
    if isinstance(exc, ProcessingError) and exc.__cause__ is not None:
        return exc.__cause__
    return exc


def describe(exc: BaseException) -> str:
    """``"<class>: <message>"`` of the error that made a message fail (the callback's own
    exception for a callback failure)."""
    cause = _cause(exc)
    return f"{type(cause).__name__}: {cause}"


def error_headers(group: str, topic: str, partition: int, offset: int, exc: BaseException) -> list[tuple[str, bytes]]:
    """The ``goka.error.*`` headers of a dead-letter record."""
    cause = _cause(exc)
    return [("goka.error.group", group.encode()), ("goka.error.topic", topic.encode()),
            ("goka.error.partition", str(partition).encode()), ("goka.error.offset", str(offset).encode()),
            ("goka.error.class", f"{type(cause).__module__}.{type(cause).__qualname__}".encode()),
            ("goka.error.message", str(cause).encode("utf-8", "replace"))]


def raw_headers(headers: Any) -> list[tuple[str, bytes]]:
    """A message's headers as a list (confluent-kafka's ``msg.headers`` may be the method)."""
    if callable(headers):
        headers = headers()
    if not headers:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(k, b"" if v is None else (v.encode() if isinstance(v, str) else bytes(v))) for k, v in items]


def _key_text(key: bytes | None) -> str:
    return "" if key is None else key.decode("utf-8", "replace")


def handle_failure(pp: Any, topic: str, offset: int, key: bytes | None, value: bytes | None,
                   timestamp_ms: Any, headers: Any, exc: Exception) -> None:
    """The failure path of ``PartitionProcessor.process`` (either twin) after its rollback:
    returns when the message is settled (a retry succeeded, it was skipped or
    dead-lettered), raises when the processor must stop."""
    policy = pp.policies.get(topic)
    if policy is None:
        raise exc
    result = settle(policy, exc, lambda: pp.dispatcher.process(topic, offset, key, value, timestamp_ms, headers),
                    pp.rollback, pp.sleep)
    if result is None:
        return
    final, err = result
    if isinstance(final, DeadLetter):
        pp.dead_letter(final.topic, key, value,
                       raw_headers(headers) + error_headers(pp.group, topic, pp.partition, offset, err))
        pp.dead_lettered[topic] = pp.dead_lettered.get(topic, 0) + 1
        log.warning("group %s: message dead-lettered to %r (topic=%r, partition=%d, offset=%d, key=%r): %s",
                    pp.group, final.topic, topic, pp.partition, offset, _key_text(key), describe(err))
    else:
        pp.skipped[topic] = pp.skipped.get(topic, 0) + 1
        log.warning("group %s: message skipped (topic=%r, partition=%d, offset=%d, key=%r): %s",
                    pp.group, topic, pp.partition, offset, _key_text(key), describe(err))
