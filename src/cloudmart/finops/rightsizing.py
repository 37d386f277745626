"""Container request right-sizing (Kubecost requestSizingV2-compatible), aware of HPAs.

Per container spec (namespace, controller, container):
- CPU: a usage statistic (quantile `qCPU`, default p95, or max) ÷ `targetCPUUtilization`;
- memory: max working set (or a quantile) × (1 + buffer) ÷ `targetRAMUtilization`;
- floors `minRecCPUMillicores` / `minRecRAMBytes`; CPU rounded up to 1m, memory to 1 MiB;
- monthly savings = (latest request − recommendation) × price × 730 h × average replicas.

A workload whose HPA scales on CPU or memory utilization is different: its request sets the
utilization the HPA sees, so a smaller request means more replicas, not a cheaper pod. For those
the HPA is replayed (cloudmart.finops.hpa) over the workload's usage history for candidate CPU
requests, and the candidate with the lowest simulated cost that keeps every metric proposal
within maxReplicas is recommended, with its projected replica range.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cloudmart.finops.hpa import (
    ControllerConfig,
    HPASpec,
    LoadProfile,
    MetricTarget,
    PodLifecycle,
    Prices,
    UsageModel,
    simulate,
)
from cloudmart.finops.manifests import Container, Workload, format_cpu, format_memory

HOURS_PER_MONTH = 730
MIB = 2**20
GIB = 2**30
NOT_POD = 'container!="",container!="POD"'


class ParameterError(ValueError):
    """A request parameter is invalid; `parameter` names it."""

    def __init__(self, parameter: str, message: str) -> None:
        self.parameter = parameter
        super().__init__(f"{parameter}: {message}")


@dataclass(frozen=True)
class SizingParams:
    algorithm_cpu: str = "quantile"
    algorithm_ram: str = "max"
    q_cpu: float = 0.95
    q_ram: float = 0.95
    target_cpu: float = 0.7
    target_ram: float = 1.0
    ram_buffer: float = 0.15
    min_cpu_millicores: float = 10.0
    min_ram_bytes: float = 20 * MIB
    min_points: int = 1


def _float(params: dict, name: str, default: float, lo: float, hi: float | None, lo_open: bool = False) -> float:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError) as exc:
        raise ParameterError(name, f"must be a number, got {raw!r}") from exc
    if not math.isfinite(value) or (value <= lo if lo_open else value < lo) or (hi is not None and value > hi):
        bound = f"({lo:g}, {hi:g}]" if lo_open and hi is not None else (f">= {lo:g}" if hi is None else f"[{lo:g}, {hi:g}]")
        raise ParameterError(name, f"must be in {bound}, got {raw!r}")
    return value


def parse_params(params: dict) -> SizingParams:
    """Query parameters (Kubecost names) → SizingParams; bad values raise ParameterError."""
    algo_cpu = params.get("algorithmCPU") or "quantile"
    algo_ram = params.get("algorithmRAM") or "max"
    for name, value in (("algorithmCPU", algo_cpu), ("algorithmRAM", algo_ram)):
        if value not in ("max", "quantile"):
            raise ParameterError(name, f"must be max or quantile, got {value!r}")
    return SizingParams(
        algorithm_cpu=algo_cpu,
        algorithm_ram=algo_ram,
        q_cpu=_float(params, "qCPU", 0.95, 0.0, 1.0, lo_open=True),
        q_ram=_float(params, "qRAM", 0.95, 0.0, 1.0, lo_open=True),
        target_cpu=_float(params, "targetCPUUtilization", 0.7, 0.0, 1.0, lo_open=True),
        target_ram=_float(params, "targetRAMUtilization", 1.0, 0.0, 1.0, lo_open=True),
        ram_buffer=_float(params, "ramBuffer", 0.15, 0.0, 10.0),
        min_cpu_millicores=_float(params, "minRecCPUMillicores", 10.0, 0.0, None),
        min_ram_bytes=_float(params, "minRecRAMBytes", 20 * MIB, 0.0, None),
        min_points=int(_float(params, "minPoints", 1, 1, None)),
    )


# --------------------------------------------------------------------------- usage history


@dataclass
class ContainerUsage:
    """One container spec's history over the window, across all its pods."""

    namespace: str
    controller_kind: str
    controller: str
    container: str
    cpu: list[np.ndarray] = field(default_factory=list)  # cores, one array per pod (aligned to grid)
    memory: list[np.ndarray] = field(default_factory=list)  # bytes, one array per pod
    request_cpu: float | None = None  # cores (latest known)
    request_memory: float | None = None  # bytes
    request_ts: float = -1.0

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.namespace, self.controller_kind, self.controller, self.container)


