"""Client logic (retries, parsing, chunk bounds) with a scripted transport; the real-server
path is covered in tests/integration/finops."""

import httpx
import pytest

from cloudmart.finops.prometheus import PrometheusClient, PrometheusError


def scripted(responses, seen):
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(dict(httpx.QueryParams(request.content.decode())))
        return responses.pop(0)

    return httpx.MockTransport(handler)


VECTOR = {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {"pod": "p"}, "value": [10, "NaN"]}]}}


async def test_retries_5xx_then_succeeds():
    seen = []
    t = scripted([httpx.Response(503, text="busy"), httpx.Response(500, text="oops"), httpx.Response(200, json=VECTOR)], seen)
    async with PrometheusClient("http://prom:9090/", transport=t, backoff=0) as c:
        out = await c.query("up", 10)
    assert len(seen) == 3 and c.stats.queries == 3
    assert out[0].labels == {"pod": "p"} and str(out[0].value) == "nan"


async def test_gives_up_after_retries_naming_the_url():
    t = scripted([httpx.Response(502, text="bad gateway")] * 3, [])
    async with PrometheusClient("http://prom:9090", transport=t, retries=2, backoff=0) as c:
        with pytest.raises(PrometheusError) as e:
            await c.query("up", 10)
    assert e.value.url == "http://prom:9090" and "HTTP 502" in e.value.what


async def test_query_errors_are_not_retried():
    seen = []
    t = scripted([httpx.Response(400, json={"status": "error", "errorType": "bad_data", "error": "parse error at char 4"})], seen)
    async with PrometheusClient("http://prom:9090", transport=t, backoff=0) as c:
        with pytest.raises(PrometheusError, match="parse error at char 4") as e:
            await c.query("sum(", 10)
    assert len(seen) == 1 and e.value.query == "sum("


async def test_range_chunks_cover_every_step_once():
    seen = []

    def matrix(start, end, step):
        n = int((end - start) / step) + 1
        return {"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {"a": "1"}, "values": [[start + i * step, str(i)] for i in range(n)]}]}}

    def handler(request):
        p = dict(httpx.QueryParams(request.content.decode()))
        seen.append(p)
        return httpx.Response(200, json=matrix(float(p["start"]), float(p["end"]), float(p["step"])))

    async with PrometheusClient("http://prom:9090", transport=httpx.MockTransport(handler), max_points=10) as c:
        out = await c.query_range("x", 0, 60 * 24, 60)
    assert len(seen) == 3  # 25 points in chunks of 9
    assert list(out[0].timestamps) == [60.0 * i for i in range(25)]
    with pytest.raises(ValueError):
        await c.query_range("x", 0, 10, 0)
