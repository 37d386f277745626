"""The dashboard in real headless Chromium, driven over the DevTools protocol: it loads `/` of
the analyzer (served by uvicorn over the real lab Prometheus), checks the figures it shows
against the analyzer's own API, and saves a screenshot."""

import base64
import itertools
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn
import websocket

from cloudmart.finops.api import create_app
from fixtures.servers import free_port, wait_for_port

pytestmark = [pytest.mark.browser, pytest.mark.prometheus]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]


class Chromium:
    """A headless Chromium with a fresh profile, one page, and a blocking CDP session."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", f"--user-data-dir={tmp / 'profile'}", "--window-size=1400,900",
             f"--remote-debugging-port={self.port}", "--remote-debugging-address=127.0.0.1", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, timeout=60)
        deadline = time.monotonic() + 30
        pages = []
        while time.monotonic() < deadline and not pages:
            try:
                pages = [t for t in httpx.get(f"http://127.0.0.1:{self.port}/json/list").json() if t["type"] == "page"]
            except httpx.HTTPError:
                pass
            if not pages:
                time.sleep(0.2)
        assert pages, "Chromium exposed no page target"
        self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)
        self.ids = itertools.count(1)

    def call(self, method: str, **params):
        msg_id = next(self.ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == msg_id:
                assert "error" not in msg, msg["error"]
                return msg["result"]

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def analyzer(lab_prometheus):
    app = create_app(lab_prometheus.url, now=lambda: lab_prometheus.end)
    app.state.optimize_manifests = str(REPO / "tests" / "unit" / "optimize" / "data")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for_port(port)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def dollars(text: str) -> float:
    return float(text.replace("$", "").replace(",", ""))


def test_dashboard_shows_the_apis_figures(analyzer, tmp_path):
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing (scripts/install-servers.sh installs chromium)"
    browser = Chromium(tmp_path)
    try:
        browser.call("Page.enable")
        browser.call("Emulation.setDeviceMetricsOverride", width=1400, height=900, deviceScaleFactor=1, mobile=False)
        browser.call("Page.navigate", url=analyzer + "/")
        deadline = time.monotonic() + 180
        state = None
        while time.monotonic() < deadline:
            state = browser.evaluate("document.getElementById('status') && document.getElementById('status').dataset.state")
            if state in ("ready", "error"):
                break
            time.sleep(0.5)
        status = browser.evaluate("document.getElementById('status').textContent")
        assert state == "ready", status
        shown = browser.evaluate("""(() => {
            const q = (s) => Object.fromEntries([...document.querySelectorAll(s)].map(e => [e.dataset.testid, e.textContent]));
            return {
              total: document.getElementById('kpi-total').textContent,
              savings: document.getElementById('kpi-savings').textContent,
              namespaces: q('[data-testid^="ns-cost-"]'),
              recs: q('[data-testid^="rec-"]'),
              hpas: q('[data-testid^="hpa-projected-"]'),
              prediction: q('[data-testid^="pred-"]'),
              trendBars: document.querySelectorAll('#trend rect').length,
              workloads: document.querySelectorAll('#workloads tbody tr').length,
              workloadCosts: q('[data-testid^="workload-cost-"]'),
            };
        })()""")
        height = browser.evaluate("document.documentElement.scrollHeight")
        browser.call("Emulation.setDeviceMetricsOverride", width=1400, height=int(height), deviceScaleFactor=1, mobile=False)
        shot = browser.call("Page.captureScreenshot", format="png")
    finally:
        browser.close()
    png = tmp_path / "dashboard.png"
    png.write_bytes(base64.b64decode(shot["data"]))
    if os.environ.get("CLOUDMART_SCREENSHOT_DIR"):
        shutil.copy(png, Path(os.environ["CLOUDMART_SCREENSHOT_DIR"]) / "dashboard.png")
    assert png.stat().st_size > 20_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    api = httpx.Client(base_url=analyzer, timeout=120)
    ns = api.get("/model/allocation", params={"window": "2d", "aggregate": "namespace", "accumulate": "true"}).json()["data"][0]
    assert {k.removeprefix("ns-cost-") for k in shown["namespaces"]} == set(ns)
    for name, alloc in ns.items():
        assert dollars(shown["namespaces"][f"ns-cost-{name}"]) == pytest.approx(alloc["totalCost"], abs=0.006)
    assert dollars(shown["total"]) == pytest.approx(sum(a["totalCost"] for a in ns.values()), abs=0.006)
    assert "cloudmart" in ns and shown["trendBars"] > 0 and shown["workloads"] == 10
    workloads = api.get("/model/allocation", params={"window": "2d", "aggregate": "namespace,controller",
                                                     "accumulate": "true", "idle": "false"}).json()["data"][0]
    top = sorted((a for k, a in workloads.items() if not k.startswith("__")), key=lambda a: -a["totalCost"])[:10]
    assert set(shown["workloadCosts"]) == {f"workload-cost-{a['name']}" for a in top}
    for a in top:
        assert dollars(shown["workloadCosts"][f"workload-cost-{a['name']}"]) == pytest.approx(a["totalCost"], abs=0.006)

    recs = api.get("/model/savings/requestSizingV2", params={"window": "2d"}).json()
    assert dollars(shown["savings"]) == pytest.approx(sum(max(0, r["monthlySavings"]["total"]) for r in recs), abs=0.006)
    for r in recs:
        key = f"{r['namespace']}/{r['controllerName']}/{r['containerName']}"
        assert shown["recs"][f"rec-cpu-{key}"].endswith(r["recommendedRequest"]["cpu"] or "–")
        assert dollars(shown["recs"][f"rec-savings-{key}"]) == pytest.approx(r["monthlySavings"]["total"], abs=0.006)
    seed = {r["controllerName"]: r for r in recs if r["namespace"] == "cloudmart"}
    for service in ("user-service", "product-service", "order-service"):
        projected = seed[service]["hpa"]["projectedReplicas"]
        assert shown["hpas"][f"hpa-projected-{service}-hpa"].startswith(f"{projected['min']}–{projected['max']}")

    pred = api.get("/model/prediction/overlay").json()
    assert dollars(shown["prediction"]["pred-total"]) == pytest.approx(pred["total"]["current"], abs=0.006)
    for w in pred["workloads"]:
        assert dollars(shown["prediction"][f"pred-{w['namespace']}-{w['controllerName']}"]) == \
            pytest.approx(w["monthly"]["current"]["total"], abs=0.006)
