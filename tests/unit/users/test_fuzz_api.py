"""Whatever a client sends to user-service, the answer is a 4xx problem, never a 5xx."""

from __future__ import annotations

import httpx
import pytest
from asgi_lifespan import LifespanManager
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudmart.core.config import Settings
from cloudmart.local import EmbeddedApp
from cloudmart.services.users import SPEC

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=8,
)
bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"email": st.one_of(st.text(max_size=60), st.emails()), "password": st.text(max_size=140)},
        optional={"full_name": json_values, "refresh_token": st.text(max_size=250), "roles": json_values},
    ),
)
ENDPOINTS = ["/api/users/signup", "/api/users/login", "/api/users/token/refresh", "/api/users/logout"]


@pytest.fixture
async def client(tmp_path):
    app = EmbeddedApp(Settings(CLOUDMART_DATA_DIR=str(tmp_path)), {"users": SPEC}, seed=False)
    async with LifespanManager(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            yield c


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_random_bodies_never_5xx(client, path):
    # Hypothesis generates the bodies (sync); they are then replayed through the async app.
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True)
    @given(body=bodies)
    def collect(body):
        generated.append(body)

    generated: list = []
    collect()
    for body in generated:
        r = await client.post(path, json=body)
        assert r.status_code < 500, (path, body, r.text)
        if r.status_code >= 400:
            assert r.headers["content-type"] == "application/problem+json"


async def test_garbage_payloads_and_headers_never_5xx(client):
    samples = [b"", b"{", b"null", b"\xff\xfe", b'{"email": 1, "password": []}', b"[" * 50]
    for path in ENDPOINTS:
        for raw in samples:
            r = await client.post(path, content=raw, headers={"content-type": "application/json"})
            assert 400 <= r.status_code < 500, (path, raw, r.text)
    for header in ["Bearer", "Bearer ", "Basic abc", "Bearer a.b.c", "Bearer " + "x" * 5000]:
        r = await client.get("/api/users/me", headers={"Authorization": header})
        assert r.status_code in (401, 403), (header, r.text)
    for params in [{"limit": "1e3"}, {"offset": "-0"}, {"limit": "\x00"}]:
        r = await client.get("/api/users", params=params)
        assert r.status_code in (401, 422)
