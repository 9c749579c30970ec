"""define_group: edges, derived topics and validation errors (GOKA.md §1.1)."""
import pytest

import goka
from goka import codec


def cb(ctx, msg):
    pass


def test_topic_names():
    assert goka.group_table("clicks") == "clicks-table"
    assert goka.group_loop("clicks") == "clicks-loop"


def test_full_graph_accessors():
    g = goka.define_group(
        "clicks",
        goka.Input("user-clicks", codec.String(), cb),
        goka.Inputs(["a", "b"], codec.String(), cb),
        goka.Output("alerts", codec.Json()),
        goka.Loop(codec.Json(), cb),
        goka.Join(goka.group_table("users"), codec.Json()),
        goka.Lookup(goka.group_table("devices"), codec.Json()),
        goka.Persist(codec.Int64()),
        goka.Visitor("reset", cb),
    )
    assert g.group == "clicks"
    assert g.input_topics == ["user-clicks", "a", "b"]
    assert g.consumed_topics == ["user-clicks", "a", "b", "clicks-loop"]
    assert g.copartitioned_topics == ["user-clicks", "a", "b", "users-table"]
    assert list(g.outputs) == ["alerts"]
    assert list(g.joins) == ["users-table"] and list(g.lookups) == ["devices-table"]
    assert g.table_topic == "clicks-table" and g.loop_topic == "clicks-loop"
    assert list(g.visitors) == ["reset"]
    codecs = g.codecs()
    assert codecs["clicks-table"] == codec.Int64()
    assert set(codecs) == {"user-clicks", "a", "b", "alerts", "clicks-loop", "users-table",
                           "devices-table", "clicks-table"}


def test_stateless_group_is_valid():
    g = goka.define_group("g", goka.Input("in", codec.String(), cb))
    assert g.persist is None and g.loop is None


@pytest.mark.parametrize(
    "edges, message",
    [
        ((), "no input stream"),
        ((goka.Loop(codec.String(), cb),), "no input stream"),
        ((goka.Input("in", codec.String(), cb), goka.Input("in", codec.String(), cb)), "consumed twice"),
        ((goka.Inputs(["x", "x"], codec.String(), cb),), "consumed twice"),
        ((goka.Input("t", codec.String(), cb), goka.Join("t", codec.String())), "consumed twice"),
        ((goka.Input("in", codec.String(), cb), goka.Join("u", codec.String()),
          goka.Lookup("u", codec.String())), "consumed twice"),
        ((goka.Input("in", codec.String(), cb), goka.Persist(codec.String()), goka.Persist(codec.String())),
         "more than one Persist"),
        ((goka.Input("in", codec.String(), cb), goka.Loop(codec.String(), cb), goka.Loop(codec.String(), cb)),
         "more than one Loop"),
        ((goka.Input("in", codec.String(), cb), goka.Visitor("v", cb)), "need a Persist"),
        ((goka.Input("g-table", codec.String(), cb),), "own topic 'g-table'"),
        ((goka.Input("g-loop", codec.String(), cb),), "own topic 'g-loop'"),
        ((goka.Input("in", codec.String(), cb), goka.Output("g-loop", codec.String())), "use Loop"),
        ((goka.Input("in", codec.String(), cb), goka.Output("g-table", codec.String())), "use Persist"),
        ((goka.Input("in", codec.String(), cb), goka.Join("g-table", codec.String())), "own topic"),
        ((goka.Input("in", codec.String(), cb), goka.Lookup("g-loop", codec.String())), "own topic"),
        ((goka.Input("in", codec.String(), cb), goka.Persist(codec.String()), goka.Visitor("v", cb),
          goka.Visitor("v", cb)), "visitor 'v' defined twice"),
        ((goka.Input("in", codec.String(), cb), goka.Output("o", codec.String()), goka.Output("o", codec.Int64())),
         "different codecs"),
        ((goka.Input("in", codec.String(), cb), "not-an-edge"), "is not an edge"),
    ],
)
def test_validation_errors(edges, message):
    with pytest.raises(goka.GroupError, match=message):
        goka.define_group("g", *edges)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: goka.Input("", codec.String(), cb), "non-empty string"),
        (lambda: goka.Input("t", object(), cb), "no encode"),
        (lambda: goka.Input("t", codec.String(), "nope"), "not callable"),
        (lambda: goka.Inputs([], codec.String(), cb), "at least one topic"),
        (lambda: goka.Visitor("", cb), "non-empty"),
        (lambda: goka.Output("o", None), "no encode"),
    ],
)
def test_edge_construction_errors(make, message):
    with pytest.raises(goka.GroupError, match=message):
        make()


