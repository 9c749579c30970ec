"""View on a broker that goes away (port of Go Goka's TestView_Reconnect, using the
embedded cluster's broker down/up instead of a fault-injecting proxy)."""
from __future__ import annotations

import pytest

import goka
from goka import codec

FAST_RECONNECT = {"reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 200}


def test_view_reconnects_and_serves_meanwhile(embedded_cluster, tmp_path, wait_for):
    cluster = embedded_cluster
    cluster.create_topic("t-table", 2)
    with goka.Emitter(cluster, "t-table", codec.Int64()) as em:
        em.emit_sync("key", 1)
    view = goka.View(cluster, "t-table", codec.Int64(), path=str(tmp_path), consumer_config=FAST_RECONNECT)
    with view:
        assert view.wait_recovered(30) and view.get("key") == 1
        cluster.set_broker_down(1)
        wait_for(lambda: view.state == "connecting", 30, "the view to notice the broker is gone")
        assert view.get("key") == 1  # old values stay readable
        cluster.set_broker_up(1)
        wait_for(lambda: view.state == "running", 30, "the view to reconnect")
        with goka.Emitter(cluster, "t-table", codec.Int64()) as em:
            em.emit_sync("key", 2)
        wait_for(lambda: view.get("key") == 2, 30, "updates after reconnecting")


def test_view_without_auto_reconnect_fails(embedded_cluster, tmp_path, wait_for):
    cluster = embedded_cluster
    cluster.create_topic("t-table", 1)
    view = goka.View(cluster, "t-table", codec.Int64(), path=str(tmp_path), auto_reconnect=False,
                     consumer_config=FAST_RECONNECT)
    view.start()
    try:
        assert view.wait_recovered(30)
        cluster.set_broker_down(1)
        wait_for(lambda: view.state == "failed", 30, "the view to fail")
        with pytest.raises(ConnectionError):
            view.wait_recovered(1)
    finally:
        view.stop()
        cluster.set_broker_up(1)
