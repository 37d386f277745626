"""The app factory: probes, metrics, request ids and problem+json errors, on a toy service."""

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import Column, Integer, String, Table, insert, select

from cloudmart.core.config import Settings
from cloudmart.core.db import Database, service_metadata
from cloudmart.core.deps import SessionDep
from cloudmart.core.errors import Conflict, NotFound
from cloudmart.core.http import create_service_app
from cloudmart.core.service import ServiceContext, ServiceSpec

metadata = service_metadata("toy")
things = Table("things", metadata, Column("id", Integer, primary_key=True), Column("name", String(50), unique=True))
router = APIRouter()


class ThingIn(BaseModel):
    name: str = Field(min_length=2)


@router.post("/things", status_code=201)
async def create_thing(body: ThingIn, session: SessionDep) -> dict:
    if body.name == "taken":
        raise Conflict("name 'taken' is already used")
    await session.execute(insert(things).values(name=body.name))
    return {"name": body.name}


@router.get("/things/{thing_id}")
async def get_thing(thing_id: int, session: SessionDep) -> dict:
    row = (await session.execute(select(things).where(things.c.id == thing_id))).first()
    if row is None:
        raise NotFound(f"thing {thing_id} does not exist")
    return {"id": row.id, "name": row.name}


@router.get("/boom")
async def boom() -> dict:
    raise RuntimeError("bug")


SPEC = ServiceSpec(name="toy", title="toy-service", router=router, metadata=metadata)


@pytest.fixture
async def client(tmp_path):
    settings = Settings(CLOUDMART_DATA_DIR=str(tmp_path))
    db = Database(settings.sqlite_url("toy"), "toy")
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    ctx = ServiceContext(settings=settings, spec=SPEC, db=db)
    app = create_service_app(SPEC, ctx)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://toy") as c:
        c.ctx = ctx
        yield c
    await db.dispose()


async def test_health_ready_and_metrics(client):
    assert (await client.get("/health")).json() == {"status": "ok", "service": "toy-service"}
    ready = await client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"]["ok"] is True
    await client.get("/api/toy/things/1")
    text = (await client.get("/metrics")).text
    assert 'cloudmart_http_requests_total{method="GET",route="/api/toy/things/{thing_id}",service="toy-service",status="404"} 1.0' in text


async def test_openapi_and_docs_under_service_prefix(client):
    doc = (await client.get("/api/toy/openapi.json")).json()
    assert "/api/toy/things" in doc["paths"]
    assert (await client.get("/api/toy/docs")).status_code == 200


async def test_request_id_is_echoed_or_generated(client):
    r = await client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    generated = (await client.get("/health", headers={"X-Request-ID": "bad id with spaces"})).headers["x-request-id"]
    assert generated != "bad id with spaces" and len(generated) == 32


async def test_validation_error_names_the_field(client):
    r = await client.post("/api/toy/things", json={"name": "x"})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["errors"][0]["field"] == "name"
    assert body["detail"].startswith("name:")
    r = await client.get("/api/toy/things/not-a-number")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "thing_id"


async def test_problem_errors_render_rfc9457(client):
    r = await client.post("/api/toy/things", json={"name": "taken"})
    assert r.status_code == 409
    body = r.json()
    assert body["title"] == "Conflict" and body["status"] == 409 and "taken" in body["detail"]
    assert body["instance"] == "/api/toy/things"
    r = await client.get("/api/toy/nowhere")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"


async def test_integrity_error_is_409_not_500(client):
    assert (await client.post("/api/toy/things", json={"name": "once"})).status_code == 201
    r = await client.post("/api/toy/things", json={"name": "once"})
    assert r.status_code == 409


async def test_unhandled_error_is_problem_500_with_request_id(client):
    r = await client.get("/api/toy/boom", headers={"X-Request-ID": "req-1"})
    assert r.status_code == 500
    assert r.json()["request_id"] == "req-1"
    assert "bug" not in r.text


async def test_database_down_is_503_with_retry_after_and_not_ready(client, tmp_path):
    # Point the service at a database file in a directory that does not exist: every connect fails.
    await client.ctx.db.dispose()
    client.ctx.db = Database(f"sqlite+aiosqlite:///{tmp_path}/missing/dir/toy.db", "toy")
    r = await client.post("/api/toy/things", json={"name": "never"})
    assert r.status_code == 503
    assert r.headers["retry-after"] == "5"
    assert r.headers["content-type"] == "application/problem+json"
    ready = await client.get("/ready")
    assert ready.status_code == 503 and ready.json()["checks"]["database"]["ok"] is False