@dataclass
class History:
    start: float
    end: float
    step: float
    grid: np.ndarray
    containers: dict[tuple[str, str, str, str], ContainerUsage]
    hpas: dict[tuple[str, str, str], HPASpec]  # (namespace, kind, name) → HPA
    prometheus_seconds: float = 0.0
    queries: int = 0


def _owner_maps(pod_owner, rs_owner):
    rs = {}
    for s in rs_owner:
        lb = s.labels
        if lb.get("owner_kind") and lb.get("owner_name") and lb.get("owner_kind") != "<none>":
            rs[(lb.get("namespace", ""), lb.get("replicaset", ""))] = (lb["owner_kind"], lb["owner_name"])
    pods = {}
    for s in pod_owner:
        lb = s.labels
        kind, name = lb.get("owner_kind", ""), lb.get("owner_name", "")
        ns = lb.get("namespace", "")
        if kind == "ReplicaSet" and (ns, name) in rs:
            kind, name = rs[(ns, name)]
        if kind and name and kind != "<none>":
            pods[(ns, lb.get("pod", ""))] = (kind, name)
    return pods


def _align(series, grid: np.ndarray, step: float) -> np.ndarray:
    out = np.full(len(grid), np.nan)
    idx = np.rint((series.timestamps - grid[0]) / step).astype(np.int64)
    ok = (idx >= 0) & (idx < len(grid))
    out[idx[ok]] = series.values[ok]
    return out


def hpas_from_ksm(info, minimum, maximum, targets) -> dict[tuple[str, str, str], HPASpec]:
    """HPAs as kube-state-metrics describes them (no `behavior`: the legacy path applies).

    The scale target comes from `kube_horizontalpodautoscaler_info`; without it, the
    `<deployment>-hpa` naming convention (the lab's) names the Deployment.
    """
    def by_hpa(series):
        return {(s.labels.get("namespace", ""), s.labels.get("horizontalpodautoscaler", "")): s for s in series}

    mins, maxs, infos = by_hpa(minimum), by_hpa(maximum), by_hpa(info)
    metric_targets: dict[tuple[str, str], list[MetricTarget]] = defaultdict(list)
    for s in targets:
        lb = s.labels
        if lb.get("metric_name") in ("cpu", "memory") and lb.get("metric_target_type") == "utilization":
            metric_targets[(lb.get("namespace", ""), lb.get("horizontalpodautoscaler", ""))].append(
                MetricTarget(lb["metric_name"], "Utilization", int(round(s.value))))
    out = {}
    for key, max_series in maxs.items():
        if not metric_targets.get(key):
            continue
        if key in infos:
            lb = infos[key].labels
            kind, name = lb.get("scaletargetref_kind", "Deployment"), lb.get("scaletargetref_name", "")
        elif key[1].endswith("-hpa"):
            kind, name = "Deployment", key[1][: -len("-hpa")]
        else:
            continue
        out[(key[0], kind, name)] = HPASpec(
            name=key[1], namespace=key[0], target_kind=kind, target_name=name,
            min_replicas=int(mins[key].value) if key in mins else 1, max_replicas=int(max_series.value),
            metrics=tuple(sorted(metric_targets[key], key=lambda m: m.resource)), scale_up=None, scale_down=None)
    return out


