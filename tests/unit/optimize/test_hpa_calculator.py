"""The replica calculator, case by case from the controller's documented behaviour
(pkg/controller/podautoscaler/replica_calculator.go and its tests)."""

import pytest

from cloudmart.finops.hpa import (
    ControllerConfig,
    HPASpec,
    MetricError,
    MetricTarget,
    PodView,
    group_pods,
    replicas_for_metric,
    replicas_for_metrics,
)

NOW = 10_000.0
CFG = ControllerConfig()


def pod(name, usage=None, request=1000, ready=True, phase="Running", started=NOW - 3600,
        ready_since=None, resource="cpu", metric_ts=NOW, window=30.0, deleting=False):
    metrics = {} if usage is None else {resource: (usage, metric_ts, window)}
    return PodView(
        name=name, phase=phase, requests={resource: request}, start_time=started if phase != "Pending" else None,
        ready=ready if phase != "Pending" else None,
        ready_transition=(ready_since if ready_since is not None else started), metrics=metrics,
        deleting=deleting)


def cpu(target):
    return MetricTarget("cpu", "Utilization", target)


def test_scale_up_is_ceil_of_ratio_times_ready_pods():
    pods = [pod("a", 300), pod("b", 500), pod("c", 700)]
    # utilization 1500/3000 = 50 %, target 30 % -> ceil(50/30 * 3) = 5
    assert replicas_for_metric(cpu(30), 3, pods, NOW, CFG) == (5, 50)


def test_scale_down_uses_integer_percent():
    pods = [pod(n, u) for n, u in zip("abcde", (100, 300, 500, 250, 250), strict=True)]
    # 1400*100 // 5000 = 28 (integer), ratio 28/50 = 0.56 -> ceil(2.8) = 3
    assert replicas_for_metric(cpu(50), 5, pods, NOW, CFG) == (3, 28)


def test_within_tolerance_keeps_current_replicas():
    pods = [pod("a", 1010, 900), pod("b", 1030, 1000), pod("c", 1020, 1100)]
    assert replicas_for_metric(cpu(100), 3, pods, NOW, CFG) == (3, 102)


def test_just_outside_tolerance_scales():
    pods = [pod("a", 1110), pod("b", 1110)]  # 111 % of a 100 % target: |1 - 1.11| > 0.1
    assert replicas_for_metric(cpu(100), 2, pods, NOW, CFG) == (3, 111)


def test_unready_pods_count_as_zero_on_scale_up():
    pods = [pod("a", 300, ready=False, started=NOW - 60), pod("b", 500), pod("c", 700)]
    # ready: 1200/2000 = 60 % vs 30 %; with the unready pod at 0: 1200/3000 = 40 % -> ceil(1.333*3) = 4
    assert replicas_for_metric(cpu(30), 3, pods, NOW, CFG) == (4, 60)


def test_unready_pods_cancel_a_scale_up_that_would_flip_to_down():
    pods = [pod("a", 400), pod("b", 500, ready=False, started=NOW - 60),
            pod("c", 700, ready=False, started=NOW - 60)]
    # ready: 40 % vs 30 % -> up; counting unready at 0: 400/3000 = 13 % -> down: cancelled
    assert replicas_for_metric(cpu(30), 3, pods, NOW, CFG) == (3, 40)


def test_missing_pods_count_as_full_request_on_scale_down():
    pods = [pod("a", 100), pod("b", 100), pod("c", 100), pod("d")]
    # 300/3000 = 10 % vs 50 %; missing pod at max(100, 50) % of 1000: 1300/4000 = 32 % -> ceil(0.64*4) = 3
    assert replicas_for_metric(cpu(50), 4, pods, NOW, CFG) == (3, 10)


def test_missing_pods_use_the_target_when_it_is_above_100_percent():
    pods = [pod("a", 100), pod("b")]
    # 10 % vs 150 % target; missing pod at 150 % -> (100 + 1500) / 2000 = 80 % -> ceil(0.533*2) = 2 = current
    assert replicas_for_metric(cpu(150), 2, pods, NOW, CFG) == (2, 10)


def test_missing_pods_count_as_zero_on_scale_up():
    pods = [pod("a", 1000), pod("b", 1000), pod("c", 1000), pod("d")]
    # 100 % vs 50 %; missing at 0: 3000/4000 = 75 % -> ceil(1.5 * 4) = 6
    assert replicas_for_metric(cpu(50), 4, pods, NOW, CFG) == (6, 100)


def test_missing_pods_cancel_a_scale_down_that_would_flip_to_up():
    pods = [pod("a", 400), pod("b")]
    # 40 % vs 50 % -> down; missing at 100 %: 1400/2000 = 70 % -> up: cancelled
    assert replicas_for_metric(cpu(50), 2, pods, NOW, CFG) == (2, 40)


