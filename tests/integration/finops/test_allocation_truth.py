"""The cost engine over a real Prometheus equals the scenario generator's independent truth."""

import pytest
from asgi_lifespan import LifespanManager
import httpx

from cloudmart.finops.api import create_app

pytestmark = pytest.mark.prometheus

TOL = 1e-3  # 0.1 %
FIELDS = ("cpuCost", "ramCost", "totalCost", "cpuCoreHours", "ramByteHours", "minutes", "cpuEfficiency", "ramEfficiency", "totalEfficiency")


def close(got: float, exp: float) -> bool:
    return abs(got - exp) <= max(TOL * abs(exp), 2e-5)  # responses are rounded to 5 decimals


@pytest.fixture
async def api(lab_prometheus):
    app = create_app(lab_prometheus.url, cluster="lab-cluster", now=lambda: lab_prometheus.end - 1)
    async with LifespanManager(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cost") as client:
            yield client


async def allocation(api, **params):
    r = await api.get("/model/allocation", params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["code"] == 200 and body["status"] == "success"
    return body["data"]


def assert_matches(got: dict, expected: dict, fields=FIELDS):
    assert set(got) - {"__idle__"} == set(expected), (sorted(set(got) ^ set(expected)))
    bad = [
        (name, f, got[name][f], exp[f])
        for name, exp in expected.items()
        for f in fields
        if not close(got[name][f], exp[f])
    ]
    assert not bad, bad[:10]


@pytest.mark.parametrize("aggregate", ["namespace", "controller", "pod", "service"])
async def test_whole_window_equals_truth(api, lab_prometheus, aggregate):
    w = lab_prometheus.truth["windows"][0]
    data = await allocation(api, window=w["window"], aggregate=aggregate)
    assert len(data) == 1
    assert_matches(data[0], w[aggregate])
    idle = data[0]["__idle__"]
    for f in ("cpuCost", "ramCost", "totalCost", "cpuCoreHours", "ramByteHours"):
        assert close(idle[f], w["__idle__"][f]), (f, idle[f], w["__idle__"][f])


async def test_truth_is_not_trivial(lab_prometheus):
    """The scenario exercises the semantics the engine must get right."""
    w = lab_prometheus.truth["windows"][0]
    assert {"cloudmart", "production", "staging", "development", "kubecost", "kube-system"} <= set(w["namespace"])
    assert "__unallocated__" in w["controller"]  # the bare pod
    assert w["__idle__"]["totalCost"] > 0
    assert w["controller"]["deployment:backend"]["cpuEfficiency"] > 1  # usage above request
    effs = [v["cpuEfficiency"] for v in w["pod"].values()]
    assert min(effs) < 1 < max(effs)


async def test_step_sets_match_daily_truth_and_accumulate_to_whole(api, lab_prometheus):
    windows = lab_prometheus.truth["windows"]
    data = await allocation(api, window=windows[0]["window"], aggregate="namespace", step="1d")
    assert len(data) == 2
    for got, day in zip(data, windows[1:]):
        assert_matches(got, day["namespace"])
    acc = await allocation(api, window=windows[0]["window"], aggregate="namespace", step="1d", accumulate="true")
    assert len(acc) == 1
    assert_matches(acc[0], windows[0]["namespace"])


async def test_seed_step4_calls_verbatim(api, lab_prometheus):
    day = lab_prometheus.truth["windows"][-1]  # window=1d is the last day (now is just before its end)
    r = await api.get("/model/allocation?window=1d&aggregate=namespace&filter=namespace:cloudmart")
    assert r.status_code == 200
    data = r.json()["data"][0]
    assert list(data) == ["cloudmart"]
    assert close(data["cloudmart"]["totalCost"], day["namespace"]["cloudmart"]["totalCost"])

    r = await api.get("/model/allocation?window=1d&aggregate=namespace")
    names = {k for k in r.json()["data"][0]}
    assert names == set(day["namespace"]) | {"__idle__"}

    r = await api.get("/model/allocation?window=1d&aggregate=pod&filter=namespace:cloudmart")
    pods = r.json()["data"][0]
    expected = {p for p in day["pod"] if p.split("-")[0] in ("user", "product", "order")}
    assert set(pods) == expected
    for name, alloc in pods.items():
        assert close(alloc["totalCost"], day["pod"][name]["totalCost"])
        assert alloc["properties"]["namespace"] == "cloudmart"


async def test_opencost_compute_endpoint_excludes_idle_by_default(api, lab_prometheus):
    w = lab_prometheus.truth["windows"][0]
    r = await api.get("/allocation/compute", params={"window": w["window"], "aggregate": "namespace"})
    assert r.status_code == 200
    assert "__idle__" not in r.json()["data"][0]
    r = await api.get("/allocation/compute", params={"window": w["window"], "aggregate": "namespace", "includeIdle": "true"})
    assert "__idle__" in r.json()["data"][0]


async def test_service_aggregation_and_filter(api, lab_prometheus):
    """Pods reach Services through kube_endpoint_address ⋈ kube_pod_info on (namespace, ip)."""
    w = lab_prometheus.truth["windows"][0]
    assert {"user-service", "product-service", "order-service", "database", "__unallocated__"} <= set(w["service"])
    # the scenario reuses pod IPs across Services: a join on the IP alone would misattribute
    reused = 'count by (namespace, ip) (group by (namespace, endpoint, ip) (last_over_time(kube_endpoint_address{namespace="cloudmart"}[2d]))) > 1'
    async with httpx.AsyncClient() as prom:
        r = await prom.get(f"{lab_prometheus.url}/api/v1/query", params={"query": reused, "time": lab_prometheus.end})
    assert r.json()["data"]["result"], "expected IPs that backed several Services over time"
    data = (await allocation(api, window=w["window"], aggregate="service"))[0]
    # the database backs `database` and `database-headless`: charged to the first only
    assert data["database"]["properties"]["services"] == ["database", "database-headless"]
    assert "database-headless" not in data
    assert data["user-service"]["properties"]["services"] == ["user-service"]
    user = (await allocation(api, window=w["window"], aggregate="pod", filter='services:"user-service"'))[0]
    pods = (await allocation(api, window=w["window"], aggregate="pod"))[0]
    assert user and set(user) < set(pods) - {"__idle__"}
    assert all(name.startswith("user-service-") for name in user)
    assert {p for p in w["pod"] if p.startswith("user-service-")} == set(user)
    for name, a in user.items():
        assert a["totalCost"] == pods[name]["totalCost"]
    assert close(sum(a["totalCost"] for a in user.values()), w["service"]["user-service"]["totalCost"])
    v1 = (await allocation(api, window=w["window"], aggregate="pod", filterServices="user-service"))[0]
    assert v1 == user
