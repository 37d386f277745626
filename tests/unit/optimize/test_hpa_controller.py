"""Normalization of the controller (horizontal.go): behavior policies, stabilization windows,
the legacy path, and min/max clamps — each case driven through `HPAController.reconcile`."""

from pathlib import Path

import pytest
import yaml

from cloudmart.finops.hpa import (
    HPAController,
    HPASpec,
    MetricTarget,
    ScalingPolicy,
    ScalingRules,
    default_scale_down,
    default_scale_up,
    find_objects,
    parse_hpa,
    parse_load_profile,
    simulate,
)
from cloudmart.finops.manifests import load_documents

DATA = Path(__file__).parent / "data"
CPU = (MetricTarget("cpu", "Utilization", 50),)


def spec(min_r=1, max_r=100, up=None, down=None):
    return HPASpec("h", "ns", "Deployment", "d", min_r, max_r, CPU, up, down)


def run(controller, current, proposals, start=0, step=15):
    """Feed one metric proposal per sync; the replica count follows each decision."""
    out = []
    for i, desired in enumerate(proposals):
        current, _ = controller.reconcile(current, desired, start + i * step)
        out.append(current)
    return out


# ---- behavior set: API defaults ------------------------------------------------------------


def test_default_scale_up_is_max_of_4_pods_and_100_percent_per_15s():
    c = HPAController(spec(up=default_scale_up(), down=default_scale_down()))
    # from 1: max(1+4, 2) = 5; then 5 -> max(9, 10) = 10; then 20
    assert run(c, 1, [100, 100, 100]) == [5, 10, 20]


def test_select_policy_min_takes_the_smaller_change():
    up = ScalingRules(0, "Min", default_scale_up().policies)
    c = HPAController(spec(up=up, down=default_scale_down()))
    assert run(c, 1, [100, 100, 100]) == [2, 4, 8]


def test_select_policy_disabled_never_scales_that_way():
    up = ScalingRules(0, "Disabled", default_scale_up().policies)
    c = HPAController(spec(up=up, down=default_scale_down()))
    assert run(c, 3, [50, 50]) == [3, 3]


def test_scale_up_policy_period_counts_earlier_scale_ups():
    # Pods: 2 per 60 s. Each sync at 15 s: +2, then nothing until the event leaves the period.
    up = ScalingRules(0, "Max", (ScalingPolicy("Pods", 2, 60),))
    c = HPAController(spec(up=up, down=default_scale_down()))
    assert run(c, 1, [20] * 6) == [3, 3, 3, 3, 5, 5]


def test_default_scale_down_waits_300s_stabilization_then_drops_to_the_proposal():
    c = HPAController(spec(up=default_scale_up(), down=default_scale_down()))
    result = run(c, 10, [2] * 22)  # t = 0 .. 315
    # the initial recommendation (10 at t=0) holds while it is inside (now-300, now]
    assert result[:20] == [10] * 20 and result[20] == 2


def test_seed_scale_down_policy_halves_per_60s():
    hpa = parse_hpa(list(yaml.safe_load_all((DATA / "user-service.yaml").read_text()))[1])
    c = HPAController(hpa)
    # start at 8, proposals of 1: the stabilization window holds 8 for 300 s, then 4, then 2 (= min)
    result = run(c, 8, [1] * 33)  # t = 0 .. 480
    assert result[19] == 8  # t=285: the initial 8 still in the window
    assert result[20] == 4  # t=300: int(8 * 0.5)
    assert result[23] == 4  # t=345: the 300 s event is inside (now-60, now]
    assert result[24] == 2  # t=360: period clear -> int(4 * 0.5) = 2 = minReplicas
    assert result[-1] == 2


def test_percent_scale_down_truncates():
    down = ScalingRules(0, "Max", (ScalingPolicy("Percent", 50, 60),))
    c = HPAController(spec(up=default_scale_up(), down=down))
    assert run(c, 5, [1]) == [2]  # int(5 * 0.5) = 2


