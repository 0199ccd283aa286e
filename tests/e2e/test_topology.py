"""The production topology, for real: deploy/run-local's redis + 2 web + 2 workers + nginx.

Real clients only: the Node socket.io-client (tests/clients/watch.js) over WebSocket and
over long-polling, headless Chromium on the demo page, all through nginx; and clients on
each web instance directly. One web instance is SIGKILLed at the end.

Skipped only when nginx is missing outside CI (CI installs it, so there it must run).
The topology itself comes from tests/support/topology.py.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from jobcast.demo.story import words
from support import REPO, require_tool
from support.topology import Topology, alive, get, post_json, run_local

WATCH_JS = REPO / "tests" / "e2e" / "clients" / "watch.js"
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
]

# No worker is killed here, so the lock and stalled-check settings keep their defaults
# (short ones only add the risk of a busy machine declaring a live job stalled).
TEST_ENV = {
    "JOBCAST_SHUTDOWN_GRACE_S": "5",  # a quick teardown
    "JOBCAST_ENQUEUE_RATE": "0",  # every client here is 127.0.0.1
}

pytestmark = pytest.mark.timeout(150)


@dataclass
class Watch:
    """tests/clients/watch.js running in the background, its JSON lines in a queue."""

    proc: subprocess.Popen[str]
    lines: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)
    seen: list[dict[str, Any]] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)

    def wait_for(self, pred, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for line in self.seen:
            if pred(line):
                return line
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    break
                continue
            self.seen.append(line)
            if pred(line):
                return line
        raise AssertionError(f"watch.js: no matching line within {timeout}s; got {self.seen[-10:]}"
                             f"; stderr: {''.join(self.stderr)[-2000:]}")

    def summary(self, timeout: float) -> dict[str, Any]:
        line = self.wait_for(lambda m: m.get("event") == "summary", timeout)
        self.proc.wait(timeout=10)
        return line


def start_watch(url: str, *args: str) -> Watch:
    node = shutil.which("node")
    assert node, "node is not installed (tests/clients/watch.js needs it)"
    proc = subprocess.Popen([node, str(WATCH_JS), "--url", url, *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    w = Watch(proc)

    def pump_out() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            try:
                w.lines.put(json.loads(raw))
            except ValueError:
                w.stderr.append(raw)

    def pump_err() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            w.stderr.append(raw)

    threading.Thread(target=pump_out, daemon=True).start()
    threading.Thread(target=pump_err, daemon=True).start()
    return w


def run_watch(url: str, *args: str, timeout: float = 40) -> dict[str, Any]:
    w = start_watch(url, *args)
    try:
        summary = w.summary(timeout)
    finally:
        if w.proc.poll() is None:
            w.proc.kill()
    assert summary.get("ok"), f"watch.js failed: {json.dumps(summary)[:3000]}; " \
                              f"stderr: {''.join(w.stderr)[-2000:]}"
    return summary


def assert_exactly_once(summary: dict[str, Any], *, need_progress: bool = True) -> None:
    """Every job on every client: one `completed`, no `failed`, and progress unless the job
    had already finished when the client joined its room."""
    for c, client in enumerate(summary["clients"]):
        assert client["jobs"], f"client {c} watched no job"
        for job_id, job in client["jobs"].items():
            where = f"client {c} ({summary['transport']}), job {job_id}: {job}"
            assert job["completed"] == 1, f"expected exactly one completed event; {where}"
            assert job["failed"] == 0, where
            acks = [a["ack"] for a in job["acks"]]
            assert acks and all(a and a.get("ok") for a in acks), f"joinRoom ack: {where}"
            done_at_join = acks[0].get("state") == "completed"
            if need_progress and not done_at_join:
                assert job["progress"], f"no progress event; {where}"
            values = job["progress"]
            assert all(0 <= v <= 100 for v in values), where
            assert values == sorted(values), f"progress went backwards; {where}"
            assert job["events"][-1]["type"] == "completed", f"progress after completed; {where}"


# --------------------------------------------------------------------------- the topology


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    require_tool("nginx", "apt-get install nginx-light")
    assert (REPO / "node_modules" / "socket.io-client").is_dir(), \
        "node_modules/socket.io-client is missing: run `make install` (npm ci)"
    with run_local(tmp_path_factory.mktemp("run-local"), TEST_ENV) as topology:
        yield topology


@pytest.fixture
def diagnose(topology: Topology, request: pytest.FixtureRequest) -> Iterator[None]:
    """On failure, print the tails of every process's log (shown with the failure)."""
    failed_before = request.session.testsfailed
    yield
    if request.session.testsfailed > failed_before:
        print(topology.diagnostics())


# --------------------------------------------------------------------------- tests


