"""Local table state against what the table topic holds."""
from __future__ import annotations

import goka
from goka import codec
from goka.storage.lmdb import LMDB


def test_stale_local_table_is_rebuilt(tmp_path, wait_for):
    """A local table whose offset is beyond the topic's end (the topic was re-created) is
    cleared and rebuilt from the topic instead of serving stale values."""
    path = str(tmp_path / "view")
    store = LMDB(path).open("t-table", 0)
    store.write_batch([(b"stale", b"1"), (b"k", b"99")], offset=5)
    store.close()
    with goka.EmbeddedCluster(partitions=1) as cluster:
        cluster.create_topic("t-table", 1)
        with goka.Emitter(cluster, "t-table", codec.Int64()) as em:
            em.emit_sync("k", 7)
        with goka.View(cluster, "t-table", codec.Int64(), path=path) as view:
            assert view.wait_recovered(30)
            assert view.get("k") == 7
            assert view.get("stale") is None


def test_view_resumes_from_local_offset(tmp_path):
    """A restarted view reads only what was appended since (its records count proves it)."""
    path = str(tmp_path / "view")
    with goka.EmbeddedCluster(partitions=1) as cluster:
        cluster.create_topic("t-table", 1)
        with goka.Emitter(cluster, "t-table", codec.Int64()) as em:
            for i in range(10):
                em.emit(f"k{i}", i)
        with goka.View(cluster, "t-table", codec.Int64(), path=path) as view:
            assert view.wait_recovered(30) and view.get("k9") == 9
        with goka.Emitter(cluster, "t-table", codec.Int64()) as em:
            em.emit_sync("k0", 100)
        view = goka.View(cluster, "t-table", codec.Int64(), path=path)
        with view:
            assert view.wait_recovered(30)
            assert view.get("k0") == 100 and view.get("k5") == 5
            assert view._backend.tables[0].records == 1
