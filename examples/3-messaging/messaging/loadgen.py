"""The load generator: posts random messages to the service; Bob spams."""
from __future__ import annotations

import logging
import random
import threading
import urllib.request

import msgspec

from messaging import Message

__all__ = ["run", "USERS"]

log = logging.getLogger("example.messaging.loadgen")

USERS = ["Alice", "Bob", "Charlie", "Dave", "Eve"]
CONTENTS = ["Hi how are you doing", "Hello let's have lunch together", "Bye"]
SPAM_PROBABILITY = 0.3


def send(url: str, sender: str, to: str, content: str) -> None:
    body = msgspec.json.encode(Message(To=to, Content=content))
    req = urllib.request.Request(f"{url}/{sender}/send", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()
    log.debug("Posted message %r (%s -> %s)", content, sender, to)


def run(url: str, stop: threading.Event, interval: float = 0.2, seed: int | None = None) -> int:
    """Post a message every ``interval`` seconds until ``stop`` is set; returns how many."""
    rng = random.Random(seed)
    sent = 0
    while not stop.wait(interval):
        sender, content = "Bob", "spam!"
        if rng.random() < 1 - SPAM_PROBABILITY:
            sender, content = rng.choice(USERS), rng.choice(CONTENTS)
        to = rng.choice([u for u in USERS if u != sender])
        try:
            send(url, sender, to, content)
            sent += 1
        except OSError as exc:
            log.warning("error sending request: %s", exc)
    log.info("loadgen posted %d messages", sent)
    return sent