def test_run_local_reports_ports_and_pids(topology: Topology) -> None:
    s = topology.state
    assert len(s["web"]) == 2 and len(s["worker"]) == 2
    ports = [w["port"] for w in s["web"]] + [s["nginx"]["port"]]
    assert 6379 not in ports and s["redis_url"] != "redis://127.0.0.1:6379/0"
    for p in [s["redis"], s["nginx"], *s["web"], *s["worker"]]:
        assert alive(p["pid"]), p
    for w in s["web"]:
        assert get(f"http://127.0.0.1:{w['port']}/healthz")[0] == 200
    # nginx's own upstream knows both web instances (run-local filled them in).
    conf = (topology.dir / "nginx" / "nginx.conf").read_text()
    for w in s["web"]:
        assert f"server 127.0.0.1:{w['port']} " in conf


def test_websocket_and_polling_clients_through_nginx(topology: Topology, diagnose: None) -> None:
    bulk = json.dumps({"items": 20, "item_ms": 5})
    ws = start_watch(topology.url, "--transport", "websocket", "--count", "5", "--data", bulk)
    lp = start_watch(topology.url, "--transport", "polling", "--count", "5", "--data", bulk)
    results = []
    for w in (ws, lp):
        try:
            s = w.summary(40)
        finally:
            if w.proc.poll() is None:
                w.proc.kill()
        assert s.get("ok"), f"watch.js failed: {json.dumps(s)[:3000]}; {''.join(w.stderr)[-2000:]}"
        results.append(s)
    for s, transport in zip(results, ("websocket", "polling"), strict=True):
        assert len(s["ids"]) == 5
        for client in s["clients"]:
            # polling-only really stayed on long-polling (no upgrade) through nginx
            assert client["transport"] == transport
            assert client["connects"] == 1, client
        assert_exactly_once(s)


def test_server_sent_events_stream_through_nginx_unbuffered(topology: Topology,
                                                            diagnose: None) -> None:
    # A story of 40 words, 50 ms apart: ~2 s. Its first words must arrive while it is still
    # being written (a buffering proxy would hand them over at the end, all at once).
    status, body = post_json(f"{topology.url}/api/story",
                             {"prompt": "nginx", "words": 40, "word_ms": 50})
    assert status == 202, body
    job_id = body["jobId"]
    request = urllib.request.Request(f"{topology.url}/api/jobs/{job_id}/events")
    kinds, text, state_at_first_output = [], [], None
    with urllib.request.urlopen(request, timeout=20) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        kind = None
        for raw in stream:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind:
                kinds.append(kind)
                data = json.loads(line[6:])
                if kind == "story:output":
                    text.append(data["text"])
                    if state_at_first_output is None:
                        state_at_first_output = json.loads(
                            get(f"{topology.url}/api/jobs/{job_id}")[1])["state"]
    assert state_at_first_output == "active", state_at_first_output  # live, not buffered
    assert kinds[0] == "state" and kinds[-1] == "story:completed", kinds
    assert "".join(text) == "".join(words("nginx", 40))


def test_demo_page_in_chromium_through_nginx(topology: Topology, diagnose: None) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not os.access(CHROMIUM, os.X_OK):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run must apt-get install chromium")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        try:
            page.goto(f"{topology.url}/", wait_until="domcontentloaded")
            form = page.locator("form").filter(
                has=page.get_by_role("button", name="Generate report", exact=True))
            form.get_by_label(re.compile(r"^\s*Pages", re.IGNORECASE)).fill("3")
            page.get_by_role("button", name="Generate report", exact=True).click()

            card = page.locator("[data-job-id]").first
            card.wait_for(timeout=10_000)
            link = card.locator("a[download]", has_text="Download")
            link.wait_for(state="visible", timeout=45_000)
            page.wait_for_function(
                "el => el.value >= 100", arg=card.locator("progress").element_handle(),
                timeout=10_000)
            href = link.get_attribute("href")
            state = card.get_attribute("data-state")
        except Exception:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "topology-demo-page.png"), full_page=True)
            print(f"page errors: {errors}")
            raise
        finally:
            browser.close()
    assert href, "the Download link has no href"
    status, body, _ = get(urllib.request.urljoin(f"{topology.url}/", href), timeout=15)
    assert status == 200, (status, body[:200])
    assert body.startswith(b"%PDF"), body[:40]
    assert state == "completed", f"job card data-state={state!r}"
    assert not [e for e in errors if "socket" in e.lower()], errors
    # The page upgraded to WebSocket through nginx (the same-origin check saw the right Host).
    # nginx logs a WebSocket when it closes, which browser.close() did.
    deadline = time.monotonic() + 5
    while not re.search(r'transport=websocket[^"]*" 101 .*HeadlessChrome', topology.log("nginx")):
        assert time.monotonic() < deadline, "the page never upgraded to WebSocket via nginx"
        time.sleep(0.1)


