"""Which worker of a ``goka run`` holds which partitions, for the query page.

Each worker with ``--web`` writes ``<path>/.web/worker-<i>.json`` (its pages' URL and the
active partitions of each group it runs) whenever its partitions change; the query page
of a worker that does not hold a key's partition reads its siblings' files to name the
worker that does. Files of other ``goka run`` invocations sharing the path are told apart
by the supervisor's pid. Only workers of one ``goka run`` on one machine are found.
"""
from __future__ import annotations

import json
import logging
import os

__all__ = ["Holdings"]

log = logging.getLogger("goka.cli")


class Holdings:
    """The holdings file of worker ``index`` under ``path``, and the look-up of siblings'."""

    def __init__(self, path: str, index: int, url: str) -> None:
        self.dir = os.path.join(path, ".web")
        self.index = index
        self.url = url
        self.supervisor = os.getppid()
        self.file = os.path.join(self.dir, f"worker-{index}.json")
        self.groups: dict[str, list[int]] = {}

    def update(self, group: str, partitions: list[int]) -> None:
        """Record that this worker holds ``partitions`` of ``group`` (atomic rewrite)."""
        self.groups[group] = sorted(partitions)
        data = {"supervisor": self.supervisor, "pid": os.getpid(), "url": self.url, "groups": self.groups}
        try:
            os.makedirs(self.dir, exist_ok=True)
            tmp = f"{self.file}.{os.getpid()}.tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(data, f)
            os.replace(tmp, self.file)
        except OSError as exc:  # the hint is optional
            log.debug("cannot write %s: %s", self.file, exc)

    def locate(self, group: str, partition: int) -> str | None:
        """The URL of the sibling worker holding ``partition`` of ``group``, else ``None``."""
        try:
            names = os.listdir(self.dir)
        except OSError:
            return None
        for name in sorted(names):
            if not name.endswith(".json") or name == os.path.basename(self.file):
                continue
            try:
                with open(os.path.join(self.dir, name), encoding="utf-8") as f:
                    data = json.load(f)
            except (OSError, ValueError):
                continue
            if data.get("supervisor") != self.supervisor:
                continue  # another goka run sharing the path
            if partition in data.get("groups", {}).get(group, ()):
                return str(data["url"])
        return None

    def remove(self) -> None:
        """Delete this worker's file (at stop)."""
        try:
            os.remove(self.file)
        except OSError:
            pass