def test_scale_down_select_min_keeps_more_pods():
    down = ScalingRules(0, "Min", (ScalingPolicy("Pods", 1, 60), ScalingPolicy("Percent", 50, 60)))
    c = HPAController(spec(up=default_scale_up(), down=down))
    assert run(c, 10, [1]) == [9]
    c = HPAController(spec(up=default_scale_up(), down=ScalingRules(0, "Max", down.policies)))
    assert run(c, 10, [1]) == [5]


def test_scale_up_stabilization_window_uses_lowest_recent_recommendation():
    up = ScalingRules(60, "Max", (ScalingPolicy("Percent", 1000, 15),))
    c = HPAController(spec(up=up, down=ScalingRules(0, "Max", (ScalingPolicy("Percent", 100, 15),))))
    # initial recommendation 2 at t=0 holds scale-up until it leaves the 60 s window
    assert run(c, 2, [6, 6, 6, 6, 6]) == [2, 2, 2, 2, 6]


def test_scale_down_stabilization_takes_highest_recommendation_in_window():
    down = ScalingRules(60, "Max", (ScalingPolicy("Percent", 100, 15),))
    c = HPAController(spec(up=default_scale_up(), down=down))
    out = run(c, 6, [4, 3, 5, 2, 2, 2, 2, 2])
    # t=0..45: the initial 6 is in the window; t=60,75: the 5 from t=30; t=90: only 2s left
    assert out == [6, 6, 6, 6, 5, 5, 2, 2]


# ---- no behavior: the legacy path ---------------------------------------------------------


def test_legacy_scale_up_limit_is_max_of_double_and_4():
    c = HPAController(spec())
    assert run(c, 1, [100, 100, 100, 100]) == [4, 8, 16, 32]


def test_legacy_downscale_stabilization_is_5_minutes():
    c = HPAController(spec())
    out = run(c, 5, [1] * 22)
    assert out[20] == 5 and out[21] == 1


def test_legacy_clamps_to_min_and_max():
    c = HPAController(spec(min_r=2, max_r=6))
    assert run(c, 4, [50]) == [6]
    c = HPAController(spec(min_r=2, max_r=6))
    assert run(c, 2, [0]) == [2]


def test_out_of_range_current_replicas_go_straight_to_the_bound_and_zero_disables():
    c = HPAController(spec(min_r=2, max_r=6))
    assert c.reconcile(9, 9, 0)[0] == 6
    assert c.reconcile(1, None, 15)[0] == 2
    assert c.reconcile(0, 5, 30) == (0, "scaling disabled (target has 0 replicas)")


def test_failed_metrics_keep_the_current_count():
    c = HPAController(spec())
    assert c.reconcile(3, None, 0)[0] == 3


# ---- the whole simulation on the seed's HPAs ----------------------------------------------


def _profile():
    return parse_load_profile(yaml.safe_load((DATA / "spike.yaml").read_text()))


def test_seed_user_service_hpa_follows_percent_100_per_30s_and_memory_floor():
    hpa, deploy = find_objects(load_documents(DATA / "user-service.yaml"))
    result = simulate(hpa, deploy, _profile())
    reps = {s.t: s.replicas for s in result.steps}
    assert reps[585] == 2
    assert reps[600] == 4  # 2 -> 4: +100 % within 30 s
    assert reps[615] == 4  # the 600 s event still counts
    assert reps[630] == 8  # next period: doubled again, capped by maxReplicas 8
    # after the spike, 300 s scale-down stabilization; the memory metric (60Mi / 128Mi = 46 % of an
    # 80 % target) then holds 5 replicas: ceil(46/80 * 8) = 5
    assert reps[2070] == 8 and reps[2085] == 5
    assert min(result.replicas) == 2 and max(result.replicas) == 8
    assert result.summary()["atMaxSteps"] > 0


def test_seed_product_service_hpa_uses_the_legacy_path():
    hpa, deploy = find_objects(load_documents(DATA / "product-service.yaml"))
    assert not hpa.has_behavior
    result = simulate(hpa, deploy, _profile())
    reps = {s.t: s.replicas for s in result.steps}
    assert reps[300] == 3 and reps[315] == 2  # legacy 5-minute downscale stabilization
    assert (reps[600], reps[615], reps[630]) == (4, 8, 10)  # max(2x, 4) per sync, then maxReplicas