async def fetch_history(client: Any, start: float, end: float, step: float | None = None) -> History:
    """Per-container usage and requests, pod ownership and HPAs over [start, end] from Prometheus."""
    import asyncio

    seconds = end - start
    step = step or max(60.0, math.ceil(seconds / 4000 / 60) * 60)
    end = end - (end % step)
    start = end - math.floor(seconds / step) * step
    t0 = time.perf_counter()
    stats_before = getattr(getattr(client, "stats", None), "seconds", 0.0)
    queries_before = getattr(getattr(client, "stats", None), "queries", 0)
    window = f"{int(seconds)}s"
    cpu_q = f"sum by (namespace, pod, container) (rate(container_cpu_usage_seconds_total{{{NOT_POD}}}[5m]))"
    mem_q = f"max by (namespace, pod, container) (container_memory_working_set_bytes{{{NOT_POD}}})"
    req_q = ('max by (namespace, pod, container, resource) '
             '(kube_pod_container_resource_requests{resource=~"cpu|memory"})')
    owner_q = f"max by (namespace, pod, owner_kind, owner_name) (max_over_time(kube_pod_owner[{window}]))"
    rs_q = f"max by (namespace, replicaset, owner_kind, owner_name) (max_over_time(kube_replicaset_owner[{window}]))"
    hpa_info_q = f"last_over_time(kube_horizontalpodautoscaler_info[{window}])"
    hpa_min_q = f"last_over_time(kube_horizontalpodautoscaler_spec_min_replicas[{window}])"
    hpa_max_q = f"last_over_time(kube_horizontalpodautoscaler_spec_max_replicas[{window}])"
    hpa_target_q = f"last_over_time(kube_horizontalpodautoscaler_spec_target_metric[{window}])"
    (cpu, mem, req, owners, rs, h_info, h_min, h_max, h_target) = await asyncio.gather(
        client.query_range(cpu_q, start, end, step),
        client.query_range(mem_q, start, end, step),
        client.query_range(req_q, start, end, step),
        client.query(owner_q, end),
        client.query(rs_q, end),
        client.query(hpa_info_q, end),
        client.query(hpa_min_q, end),
        client.query(hpa_max_q, end),
        client.query(hpa_target_q, end),
    )
    stats = getattr(client, "stats", None)
    waited = (stats.seconds - stats_before) if stats is not None else time.perf_counter() - t0
    queries = (stats.queries - queries_before) if stats is not None else 9
    owner = _owner_maps(owners, rs)
    grid = np.arange(start, end + step / 2, step)
    containers: dict[tuple, ContainerUsage] = {}

    def usage_for(labels) -> ContainerUsage | None:
        ns, pod, ctr = labels.get("namespace", ""), labels.get("pod", ""), labels.get("container", "")
        kind, name = owner.get((ns, pod), ("Pod", pod))
        key = (ns, kind, name, ctr)
        if key not in containers:
            containers[key] = ContainerUsage(ns, kind, name, ctr)
        return containers[key]

    for s in cpu:
        usage_for(s.labels).cpu.append(_align(s, grid, step))
    for s in mem:
        usage_for(s.labels).memory.append(_align(s, grid, step))
    for s in req:
        u = usage_for(s.labels)
        finite = np.isfinite(s.values)
        if not finite.any():
            continue
        last = int(np.nonzero(finite)[0][-1])
        ts = float(s.timestamps[last])
        if s.labels.get("resource") == "cpu":
            if ts >= u.request_ts or u.request_cpu is None:
                u.request_cpu = float(s.values[last])
        elif ts >= u.request_ts or u.request_memory is None:
            u.request_memory = float(s.values[last])
        u.request_ts = max(u.request_ts, ts)
    hpas = hpas_from_ksm(h_info, h_min, h_max, h_target)
    return History(start, end, step, grid, containers, hpas, waited, queries)


# --------------------------------------------------------------------------- recommendations


@dataclass
class Recommendation:
    namespace: str
    controller_kind: str
    controller: str
    container: str
    status: str  # "ok" | "noUsageHistory" | "hpa" | "hpaMaxReplicas"
    latest_cpu: float | None  # cores
    latest_memory: float | None  # bytes
    rec_cpu: float | None
    rec_memory: float | None
    savings_cpu: float
    savings_memory: float
    efficiency: dict[str, float]
    replicas_avg: float
    points: int
    hpa: dict | None = None
    message: str = ""

    @property
    def total_savings(self) -> float:
        return self.savings_cpu + self.savings_memory

    def to_json(self, cluster: str) -> dict:
        def cpu(v):
            return None if v is None else format_cpu(v * 1000)

        def mem(v):
            return None if v is None else format_memory(v)

        return {
            "clusterID": cluster,
            "namespace": self.namespace,
            "controllerKind": self.controller_kind.lower(),
            "controllerName": self.controller,
            "containerName": self.container,
            "recommendedRequest": {"cpu": cpu(self.rec_cpu), "memory": mem(self.rec_memory)},
            "monthlySavings": {"cpu": round(self.savings_cpu, 5), "memory": round(self.savings_memory, 5),
                               "total": round(self.total_savings, 5)},
            "latestKnownRequest": {"cpu": cpu(self.latest_cpu), "memory": mem(self.latest_memory)},
            "currentEfficiency": {k: round(v, 5) for k, v in self.efficiency.items()},
            "averageReplicas": round(self.replicas_avg, 5),
            "usagePoints": self.points,
            "status": self.status,
            "message": self.message,
            "hpa": self.hpa,
        }