def test_group_name_required():
    with pytest.raises(goka.GroupError, match="group name"):
        goka.define_group("", goka.Input("in", codec.String(), cb))


def test_group_error_is_value_error():
    assert issubclass(goka.GroupError, ValueError)


def test_processor_requires_graph():
    from goka.tester import Tester

    with pytest.raises(TypeError, match="define_group"):
        goka.Processor(Tester(), "not a graph")


# -- error policies (issue 12, part 2) ------------------------------------------------------

def test_on_error_on_edges():
    skip, dlq = goka.Skip(), goka.DeadLetter("dead")
    g = goka.define_group(
        "g", goka.Input("a", codec.String(), cb, on_error=skip),
        goka.Inputs(["b", "c"], codec.String(), cb, on_error=dlq),
        goka.Input("d", codec.String(), cb), goka.Loop(codec.String(), cb, on_error=goka.Retry(2)))
    assert [i.on_error for i in g.inputs] == [skip, dlq, dlq, None]
    assert g.loop.on_error == goka.Retry(2, backoff=0.5, then=goka.Fail())
    from goka._core.failure import dead_letter_targets, policies_of

    assert policies_of(g, None) == {"a": skip, "b": dlq, "c": dlq, "g-loop": goka.Retry(2)}
    assert policies_of(g, goka.Fail()) == {"a": skip, "b": dlq, "c": dlq, "g-loop": goka.Retry(2)}
    assert policies_of(g, goka.Skip())["d"] == goka.Skip()
    assert dead_letter_targets(g, goka.Retry(3, then=goka.DeadLetter("other"))) == ["dead", "other"]
    only_fail = goka.define_group("h", goka.Input("a", codec.String(), cb, on_error=goka.Fail()))
    assert policies_of(only_fail, goka.Skip()) is None  # the edge's Fail wins: nothing to handle


@pytest.mark.parametrize(
    "edges, message",
    [
        ([goka.Input("a", codec.String(), cb, on_error=goka.DeadLetter("a"))], "dead-letter topic 'a'"),
        ([goka.Input("a", codec.String(), cb, on_error=goka.DeadLetter("g-table"))], "dead-letter topic 'g-table'"),
        ([goka.Input("a", codec.String(), cb, on_error=goka.DeadLetter("g-loop"))], "dead-letter topic 'g-loop'"),
        ([goka.Input("a", codec.String(), cb), goka.Input("b", codec.String(), cb, on_error=goka.DeadLetter("a"))],
         "dead-letter topic 'a'"),
        ([goka.Input("a", codec.String(), cb, on_error=goka.Retry(2, then=goka.DeadLetter("t"))),
          goka.Join("t", codec.String())], "dead-letter topic 't'"),
        ([goka.Input("a", codec.String(), cb), goka.Loop(codec.String(), cb, on_error=goka.DeadLetter("a"))],
         "dead-letter topic 'a'"),
    ],
)
def test_dead_letter_topic_validation(edges, message):
    with pytest.raises(goka.GroupError, match=message):
        goka.define_group("g", *edges)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: goka.Input("a", codec.String(), cb, on_error="skip"), "on_error must be"),
        (lambda: goka.Loop(codec.String(), cb, on_error=goka.Skip), "on_error must be"),
        (lambda: goka.DeadLetter(""), "DeadLetter: topic"),
        (lambda: goka.Retry(0), "attempts must be"),
        (lambda: goka.Retry(True), "attempts must be"),
        (lambda: goka.Retry(2, backoff=-1), "backoff must be"),
        (lambda: goka.Retry(2, then=goka.Retry(2)), "then must be"),
    ],
)
def test_policy_construction_errors(make, message):
    with pytest.raises(goka.GroupError, match=message):
        make()


def test_processor_wide_policy_validation():
    from goka.tester import Tester

    g = goka.define_group("g", goka.Input("a", codec.String(), cb), goka.Lookup("users", codec.String()))
    for bad in ("a", "g-table", "g-loop", "users"):
        with pytest.raises(goka.GroupError, match=f"dead-letter topic '{bad}'"):
            goka.Processor(Tester(), g, on_error=goka.DeadLetter(bad))
    with pytest.raises(goka.GroupError, match="on_error must be"):
        goka.Processor(Tester(), g, on_error=goka.Skip)
    assert goka.Processor(Tester(), g, on_error=goka.Skip()).on_error == goka.Skip()


def test_retry_delay():
    assert goka.Retry(3, backoff=0.25).delay(2) == 0.25
    assert goka.Retry(3, backoff=lambda n: 2.0 ** n).delay(3) == 8.0
