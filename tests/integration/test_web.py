"""goka.web in a real headless browser (Debian's chromium + chromedriver via selenium).

One EmbeddedCluster, click-count processor (with a ``reset`` visitor), view and web
server serve the whole module while a thread keeps emitting clicks. The browser checks
what an operator sees: the monitor with the processor's partitions and a growing count,
the query page returning a key's value, actions started and stopped. ``/metrics`` is
parsed with prometheus_client's parser. The monitor screenshot goes to tmp_path, and to
docs/monitor.png when GOKA_UPDATE_SCREENSHOT=1.

Without chromium/chromedriver (Debian: ``apt-get install chromium chromium-driver``) the
browser tests skip, naming the packages, unless ``GOKA_REQUIRE_BROWSER=1`` (set by
.ci/run after installing them), which makes a missing browser an error.
``GOKA_CHROMIUM`` / ``GOKA_CHROMEDRIVER`` override the binaries' paths.
"""
from __future__ import annotations

import os
import shutil
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

import goka
from goka import codec
from goka.cluster import EmbeddedCluster
from goka.cli.demo_job import demo_group
from goka.web import Action, WebServer, serve, visitor_actions

CHROMIUM = os.environ.get("GOKA_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("GOKA_CHROMEDRIVER", "/usr/bin/chromedriver")
REQUIRE_BROWSER = os.environ.get("GOKA_REQUIRE_BROWSER", "") not in ("", "0")
APT_PACKAGES = "chromium chromium-driver"
TIMEOUT = 20.0
DOCS_SCREENSHOT = Path(__file__).parents[2] / "docs" / "monitor.png"
UPDATE_SCREENSHOT = os.environ.get("GOKA_UPDATE_SCREENSHOT", "") not in ("", "0")


@dataclass
class App:
    server: WebServer
    processor: goka.Processor
    view: goka.View

    @property
    def url(self) -> str:
        return self.server.url


class ClickStream(threading.Thread):
    """Emits a few clicks every 50 ms for ten users until stopped."""

    def __init__(self, emitter: goka.Emitter) -> None:
        super().__init__(name="click-stream", daemon=True)
        self.emitter = emitter
        self.done = threading.Event()

    def run(self) -> None:
        i = 0
        while not self.done.wait(0.05):
            for _ in range(5):
                self.emitter.emit(f"user-{i % 10}", f"click-{i}")
                i += 1


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    path = tmp_path_factory.mktemp("web")
    with EmbeddedCluster(partitions=4) as cluster:
        cluster.create_topic("user-clicks", 4)
        proc = goka.Processor(cluster, demo_group(), path=str(path / "processor"),
                              consumer_config={"session.timeout.ms": 3000, "heartbeat.interval.ms": 1000})
        view = goka.View(cluster, goka.group_table("click-count"), codec.Int64(), path=str(path / "view"))
        actions = [
            Action("echo", lambda value, stop: f"echo {value}", "answers with its value"),
            Action("wait", lambda value, stop: "interrupted" if stop.wait(TIMEOUT) else "timed out",
                   "runs until stopped"),
            *visitor_actions(proc),
        ]
        with proc, view, goka.Emitter(cluster, "user-clicks", codec.String()) as emitter:
            assert view.wait_recovered(TIMEOUT)
            for _ in range(3):
                emitter.emit("fixed-key", "click")
            stream = ClickStream(emitter)
            stream.start()
            server = serve(0, processors=[proc], views=[view], actions=actions)
            try:
                yield App(server, proc, view)
            finally:
                server.stop()
                stream.done.set()
                stream.join(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    missing = [binary for binary in (CHROMIUM, CHROMEDRIVER) if not os.access(binary, os.X_OK)]
    if missing:
        reason = f"{' and '.join(missing)} missing: apt-get install {APT_PACKAGES}"
        if REQUIRE_BROWSER:
            pytest.fail(f"{reason} (GOKA_REQUIRE_BROWSER=1 requires the browser tests to run)")
        pytest.skip(f"{reason} (set GOKA_REQUIRE_BROWSER=1 to make this an error)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1024"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(TIMEOUT)
    try:
        yield driver
    finally:
        driver.quit()


def until(driver: webdriver.Chrome, condition: Any, what: str, timeout: float = TIMEOUT) -> Any:
    """Poll ``condition(driver)`` until truthy (WebDriverWait ignores NoSuchElement meanwhile)."""
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition, f"waiting for {what}")


def text_of(driver: webdriver.Chrome, css: str) -> str:
    """Text of the first match, read in one script call (the monitor redraws every second,
    so element handles go stale)."""
    return str(driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent.trim() : '';", css))


def attributes(driver: webdriver.Chrome, css: str, name: str) -> list[str]:
    return list(driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(e => e.getAttribute(arguments[1]));", css, name))


def number(text: str) -> int:
    return int(text.replace(",", "")) if text.replace(",", "").isdigit() else -1


def rate(text: str) -> float:
    """A rate as the monitor shows it; -1 for "–" (no rate before the second sample)."""
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return -1.0


def test_monitor_shows_partitions_and_a_growing_count(app: App, browser: webdriver.Chrome, tmp_path: Path) -> None:
    browser.get(app.url + "monitor")
    card = "#processor-click-count"
    until(browser, lambda d: text_of(d, f"{card} [data-field=active]") == "0, 1, 2, 3", "all 4 partitions active")
    assert sorted(map(int, attributes(browser, f"{card} tbody tr[data-partition]", "data-partition"))) == [0, 1, 2, 3]
    assert text_of(browser, f"{card} tbody tr[data-partition] td.l") == "user-clicks"
    first = until(browser, lambda d: number(text_of(d, f"{card} [data-field=consumed-total]")) > 0 and
                  number(text_of(d, f"{card} [data-field=consumed-total]")), "a consumed count")
    until(browser, lambda d: number(text_of(d, f"{card} [data-field=consumed-total]")) > first, "the count to grow")
    until(browser, lambda d: rate(text_of(d, f"{card} [data-field=rate-in]")) > 0, "an input rate")
    assert "running" in text_of(browser, f"{card} .badge")

    view = "#view-click-count-table"
    assert len(attributes(browser, f"{view} tbody tr[data-partition]", "data-partition")) == 4
    records = number(text_of(browser, f"{view} [data-field=records-total]"))
    until(browser, lambda d: number(text_of(d, f"{view} [data-field=records-total]")) > records, "view records to grow")

    samples = 25 if UPDATE_SCREENSHOT else 3  # a fuller chart for the README's picture
    until(browser, lambda d: len(" ".join(attributes(d, f"{card} svg polyline", "points")[:1]).split()) >= samples,
          f"{samples} chart points", timeout=TIMEOUT + samples)
    shot = tmp_path / "monitor.png"
    browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if UPDATE_SCREENSHOT:
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, DOCS_SCREENSHOT)


def test_query_returns_values(app: App, browser: webdriver.Chrome) -> None:
    until(browser, lambda d: app.view.get("fixed-key") == 3, "fixed-key to be counted")
    for source in ("click-count-table", "click-count"):  # the view, then the processor's own table
        browser.get(app.url + "query")
        Select(browser.find_element(By.ID, "source")).select_by_value(source)
        browser.find_element(By.ID, "key").send_keys("fixed-key")
        browser.find_element(By.ID, "lookup").click()
        until(browser, lambda d: text_of(d, "#result") == "3", f"fixed-key's value from {source}")
    browser.find_element(By.ID, "key").clear()
    browser.find_element(By.ID, "key").send_keys("nobody")
    browser.find_element(By.ID, "lookup").click()
    until(browser, lambda d: "not found" in text_of(d, "#not-found"), "a not-found message")


def start_action(browser: webdriver.Chrome, name: str, value: str = "", button: str = "start") -> None:
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-action="{name}"]')
    field = row.find_element(By.NAME, "value")
    field.clear()
    field.send_keys(value)
    row.find_element(By.CSS_SELECTOR, f"button.{button}").click()


def action_field(driver: webdriver.Chrome, name: str, field: str) -> str:
    return text_of(driver, f'tr[data-action="{name}"] [data-field={field}]')


def test_actions_start_and_stop(app: App, browser: webdriver.Chrome) -> None:
    browser.get(app.url + "actions")
    start_action(browser, "echo", "hello")
    until(browser, lambda d: action_field(d, "echo", "result") == "echo hello", "echo's result")
    assert action_field(browser, "echo", "state") == "finished"

    start_action(browser, "wait")
    until(browser, lambda d: action_field(d, "wait", "state") == "running", "wait to run")
    start_action(browser, "wait", button="stop")
    until(browser, lambda d: action_field(d, "wait", "state") == "stopped", "wait to stop")
    assert action_field(browser, "wait", "result") == "interrupted"

    start_action(browser, "visit-reset", "0")  # Processor.visit_all: every count back to 0
    until(browser, lambda d: action_field(d, "visit-reset", "state") == "finished", "the visitor to finish")
    visited = action_field(browser, "visit-reset", "result")
    assert visited.startswith("visited ") and int(visited.split()[1]) >= 11  # user-0..9 and fixed-key
    until(browser, lambda d: app.view.get("fixed-key") == 0, "the reset to reach the view")


def test_metrics_parse_with_prometheus_client(app: App, wait_for: Any) -> None:
    # run alone, this test may come before the processor consumed anything: wait for that
    wait_for(lambda: sum(p.get("consumed", {}).get("user-clicks", 0)
                           for p in app.processor.stats()["partitions"].values()) > 0
               and app.view.recovered(), TIMEOUT, "the processor to consume and the view to recover")
    with urllib.request.urlopen(app.url + "metrics", timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain; version=")
        families = {f.name: f for f in text_string_to_metric_families(resp.read().decode())}
    assert families and all(name.startswith("goka_") for name in families)
    consumed = families["goka_consumed_messages"]
    assert consumed.type == "counter"
    assert {(s.labels["group"], s.labels["topic"], s.labels["partition"]) for s in consumed.samples} == \
        {("click-count", "user-clicks", str(p)) for p in range(4)}
    assert sum(s.value for s in consumed.samples) > 0
    state = {s.labels["state"]: s.value for s in families["goka_processor_state"].samples}
    assert state["running"] == 1 and sum(state.values()) == 1
    latency = families["goka_callback_latency_seconds"]
    count = next(s.value for s in latency.samples if s.name.endswith("_count"))
    inf = next(s.value for s in latency.samples if s.name.endswith("_bucket") and s.labels["le"] == "+Inf")
    assert latency.type == "histogram" and count == inf > 0
    progress = [s for s in families["goka_table_recovery_progress"].samples if s.labels["owner"] == "view"]
    assert len(progress) == 4 and all(s.value == 1.0 for s in progress)
    assert {s.labels["partition"] for s in families["goka_consumer_lag"].samples} <= {"0", "1", "2", "3"}


def test_first_render_shows_no_rate_yet_and_the_page_asks_for_no_favicon(app: App, browser: webdriver.Chrome) -> None:
    browser.get(app.url + "monitor")
    until(browser, lambda d: rate(text_of(d, "#processor-click-count [data-field=rate-in]")) > 0, "an input rate")
    # a processor card drawn from its first sample (a name the page has no history for)
    first = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch('/api/stats', {cache: 'no-store'}).then(r => r.json()).then(d => {
          const p = Object.assign({}, d.processors[0], {name: 'first-sample'});
          done(processorCard(p, d.time));
        });""")
    assert 'data-field="rate-in">–<' in first and 'data-field="rate-out">–<' in first, first
    assert "points=\"\"" in first  # no chart point from a made-up zero rate
    icons = browser.execute_script(
        "return [...document.querySelectorAll('link[rel=icon]')].map(e => e.getAttribute('href'));")
    assert icons == ["data:,"]  # the browser does not request /favicon.ico (a 404 before)
