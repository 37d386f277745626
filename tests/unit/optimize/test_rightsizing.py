"""Right-sizing on hand-built usage histories (the Prometheus path is in tests/integration/optimize)."""

import math

import numpy as np
import pytest

from cloudmart.finops.hpa import HPASpec, MetricTarget, Prices
from cloudmart.finops.rightsizing import (
    ContainerUsage,
    History,
    ParameterError,
    SizingParams,
    basic_recommendation,
    parse_params,
    recommend,
    sort_recommendations,
    stats_from_samples,
)

MIB = 2**20
STEP = 60.0


def history(containers, hpas=None, n=10, load=None):
    h = History(0.0, (n - 1) * STEP, STEP, {u.key: u for u in containers}, hpas or {})
    if load is not None:
        h.hpa_load = {key: np.asarray(load, dtype=float) for key in h.hpas}
    return h


def usage(ns="shop", kind="Deployment", name="web", container="web", cpu=(), mem=(), req_cpu=0.5, req_mem=512 * MIB,
          params=SizingParams()):
    pods = {f"{name}-{i}": stats_from_samples(np.asarray(c, dtype=float), np.asarray(m, dtype=float), params)
            for i, (c, m) in enumerate(zip(cpu, mem, strict=True))}
    return ContainerUsage(ns, kind, name, container, pods, req_cpu, req_mem, 0.0)


def test_cpu_p95_over_target_and_memory_max_plus_buffer():
    cpu = np.linspace(0.0, 0.099, 100)  # p95, interpolated like Prometheus' quantile_over_time = 0.09405
    mem = np.full(100, 100 * MIB)
    mem[50] = 200 * MIB
    u = usage(cpu=[cpu], mem=[mem])
    r = basic_recommendation(u, SizingParams(), Prices(), 100)
    assert r.rec_cpu == pytest.approx(math.ceil(0.09405 / 0.7 * 1000) / 1000) == pytest.approx(0.135)
    assert r.rec_memory == math.ceil(200 * 1.15) * MIB
    assert r.status == "ok" and r.replicas_avg == 1.0
    hours = 730
    assert r.savings_cpu == pytest.approx((0.5 - r.rec_cpu) * 0.031611 * hours)
    assert r.savings_memory == pytest.approx((512 * MIB - r.rec_memory) / 2**30 * 0.004237 * hours)
    assert r.efficiency["cpu"] == pytest.approx(cpu.mean() / 0.5)


def test_max_algorithm_and_floors():
    params = SizingParams(algorithm_cpu="max")
    u = usage(cpu=[np.full(10, 0.001)], mem=[np.full(10, 1 * MIB)], params=params)
    r = basic_recommendation(u, params, Prices(), 10)
    assert r.rec_cpu == 0.010 and r.rec_memory == 20 * MIB  # 10m and 20Mi minimums


def test_replicas_are_averaged_over_the_window():
    a = np.full(10, 0.1)
    b = np.full(10, np.nan)
    b[5:] = 0.1
    u = usage(cpu=[a, b], mem=[np.full(10, MIB * 50), np.where(np.isnan(b), np.nan, MIB * 50)])
    r = basic_recommendation(u, SizingParams(), Prices(), 10)
    assert r.replicas_avg == pytest.approx(1.5)


def test_no_usage_history_is_reported_never_a_zero_recommendation():
    u = usage(cpu=[], mem=[])
    r = basic_recommendation(u, SizingParams(), Prices(), 10)
    assert r.status == "noUsageHistory" and r.rec_cpu is None and r.rec_memory is None
    j = r.to_json("c")
    assert j["recommendedRequest"] == {"cpu": None, "memory": None}
    assert j["monthlySavings"]["total"] == 0 and "no recommendation" in j["message"]


def test_min_points_threshold():
    u = usage(cpu=[np.full(5, 0.1)], mem=[np.full(5, MIB)])
    assert basic_recommendation(u, SizingParams(min_points=100), Prices(), 5).status == "noUsageHistory"


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"algorithmCPU": "median"}, "algorithmCPU"),
        ({"qCPU": "0"}, "qCPU"),
        ({"qRAM": "1.5"}, "qRAM"),
        ({"targetCPUUtilization": "abc"}, "targetCPUUtilization"),
        ({"targetRAMUtilization": "0"}, "targetRAMUtilization"),
        ({"minRecCPUMillicores": "-1"}, "minRecCPUMillicores"),
        ({"ramBuffer": "nan"}, "ramBuffer"),
    ],
)
def test_bad_parameters_name_the_parameter(params, name):
    with pytest.raises(ParameterError) as exc_info:
        parse_params(params)
    assert exc_info.value.parameter == name


def test_sorting_and_bad_sort_keys():
    us = [usage(name=f"w{i}", cpu=[np.full(10, 0.05 * (i + 1))], mem=[np.full(10, 50 * MIB)]) for i in range(3)]
    recs = recommend(history(us), SizingParams(), Prices())
    assert all(r.status == "ok" for r in recs)
    assert [r.controller for r in sort_recommendations(recs)] == ["w0", "w1", "w2"]
    assert [r.controller for r in sort_recommendations(recs, "cpuRecommended", "descending")] == ["w2", "w1", "w0"]
    with pytest.raises(ParameterError):
        sort_recommendations(recs, "price")
    with pytest.raises(ParameterError):
        sort_recommendations(recs, "totalSavings", "sideways")