def _stat(values: np.ndarray, algorithm: str, q: float) -> float:
    if algorithm == "max":
        return float(values.max())
    return float(np.quantile(values, q, method="higher"))


def _ceil_cpu(cores: float) -> float:
    return math.ceil(round(cores * 1000, 6)) / 1000


def _ceil_mem(num_bytes: float) -> float:
    return math.ceil(round(num_bytes / MIB, 6)) * MIB


def _stack(arrays: list[np.ndarray], n: int) -> np.ndarray:
    return np.vstack(arrays) if arrays else np.full((0, n), np.nan)


def basic_recommendation(u: ContainerUsage, params: SizingParams, prices: Prices, n_grid: int) -> Recommendation:
    cpu = _stack(u.cpu, n_grid)
    mem = _stack(u.memory, n_grid)
    cpu_samples = cpu[np.isfinite(cpu)]
    mem_samples = mem[np.isfinite(mem)]
    running = np.isfinite(cpu) | (np.isfinite(mem) if mem.shape == cpu.shape else False)
    replicas_avg = float(running.sum(axis=0).mean()) if running.size else 0.0
    points = int(min(cpu_samples.size, mem_samples.size) if mem_samples.size else cpu_samples.size)
    base = dict(namespace=u.namespace, controller_kind=u.controller_kind, controller=u.controller,
                container=u.container, latest_cpu=u.request_cpu, latest_memory=u.request_memory,
                replicas_avg=replicas_avg, points=points)
    if cpu_samples.size < params.min_points or mem_samples.size < params.min_points:
        return Recommendation(**base, status="noUsageHistory", rec_cpu=None, rec_memory=None,
                              savings_cpu=0.0, savings_memory=0.0,
                              efficiency={"cpu": 0.0, "memory": 0.0, "total": 0.0},
                              message=f"{points} usage samples in the window (need {params.min_points}); "
                                      "no recommendation")
    rec_cpu = _ceil_cpu(max(_stat(cpu_samples, params.algorithm_cpu, params.q_cpu) / params.target_cpu,
                            params.min_cpu_millicores / 1000))
    rec_mem = _ceil_mem(max(_stat(mem_samples, params.algorithm_ram, params.q_ram) * (1 + params.ram_buffer)
                            / params.target_ram, params.min_ram_bytes))
    hours = HOURS_PER_MONTH * replicas_avg
    savings_cpu = ((u.request_cpu - rec_cpu) * prices.cpu_core_hour * hours) if u.request_cpu is not None else 0.0
    savings_mem = ((u.request_memory - rec_mem) / GIB * prices.ram_gib_hour * hours) if u.request_memory is not None else 0.0
    eff_cpu = float(cpu_samples.mean() / u.request_cpu) if u.request_cpu else (1.0 if cpu_samples.mean() > 0 else 0.0)
    eff_mem = float(mem_samples.mean() / u.request_memory) if u.request_memory else (1.0 if mem_samples.mean() > 0 else 0.0)
    cost_cpu = (u.request_cpu or 0.0) * prices.cpu_core_hour
    cost_mem = (u.request_memory or 0.0) / GIB * prices.ram_gib_hour
    total = (eff_cpu * cost_cpu + eff_mem * cost_mem) / (cost_cpu + cost_mem) if cost_cpu + cost_mem else 0.0
    return Recommendation(**base, status="ok", rec_cpu=rec_cpu, rec_memory=rec_mem, savings_cpu=savings_cpu,
                          savings_memory=savings_mem, efficiency={"cpu": eff_cpu, "memory": eff_mem, "total": total})


