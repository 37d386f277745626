"""The Grafana cost dashboard's queries, evaluated by a real Prometheus that scrapes the
analyzer's /metrics (which itself reads the lab Prometheus): every panel must parse and the
cost panels must return data."""

import json
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

from cloudmart.finops.api import create_app
from fixtures.servers import free_port, wait_for_port

pytestmark = pytest.mark.prometheus
DASHBOARD = Path(__file__).resolve().parents[3] / "deploy" / "components" / "monitoring" / "dashboards" / "cloudmart-cost-dashboard.json"


@pytest.fixture
def scraper(lab_prometheus, tmp_path):
    app = create_app(lab_prometheus.url, now=lambda: lab_prometheus.end)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for_port(port)
    prom_port = free_port()
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s}\n"
        f"scrape_configs:\n- job_name: cost-analyzer\n  honor_labels: true\n"
        f"  static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n")
    proc = subprocess.Popen(
        ["/usr/bin/prometheus", f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(prom_port)
        url = f"http://127.0.0.1:{prom_port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            r = httpx.get(f"{url}/api/v1/query", params={"query": "count(node_total_hourly_cost)"}).json()
            if r["data"]["result"] and float(r["data"]["result"][0]["value"][1]) > 0:
                break
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        server.should_exit = True
        thread.join(timeout=10)


def test_every_panel_query_runs_and_cost_panels_have_data(scraper):
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "cloudmart-cost" and dashboard["panels"]
    empty = []
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expr = target["expr"].replace("$namespace", ".*")
            resp = httpx.get(f"{scraper}/api/v1/query", params={"query": expr}, timeout=30)
            assert resp.status_code == 200, (panel["title"], resp.text)
            if not resp.json()["data"]["result"]:
                empty.append(panel["title"])
    # usage (cAdvisor) is not scraped by this Prometheus: only the efficiency panel may be empty
    assert set(empty) <= {"CPU efficiency by namespace (usage / allocation)"}
    ns = httpx.get(f"{scraper}/api/v1/query", params={"query": dashboard["panels"][4]["targets"][0]["expr"].replace(
        "$namespace", ".*")}).json()["data"]["result"]
    assert {"cloudmart", "production", "kubecost"} <= {r["metric"]["namespace"] for r in ns}
