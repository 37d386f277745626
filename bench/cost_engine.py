"""Benchmark of the engine alone (no Prometheus): synthetic per-chunk inputs shaped like a
cluster with N pods and churn, merged over D daily chunks, then allocated by namespace, pod and
controller with idle sharing. Prints time per phase and peak RSS, to size the engine for
scenarios too large to backfill in one session (e.g. 5,000 pods × 7 days).

    .venv/bin/python bench/cost_engine.py --pods 5000 --days 7
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from cloudmart.finops.allocation import AllocationQuery, Engine
from cloudmart.finops.inputs import CONTAINER_FIELDS, NODE_FIELDS, Inputs, Meta
from cloudmart.finops.pricing import GIB, PriceSheet
from cloudmart.finops.windows import Window


def chunk(day: int, pods: int, churn: float, nodes: list[str], rng) -> Inputs:
    lifetimes = int(pods * (1 + churn))
    n_ns = 6
    keys, meta = [], Meta()
    for i in range(lifetimes):
        ns = f"ns{i % n_ns}"
        gen = day if i < pods else day * 10 + i  # long-lived pods recur across chunks
        pod = f"w{i % (pods // 3 + 1)}-{gen}-{i}"
        keys.append((ns, pod, "app"))
        meta.pod_node[(ns, pod)] = nodes[i % len(nodes)]
        meta.pod_owner[(ns, pod)] = ("ReplicaSet", f"w{i % (pods // 3 + 1)}-{day}")
        meta.replicaset_owner[(ns, f"w{i % (pods // 3 + 1)}-{day}")] = ("Deployment", f"w{i % (pods // 3 + 1)}")
        meta.pod_labels[(ns, pod)] = {"app": f"w{i % 50}"}
    n = len(keys)
    steps = rng.integers(30, 1441, n).astype(float)
    values = {f: steps * rng.uniform(0.01, 2.0, n) * (GIB if f.startswith("ram") else 1.0) for f in CONTAINER_FIELDS}
    values["steps"] = steps
    start = day * 86400.0
    return Inputs(
        start, start + 86400, 60.0, keys, values, np.full(n, start), start + steps * 60, list(nodes),
        {f: np.full(len(nodes), 1440.0 * (64 if f == "cpu_cap" else 256 * GIB if f == "ram_cap" else 1)) for f in NODE_FIELDS},
        meta,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=5000)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--churn", type=float, default=1.0, help="extra pod lifetimes per pod per day")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    nodes = [f"node-{i}" for i in range(max(3, args.pods // 50))]
    t0 = time.perf_counter()
    parts = [chunk(d, args.pods, args.churn, nodes, rng) for d in range(args.days)]
    t1 = time.perf_counter()
    merged = Inputs.merge(parts)
    t2 = time.perf_counter()
    engine = Engine(PriceSheet())
    window = Window(0, args.days * 86400.0)
    timings = {}
    for agg in ("namespace", "controller", "pod"):
        t = time.perf_counter()
        out = engine.compute(merged, AllocationQuery(aggregate=[agg], share_idle=True), window)
        [a.to_json(window) for a in out.values()]
        timings[agg] = (time.perf_counter() - t, len(out))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.pods} pods x {args.days}d: {len(merged.keys):,} container lifetimes on {len(nodes)} nodes")
    print(f"  build synthetic chunks {t1 - t0:.2f}s (not engine), merge chunks {t2 - t1:.2f}s")
    for agg, (sec, groups) in timings.items():
        print(f"  compute+render aggregate={agg}: {sec:.2f}s ({groups:,} allocations)")
    print(f"  peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