def _hpa_profile(history: History, members: list[ContainerUsage]) -> tuple[LoadProfile, float] | None:
    """Load = total CPU of the workload's pods per step; memory per pod = its max working set."""
    n = len(history.grid)
    total = np.zeros(n)
    any_sample = np.zeros(n, dtype=bool)
    for u in members:
        for arr in u.cpu:
            ok = np.isfinite(arr)
            total[ok] += arr[ok]
            any_sample |= ok
    if not any_sample.any():
        return None
    per_pod_mem = 0.0
    for u in members:
        mem = _stack(u.memory, n)
        if np.isfinite(mem).any():
            per_pod_mem += float(np.nanmax(mem))
    first = int(np.argmax(any_sample))
    times = tuple(float(t - history.grid[first]) for t in history.grid[first:])
    loads = tuple(float(v) for v in total[first:])
    usage = {"cpu": UsageModel(0, 1000.0), "memory": UsageModel(int(per_pod_mem * 1000), 0.0)}
    return LoadProfile(times, loads, usage, times[-1], PodLifecycle()), per_pod_mem


def hpa_recommendation(history: History, hpa: HPASpec, members: list[Recommendation],
                       usages: list[ContainerUsage], params: SizingParams, prices: Prices,
                       config: ControllerConfig | None = None) -> None:
    """Pick the CPU (and, for memory HPAs, memory) request that minimizes the simulated cost while
    no metric proposal exceeds maxReplicas; updates `members` in place."""
    config = config or ControllerConfig()
    built = _hpa_profile(history, usages)
    if built is None:
        for r in members:
            r.status, r.message = "noUsageHistory", "no CPU usage history for the HPA's pods"
        return
    profile, per_pod_mem = built
    util = {m.resource: m.value / 100 for m in hpa.metrics if m.type == "Utilization"}
    # Fixed per-container memory: the basic recommendation, raised so a memory HPA stays below target.
    mem_total_rec = sum((r.rec_memory or r.latest_memory or 0.0) for r in members)
    if "memory" in util and mem_total_rec and per_pod_mem / mem_total_rec > util["memory"] * (1 - config.tolerance):
        factor = per_pod_mem / (util["memory"] * (1 - config.tolerance)) / mem_total_rec
        for r in members:
            if r.rec_memory is not None:
                r.rec_memory = _ceil_mem(r.rec_memory * factor)
        mem_total_rec = sum((r.rec_memory or r.latest_memory or 0.0) for r in members)

    def workload(cpu_total: float, mem_total: float) -> Workload:
        return Workload(hpa.target_kind, hpa.target_name, hpa.namespace, hpa.min_replicas,
                        [Container("pod", {"cpu": int(round(cpu_total * 1000)), "memory": int(mem_total * 1000)}, {})])

    def run(cpu_total: float, mem_total: float):
        return simulate(hpa, workload(cpu_total, mem_total), profile, config, prices).summary()

    current_cpu = sum(r.latest_cpu or 0.0 for r in members)
    current_mem = sum(r.latest_memory or 0.0 for r in members)
    baseline = run(current_cpu, current_mem) if current_cpu > 0 else None
    # Other containers keep their basic CPU recommendation; the candidates vary the pod total.
    floor = sum(r.rec_cpu or 0.0 for r in members)
    peak = max(profile.loads) if profile.loads else 0.0
    target = util.get("cpu", 0.7)
    needed = peak / (hpa.max_replicas * target) if peak else 0.0  # smallest request keeping ≤ max replicas
    raw = {needed * f for f in (1.0, 1.1, 1.25, 1.5, 2.0)} | {floor, current_cpu}
    candidates = sorted({max(_ceil_cpu(c), params.min_cpu_millicores / 1000 * len(members)) for c in raw if c > 0})
    best = None
    for c in candidates:
        summary = run(c, mem_total_rec)
        feasible = summary["atMaxSteps"] == 0
        rank = (not feasible, summary["monthlyCost"] if feasible else summary["atMaxSteps"], c)
        if best is None or rank < best[0]:
            best = (rank, c, summary)
    _, chosen, summary = best
    scale = chosen / floor if floor else 1.0
    for r in members:
        if r.rec_cpu is not None:
            r.rec_cpu = _ceil_cpu(r.rec_cpu * scale) if len(members) > 1 else chosen
    feasible = summary["atMaxSteps"] == 0
    current_monthly = baseline["monthlyCost"] if baseline else 0.0
    saving = current_monthly - summary["monthlyCost"] if baseline else 0.0
    # Split the saving by each resource's share of the cost change.
    d_cpu = (current_cpu * (baseline["avgReplicas"] if baseline else 0) - chosen * summary["avgReplicas"]) * prices.cpu_core_hour
    d_mem = (current_mem * (baseline["avgReplicas"] if baseline else 0) - mem_total_rec * summary["avgReplicas"]) / GIB * prices.ram_gib_hour
    for r in members:
        share = 1 / len(members)
        r.savings_cpu = d_cpu * HOURS_PER_MONTH * share
        r.savings_memory = d_mem * HOURS_PER_MONTH * share
        r.status = "hpa" if feasible else "hpaMaxReplicas"
        r.message = ("simulated the HPA over the usage history for "
                     f"{len(candidates)} candidate requests" if feasible else
                     f"no candidate keeps the HPA within maxReplicas={hpa.max_replicas}; least-overflow choice")
        r.hpa = {
            "name": hpa.name,
            "metrics": {m.resource: m.value for m in hpa.metrics},
            "minReplicas": hpa.min_replicas,
            "maxReplicas": hpa.max_replicas,
            "projectedReplicas": {"min": summary["minReplicas"], "max": summary["maxReplicas"],
                                  "avg": summary["avgReplicas"]},
            "currentReplicas": None if baseline is None else {"min": baseline["minReplicas"], "max": baseline["maxReplicas"],
                                                              "avg": baseline["avgReplicas"]},
            "projectedMonthlyCost": summary["monthlyCost"],
            "currentMonthlyCost": current_monthly if baseline else None,
            "stepsAboveMaxReplicas": summary["atMaxSteps"],
            "monthlySavings": round(saving, 5),
        }


