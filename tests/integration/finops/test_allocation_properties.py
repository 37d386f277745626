"""Properties of allocation results over the real-Prometheus lab scenario, and faults."""

import asyncio
import socket
import subprocess
import sys
import time

import httpx
import pytest
from asgi_lifespan import LifespanManager

from cloudmart.finops.api import create_app
from cloudmart.finops.pricing import HOURS_PER_MONTH
from cloudmart.finops.prometheus import PrometheusClient, PrometheusError
from fixtures.servers import free_port, wait_for_port

pytestmark = pytest.mark.prometheus


def total(data: dict) -> float:
    return sum(a["totalCost"] for a in data.values())


def close(a: float, b: float, rel: float = 1e-6) -> bool:
    return abs(a - b) <= max(rel * abs(b), 1e-3)  # summing many 5-decimal roundings


@pytest.fixture
async def api(lab_prometheus):
    app = create_app(lab_prometheus.url, cluster="lab-cluster")
    async with LifespanManager(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cost") as client:
            yield client


@pytest.fixture
def window(lab_prometheus):
    return lab_prometheus.truth["windows"][0]["window"]


async def get(api, **params) -> dict:
    r = await api.get("/model/allocation", params=params)
    assert r.status_code == 200, r.text
    return r.json()["data"][0]


async def test_every_aggregation_sums_to_the_same_total(api, window, lab_prometheus):
    truth = lab_prometheus.truth["windows"][0]
    expected = truth["total"]["totalCost"] + truth["__idle__"]["totalCost"]
    for aggregate in ["namespace", "controller", "pod", "node", "cluster", "container", "label:app", "namespace,controllerKind", "service", None]:
        params = {"window": window} | ({"aggregate": aggregate} if aggregate else {})
        data = await get(api, **params)
        assert close(total(data), expected, 1e-4), (aggregate, total(data), expected)


async def test_default_key_and_unallocated(api, window):
    data = await get(api, window=window)
    key = next(k for k in data if k != "__idle__")
    assert len(key.split("/")) == 5 and key.startswith("lab-cluster/lab-cluster-")
    by_label = await get(api, window=window, aggregate="label:app")
    assert "__unallocated__" in by_label  # kube-system pods without an app label
    assert "user-service" in by_label


async def test_filter_results_are_subsets(api, window):
    full = await get(api, window=window, aggregate="pod")
    for flt in ['namespace:"cloudmart"', "namespace:cloudmart|namespace:staging", 'namespace!:"kube-system"', 'label[app]:"frontend"', 'controllerKind:"deployment"+namespace~:"prod"', 'pod<~:"user-service"', 'services:"user-service"', 'services:"frontend"+namespace:"staging"']:
        part = await get(api, window=window, aggregate="pod", filter=flt)
        assert part, flt
        assert set(part) <= set(full) - {"__idle__"}, flt
        for name, a in part.items():
            assert a["totalCost"] == full[name]["totalCost"], (flt, name)
    v1 = await get(api, window=window, aggregate="pod", filterNamespaces="cloud*,staging")
    v2 = await get(api, window=window, aggregate="pod", filter='namespace<~:"cloud"|namespace:"staging"')
    assert v1 == v2


async def test_node_filter_keeps_that_nodes_idle(api, window):
    data = await get(api, window=window, aggregate="node", filter='node:"lab-cluster-worker"')
    assert set(data) == {"lab-cluster-worker", "__idle__"}


async def test_share_idle_conserves_total(api, window):
    base = await get(api, window=window, aggregate="namespace")
    shared = await get(api, window=window, aggregate="namespace", shareIdle="true")
    assert "__idle__" not in shared
    assert close(total(shared), total(base), 1e-5)
    by_node = await get(api, window=window, aggregate="namespace", idleByNode="true")
    by_node_shared = await get(api, window=window, aggregate="namespace", idleByNode="true", shareIdle="true")
    assert close(total(by_node_shared), total(by_node), 1e-5)
    for ns in ("cloudmart", "production"):
        assert shared[ns]["totalCost"] > base[ns]["totalCost"]


async def test_share_namespaces_and_fixed_cost(api, window, lab_prometheus):
    base = await get(api, window=window, aggregate="namespace", idle="false")
    shared = await get(api, window=window, aggregate="namespace", idle="false", shareNamespaces="kube-system,kubecost")
    assert "kube-system" not in shared and "kubecost" not in shared
    assert close(total(shared), total(base), 1e-5)
    assert all(a["sharedCost"] > 0 for a in shared.values())
    hours = (lab_prometheus.truth["windows"][0] and 48.0)
    fixed = await get(api, window=window, aggregate="namespace", idle="false", shareCost="730", shareSplit="even")
    assert close(total(fixed), total(base) + 730 * hours / HOURS_PER_MONTH, 1e-5)
    shares = {round(a["sharedCost"], 4) for a in fixed.values()}
    assert len(shares) == 1  # even split: the same fixed share per namespace


async def test_empty_window_is_200_with_empty_set(api):
    data = await get(api, window="2001-01-01T00:00:00Z,2001-01-02T00:00:00Z", aggregate="namespace")
    assert data == {}


async def test_chunked_range_query_equals_single_query(lab_prometheus):
    end = lab_prometheus.end
    async with PrometheusClient(lab_prometheus.url, max_points=100) as small, PrometheusClient(lab_prometheus.url) as big:
        q = 'sum(kube_node_status_capacity{resource="cpu"})'
        a = await small.query_range(q, end - 6 * 3600, end - 60, 60)
        b = await big.query_range(q, end - 6 * 3600, end - 60, 60)
        assert small.stats.queries == 4 and big.stats.queries == 1
        assert len(a) == len(b) == 1
        assert (a[0].timestamps == b[0].timestamps).all() and (a[0].values == b[0].values).all()
        with pytest.raises(PrometheusError) as e:
            await big.query("sum(", end)
        assert lab_prometheus.url in str(e.value) and "parse error" in str(e.value)


async def test_unreachable_prometheus_is_503_naming_it():
    url = f"http://127.0.0.1:{free_port()}"
    app = create_app(url, retries=1)
    async with LifespanManager(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cost") as client:
            r = await client.get("/model/allocation", params={"window": "1d", "aggregate": "namespace"})
    assert r.status_code == 503
    assert r.headers["content-type"].startswith("application/problem+json")
    assert url in r.json()["detail"] and "unreachable" in r.json()["detail"]


async def test_prometheus_timing_out_is_503_naming_it():
    # a listener that accepts connections and never answers
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    url = f"http://127.0.0.1:{srv.getsockname()[1]}"
    try:
        app = create_app(url, timeout=0.5, retries=0)
        async with LifespanManager(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cost") as client:
                r = await client.get("/model/allocation", params={"window": "1d", "aggregate": "namespace"})
    finally:
        srv.close()
    assert r.status_code == 503
    assert url in r.json()["detail"] and "timed out" in r.json()["detail"]


def test_cli_serve_and_allocation(lab_prometheus, window):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloudmart.cli", "cost", "serve", "--prometheus", lab_prometheus.url, "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port, timeout=30)
        r = httpx.get(f"http://127.0.0.1:{port}/model/allocation", params={"window": window, "aggregate": "namespace"}, timeout=60)
        assert r.status_code == 200 and "cloudmart" in r.json()["data"][0]
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json()["prometheusReady"] is True
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    out = subprocess.run(
        [sys.executable, "-m", "cloudmart.cli", "cost", "allocation", "--prometheus", lab_prometheus.url, "--window", window, "--aggregate", "namespace"],
        capture_output=True, text=True, timeout=120, env={"COLUMNS": "160", "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    for ns in ("cloudmart", "production", "staging", "__idle__", "total"):
        assert ns in out.stdout
    js = subprocess.run(
        [sys.executable, "-m", "cloudmart.cli", "cost", "allocation", "--prometheus", lab_prometheus.url, "--window", window, "--json", "--filter", "namespace:cloudmart"],
        capture_output=True, text=True, timeout=120,
    )
    assert js.returncode == 0, js.stderr
    assert '"cloudmart"' in js.stdout and '"totalCost"' in js.stdout
