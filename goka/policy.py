"""Error policies: what a processor does with a message it cannot process.

A message cannot be processed when its value cannot be decoded (:class:`goka.CodecError`)
or its callback raises. Whatever the policy, the failed attempt leaves no trace: the
table writes, emits, loopbacks and deferred commits it made are discarded. Then:

- :class:`Fail` (the default) stops the processor; ``run()`` raises the error, nothing
  is committed past the message, and a restart processes it again;
- :class:`Skip` logs a WARNING naming group, topic, partition, offset, key and the
  error, counts the message (``stats()``, ``goka_skipped_messages_total``) and goes on;
- :class:`DeadLetter` produces the original key, value and headers unchanged to a
  topic, with ``goka.error.*`` headers saying where and why it failed, counts it, and
  goes on; the input offset is committed past the message only after the dead-letter
  record is acknowledged;
- :class:`Retry` calls the callback again after a backoff, up to ``attempts`` calls in
  all, then applies ``then``. The partition waits meanwhile: nothing after the message
  is processed first.

Give a policy per input edge (``goka.Input(..., on_error=...)``, ``Inputs``, ``Loop``)
or processor-wide (``goka.Processor(..., on_error=...)``); the edge's choice wins.
``ctx.fail(exc)`` always stops the processor, whatever the policy: it is the callback's
explicit choice.
"""
from __future__ import annotations

from collections.abc import Callable

from goka.errors import GroupError

__all__ = ["Policy", "Fail", "Skip", "DeadLetter", "Retry", "ERROR_HEADERS"]

#: the headers a dead-letter record carries besides the original ones
ERROR_HEADERS = ("goka.error.group", "goka.error.topic", "goka.error.partition", "goka.error.offset",
                 "goka.error.class", "goka.error.message")


class Policy:
    """Base class of the error policies (not used directly)."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and all(
            getattr(self, a) == getattr(other, a) for a in _slots(type(self)))

    def __hash__(self) -> int:
        return hash((type(self), *(repr(getattr(self, a)) for a in _slots(type(self)))))


def _slots(cls: type) -> list[str]:
    return [a for c in cls.__mro__ for a in getattr(c, "__slots__", ())]


class Fail(Policy):
    """Stop the processor with the error (the default): the message is not committed and
    is processed again after a restart."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Fail()"


class Skip(Policy):
    """Log a WARNING, count the message as skipped and go on with the next one."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Skip()"


class DeadLetter(Policy):
    """Produce the message unchanged to ``topic`` and go on.

    Parameters
    ----------
    topic : str
        the dead-letter topic. It must not be one of the group's own inputs,
        its table, loop, joined or looked-up tables (:class:`goka.GroupError`). A
        processor creates it at start when it is missing (delete cleanup policy, the
        broker's default retention, as many partitions as the inputs); records are
        partitioned by key with the processor's hasher.

    The record keeps the original key, value and headers and gets the headers
    ``goka.error.group``, ``goka.error.topic``, ``goka.error.partition``,
    ``goka.error.offset``, ``goka.error.class`` (the exception class; for a callback
    error, the class of the exception the callback raised) and ``goka.error.message``
    (UTF-8 text). The input offset is committed past the message only after the broker
    acknowledged the dead-letter record.
    """

    __slots__ = ("topic",)

    def __init__(self, topic: str) -> None:
        if not isinstance(topic, str) or not topic:
            raise GroupError(f"DeadLetter: topic must be a non-empty string, got {topic!r}")
        self.topic = topic

    def __repr__(self) -> str:
        return f"DeadLetter({self.topic!r})"


#: the wait before retry ``n`` (1 for the first retry): seconds, or a function of ``n``
Backoff = float | Callable[[int], float]


class Retry(Policy):
    """Call the callback again, up to ``attempts`` calls in all, then apply ``then``.

    Parameters
    ----------
    attempts : int
        how many times the message is tried in all, the first call
        included (``Retry(3)``: the first call and two retries); at least 1.
    backoff : float or callable
        seconds to wait before each retry, or a function of the retry
        number (1, 2, ...) returning seconds, e.g. ``lambda n: 0.1 * 2 ** n``.
    then : goka.Fail, goka.Skip or goka.DeadLetter
        what to do when the last attempt failed too: :class:`Fail` (default),
        :class:`Skip` or :class:`DeadLetter`.

    Each attempt starts from a clean state (the failed attempt's effects are discarded).
    The partition waits during the backoff -- on Kafka, the processor's processing
    thread waits, so its other partitions wait too: keep ``attempts`` times the backoff
    well below the consumer's ``max.poll.interval.ms`` (5 minutes by default). Stopping
    the processor interrupts the wait; the message then fails (it is not committed). The
    tester retries without waiting.
    """

    __slots__ = ("attempts", "backoff", "then")

    def __init__(self, attempts: int, *, backoff: Backoff = 0.5, then: Policy | None = None) -> None:
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise GroupError(f"Retry: attempts must be an int >= 1, got {attempts!r}")
        if not callable(backoff):
            if isinstance(backoff, bool) or not isinstance(backoff, (int, float)) or backoff < 0:
                raise GroupError(f"Retry: backoff must be seconds >= 0 or a function, got {backoff!r}")
        then = Fail() if then is None else then
        if not isinstance(then, (Fail, Skip, DeadLetter)):
            raise GroupError(f"Retry: then must be Fail(), Skip() or DeadLetter(topic), got {then!r}")
        self.attempts = attempts
        self.backoff = backoff
        self.then = then

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first).

        Parameters
        ----------
        retry : int
            The retry number, 1 for the first retry.
        """
        backoff = self.backoff
        return float(backoff(retry) if callable(backoff) else backoff)

    def __repr__(self) -> str:
        return f"Retry({self.attempts}, backoff={self.backoff!r}, then={self.then!r})"


def check_policy(policy: object, where: str) -> Policy | None:
    """``policy`` if it is ``None`` or a :class:`Policy`; :class:`goka.GroupError` otherwise."""
    if policy is None or isinstance(policy, Policy) and type(policy) is not Policy:
        return policy
    raise GroupError(f"{where}: on_error must be goka.Fail(), goka.Skip(), goka.DeadLetter(topic) "
                     f"or goka.Retry(...), got {policy!r}")


def dead_letter_topics(policy: Policy | None) -> list[str]:
    """The dead-letter topics ``policy`` may produce to."""
    if isinstance(policy, Retry):
        policy = policy.then
    return [policy.topic] if isinstance(policy, DeadLetter) else []
