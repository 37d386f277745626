"""`cloudmart cost demo`: scenario → promtool → Prometheus → API answering the seed's Step 4."""

import signal
import subprocess
import sys
import time
from datetime import datetime, timezone

import httpx
import pytest

from fixtures.servers import free_port, wait_for_port

pytestmark = pytest.mark.prometheus


def test_demo_answers_the_seed_step4_calls(tmp_path):
    port = free_port()
    data = tmp_path / "demo"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloudmart.cli", "cost", "demo", "--port", str(port), "--days", "0.1", "--pods", "35", "--dir", str(data)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        wait_for_port(port, timeout=120)
        base = f"http://127.0.0.1:{port}"
        first = httpx.get(f"{base}/model/allocation?window=1d&aggregate=namespace&filter=namespace:cloudmart", timeout=60)
        everything = httpx.get(f"{base}/model/allocation?window=1d&aggregate=namespace", timeout=60)
        pods = httpx.get(f"{base}/model/allocation?window=1d&aggregate=pod&filter=namespace:cloudmart", timeout=60)
        for r in (first, everything, pods):
            assert r.status_code == 200 and r.json()["status"] == "success"
        now = datetime.now(timezone.utc)
        if now.hour or now.minute >= 5:  # `1d` is today since 00:00 UTC; the history ends now
            assert set(first.json()["data"][0]) == {"cloudmart"}
            assert {"cloudmart", "production", "staging", "development", "kubecost", "kube-system"} <= set(everything.json()["data"][0])
            assert all(p.split("-")[0] in ("user", "product", "order") for p in pods.json()["data"][0])
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert "model/allocation?window=1d&aggregate=namespace&filter=namespace:cloudmart" in out
    assert "to_entries" in out
    deadline = time.monotonic() + 10
    while (data / "prometheus.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not (data / "prometheus.pid").exists()  # the demo stopped its Prometheus
