"""Logs are JSON lines carrying the request id of the request that produced them."""

import io
import json

import logging

import httpx
import pytest
import structlog
from fastapi import APIRouter
from sqlalchemy import MetaData

from cloudmart.core.config import Settings
from cloudmart.core.db import Database
from cloudmart.core.http import create_service_app
from cloudmart.core.logging import configure_logging, get_logger
from cloudmart.core.service import ServiceContext, ServiceSpec

router = APIRouter()


@router.get("/hello")
async def hello() -> dict:
    get_logger("test").info("inside handler", answer=42)
    return {"ok": True}


@pytest.fixture(autouse=True)
def restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.reset_defaults()
    root.handlers, root.level = handlers, level


async def test_json_logs_with_request_id(tmp_path):
    stream = io.StringIO()
    configure_logging("info", stream=stream)
    spec = ServiceSpec(name="log", title="log-service", router=router, metadata=MetaData())
    ctx = ServiceContext(settings=Settings(), spec=spec, db=Database(f"sqlite+aiosqlite:///{tmp_path}/l.db", "log"))
    app = create_service_app(spec, ctx)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        await client.get("/api/log/hello", headers={"X-Request-ID": "trace-me"})
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    handler_line = next(line for line in lines if line["event"] == "inside handler")
    access_line = next(line for line in lines if line["event"] == "request")
    assert handler_line["request_id"] == access_line["request_id"] == "trace-me"
    assert handler_line["answer"] == 42 and handler_line["service"] == "log-service"
    assert access_line["route"] == "/api/log/hello" and access_line["status"] == 200
    await ctx.db.dispose()
