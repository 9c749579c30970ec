"""The group graph: which topics a processor group consumes, emits, joins and persists.

``define_group(name, *edges)`` builds a :class:`GroupGraph` and validates it eagerly,
raising :class:`goka.GroupError` with a message naming the problem.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NewType

from goka.errors import GroupError
from goka.hash import Hasher
from goka.hash import goka as goka_hash
from goka.policy import Policy, check_policy, dead_letter_topics
from goka.window import WindowSpec, check_window_name, to_ms, window_table

__all__ = [
    "Stream",
    "Table",
    "Group",
    "Edge",
    "Input",
    "Inputs",
    "Output",
    "Loop",
    "Join",
    "Lookup",
    "Persist",
    "Visitor",
    "Timer",
    "Window",
    "GroupGraph",
    "define_group",
    "group_table",
    "group_loop",
    "group_timers",
    "TABLE_SUFFIX",
    "LOOP_SUFFIX",
    "TIMERS_SUFFIX",
]

Stream = NewType("Stream", str)
Table = NewType("Table", str)
Group = NewType("Group", str)

TABLE_SUFFIX = "-table"
LOOP_SUFFIX = "-loop"
TIMERS_SUFFIX = "-timers"

#: ``callback(ctx, msg)``; ctx is a :class:`goka.Context`
Callback = Callable[[Any, Any], None]
#: ``on_close(ctx, window, value)`` of a :class:`Window` edge
CloseCallback = Callable[[Any, Any, Any], None]


def group_table(group: str) -> str:
    """The table topic of ``group``: ``"<group>-table"``.

    Parameters
    ----------
    group : str
        The group name.
    """
    return group + TABLE_SUFFIX


def group_loop(group: str) -> str:
    """The loopback topic of ``group``: ``"<group>-loop"``.

    Parameters
    ----------
    group : str
        The group name.
    """
    return group + LOOP_SUFFIX


def group_timers(group: str) -> str:
    """The timer topic of ``group``: ``"<group>-timers"`` (see :class:`Timer`).

    Parameters
    ----------
    group : str
        The group name.
    """
    return group + TIMERS_SUFFIX


def _check_codec(codec: object, edge: str) -> None:
    if not (callable(getattr(codec, "encode", None)) and callable(getattr(codec, "decode", None))):
        raise GroupError(f"{edge}: codec {codec!r} has no encode()/decode() methods")


def _check_callback(callback: object, edge: str) -> None:
    if not callable(callback):
        raise GroupError(f"{edge}: callback {callback!r} is not callable")


def _check_topic(topic: object, edge: str) -> None:
    if not isinstance(topic, str) or not topic:
        raise GroupError(f"{edge}: topic must be a non-empty string, got {topic!r}")


class Edge:
    """Base of every edge; ``topic`` is empty for edges whose topic derives from the group."""

    __slots__ = ("topic", "codec")

    def __init__(self, topic: str, codec: Any) -> None:
        self.topic = topic
        self.codec = codec

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.topic!r}, {self.codec!r})"


class Input(Edge):
    """Consume ``topic`` (co-partitioned) and call ``callback(ctx, msg)`` per message.

    Parameters
    ----------
    topic : str
        The input stream; it must exist and have the group's partition count.
    codec : goka.codec.Codec
        Decodes the messages' values.
    callback : callable
        ``callback(ctx, msg) -> None``: ``ctx`` is the :class:`goka.Context` of the
        message, ``msg`` its value decoded by ``codec``.
    on_error : goka.Fail, goka.Skip, goka.DeadLetter or goka.Retry, optional
        What to do with a message of this edge that cannot be decoded or whose callback
        raises (see :mod:`goka.policy`); ``None`` (default) takes the processor's
        ``on_error`` (:class:`goka.Fail` unless given).
    """

    __slots__ = ("callback", "on_error")

    def __init__(self, topic: str, codec: Any, callback: Callback, *, on_error: Policy | None = None) -> None:
        _check_topic(topic, "Input")
        _check_codec(codec, f"Input({topic!r})")
        _check_callback(callback, f"Input({topic!r})")
        super().__init__(topic, codec)
        self.callback = callback
        self.on_error = check_policy(on_error, f"Input({topic!r})")


class Inputs:
    """Several input topics sharing one codec, one callback and one ``on_error`` policy.

    Parameters
    ----------
    topics : iterable of str
        The input streams (co-partitioned).
    codec : goka.codec.Codec
        Decodes the messages' values of every topic.
    callback : callable
        ``callback(ctx, msg) -> None``: ``ctx`` is the :class:`goka.Context` of the
        message, ``msg`` its value decoded by ``codec``.
    on_error : goka.Fail, goka.Skip, goka.DeadLetter or goka.Retry, optional
        What to do with a message of this edge that cannot be decoded or whose callback
        raises (see :mod:`goka.policy`); ``None`` (default) takes the processor's
        ``on_error`` (:class:`goka.Fail` unless given).
    """

    __slots__ = ("inputs",)

    def __init__(self, topics: Iterable[str], codec: Any, callback: Callback, *,
                 on_error: Policy | None = None) -> None:
        topics = list(topics)
        if not topics:
            raise GroupError("Inputs: needs at least one topic")
        self.inputs = [Input(t, codec, callback, on_error=on_error) for t in topics]

    def __repr__(self) -> str:
        return f"Inputs({[i.topic for i in self.inputs]!r})"


class Output(Edge):
    """Declare ``topic`` as a target of ``ctx.emit``.

    Parameters
    ----------
    topic : str
        The output stream; it must exist (any partition count).
    codec : goka.codec.Codec
        Encodes the values emitted to it.
    """

    __slots__ = ()

    def __init__(self, topic: str, codec: Any) -> None:
        _check_topic(topic, "Output")
        _check_codec(codec, f"Output({topic!r})")
        super().__init__(topic, codec)


class Loop(Edge):
    """The group's loopback stream ``<group>-loop``, fed by ``ctx.loopback`` (the processor
    creates the topic).

    Parameters
    ----------
    codec : goka.codec.Codec
        Encodes and decodes the looped-back values.
    callback : callable
        ``callback(ctx, msg) -> None``: ``ctx`` is the :class:`goka.Context` of the
        message, ``msg`` its value decoded by ``codec``.
    on_error : goka.Fail, goka.Skip, goka.DeadLetter or goka.Retry, optional
        What to do with a message of this edge that cannot be decoded or whose callback
        raises (see :mod:`goka.policy`); ``None`` (default) takes the processor's
        ``on_error`` (:class:`goka.Fail` unless given).
    """

    __slots__ = ("callback", "on_error")

    def __init__(self, codec: Any, callback: Callback, *, on_error: Policy | None = None) -> None:
        _check_codec(codec, "Loop")
        _check_callback(callback, "Loop")
        super().__init__("", codec)
        self.callback = callback
        self.on_error = check_policy(on_error, "Loop")

    def __repr__(self) -> str:
        return f"Loop({self.codec!r})"


class Join(Edge):
    """A co-partitioned table read with ``ctx.join(table)`` for the current key.

    Parameters
    ----------
    table : str
        The table topic (e.g. another group's ``<group>-table``); it must have the
        group's partition count.
    codec : goka.codec.Codec
        Decodes the table's values.
    """

    __slots__ = ()

    def __init__(self, table: str, codec: Any) -> None:
        _check_topic(table, "Join")
        _check_codec(codec, f"Join({table!r})")
        super().__init__(table, codec)


class Lookup(Edge):
    """A table of any partitioning, read with ``ctx.lookup(table, key)`` (served by a view).

    Parameters
    ----------
    table : str
        The table topic; it must exist.
    codec : goka.codec.Codec
        Decodes the table's values.
    hasher : callable
        The partitioner of the table's writers (default :func:`goka.hash.goka`;
        :func:`goka.hash.murmur2` for a table written by the Java client or Kafka
        Streams).
    """

    __slots__ = ("hasher",)

    def __init__(self, table: str, codec: Any, hasher: Hasher = goka_hash) -> None:
        _check_topic(table, "Lookup")
        _check_codec(codec, f"Lookup({table!r})")
        if not callable(hasher):
            raise GroupError(f"Lookup({table!r}): hasher {hasher!r} is not callable")
        super().__init__(table, codec)
        self.hasher: Hasher = hasher


class Persist(Edge):
    """The group table ``<group>-table`` (the processor creates it, compacted).

    Parameters
    ----------
    codec : goka.codec.Codec
        Encodes and decodes the values of ``ctx.value()`` / ``ctx.set_value()``.
    """

    __slots__ = ()

    def __init__(self, codec: Any) -> None:
        _check_codec(codec, "Persist")
        super().__init__("", codec)

    def __repr__(self) -> str:
        return f"Persist({self.codec!r})"


class Timer(Edge):
    """The group's timers: ``ctx.schedule(value, at=... | delay=...)`` in any callback makes
    ``callback(ctx, value)`` run for the current key once the wall clock passes the due time.

    Pending timers live in local storage and in the compacted, co-partitioned topic
    ``<group>-timers``; they survive restarts and rebalances (see :mod:`goka._core.timers`
    for the record layout). A timer callback that raises stops the processor (the timer
    stays pending and fires again after a restart).

    Parameters
    ----------
    codec : goka.codec.Codec
        Encodes and decodes the scheduled values.
    callback : callable
        ``callback(ctx, value) -> None``: ``ctx`` is a :class:`goka.Context` for the
        timer's key (``ctx.topic`` is ``<group>-timers``, ``ctx.timestamp`` the due time),
        ``value`` the scheduled value.
    """

    __slots__ = ("callback",)

    def __init__(self, codec: Any, callback: Callback) -> None:
        _check_codec(codec, "Timer")
        _check_callback(callback, "Timer")
        super().__init__("", codec)
        self.callback = callback

    def __repr__(self) -> str:
        return f"Timer({self.codec!r})"


class Window(Edge):
    """A windowed table of the group: per key and window, a value kept in local storage and
    in the compacted, co-partitioned topic ``<group>-<name>`` (:func:`goka.window_table`;
    record layout in :mod:`goka.window`). Callbacks reach it with ``ctx.window(name)``
    (``ctx.windows(name)`` for every hopping window of the record).

    Parameters
    ----------
    name : str
        The edge's name (letters, digits, ``.``, ``_``, ``-``; not ``table``, ``loop`` or
        ``timers``); the topic is ``<group>-<name>``.
    spec : goka.Tumbling, goka.Hopping or goka.Session
        Which windows a record belongs to, and their grace.
    codec : goka.codec.Codec
        Encodes and decodes window values.
    on_close : callable, optional
        ``on_close(ctx, window, value) -> None``, run once per window when stream time
        passes its close (``window`` a :class:`goka.TimeWindow`); it may emit, set the group
        table and schedule timers.
    retention : datetime.timedelta, optional
        How long a window is kept (from a fixed window's start, from a session's end);
        at least, and by default, until it closes (size + grace; gap + grace).
    """

    __slots__ = ("name", "spec", "on_close", "retention_ms")

    def __init__(self, name: str, spec: WindowSpec, codec: Any, on_close: CloseCallback | None = None,
                 retention: Any = None) -> None:
        try:
            check_window_name(name)
        except ValueError as exc:
            raise GroupError(f"Window: {exc}") from None
        if not isinstance(spec, WindowSpec):
            raise GroupError(f"Window({name!r}): spec must be goka.Tumbling, goka.Hopping or "
                             f"goka.Session, got {spec!r}")
        _check_codec(codec, f"Window({name!r})")
        if on_close is not None:
            _check_callback(on_close, f"Window({name!r}) on_close")
        super().__init__("", codec)
        self.name = name
        self.spec = spec
        self.on_close = on_close
        least = spec.default_retention_ms
        if retention is None:
            self.retention_ms = least
        else:
            from datetime import timedelta
            if not isinstance(retention, timedelta):
                raise GroupError(f"Window({name!r}): retention must be a datetime.timedelta, "
                                 f"got {type(retention).__name__}")
            self.retention_ms = to_ms(retention, "retention")
            if self.retention_ms < least:
                raise GroupError(f"Window({name!r}): retention {retention} is shorter than the "
                                 f"window's life ({timedelta(milliseconds=least)}: until it closes)")

    def topic_of(self, group: str) -> str:
        """The window topic of this edge in ``group``.

        Parameters
        ----------
        group : str
            The group name.
        """
        return window_table(group, self.name)

    def __repr__(self) -> str:
        return f"Window({self.name!r}, {self.spec!r}, {self.codec!r})"


class Visitor:
    """A named callback run for every key of the table by ``Processor.visit_all``.

    Parameters
    ----------
    name : str
        The name ``visit_all`` is called with.
    callback : callable
        ``callback(ctx, value) -> None`` per key of the held partitions; ``ctx.value()``
        is the key's table value, ``value`` what ``visit_all`` was given.
    """

    __slots__ = ("name", "callback")

    def __init__(self, name: str, callback: Callback) -> None:
        if not isinstance(name, str) or not name:
            raise GroupError(f"Visitor: name must be a non-empty string, got {name!r}")
        _check_callback(callback, f"Visitor({name!r})")
        self.name = name
        self.callback = callback

    def __repr__(self) -> str:
        return f"Visitor({self.name!r})"


class GroupGraph:
    """A validated group definition. Build it with :func:`define_group` (the constructor
    does not validate).

    Parameters
    ----------
    group : str
        The group name (consumer group id; prefix of its table and loop topics).
    inputs : list of goka.Input
        The input edges.
    outputs : dict of str to goka.Output
        Output edges by topic.
    loop : goka.Loop or None
        The loop edge.
    joins : dict of str to goka.Join
        Join edges by table.
    lookups : dict of str to goka.Lookup
        Lookup edges by table.
    persist : goka.Persist or None
        The group table's edge.
    visitors : dict of str to goka.Visitor
        Visitors by name.
    timer : goka.Timer or None
        The timer edge.
    windows : dict of str to goka.Window
        Window edges by name.
    """

    def __init__(
        self,
        group: str,
        inputs: list[Input],
        outputs: dict[str, Output],
        loop: Loop | None,
        joins: dict[str, Join],
        lookups: dict[str, Lookup],
        persist: Persist | None,
        visitors: dict[str, Visitor],
        timer: Timer | None = None,
        windows: dict[str, Window] | None = None,
    ) -> None:
        self.group = group
        self.inputs = inputs
        self.outputs = outputs
        self.loop = loop
        self.joins = joins
        self.lookups = lookups
        self.persist = persist
        self.visitors = visitors
        self.table_topic = group_table(group)
        self.loop_topic = group_loop(group)
        self.timer = timer
        self.timer_topic = group_timers(group)
        self.windows: dict[str, Window] = windows or {}
        #: window edges by topic (``<group>-<name>``)
        self.window_topics: dict[str, Window] = {w.topic_of(group): w for w in self.windows.values()}

    @property
    def input_topics(self) -> list[str]:
        """The input streams, in declaration order (without the loop topic)."""
        return [i.topic for i in self.inputs]

    @property
    def consumed_topics(self) -> list[str]:
        """What the consumer group subscribes to: inputs, then the loop topic."""
        topics = self.input_topics
        if self.loop is not None:
            topics.append(self.loop_topic)
        return topics

    @property
    def copartitioned_topics(self) -> list[str]:
        """Inputs and joined tables: they must have equal, gap-free partition counts."""
        return self.input_topics + list(self.joins)

    def codecs(self) -> dict[str, Any]:
        """Every topic this group touches, with its codec."""
        out: dict[str, Any] = {}
        for i in self.inputs:
            out[i.topic] = i.codec
        for topic, edge in {**self.outputs, **self.joins, **self.lookups}.items():
            out[topic] = edge.codec
        if self.loop is not None:
            out[self.loop_topic] = self.loop.codec
        if self.persist is not None:
            out[self.table_topic] = self.persist.codec
        if self.timer is not None:
            out[self.timer_topic] = self.timer.codec
        for topic, window in self.window_topics.items():
            out[topic] = window.codec
        return out

    def edge_of(self, topic: str) -> str:
        """How this group uses ``topic``: ``"Input"``, ``"Loop"``, ``"Output"``, ``"Join"``,
        ``"Lookup"`` or ``"Persist"`` (``""`` if it does not use it); for messages.

        Parameters
        ----------
        topic : str
            A topic name.
        """
        if topic in self.input_topics:
            return "Input"
        if self.loop is not None and topic == self.loop_topic:
            return "Loop"
        if self.persist is not None and topic == self.table_topic:
            return "Persist"
        if self.timer is not None and topic == self.timer_topic:
            return "Timer"
        if topic in self.window_topics:
            return "Window"
        for kind, edges in (("Output", self.outputs), ("Join", self.joins), ("Lookup", self.lookups)):
            if topic in edges:
                return kind
        return ""

    def __repr__(self) -> str:
        edges: list[object] = [*self.inputs, *self.outputs.values(), *self.joins.values(),
                               *self.lookups.values(), *self.visitors.values()]
        if self.loop is not None:
            edges.append(self.loop)
        if self.persist is not None:
            edges.append(self.persist)
        if self.timer is not None:
            edges.append(self.timer)
        edges.extend(self.windows.values())
        return f"define_group({self.group!r}, {', '.join(map(repr, edges))})"


def define_group(group: str, *edges: Edge | Inputs | Visitor) -> GroupGraph:
    """Define and validate the processor group ``group``.

    Parameters
    ----------
    group : str
        The group name: the consumer group id, and the prefix of the group's table
        (``<group>-table``) and loop (``<group>-loop``) topics.
    *edges : goka.Input, goka.Inputs, goka.Output, goka.Loop, goka.Join, goka.Lookup, goka.Persist or goka.Visitor
        What the group consumes, emits, reads and keeps.

    Raises :class:`goka.GroupError` if the group has no input, a topic is consumed twice,
    there are two loops or two persists, a visitor has no persist, an edge names the
    group's own table or loop topic, or a :class:`goka.DeadLetter` policy names a topic
    the group reads or owns.
    """
    if not isinstance(group, str) or not group:
        raise GroupError(f"group name must be a non-empty string, got {group!r}")
    inputs: list[Input] = []
    outputs: dict[str, Output] = {}
    joins: dict[str, Join] = {}
    lookups: dict[str, Lookup] = {}
    visitors: dict[str, Visitor] = {}
    loops: list[Loop] = []
    persists: list[Persist] = []
    timers: list[Timer] = []
    windows: dict[str, Window] = {}
    table, loop_topic = group_table(group), group_loop(group)

    flat: list[Edge | Visitor] = []
    for edge in edges:
        flat.extend(edge.inputs if isinstance(edge, Inputs) else [edge])

    consumed: set[str] = set()
    for edge in flat:
        if isinstance(edge, (Input, Output, Join, Lookup)) and edge.topic in (table, loop_topic,
                                                                              group_timers(group)):
            hint = "Persist" if edge.topic == table else "Loop" if edge.topic == loop_topic else "Timer"
            raise GroupError(
                f"group {group!r}: {type(edge).__name__} names the group's own topic "
                f"{edge.topic!r}; use {hint} instead"
            )
        if isinstance(edge, (Input, Join, Lookup)):
            if edge.topic in consumed:
                raise GroupError(f"group {group!r}: topic {edge.topic!r} is consumed twice")
            consumed.add(edge.topic)
        if isinstance(edge, Input):
            inputs.append(edge)
        elif isinstance(edge, Output):
            if edge.topic in outputs and outputs[edge.topic].codec != edge.codec:
                raise GroupError(
                    f"group {group!r}: output {edge.topic!r} declared twice with different codecs"
                )
            outputs[edge.topic] = edge
        elif isinstance(edge, Join):
            joins[edge.topic] = edge
        elif isinstance(edge, Lookup):
            lookups[edge.topic] = edge
        elif isinstance(edge, Loop):
            loops.append(edge)
        elif isinstance(edge, Persist):
            persists.append(edge)
        elif isinstance(edge, Timer):
            timers.append(edge)
        elif isinstance(edge, Window):
            if edge.name in windows:
                raise GroupError(f"group {group!r}: window {edge.name!r} defined twice")
            windows[edge.name] = edge
        elif isinstance(edge, Visitor):
            if edge.name in visitors:
                raise GroupError(f"group {group!r}: visitor {edge.name!r} defined twice")
            visitors[edge.name] = edge
        else:
            raise GroupError(f"group {group!r}: {edge!r} is not an edge")

    if not inputs:
        raise GroupError(f"group {group!r}: no input stream (add an Input or Inputs edge)")
    if len(loops) > 1:
        raise GroupError(f"group {group!r}: more than one Loop edge")
    if len(persists) > 1:
        raise GroupError(f"group {group!r}: more than one Persist edge")
    if len(timers) > 1:
        raise GroupError(f"group {group!r}: more than one Timer edge")
    if visitors and not persists:
        raise GroupError(f"group {group!r}: visitors {sorted(visitors)} need a Persist edge")
    for window in windows.values():
        wtopic = window.topic_of(group)
        if wtopic in consumed or wtopic in outputs:
            raise GroupError(f"group {group!r}: Window({window.name!r}) owns topic {wtopic!r}, "
                             f"which another edge of the group names")
    own = {*consumed, table, loop_topic, *(w.topic_of(group) for w in windows.values())}
    handlers: list[Input | Loop] = [*inputs, *loops]
    for edge in handlers:
        for topic in dead_letter_topics(edge.on_error):
            if topic in own:
                raise GroupError(f"group {group!r}: dead-letter topic {topic!r} of {edge!r} is a topic the "
                                 f"group reads or owns; use a topic of its own")
    return GroupGraph(
        group,
        inputs,
        outputs,
        loops[0] if loops else None,
        joins,
        lookups,
        persists[0] if persists else None,
        visitors,
        timers[0] if timers else None,
        windows,
    )