def _hpa(max_replicas=10, target=70):
    return HPASpec("web-hpa", "shop", "Deployment", "web", 1, max_replicas,
                   (MetricTarget("cpu", "Utilization", target),), None, None)


def _hpa_history(hpa):
    # Two pods; total CPU demand rises from 0.2 to 1.4 cores over 3 hours and back.
    n = 360
    t = np.arange(n)
    total = 0.2 + 1.2 * np.sin(np.pi * t / n) ** 2
    per_pod = total / 2
    u = usage(cpu=[per_pod, per_pod], mem=[np.full(n, 100 * MIB)] * 2, req_cpu=0.5, req_mem=256 * MIB)
    return history([u], {("shop", "Deployment", "web"): hpa}, n=n, load=total), total


def test_hpa_workload_is_sized_by_simulation_within_max_replicas():
    hpa = _hpa(max_replicas=6)
    hist, total = _hpa_history(hpa)
    (r,) = recommend(hist, SizingParams(), Prices())
    assert r.status == "hpa" and r.hpa["stepsAboveMaxReplicas"] == 0
    assert r.hpa["metrics"] == [{"resource": "cpu", "type": "Utilization", "value": 70}]
    # the request must let 6 replicas at 70 % carry the peak: request >= peak / (6 * 0.7)
    assert r.rec_cpu >= total.max() / (6 * 0.7) - 1e-3
    assert r.rec_cpu < 0.5  # cheaper than the current 500m
    assert r.hpa["projectedMonthlyCost"] < r.hpa["currentMonthlyCost"]
    assert 1 <= r.hpa["projectedReplicas"]["min"] <= r.hpa["projectedReplicas"]["max"] <= 6
    assert r.total_savings == pytest.approx(r.hpa["monthlySavings"], abs=1e-4)


def test_a_tight_max_replicas_raises_the_request_where_plain_sizing_would_not():
    hpa = _hpa(max_replicas=1, target=10)  # one replica held at 10 % must carry the 1.4-core peak
    hist, total = _hpa_history(hpa)
    plain = recommend(history(list(hist.containers.values()), n=360), SizingParams(), Prices())[0]
    (r,) = recommend(hist, SizingParams(), Prices())
    assert r.status == "hpa" and r.hpa["stepsAboveMaxReplicas"] == 0
    assert r.rec_cpu >= total.max() / 0.1 - 1e-3 > plain.rec_cpu


def test_memory_hpa_keeps_memory_below_its_target():
    hpa = HPASpec("web-hpa", "shop", "Deployment", "web", 1, 6,
                  (MetricTarget("cpu", "Utilization", 70), MetricTarget("memory", "Utilization", 80)), None, None)
    hist, _ = _hpa_history(hpa)
    (r,) = recommend(hist, SizingParams(), Prices())
    # 100Mi working set must stay under 80 % (less the 10 % tolerance) of the request
    assert 100 * MIB / r.rec_memory <= 0.8 * 0.9 + 1e-9


def test_hpa_workload_without_a_load_series_is_reported_not_zeroed():
    hpa = _hpa()
    hist, _ = _hpa_history(hpa)
    hist.hpa_load = {}
    (r,) = recommend(hist, SizingParams(), Prices())
    assert r.status == "noUsageHistory" and r.rec_cpu > 0 and "no CPU usage history" in r.message


def test_worker_processes_give_identical_results():
    hists = [_hpa_history(_hpa(max_replicas=m)) for m in (4, 6)]
    containers, hpas, loads = {}, {}, {}
    for i, (h, _) in enumerate(hists):
        (u,) = h.containers.values()
        u.controller = f"web{i}"
        containers[u.key] = u
        key = ("shop", "Deployment", f"web{i}")
        hpas[key] = HPASpec(f"web{i}-hpa", "shop", "Deployment", f"web{i}", 1, 4 + 2 * i,
                            (MetricTarget("cpu", "Utilization", 70),), None, None)
        loads[key] = next(iter(h.hpa_load.values()))
    hist = History(0.0, 359 * STEP, STEP, containers, hpas, loads)
    one = [r.to_json("c") for r in recommend(hist, SizingParams(), Prices())]
    two = [r.to_json("c") for r in recommend(hist, SizingParams(), Prices(), workers=2)]
    assert one == two and all(r["status"] == "hpa" for r in one)


def test_an_hpa_that_no_request_keeps_within_max_replicas_is_flagged():
    # An AverageValue target does not move with the request: 1.4 cores at 100m per pod needs 14 pods.
    hpa = HPASpec("web-hpa", "shop", "Deployment", "web", 1, 4,
                  (MetricTarget("cpu", "Utilization", 70), MetricTarget("cpu", "AverageValue", 100)), None, None)
    hist, _ = _hpa_history(hpa)
    (r,) = recommend(hist, SizingParams(), Prices())
    assert r.status == "hpaMaxReplicas" and r.hpa["stepsAboveMaxReplicas"] > 0
    assert "maxReplicas=4" in r.message and r.rec_cpu > 0
    assert r.hpa["metrics"][1] == {"resource": "cpu", "type": "AverageValue", "value": "100m"}
