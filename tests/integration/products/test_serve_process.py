"""`cloudmart serve products` as a real process (uvicorn) on PostgreSQL and Redis, as in a pod."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from fixtures.servers import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.timeout(120)]

CLOUDMART = Path(sys.executable).parent / "cloudmart"


def test_serve_products_against_postgres_and_redis(tmp_path, postgres_url, redis_server):
    port = free_port()
    env = {
        **os.environ,
        "SERVICE_NAME": "product-service",  # the seed's env var picks the service
        "DB_HOST": "unused-when-DATABASE_URL-is-set",
        "DATABASE_URL": postgres_url,
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": str(redis_server.port),
        "CLOUDMART_DATA_DIR": str(tmp_path),
        "LOG_LEVEL": "info",
    }
    env.pop("REDIS_URL", None)
    env.pop("KAFKA_BROKERS", None)
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(CLOUDMART), "serve", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        ready = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                ready = httpx.get(f"{base}/ready", timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        assert ready is not None and ready.status_code == 200, log.read_text()[-2000:]
        assert ready.json()["checks"]["cache"]["ok"] is True
        assert httpx.get(f"{base}/health").json()["service"] == "product-service"
        page = httpx.get(f"{base}/api/products", params={"limit": 5})
        assert page.status_code == 200 and page.json()["total"] == 0
        bad = httpx.get(f"{base}/api/products", params={"limit": 0})
        assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
        assert httpx.get(f"{base}/api/products/openapi.json").json()["info"]["title"] == "product-service"
        assert httpx.post(f"{base}/api/products", json={}).status_code == 401
        metrics = httpx.get(f"{base}/metrics").text
        assert 'cloudmart_cache_requests_total{cache="redis",result="miss"}' in metrics
        assert "cloudmart_http_requests_total" in metrics
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    lines = log.read_text().splitlines()
    assert any('"request"' in line and "/api/products" in line for line in lines), lines[-5:]