def test_simulation_cost_is_replicas_times_pod_price():
    hpa, deploy = find_objects(load_documents(DATA / "order-service.yaml"))
    result = simulate(hpa, deploy, _profile())
    pod_hour = 0.1 * 0.031611 + 0.125 * 0.004237
    expected = sum(s.replicas for s in result.steps) * pod_hour * 15 / 3600
    assert abs(result.total_cost - expected) < 1e-12
    assert result.to_json(every=10)["summary"]["steps"] == len(result.steps)


def test_settled_shortcut_gives_identical_timelines():
    import math
    import random

    rng = random.Random(5)
    points = [{"t": i * 60, "load": round(0.4 + 0.35 * math.sin(i / 30) + rng.random() * 0.3, 3)} for i in range(361)]
    doc = {"points": points, "usage": {"cpu": {"base": "5m", "perUnit": 1}, "memory": {"base": "70Mi", "perUnit": "20Mi"}},
           "pods": {"startupSeconds": 20}}
    profile = parse_load_profile(doc)
    for name in ("user-service", "product-service", "order-service"):
        hpa, deploy = find_objects(load_documents(DATA / f"{name}.yaml"))
        fast = simulate(hpa, deploy, profile)
        slow = simulate(hpa, deploy, profile, fast=False)
        assert [(s.replicas, s.desired, s.readings) for s in fast.steps] == \
               [(s.replicas, s.desired, s.readings) for s in slow.steps]
        assert fast.summary()["scaleEvents"] > 2


def test_documented_scale_down_example_80_to_10():
    # kubernetes.io HPA docs: Pods 4 / 60 s and Percent 10 / 60 s (Max change). From 80 replicas,
    # the first step removes 8; at 72, 10 % is 7.2 and 8 pods go again (the remaining count is truncated);
    # below 40 replicas the Pods policy removes more.
    down = ScalingRules(0, "Max", (ScalingPolicy("Pods", 4, 60), ScalingPolicy("Percent", 10, 60)))
    c = HPAController(spec(min_r=1, up=default_scale_up(), down=down))
    out = run(c, 80, [10] * 5, step=60)
    assert out == [72, 64, 57, 51, 45]
    c = HPAController(spec(min_r=1, up=default_scale_up(), down=down))
    assert run(c, 30, [10], step=60) == [26]


def test_documented_disabled_scale_down():
    c = HPAController(spec(up=default_scale_up(), down=ScalingRules(0, "Disabled", default_scale_down().policies)))
    assert run(c, 8, [1, 1, 1]) == [8, 8, 8]


def test_quiet_fast_forward_gives_identical_timelines_on_step_loads():
    # Long constant stretches (10 min per point) let the simulator fast-forward quiet periods.
    loads = [0.2, 0.2, 1.1, 1.1, 1.1, 0.6, 0.05, 0.05, 0.05, 0.9, 0.3, 0.3, 0.3, 0.3]
    doc = {"points": [{"t": i * 600, "load": v} for i, v in enumerate(loads)],
           "usage": {"cpu": {"base": "5m", "perUnit": 1}, "memory": {"base": "60Mi", "perUnit": "8Mi"}}}
    profile = parse_load_profile(doc)
    for name in ("user-service", "product-service", "order-service"):
        hpa, deploy = find_objects(load_documents(DATA / f"{name}.yaml"))
        fast = simulate(hpa, deploy, profile)
        slow = simulate(hpa, deploy, profile, fast=False)
        assert [(s.t, s.replicas, s.desired, s.readings, s.reason) for s in fast.steps] == \
               [(s.t, s.replicas, s.desired, s.readings, s.reason) for s in slow.steps]
        assert fast.total_cost == pytest.approx(slow.total_cost)


def test_stop_above_max_ends_at_the_first_overflowing_proposal():
    hpa, deploy = find_objects(load_documents(DATA / "order-service.yaml"))
    full = simulate(hpa, deploy, _profile())
    first = next(i for i, s in enumerate(full.steps) if s.desired is not None and s.desired > hpa.max_replicas)
    stopped = simulate(hpa, deploy, _profile(), stop_above_max=True)
    assert not stopped.complete and len(stopped.steps) == first + 1
    assert full.complete and [s.replicas for s in stopped.steps] == full.replicas[: first + 1]