def test_missing_pods_on_scale_up_can_flip_to_down_and_cancel():
    pods = [pod("a", 1000), pod("b", 1000), pod("c")]
    # 100 % vs 80 % -> up; missing at 0: 2000/3000 = 66 % -> down: cancelled
    assert replicas_for_metric(cpu(80), 3, pods, NOW, CFG) == (3, 100)


def test_pending_pods_are_unready_and_failed_or_deleted_pods_ignored():
    pods = [pod("a", 900), pod("p", phase="Pending"), pod("f", 50, phase="Failed"),
            pod("d", 50, deleting=True)]
    ready, unready, missing, ignored = group_pods(pods, "cpu", NOW, CFG)
    assert (ready, unready, missing, ignored) == (1, {"p"}, set(), {"f", "d"})
    # 90 % vs 50 %: up; the pending pod at 0: 900/2000 = 45 % -> flip -> keep 2
    assert replicas_for_metric(cpu(50), 2, pods[:2], NOW, CFG) == (2, 90)


def test_cpu_initialization_period_ignores_samples_taken_before_readiness_plus_window():
    fresh = pod("fresh", 800, started=NOW - 60, ready_since=NOW - 10)  # sample within 30 s window of readiness
    settled = pod("settled", 800, started=NOW - 60, ready_since=NOW - 31)
    ready, unready, _, _ = group_pods([fresh, settled], "cpu", NOW, CFG)
    assert ready == 1 and unready == {"fresh"}


def test_after_initialization_only_never_ready_pods_are_unready():
    never = pod("never", 800, ready=False, started=NOW - 600, ready_since=NOW - 600)
    flapped = pod("flapped", 800, ready=False, started=NOW - 600, ready_since=NOW - 100)
    ready, unready, _, _ = group_pods([never, flapped], "cpu", NOW, CFG)
    assert ready == 1 and unready == {"never"}


def test_initial_readiness_delay_is_measured_from_start():
    # Went unready 20 s after start (< 30 s delay): treated as never ready.
    early = pod("early", 800, ready=False, started=NOW - 600, ready_since=NOW - 580)
    _, unready, _, _ = group_pods([early], "cpu", NOW, CFG)
    assert unready == {"early"}


def test_memory_ignores_cpu_readiness_rules():
    pods = [pod("a", 900, ready=False, started=NOW - 10, resource="memory"),
            pod("b", 900, resource="memory")]
    ready, unready, _, _ = group_pods(pods, "memory", NOW, CFG)
    assert ready == 2 and not unready


def test_no_metrics_at_all_is_an_error():
    with pytest.raises(MetricError, match="did not receive metrics"):
        replicas_for_metric(cpu(50), 2, [pod("a"), pod("b")], NOW, CFG)


def test_average_value_target():
    target = MetricTarget("cpu", "AverageValue", 200)
    pods = [pod("a", 300), pod("b", 500)]
    # average 400m vs 200m -> ceil(2 * 2) = 4
    assert replicas_for_metric(target, 2, pods, NOW, CFG) == (4, 400)


def _hpa(*metrics, min_r=1, max_r=10):
    return HPASpec("h", "ns", "Deployment", "d", min_r, max_r, tuple(metrics), None, None)


def test_several_metrics_take_the_max():
    cpu_pods = [PodView(n, "Running", {"cpu": 1000, "memory": 1000}, NOW - 3600, True, NOW - 3600,
                        {"cpu": (u, NOW, 30.0), "memory": (m, NOW, 30.0)})
                for n, u, m in (("a", 900, 100), ("b", 900, 100))]
    hpa = _hpa(cpu(50), MetricTarget("memory", "Utilization", 50))
    desired, readings, _ = replicas_for_metrics(hpa, 2, cpu_pods, NOW, CFG)
    assert desired == 4 and readings == {"cpu/util": 90, "memory/util": 10}


def test_an_invalid_metric_blocks_scale_down_but_not_scale_up():
    pods = [PodView("a", "Running", {"cpu": 1000, "memory": 1000}, NOW - 3600, True, NOW - 3600,
                    {"cpu": (100, NOW, 30.0)})]
    hpa = _hpa(cpu(50), MetricTarget("memory", "Utilization", 50))
    assert replicas_for_metrics(hpa, 3, pods, NOW, CFG)[0] is None  # cpu says 1 < 3: blocked
    pods[0].metrics["cpu"] = (2000, NOW, 30.0)
    assert replicas_for_metrics(hpa, 1, pods, NOW, CFG)[0] == 4  # cpu says up: proceeds
