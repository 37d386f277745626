"""A newcomer's first run: `cloudmart up` as a real process on a free port; sign up, log in,
browse the demo catalog, read the docs; restart on the same data dir keeps accounts and keys."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from fixtures.servers import free_port

PASSWORD = "first-visit-2024"


class Up:
    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DB_HOST", "REDIS_URL", "REDIS_HOST", "KAFKA_BROKERS")}
        env["LOG_LEVEL"] = "warning"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cloudmart.cli", "up", "--port", str(self.port), "--data-dir", str(data_dir)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.banner = self._read_banner()

    def _read_banner(self, timeout: float = 90.0) -> str:
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                if self.proc.poll() is not None:
                    raise AssertionError(f"cloudmart up exited: {self.proc.stderr.read()[-3000:]}")
                continue
            lines.append(line)
            if line.startswith("Health:"):
                return "".join(lines)
        raise AssertionError("no banner from cloudmart up: " + "".join(lines))

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_newcomer_signs_up_logs_in_and_browses(data_dir):
    up = Up(data_dir)
    try:
        admin = re.search(r"Admin account:\s+(\S+)\s+password: (\S+)", up.banner)
        assert admin, up.banner
        assert f"{up.base}/api/users/docs" in up.banner
        with httpx.Client(base_url=up.base, timeout=30) as http:
            index = http.get("/").json()
            for name in index["services"]:
                assert http.get(f"/api/{name}/docs").status_code == 200
                assert http.get(f"/api/{name}/openapi.json").json()["info"]["title"].endswith("-service")
            assert http.get("/ready").status_code == 200

            r = http.post("/api/users/signup", json={"email": "newcomer@example.com", "password": PASSWORD})
            assert r.status_code == 201, r.text
            tokens = http.post("/api/users/login", json={"email": "newcomer@example.com", "password": PASSWORD}).json()
            auth = {"Authorization": f"Bearer {tokens['access_token']}"}
            assert http.get("/api/users/me", headers=auth).json()["email"] == "newcomer@example.com"

            if "products" in index["services"]:
                page = http.get("/api/products", params={"limit": 5})
                assert page.status_code == 200, page.text
                assert page.json()["items"], "the demo catalog is empty"
                first = page.json()["items"][0]
                assert http.get(f"/api/products/{first['id']}").json()["id"] == first["id"]
                assert http.get("/api/products", params={"limit": 0}).status_code == 422

            admin_tokens = http.post("/api/users/login", json={"email": admin[1], "password": admin[2]}).json()
            users = http.get("/api/users", headers={"Authorization": f"Bearer {admin_tokens['access_token']}"})
            assert users.status_code == 200 and users.json()["total"] >= 3
            assert http.get("/api/users", headers=auth).status_code == 403
            assert http.get("/api/nothing/here").status_code == 404
            assert "cloudmart_http_requests_total" in http.get("/metrics").text
    finally:
        assert up.stop() == 0

    # Second run on the same data dir: same keys, same admin password, the account is still there.
    again = Up(data_dir)
    try:
        assert f"password: {admin[2]}" in again.banner
        with httpx.Client(base_url=again.base, timeout=30) as http:
            me = http.get("/api/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
            assert me.status_code == 200
    finally:
        again.stop()