def test_each_web_instance_emits_each_event_once(topology: Topology, diagnose: None) -> None:
    """Every web process reads every event; a client on either one still gets each event
    once. Clients bypass nginx and connect to each web instance directly."""
    ids = []
    for _ in range(4):
        status, body = post_json(f"{topology.url}/api/bulk", {"items": 40, "item_ms": 25})
        assert status == 202, body
        ids.append(body["jobId"])
    watches = []
    for web, transport in zip(topology.state["web"], ("websocket", "polling"), strict=True):
        url = f"http://127.0.0.1:{web['port']}"
        for t in (transport, "websocket" if transport == "polling" else "polling"):
            watches.append(start_watch(url, "--transport", t, "--clients", "2",
                                       "--ids", ",".join(ids)))
    for w in watches:
        try:
            s = w.summary(40)
        finally:
            if w.proc.poll() is None:
                w.proc.kill()
        assert s.get("ok"), f"watch.js failed: {json.dumps(s)[:3000]}; {''.join(w.stderr)[-2000:]}"
        assert sorted(s["ids"]) == sorted(ids)
        assert_exactly_once(s)


def _upstream_for_loopback(topology: Topology) -> dict[str, Any]:
    """Which web instance nginx sends 127.0.0.1 to: nginx's access log says (upstream=...)."""
    probe = uuid.uuid4().hex
    assert get(f"{topology.url}/healthz?probe={probe}")[0] == 200
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for line in topology.log("nginx").splitlines():
            if probe in line:
                m = re.search(r"upstream=127\.0\.0\.1:(\d+)", line)
                assert m, line
                port = int(m.group(1))
                return next(w for w in topology.state["web"] if w["port"] == port)
        time.sleep(0.1)
    raise AssertionError(
        f"probe {probe} not in nginx's access log:\n{topology.log('nginx')[-2000:]}")


def test_clients_survive_the_death_of_their_web_instance(
    topology: Topology, diagnose: None
) -> None:
    """SIGKILL the web process the clients are on (through nginx): they reconnect to the
    other one, join again, get the job's current state and then its one terminal event.
    Runs last in this module: it leaves one web instance."""
    victim = _upstream_for_loopback(topology)
    survivor = next(w for w in topology.state["web"] if w is not victim)
    long_job = json.dumps({"items": 60, "item_ms": 50})  # about 3 s
    watches = {
        t: start_watch(topology.url, "--transport", t, "--count", "1", "--data", long_job,
                       "--verbose", "--timeout", "40000")
        for t in ("websocket", "polling")
    }
    try:
        # Both jobs are running, and both clients are on the victim, before the kill.
        for w in watches.values():
            w.wait_for(lambda m: m.get("event") == "progress" and m["progress"] > 0, 20)
        assert _upstream_for_loopback(topology) is victim
        os.kill(victim["pid"], signal.SIGKILL)
        killed_at = time.monotonic()
        summaries = {t: w.summary(40) for t, w in watches.items()}
    finally:
        for w in watches.values():
            if w.proc.poll() is None:
                w.proc.kill()
    assert not alive(victim["pid"])
    assert alive(survivor["pid"]), "the other web instance died too"
    assert time.monotonic() - killed_at < 40
    for t, s in summaries.items():
        assert s.get("ok"), f"{t}: {json.dumps(s)[:3000]}"
        (client,) = s["clients"]
        assert client["disconnects"] >= 1 and client["connects"] >= 2, f"{t}: {client}"
        assert client["transport"] == t
        (job,) = client["jobs"].values()
        assert job["completed"] == 1 and job["failed"] == 0, f"{t}: {job}"
        seen = [(e["n"], e["type"], e["value"]) for e in job["events"]]
        print(f"{t}: {client['connects']} connections; (connection, event, value): {seen}")
        assert not [e for e in job["events"] if e["n"] == 1 and e["type"] != "progress"], \
            f"{t}: the job ended before the kill; make it longer: {job['events']}"
        # Re-joined on the new connection, got the current state there, then the end.
        rejoin = [a for a in job["acks"] if a["n"] >= 2]
        assert rejoin and rejoin[0]["ack"]["ok"], f"{t}: no re-join after reconnecting: {job}"
        after = [e for e in job["events"] if e["n"] >= 2]
        assert after and after[-1]["type"] == "completed", f"{t}: {job['events']}"
        if rejoin[0]["ack"]["state"] != "completed":
            assert after[0]["type"] == "progress", f"{t}: no state snapshot on re-join: {after}"
        values = [e["value"] for e in after if e["type"] == "progress"]
        assert values == sorted(values), f"{t}: progress went backwards after re-join"
    # The survivor serves nginx's traffic now.
    assert get(f"{topology.url}/readyz")[0] == 200
    assert _upstream_for_loopback(topology) is survivor
