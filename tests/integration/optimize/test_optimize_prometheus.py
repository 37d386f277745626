"""Right-sizing, the cost exporter and the optimization routes against a real Prometheus
serving the synthetic lab cluster (fixtures.prometheus.lab_prometheus)."""

import json
import math
import re
from pathlib import Path

import httpx
import numpy as np
import pytest
from asgi_lifespan import LifespanManager
from typer.testing import CliRunner

from cloudmart.cli import app as cli_app
from cloudmart.finops.api import create_app
from cloudmart.finops.hpa import Prices
from cloudmart.finops.prometheus import PrometheusClient
from cloudmart.finops.rightsizing import SizingParams, fetch_history, recommend

pytestmark = pytest.mark.prometheus
DATA = Path(__file__).resolve().parents[2] / "unit" / "optimize" / "data"
DAY = 86400


@pytest.fixture
async def api(lab_prometheus):
    app = create_app(lab_prometheus.url, now=lambda: lab_prometheus.end)
    app.state.optimize_manifests = str(DATA)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://analyzer", timeout=120) as client:
            yield client


async def test_history_and_recommendations_from_prometheus(lab_prometheus):
    async with PrometheusClient(lab_prometheus.url) as client:
        history = await fetch_history(client, lab_prometheus.end - 2 * DAY, lab_prometheus.end)
        # an independent read of one container's raw usage for the p95 check
        raw = await client.query_range(
            'sum by (pod) (rate(container_cpu_usage_seconds_total{namespace="production",container="api"}[5m]))',
            history.start, history.end, history.step)
    assert set(history.hpas) == {("cloudmart", "Deployment", s) for s in ("user-service", "product-service", "order-service")}
    assert history.hpas[("cloudmart", "Deployment", "user-service")].max_replicas == 8
    assert history.prometheus_seconds > 0 and history.queries == 9
    assert set(history.hpa_load) == set(history.hpas)
    recs = {(r.namespace, r.controller, r.container): r for r in recommend(history, SizingParams(), Prices())}
    api = recs[("production", "backend", "api")]
    # Prometheus reduces each pod's samples (quantile_over_time, interpolated); the container
    # spec takes the max over its pods
    p95 = max(float(np.quantile(s.values[np.isfinite(s.values)], 0.95)) for s in raw)
    expected = math.ceil(round(p95 / 0.7 * 1000, 6)) / 1000
    assert api.status == "ok" and api.rec_cpu == pytest.approx(expected)
    assert api.latest_cpu == pytest.approx(0.25) and api.latest_memory == 512 * 2**20
    for service in ("user-service", "product-service", "order-service"):
        r = recs[("cloudmart", service, service)]
        assert r.status == "hpa" and r.hpa["stepsAboveMaxReplicas"] == 0
        assert r.rec_cpu >= 0.010 and r.rec_memory >= 20 * 2**20
    # containers without requests get a recommendation but no savings figure
    shipper = recs[("production", "frontend", "log-shipper")]
    assert shipper.latest_cpu is None and shipper.rec_cpu > 0 and shipper.total_savings == 0


async def test_request_sizing_endpoint(api):
    resp = await api.get("/model/savings/requestSizingV2", params={"window": "2d", "filter": 'namespace:"cloudmart"'})
    assert resp.status_code == 200
    body = resp.json()
    assert {r["controllerName"] for r in body} == {"user-service", "product-service", "order-service"}
    for r in body:
        assert set(r) >= {"clusterID", "namespace", "controllerKind", "controllerName", "containerName",
                          "recommendedRequest", "monthlySavings", "latestKnownRequest", "currentEfficiency"}
        assert re.fullmatch(r"\d+m", r["recommendedRequest"]["cpu"]) and r["recommendedRequest"]["memory"].endswith("Mi")
        assert r["hpa"]["projectedReplicas"]["max"] <= r["hpa"]["maxReplicas"]
    savings = [r["monthlySavings"]["total"] for r in body]
    assert savings == sorted(savings, reverse=True)
    again = await api.get("/model/savings/requestSizingV2", params={"window": "2d", "filter": 'namespace:"cloudmart"'})
    assert again.json() == body


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({}, "window"),
        ({"window": "forever"}, "window"),
        ({"window": "2d", "qCPU": "2"}, "qCPU"),
        ({"window": "2d", "algorithmCPU": "median"}, "algorithmCPU"),
        ({"window": "2d", "targetCPUUtilization": "0"}, "targetCPUUtilization"),
        ({"window": "2d", "sortBy": "price"}, "sortBy"),
        ({"window": "2d", "filter": 'namespace:"a" + ('}, "filter"),
    ],
)
async def test_request_sizing_bad_parameters(api, params, parameter):
    resp = await api.get("/model/savings/requestSizingV2", params=params)
    assert resp.status_code == 400 and resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["parameter"] == parameter


