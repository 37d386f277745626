"""The distributed runtime against a real PostgreSQL: per-schema migrations, and
`cloudmart serve users` as a real process while the database goes away and comes back."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from cloudmart.core import migrate
from cloudmart.core.config import Settings
from cloudmart.core.db import Database
from cloudmart.services.users import SPEC as USERS
from fixtures.servers import free_port, wait_for_port

pytestmark = pytest.mark.postgres
PASSWORD = "correct-horse-42"


async def test_migrations_live_in_the_service_schema_and_reverse(postgres_url):
    db = Database(Settings(CLOUDMART_MODE="distributed", DATABASE_URL=postgres_url).postgres_url(), "users")

    async def tables() -> set[tuple[str, str]]:
        async with db.engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema = 'users'")
            )
            return {tuple(r) for r in rows}

    await migrate.upgrade(db, USERS)
    assert {("users", "users"), ("users", "refresh_tokens"), ("users", "alembic_version")} <= await tables()
    assert await migrate.current_revision(db, USERS) == "users_0001"
    await migrate.downgrade(db, USERS, "base")
    assert await tables() == {("users", "alembic_version")}
    await migrate.upgrade(db, USERS)
    assert ("users", "users") in await tables()
    await db.dispose()


def _serve(tmp_path: Path, database_url: str, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CLOUDMART_DATA_DIR": str(tmp_path / "data"),
        "SERVICE_NAME": "user-service",
        "LOG_LEVEL": "warning",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "cloudmart.cli", "serve", "--port", str(port), "--host", "127.0.0.1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _stop(proc: subprocess.Popen) -> str:
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out


def _wait_ready(base: str, timeout: float = 30.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = httpx.get(f"{base}/ready")
        if last.status_code == 200:
            return last
        time.sleep(0.2)
    raise AssertionError(f"not ready: {last.text if last else 'no answer'}")


def test_serve_users_survives_database_outage(own_postgres, tmp_path):
    port = free_port()
    proc = _serve(tmp_path, own_postgres.url(), port)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_port(port, timeout=60)
        _wait_ready(base)
        api = f"{base}/api/users"
        assert httpx.post(f"{api}/signup", json={"email": "before@example.com", "password": PASSWORD}).status_code == 201
        assert httpx.get(f"{base}/.well-known/jwks.json").json()["keys"]

        own_postgres.stop()
        r = httpx.post(f"{api}/signup", json={"email": "during@example.com", "password": PASSWORD}, timeout=30)
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == "5"
        assert r.headers["content-type"] == "application/problem+json"
        assert httpx.post(f"{api}/login", json={"email": "before@example.com", "password": PASSWORD}, timeout=30).status_code == 503
        ready = httpx.get(f"{base}/ready", timeout=30)
        assert ready.status_code == 503 and ready.json()["checks"]["database"]["ok"] is False
        assert httpx.get(f"{base}/health").status_code == 200

        own_postgres.start()
        _wait_ready(base)
        assert httpx.post(f"{api}/login", json={"email": "before@example.com", "password": PASSWORD}).status_code == 200
        # Nothing from the outage was half-written: the sign-up that got a 503 does not exist.
        assert own_postgres.sql("SELECT email FROM users.users ORDER BY email") == "before@example.com"
        assert own_postgres.sql("SELECT count(*) FROM users.refresh_tokens") == "1"
        metrics = httpx.get(f"{base}/metrics").text
        assert 'route="/api/users/signup",service="user-service",status="503"' in metrics
    finally:
        out = _stop(proc)
    assert "Traceback" not in out, out


def test_serve_exits_nonzero_when_the_database_is_unreachable(tmp_path):
    port = free_port()
    dead = f"postgresql://cloudmart@127.0.0.1:{free_port()}/cloudmart"
    proc = _serve(tmp_path, dead, port)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "start-up failed" in out or "Connect call failed" in out or "refused" in out.lower()
