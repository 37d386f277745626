"""Two services as separate `cloudmart serve` processes on real PostgreSQL + Redis:
product-service verifies user-service's tokens through its JWKS over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from fixtures.servers import free_port, wait_for_port

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
ADMIN_PASSWORD = "bootstrap-admin-77"


def _serve(service: str, port: int, tmp: Path, env: dict[str, str], *extra: str) -> subprocess.Popen:
    full_env = {**os.environ, "CLOUDMART_DATA_DIR": str(tmp / service), "LOG_LEVEL": "warning", **env}
    return subprocess.Popen(
        [sys.executable, "-m", "cloudmart.cli", "serve", service, "--port", str(port), *extra],
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _ready(base: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/ready").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{base} never became ready")


def test_products_trusts_user_service_jwks(postgres_url, redis_url, tmp_path):
    users_port, products_port = free_port(), free_port()
    users = _serve("user-service", users_port, tmp_path, {"DATABASE_URL": postgres_url, "CLOUDMART_ADMIN_PASSWORD": ADMIN_PASSWORD})
    products = _serve(
        "products",
        products_port,
        tmp_path,
        {
            "DATABASE_URL": postgres_url,
            "REDIS_URL": redis_url,
            "JWKS_URL": f"http://127.0.0.1:{users_port}/.well-known/jwks.json",
        },
        "--seed",
    )
    u, p = f"http://127.0.0.1:{users_port}", f"http://127.0.0.1:{products_port}"
    try:
        wait_for_port(users_port, 60)
        wait_for_port(products_port, 60)
        _ready(u)
        _ready(p)
        ready = httpx.get(f"{p}/ready").json()
        assert ready["checks"]["cache"]["ok"] is True and ready["service"] == "product-service"

        admin = httpx.post(f"{u}/api/users/login", json={"email": "admin@cloudmart.dev", "password": ADMIN_PASSWORD})
        assert admin.status_code == 200, admin.text
        admin_auth = {"Authorization": f"Bearer {admin.json()['access_token']}"}
        httpx.post(f"{u}/api/users/signup", json={"email": "c@example.com", "password": "customer-pass-1"})
        customer = httpx.post(f"{u}/api/users/login", json={"email": "c@example.com", "password": "customer-pass-1"}).json()
        customer_auth = {"Authorization": f"Bearer {customer['access_token']}"}

        body = {"slug": "garden-tools", "name": "Garden tools"}
        assert httpx.post(f"{p}/api/products/categories", json=body, headers=customer_auth).status_code == 403
        assert httpx.post(f"{p}/api/products/categories", json=body).status_code == 401
        forged = admin.json()["access_token"][:-4] + "AAAA"
        assert httpx.post(f"{p}/api/products/categories", json=body, headers={"Authorization": f"Bearer {forged}"}).status_code == 401
        created = httpx.post(f"{p}/api/products/categories", json=body, headers=admin_auth)
        assert created.status_code == 201, created.text

        catalog = httpx.get(f"{p}/api/products", params={"limit": 3})
        assert catalog.status_code == 200 and len(catalog.json()["items"]) == 3
    finally:
        for proc in (products, users):
            proc.terminate()
        outs = [proc.communicate(timeout=30)[0] for proc in (products, users)]
    assert all(proc.returncode == 0 for proc in (products, users)), outs
    assert not any("Traceback" in out for out in outs), outs
