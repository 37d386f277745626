"""`cloudmart loadgen` against the real CloudMart (`cloudmart up`, embedded mode) on 127.0.0.1:
every journey succeeds end to end, orders included."""

import json
import subprocess
import sys

import httpx
import pytest

from fixtures.servers import free_port, wait_for_port


@pytest.fixture
def cloudmart_up(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloudmart.cli", "up", "--port", str(port), "--data-dir", str(tmp_path / "data")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, timeout=60)
        url = f"http://127.0.0.1:{port}"
        httpx.get(f"{url}/api/products", timeout=30).raise_for_status()
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_every_journey_succeeds_against_cloudmart(cloudmart_up):
    result = subprocess.run(
        [sys.executable, "-m", "cloudmart.cli", "loadgen", cloudmart_up, "--users", "4", "--spawn-rate", "4",
         "--duration", "8", "--order", "4", "--json"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["failures"] == 0, report["errors"]
    by_name = {e["name"]: e for e in report["endpoints"]}
    for name in ("/api/products", "/api/users/signup", "/api/users/login", "/api/payments/methods", "/api/orders"):
        assert by_name[name]["requests"] >= 1, name