async def test_cost_exporter_metrics(api, lab_prometheus):
    resp = await api.get("/metrics")
    assert resp.status_code == 200
    text = resp.text
    for name in ("node_cpu_hourly_cost", "node_ram_hourly_cost", "node_total_hourly_cost", "node_gpu_hourly_cost",
                 "kubecost_node_is_spot", "container_cpu_allocation", "container_memory_allocation_bytes",
                 "cloudmart_namespace_hourly_cost"):
        assert f"# TYPE {name} gauge" in text

    def value(metric, **labels):
        for line in text.splitlines():
            if line.startswith(metric + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"{metric} {labels} not exported")

    # the priced worker exports its own node_*_hourly_cost metrics; the others use the sheet
    assert value("node_cpu_hourly_cost", node="lab-cluster-worker2") == pytest.approx(0.042)
    assert value("node_cpu_hourly_cost", node="lab-cluster-worker") == pytest.approx(0.031611)
    total = value("node_total_hourly_cost", node="lab-cluster-worker")
    async with PrometheusClient(lab_prometheus.url) as client:
        caps = await client.query('kube_node_status_capacity{node="lab-cluster-worker"}', lab_prometheus.end)
        req = await client.query('kube_pod_container_resource_requests{namespace="production",container="api",resource="cpu"}',
                                 lab_prometheus.end)
    cap = {s.labels["resource"]: s.value for s in caps}
    assert total == pytest.approx(cap["cpu"] * 0.031611 + cap["memory"] / 2**30 * 0.004237)
    api_pod = req[0].labels["pod"]
    assert value("container_cpu_allocation", namespace="production", pod=api_pod, container="api") >= 0.25
    assert value("cloudmart_namespace_hourly_cost", namespace="cloudmart") > 0


async def test_speccost_and_overlay_prediction(api, lab_prometheus):
    spec = (DATA / "user-service.yaml").read_text()
    resp = await api.post("/model/prediction/speccost", content=spec, params={"defaultNamespace": "x"})
    assert resp.status_code == 200
    (diff,) = resp.json()
    assert diff["controllerName"] == "user-service" and diff["costAfter"]["totalMonthlyRate"] > 0
    # before = what the running user-service pods request now, read independently
    async with PrometheusClient(lab_prometheus.url) as client:
        running = await client.query('kube_pod_container_resource_requests{namespace="cloudmart",container="user-service"}',
                                     lab_prometheus.end)
    cores = sum(s.value for s in running if s.labels["resource"] == "cpu")
    ram = sum(s.value for s in running if s.labels["resource"] == "memory")
    assert cores > 0
    assert diff["costBefore"]["totalMonthlyRate"] == pytest.approx(
        cores * 0.031611 * 730 + ram / 2**30 * 0.004237 * 730, abs=1e-4)
    assert diff["costChange"]["totalMonthlyRate"] == pytest.approx(
        diff["costAfter"]["totalMonthlyRate"] - diff["costBefore"]["totalMonthlyRate"], abs=1e-4)
    new = await api.post("/model/prediction/speccost", content=spec.replace("name: user-service\n", "name: brand-new\n", 1))
    assert new.json()[0]["costBefore"]["totalMonthlyRate"] == 0
    bad_target = spec.replace("averageUtilization: 70", "averageUtilization: 0")
    resp = await api.post("/model/prediction/speccost", content=bad_target)
    assert resp.status_code == 400 and resp.json()["field"] == "spec.metrics[0].resource.target.averageUtilization"
    resp = await api.post("/model/prediction/speccost", content="kind: [unclosed")
    assert resp.status_code == 400 and "invalid YAML" in resp.json()["detail"]
    resp = await api.post("/model/prediction/speccost", content="")
    assert resp.status_code == 400
    resp = await api.post("/model/prediction/speccost", content="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    assert resp.status_code == 400 and "no workloads" in resp.json()["detail"]
    overlay = await api.get("/model/prediction/overlay")
    assert overlay.status_code == 200
    assert {w["controllerName"] for w in overlay.json()["workloads"]} == {"user-service", "product-service", "order-service"}


async def test_dashboard_assets_are_served_without_external_references(api):
    page = await api.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assets = [await api.get(f"/dashboard/{name}") for name in ("app.js", "style.css")]
    for resp in (page, *assets):
        assert resp.status_code == 200
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", resp.text) and "cdn" not in resp.text.lower()
    assert (await api.get("/dashboard/secrets.txt")).status_code == 404


def test_cli_rightsize(lab_prometheus):
    runner = CliRunner()
    args = ["cost", "rightsize", "--prometheus", lab_prometheus.url, "--window", "2d", "--end", str(lab_prometheus.end),
            "--filter", 'namespace:"cloudmart"', "--manifests", str(DATA)]
    result = runner.invoke(cli_app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    recs = json.loads(result.output)
    user = next(r for r in recs if r["controllerName"] == "user-service")
    assert user["hpa"]["name"] == "user-service-hpa" and user["status"] == "hpa"
    table = runner.invoke(cli_app, [*args, "--workers", "2"])
    assert table.exit_code == 0 and "HPA projections" in table.output
    bad = runner.invoke(cli_app, [*args[:-2], "--q-cpu", "3"])
    assert bad.exit_code == 2 and "--q-cpu" in bad.output
    down = runner.invoke(cli_app, ["cost", "rightsize", "--prometheus", "http://127.0.0.1:9", "--window", "2d"])
    assert down.exit_code == 1 and "127.0.0.1:9" in down.output


def test_cli_simulate_from_prometheus_history(lab_prometheus):
    runner = CliRunner()
    args = ["hpa", "simulate", str(DATA / "user-service.yaml"), "--prometheus", lab_prometheus.url,
            "--window", "1d", "--end", str(lab_prometheus.end), "--json", "--every", "40"]
    result = runner.invoke(cli_app, args)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["summary"]["steps"] == 1 + 86400 // 15  # one day of minute samples, both ends included
    assert 2 <= payload["summary"]["minReplicas"] <= payload["summary"]["maxReplicas"] <= 8
    assert any(p["load"] > 0 for p in payload["timeline"])
    ghost = runner.invoke(cli_app, [*args[:2], str(DATA / "user-service.yaml"), "--prometheus", lab_prometheus.url,
                                    "--window", "1d", "--end", str(lab_prometheus.end - 30 * DAY)])
    assert ghost.exit_code == 2 and "no CPU usage history" in ghost.output
