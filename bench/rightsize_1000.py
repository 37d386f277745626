"""Benchmark: right-size 1,000 containers over 14 days against a real Prometheus.

Writes OpenMetrics for 1,000 Deployments (one container each; 20 of them under a CPU HPA with
three pods), 14 days scraped every 5 minutes, backfills it with promtool, starts Prometheus
on 127.0.0.1 (scripts/prometheus.sh) and runs `fetch_history` + `recommend` once, printing
the wall time, the part spent waiting on Prometheus, and the compute part. The data dir is
kept between runs in $BENCH_DIR (default /tmp/cloudmart-bench-rightsize) to skip the backfill.

    .venv/bin/python bench/rightsize_1000.py
"""

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from cloudmart.finops.hpa import Prices  # noqa: E402
from cloudmart.finops.prometheus import PrometheusClient  # noqa: E402
from cloudmart.finops.rightsizing import SizingParams, fetch_history, recommend  # noqa: E402
from fixtures.servers import free_port  # noqa: E402

WORKLOADS = 1000
HPA_WORKLOADS = 20
DAYS = 14
SCRAPE = 300
END = 1_768_003_200  # 2026-01-10T00:00:00Z
DIR = Path(os.environ.get("BENCH_DIR", "/tmp/cloudmart-bench-rightsize"))


def write_openmetrics(path: Path) -> int:
    rng = np.random.default_rng(1)
    n = DAYS * 86400 // SCRAPE + 1
    ts = END - DAYS * 86400 + np.arange(n) * SCRAPE
    ts_text = [str(int(t)) for t in ts]
    hourly = list(range(0, n, 3600 // SCRAPE))
    samples = 0
    with path.open("w") as f:
        def series(name: str, labels: str, values, idx=None) -> None:
            nonlocal samples
            rows = range(n) if idx is None else idx
            f.write("".join(f"{name}{{{labels}}} {values[i]} {ts_text[i]}\n" for i in rows))
            samples += len(rows)

        blocks: dict[str, list[tuple[str, object, object]]] = {}
        for w in range(WORKLOADS):
            ns = f"team-{w % 10}"
            dep = f"svc-{w:04d}"
            rs = f"{dep}-5d8f7c9b4"
            pods = 3 if w < HPA_WORKLOADS else 1
            req_cpu = 0.05 + 0.05 * (w % 8)
            req_mem = (64 + 64 * (w % 6)) * 2**20
            minute = np.arange(n) * SCRAPE / 60
            wave = 1 + 0.5 * np.sin(2 * np.pi * (minute / 1440 - 0.25))
            blocks.setdefault("kube_replicaset_owner", []).append(
                (f'namespace="{ns}",replicaset="{rs}",owner_kind="Deployment",owner_name="{dep}"', ["1"] * n, hourly))
            if w < HPA_WORKLOADS:
                hk = f'namespace="{ns}",horizontalpodautoscaler="{dep}-hpa"'
                blocks.setdefault("kube_horizontalpodautoscaler_spec_min_replicas", []).append((hk, ["1"] * n, hourly))
                blocks.setdefault("kube_horizontalpodautoscaler_spec_max_replicas", []).append((hk, ["6"] * n, hourly))
                blocks.setdefault("kube_horizontalpodautoscaler_spec_target_metric", []).append(
                    (hk + ',metric_name="cpu",metric_target_type="utilization"', ["70"] * n, hourly))
            for p in range(pods):
                pod = f"{rs}-{p:05x}"
                pk = f'namespace="{ns}",pod="{pod}"'
                ck = f'{pk},container="app"'
                blocks.setdefault("kube_pod_owner", []).append(
                    (f'{pk},owner_kind="ReplicaSet",owner_name="{rs}"', ["1"] * n, hourly))
                blocks.setdefault("kube_pod_container_resource_requests", []).append(
                    (f'{ck},resource="cpu",unit="core"', [f"{req_cpu:g}"] * n, hourly))
                blocks["kube_pod_container_resource_requests"].append(
                    (f'{ck},resource="memory",unit="byte"', [str(req_mem)] * n, hourly))
                rate = np.maximum(0.0, req_cpu * (0.2 + 0.1 * (w % 7)) * wave * (1 + 0.15 * rng.standard_normal(n)))
                counter = np.cumsum(rate * SCRAPE)
                blocks.setdefault("container_cpu_usage_seconds", []).append((ck, [f"{v:.3f}" for v in counter], None))
                mem = np.floor(req_mem * (0.4 + 0.08 * (w % 6)) * (1 + 0.03 * rng.standard_normal(n)))
                blocks.setdefault("container_memory_working_set_bytes", []).append((ck, [str(int(v)) for v in mem], None))
        for family, rows in blocks.items():
            kind = "counter" if family == "container_cpu_usage_seconds" else "gauge"
            f.write(f"# TYPE {family} {kind}\n")
            sample = family + "_total" if kind == "counter" else family
            for labels, values, idx in rows:
                series(sample, labels, values, idx)
        f.write("# EOF\n")
    return samples


async def run(url: str):
    async with PrometheusClient(url, timeout=600) as client:
        t0 = time.perf_counter()
        history = await fetch_history(client, END - DAYS * 86400, END, SizingParams())
        t1 = time.perf_counter()
    c1 = time.process_time()
    recs = recommend(history, SizingParams(), Prices())
    t2 = time.perf_counter()
    print(f"recommend: {t2 - t1:.2f} s wall, {time.process_time() - c1:.2f} s CPU "
          f"(the machine's load average: {os.getloadavg()[0]:.1f})")
    workers = os.cpu_count() or 1
    parallel = recommend(history, SizingParams(), Prices(), workers=workers)
    t3 = time.perf_counter()
    assert [r.to_json("c") for r in parallel] == [r.to_json("c") for r in recs]
    print(f"recommend with {workers} worker processes: {t3 - t2:.2f} s (ratio {(t2 - t1) / (t3 - t2):.2f}x)")
    return history, recs, t1 - t0, t2 - t1


def main() -> None:
    DIR.mkdir(parents=True, exist_ok=True)
    om = DIR / "bench.om"
    if not (DIR / "tsdb" / ".backfilled").exists():
        t = time.perf_counter()
        samples = write_openmetrics(om)
        print(f"wrote {samples:,} samples ({om.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t:.1f} s")
    port = free_port()
    t = time.perf_counter()
    subprocess.run(["bash", str(ROOT / "scripts" / "prometheus.sh"), "start", str(DIR), str(port)], check=True,
                   stdout=subprocess.DEVNULL)
    print(f"backfill + start: {time.perf_counter() - t:.1f} s")
    try:
        history, recs, fetch_s, compute_s = asyncio.run(run(f"http://127.0.0.1:{port}"))
    finally:
        subprocess.run(["bash", str(ROOT / "scripts" / "prometheus.sh"), "stop", str(DIR)], check=False)
    total = fetch_s + compute_s
    by_status: dict[str, int] = {}
    for r in recs:
        by_status[r.status] = by_status.get(r.status, 0) + 1
    print(f"containers: {len(history.containers)} over {DAYS} d at step {history.step:g} s; "
          f"HPA workloads simulated: {len(history.hpa_load)}; statuses {by_status}")
    print(f"total {total:.2f} s = fetch {fetch_s:.2f} s (Prometheus {history.prometheus_seconds:.2f} s summed over "
          f"{history.queries} queries) + recommend {compute_s:.2f} s")
    print(f"share waiting on Prometheus (fetch wall / total): {fetch_s / total:.0%}")


if __name__ == "__main__":
    main()