def recommend(history: History, params: SizingParams, prices: Prices, *, filter_node=None,
              hpas: dict[tuple[str, str, str], HPASpec] | None = None, cluster: str = "cluster-one",
              config: ControllerConfig | None = None) -> list[Recommendation]:
    """Recommendations for every container in the history that passes the filter."""
    from cloudmart.finops.filters import matches

    all_hpas = dict(history.hpas)
    all_hpas.update(hpas or {})
    n = len(history.grid)
    recs: list[Recommendation] = []
    groups: dict[tuple[str, str, str], list[tuple[Recommendation, ContainerUsage]]] = defaultdict(list)
    for key, u in sorted(history.containers.items()):
        props = {"cluster": cluster, "namespace": u.namespace, "controllerKind": u.controller_kind.lower(),
                 "controller": u.controller, "container": u.container}
        if filter_node is not None and not matches(filter_node, props):
            continue
        r = basic_recommendation(u, params, prices, n)
        recs.append(r)
        groups[(u.namespace, u.controller_kind, u.controller)].append((r, u))
    for wkey, items in groups.items():
        hpa = all_hpas.get(wkey)
        if hpa is None or not any(m.type == "Utilization" and m.resource in ("cpu", "memory") for m in hpa.metrics):
            continue
        members = [r for r, _ in items if r.status == "ok"]
        if not members:
            continue
        hpa_recommendation(history, hpa, members, [u for r, u in items if r.status == "ok"], params, prices, config)
    return recs


def sort_recommendations(recs: list[Recommendation], sort_by: str = "totalSavings", order: str = "descending") -> list[Recommendation]:
    keys = {
        "totalSavings": lambda r: r.total_savings,
        "currentEfficiency": lambda r: r.efficiency.get("total", 0.0),
        "cpuRecommended": lambda r: r.rec_cpu or 0.0,
        "cpuLatest": lambda r: r.latest_cpu or 0.0,
        "memoryRecommended": lambda r: r.rec_memory or 0.0,
        "memoryLatest": lambda r: r.latest_memory or 0.0,
    }
    if sort_by not in keys:
        raise ParameterError("sortBy", f"must be one of {', '.join(keys)}, got {sort_by!r}")
    if order not in ("descending", "ascending"):
        raise ParameterError("sortByOrder", f"must be descending or ascending, got {order!r}")
    return sorted(recs, key=keys[sort_by], reverse=order == "descending")
