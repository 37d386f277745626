"""Bad parameters are refused with 400 problem+json naming the parameter, before any query."""

import httpx
import pytest
from asgi_lifespan import LifespanManager

from cloudmart.finops.api import create_app


@pytest.fixture
async def api():
    app = create_app("http://127.0.0.1:9", retries=0, timeout=1)  # never reached: parameters fail first
    async with LifespanManager(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cost") as client:
            yield client


@pytest.mark.parametrize(
    "query,parameter,fragment",
    [
        ("aggregate=namespace", "window", "missing"),
        ("window=1x&aggregate=namespace", "window", "not a window"),
        ("window=2026-01-02T00:00:00Z,2026-01-01T00:00:00Z", "window", "after the start"),
        ("window=1d&aggregate=bogus", "aggregate", "unknown aggregate 'bogus'"),
        ("window=1d&filter=namespace:%22a%22%2Bpod:%22b%22|node:%22c%22", "filter", "position 21"),
        ("window=1d&filter=namespace=cloudmart", "filter", "position 9"),
        ("window=1d&filter=nmspace:x", "filter", "unknown filter field"),
        ("window=1d&shareCost=-5", "shareCost", "≥ 0"),
        ("window=1d&shareCost=abc", "shareCost", "not a number"),
        ("window=1d&shareCost=nan", "shareCost", "finite"),
        ("window=1d&shareSplit=random", "shareSplit", "weighted"),
        ("window=1d&step=0d", "step", "positive"),
        ("window=1d&idle=maybe", "idle", "boolean"),
        ("window=1d&shareIdle=2", "shareIdle", "boolean"),
        ("window=1d&accumulate=yesno", "accumulate", "boolean"),
        ("window=1d&shareLabels=app", "shareLabels", "key:value"),
        ("window=1d&resolution=1s", "resolution", "at least 2s"),
        ("window=1d&filterLabels=app", "filterLabels", "key:value"),
    ],
)
async def test_bad_parameters(api, query, parameter, fragment):
    paths = ["/model/allocation"] if parameter == "idle" else ["/model/allocation", "/allocation/compute"]
    for path in paths:
        r = await api.get(f"{path}?{query}")
        assert r.status_code == 400, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        body = r.json()
        assert body["parameter"] == parameter
        assert parameter in body["detail"] and fragment in body["detail"], body["detail"]


async def test_healthz_reports_prometheus_state(api):
    r = await api.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "degraded", "prometheus": "http://127.0.0.1:9", "prometheusReady": False}


def test_app_state_contract():
    from cloudmart.finops.pricing import PriceSheet

    sheet = PriceSheet(cpu=0.1)
    app = create_app("http://127.0.0.1:9/", sheet, cluster="lab-cluster")
    assert app.state.pricing is sheet and app.state.engine.pricing is sheet
    assert app.state.prometheus_url == "http://127.0.0.1:9" and app.state.cluster == "lab-cluster"
    assert callable(app.state.now)
