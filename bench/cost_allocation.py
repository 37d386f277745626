"""Benchmark: /model/allocation?aggregate=namespace over real Prometheus scenarios.

For each scenario size (pods × days of history) this generates the lab scenario, backfills it
with promtool, starts Prometheus on a free loopback port and, in a fresh subprocess per
measurement, asks the API for the last 1 day and (when the history is long enough) 7 days.
It prints wall time, the part spent waiting on Prometheus and the engine's own part (from the
API's Server-Timing header), the engine's share, peak RSS of the API process, and the data
preparation costs. Every figure is measured in this run.

    .venv/bin/python bench/cost_allocation.py                       # 100x1, 100x7, 1000x1
    .venv/bin/python bench/cost_allocation.py --sizes 100x1,1000x7  # pods x days
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "prometheus.sh"
END = 1767225600  # 2026-01-01T00:00:00Z, a midnight
MAX_SECONDS_PER_QUERY = 900


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def measure(url: str, days: int) -> None:
    """Child process: one API call through the ASGI app; prints a JSON line."""
    import httpx
    from asgi_lifespan import LifespanManager

    from cloudmart.finops.api import create_app

    async def run():
        app = create_app(url, timeout=MAX_SECONDS_PER_QUERY)
        async with LifespanManager(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cost", timeout=None) as c:
                t0 = time.perf_counter()
                r = await c.get("/model/allocation", params={"window": f"{iso(END - days * 86400)},{iso(END)}", "aggregate": "namespace"})
                wall = time.perf_counter() - t0
        r.raise_for_status()
        timing = dict(part.split(";dur=") for part in r.headers["server-timing"].split(", "))
        return {
            "wall": wall,
            "prometheus": float(timing["prometheus"]) / 1000,
            "engine": float(timing["engine"]) / 1000,
            "namespaces": len(r.json()["data"][0]),
            "queries": app.state.prometheus.stats.queries,
        }

    out = asyncio.run(run())
    out["rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100x1,100x7,1000x1")
    ap.add_argument("--runs", default="cold,warm", help="which runs per window: cold,warm or cold")
    ap.add_argument("--measure", nargs=2, metavar=("URL", "DAYS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        measure(args.measure[0], int(args.measure[1]))
        return

    import socket

    from cloudmart.finops.scenario import generate_scenario

    rows = []
    for size in args.sizes.split(","):
        pods, days = (int(x) for x in size.lower().split("x"))
        work = Path(tempfile.mkdtemp(prefix=f"cost-bench-{pods}x{days}-"))
        try:
            t0 = time.perf_counter()
            summary = generate_scenario(work, pods=pods, days=days, seed=1, end=END)
            gen = time.perf_counter() - t0
            om_bytes = (work / "metrics.om").stat().st_size
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            t0 = time.perf_counter()
            subprocess.run(["bash", str(SCRIPT), "start", str(work), str(port)], check=True, capture_output=True)
            backfill = time.perf_counter() - t0
            (work / "metrics.om").unlink()
            print(f"# {pods} pods x {days}d: {summary['samples']:,} samples, {summary['pods']} pod lifetimes, "
                  f"{om_bytes / 2**30:.2f} GiB OpenMetrics; generate {gen:.1f}s, backfill+start {backfill:.1f}s", flush=True)
            try:
                for window_days in (1, 7):
                    if window_days > days:
                        continue
                    for attempt in args.runs.split(","):
                        out = subprocess.run(
                            [sys.executable, __file__, "--measure", f"http://127.0.0.1:{port}", str(window_days)],
                            check=True, capture_output=True, text=True, timeout=MAX_SECONDS_PER_QUERY,
                        )
                        m = json.loads(out.stdout.strip().splitlines()[-1])
                        rows.append((pods, days, window_days, attempt, m))
                        print(f"  window {window_days}d {attempt}: wall {m['wall']:.2f}s  prometheus {m['prometheus']:.2f}s  "
                              f"engine {m['engine']:.3f}s ({m['engine'] / m['wall']:.1%})  rss {m['rss_mib']:.0f} MiB  "
                              f"queries {m['queries']}", flush=True)
            finally:
                subprocess.run(["bash", str(SCRIPT), "stop", str(work)], capture_output=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    print()
    print("| pods | history | window | run | wall s | prometheus s | engine s | engine share | peak RSS MiB |")
    print("|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    for pods, days, w, attempt, m in rows:
        print(f"| {pods} | {days}d | {w}d | {attempt} | {m['wall']:.2f} | {m['prometheus']:.2f} | {m['engine']:.3f} | "
              f"{m['engine'] / m['wall']:.1%} | {m['rss_mib']:.0f} |")
    last = args.runs.split(",")[-1]
    best = {(p, d, w): m for p, d, w, a, m in rows if a == last}
    base = min(best, key=lambda k: k[0] * k[2], default=None)
    if base:
        print()
        print(f"scaling of {last} runs vs the smallest (time ratio / pods×window ratio; ≤ 1 means no worse than linear):")
        for k, m in best.items():
            size_ratio = (k[0] * k[2]) / (base[0] * base[2])
            if size_ratio > 1:
                ratio = m["wall"] / best[base]["wall"]
                print(f"  {k[0]} pods, {k[2]}d window ({k[1]}d history): {ratio:.1f}x time for {size_ratio:.0f}x size -> {ratio / size_ratio:.2f}")


if __name__ == "__main__":
    main()
