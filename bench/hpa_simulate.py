"""Benchmark: simulate the seed's HPAs over 7 days at the 15 s sync (40,320 steps each).

Prints the time per simulation with the settled-pods shortcut and with every pod's view built
at every sync (the two give identical timelines), and their ratio. Bounded: 3 HPAs × 2 runs.

    .venv/bin/python bench/hpa_simulate.py
"""

import math
import random
import time
from pathlib import Path

from cloudmart.finops.hpa import find_objects, parse_load_profile, simulate
from cloudmart.finops.manifests import load_documents

DATA = Path(__file__).resolve().parents[1] / "tests" / "unit" / "optimize" / "data"
DAYS = 7


def profile():
    rng = random.Random(42)
    points = []
    for minute in range(DAYS * 1440 + 1):
        daily = 0.55 + 0.45 * math.sin(2 * math.pi * (minute / 1440 - 0.3))
        spike = 1.5 if (minute // 60) % 24 == 12 and minute % 60 < 15 else 1.0
        points.append({"t": minute * 60, "load": round(max(0.02, daily * spike * (1 + 0.1 * rng.gauss(0, 1))), 4)})
    return parse_load_profile({
        "points": points,
        "usage": {"cpu": {"base": "5m", "perUnit": 1}, "memory": {"base": "70Mi", "perUnit": "10Mi"}},
    })


def main() -> None:
    load = profile()
    print(f"load profile: {len(load.times)} points over {DAYS} days; sync 15 s")
    for name in ("user-service", "product-service", "order-service"):
        hpa, deploy = find_objects(load_documents(DATA / f"{name}.yaml"))
        t0 = time.perf_counter()
        fast = simulate(hpa, deploy, load)
        t1 = time.perf_counter()
        slow = simulate(hpa, deploy, load, fast=False)
        t2 = time.perf_counter()
        assert fast.replicas == slow.replicas
        s = fast.summary()
        print(f"{hpa.name:22s} steps={s['steps']} scale-events={s['scaleEvents']:4d} "
              f"replicas {s['minReplicas']}-{s['maxReplicas']} avg {s['avgReplicas']:.2f} | "
              f"shortcut {t1 - t0:.3f} s ({s['steps'] / (t1 - t0):,.0f} steps/s), "
              f"full {t2 - t1:.3f} s, ratio {(t2 - t1) / (t1 - t0):.2f}x")


if __name__ == "__main__":
    main()
