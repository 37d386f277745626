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
class PodStats:
    """One pod's usage of one container over the window, reduced inside Prometheus."""

    cpu_stat: float = math.nan  # cores: the CPU statistic (quantile or max over the window)
    cpu_avg: float = math.nan
    cpu_points: int = 0
    mem_stat: float = math.nan  # bytes: the memory statistic
    mem_avg: float = math.nan
    mem_points: int = 0


@dataclass
class ContainerUsage:
    """One container spec (namespace, controller, container) across all its pods."""

    namespace: str
    controller_kind: str
    controller: str
    container: str
    pods: dict[str, PodStats] = field(default_factory=dict)
    request_cpu: float | None = None  # cores (latest known)
    request_memory: float | None = None  # bytes
    request_ts: float = -math.inf

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.namespace, self.controller_kind, self.controller, self.container)


@dataclass
class History:
    start: float
    end: float
    step: float
    containers: dict[tuple[str, str, str, str], ContainerUsage]
    hpas: dict[tuple[str, str, str], HPASpec]  # (namespace, kind, name) → HPA
    hpa_load: dict[tuple[str, str, str], np.ndarray] = field(default_factory=dict)  # total cores per step
    prometheus_seconds: float = 0.0
    queries: int = 0

    @property
    def steps(self) -> int:
        return int(round((self.end - self.start) / self.step)) + 1


def stats_from_samples(cpu: np.ndarray, mem: np.ndarray, params: SizingParams) -> PodStats:
    """The reduction Prometheus performs, on local arrays (NaN = no sample); for tests and tools."""
    c, m = cpu[np.isfinite(cpu)], mem[np.isfinite(mem)]

    def stat(values, algorithm, q):
        if not values.size:
            return math.nan
        return float(values.max()) if algorithm == "max" else float(np.quantile(values, q))

    return PodStats(stat(c, params.algorithm_cpu, params.q_cpu), float(c.mean()) if c.size else math.nan, int(c.size),
                    stat(m, params.algorithm_ram, params.q_ram), float(m.mean()) if m.size else math.nan, int(m.size))


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


CPU_EXPR = f"sum by (namespace, pod, container) (rate(container_cpu_usage_seconds_total{{{NOT_POD}}}[5m]))"
MEM_EXPR = f"max by (namespace, pod, container) (container_memory_working_set_bytes{{{NOT_POD}}})"


def history_queries(window: int) -> dict[str, str]:
    """Instant queries (at the window's end) for requests, ownership and HPAs."""
    req = f'kube_pod_container_resource_requests{{resource=~"cpu|memory",{NOT_POD}}}'
    return {
        "req": f"max by (namespace, pod, container, resource) (last_over_time({req}[{window}s]))",
        "owner": f"max by (namespace, pod, owner_kind, owner_name) (max_over_time(kube_pod_owner[{window}s]))",
        "rs_owner": f"max by (namespace, replicaset, owner_kind, owner_name) (max_over_time(kube_replicaset_owner[{window}s]))",
        "hpa_info": f"last_over_time(kube_horizontalpodautoscaler_info[{window}s])",
        "hpa_min": f"last_over_time(kube_horizontalpodautoscaler_spec_min_replicas[{window}s])",
        "hpa_max": f"last_over_time(kube_horizontalpodautoscaler_spec_max_replicas[{window}s])",
        "hpa_target": f"last_over_time(kube_horizontalpodautoscaler_spec_target_metric[{window}s])",
    }


def _aligned(series, start: float, step: float, n: int) -> np.ndarray:
    out = np.full(n, np.nan)
    idx = np.rint((series.timestamps - start) / step).astype(np.int64)
    ok = (idx >= 0) & (idx < n)
    out[idx[ok]] = series.values[ok]
    return out


async def fetch_history(client: Any, start: float, end: float, params: SizingParams | None = None,
                        step: float | None = None, extra_hpas: dict | None = None) -> History:
    """Per-container usage statistics, requests, ownership and HPAs over [start, end].

    Two range queries (CPU rate and working set per pod and container) are reduced here to one
    `PodStats` per pod; the per-step CPU of workloads under a CPU/memory HPA is kept for the
    simulation.
    """
    import asyncio

    params = params or SizingParams()
    seconds = end - start
    step = step or max(60.0, math.ceil(seconds / 4000 / 60) * 60)
    end = end - (end % step)
    window = int(math.floor(seconds / step) * step)
    start = end - window
    stats = getattr(client, "stats", None)
    waited_before = stats.seconds if stats is not None else 0.0
    queries_before = stats.queries if stats is not None else 0
    t0 = time.perf_counter()
    qs = history_queries(window)
    names = list(qs)
    cpu, mem, *instant = await asyncio.gather(
        client.query_range(CPU_EXPR, start, end, step),
        client.query_range(MEM_EXPR, start, end, step),
        *(client.query(qs[n], end) for n in names))
    waited = (stats.seconds - waited_before) if stats is not None else time.perf_counter() - t0
    results = dict(zip(names, instant, strict=True))
    owner = _owner_maps(results["owner"], results["rs_owner"])
    hpas = hpas_from_ksm(results["hpa_info"], results["hpa_min"], results["hpa_max"], results["hpa_target"])
    hpas.update(extra_hpas or {})
    history = History(start, end, step, {}, hpas)
    n = history.steps
    containers = history.containers
    hpa_keys = {k for k, h in hpas.items() if any(m.type == "Utilization" for m in h.metrics)}

    def usage_for(labels) -> tuple[ContainerUsage, str]:
        ns, pod, ctr = labels.get("namespace", ""), labels.get("pod", ""), labels.get("container", "")
        kind, name = owner.get((ns, pod), ("Pod", pod))
        key = (ns, kind, name, ctr)
        if key not in containers:
            containers[key] = ContainerUsage(ns, kind, name, ctr)
        return containers[key], pod

    mem_by_key = {(s.labels.get("namespace", ""), s.labels.get("pod", ""), s.labels.get("container", "")): s for s in mem}
    last_seen: dict[tuple[str, str, str], float] = {}
    empty = np.full(0, np.nan)
    for s in cpu:
        u, pod = usage_for(s.labels)
        key = (u.namespace, pod, u.container)
        m = mem_by_key.pop(key, None)
        u.pods[pod] = stats_from_samples(s.values, m.values if m is not None else empty, params)
        finite = np.isfinite(s.values)
        last_seen[key] = float(s.timestamps[finite][-1]) if finite.any() else -math.inf
        wkey = (u.namespace, u.controller_kind, u.controller)
        if wkey in hpa_keys:
            row = _aligned(s, start, step, n)
            acc = history.hpa_load.setdefault(wkey, np.full(n, np.nan))
            both = np.isfinite(row)
            acc[both] = np.nan_to_num(acc[both]) + row[both]
    for s in mem_by_key.values():  # memory without CPU samples
        u, pod = usage_for(s.labels)
        u.pods[pod] = stats_from_samples(empty, s.values, params)
    for s in results["req"]:
        if not math.isfinite(s.value):
            continue
        u, pod = usage_for(s.labels)
        ts = last_seen.get((u.namespace, pod, u.container), -math.inf)
        if ts > u.request_ts:  # the most recently running pod's request wins
            u.request_ts = ts
            u.request_cpu = u.request_memory = None
        if ts == u.request_ts:
            if s.labels.get("resource") == "cpu":
                u.request_cpu = s.value
            else:
                u.request_memory = s.value
    history.prometheus_seconds = waited
    history.queries = (stats.queries - queries_before) if stats is not None else len(qs) + 2
    return history


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




def _ceil_cpu(cores: float) -> float:
    return math.ceil(round(cores * 1000, 6)) / 1000


def _ceil_mem(num_bytes: float) -> float:
    return math.ceil(round(num_bytes / MIB, 6)) * MIB


def basic_recommendation(u: ContainerUsage, params: SizingParams, prices: Prices, steps: int) -> Recommendation:
    """Per container spec: max over pods of each pod's statistic (KRR's per-pod reduction)."""
    pods = list(u.pods.values())
    cpu_points = sum(p.cpu_points for p in pods)
    mem_points = sum(p.mem_points for p in pods)
    points = min(cpu_points, mem_points)
    replicas_avg = cpu_points / steps if steps else 0.0
    base = dict(namespace=u.namespace, controller_kind=u.controller_kind, controller=u.controller,
                container=u.container, latest_cpu=u.request_cpu, latest_memory=u.request_memory,
                replicas_avg=replicas_avg, points=points)
    cpu_stats = [p.cpu_stat for p in pods if p.cpu_points and math.isfinite(p.cpu_stat)]
    mem_stats = [p.mem_stat for p in pods if p.mem_points and math.isfinite(p.mem_stat)]
    if points < params.min_points or not cpu_stats or not mem_stats:
        return Recommendation(**base, status="noUsageHistory", rec_cpu=None, rec_memory=None,
                              savings_cpu=0.0, savings_memory=0.0,
                              efficiency={"cpu": 0.0, "memory": 0.0, "total": 0.0},
                              message=f"{points} usage samples in the window (need {params.min_points}); "
                                      "no recommendation")
    rec_cpu = _ceil_cpu(max(max(cpu_stats) / params.target_cpu, params.min_cpu_millicores / 1000))
    rec_mem = _ceil_mem(max(max(mem_stats) * (1 + params.ram_buffer) / params.target_ram, params.min_ram_bytes))
    hours = HOURS_PER_MONTH * replicas_avg
    savings_cpu = ((u.request_cpu - rec_cpu) * prices.cpu_core_hour * hours) if u.request_cpu is not None else 0.0
    savings_mem = ((u.request_memory - rec_mem) / GIB * prices.ram_gib_hour * hours) if u.request_memory is not None else 0.0
    cpu_mean = sum(p.cpu_avg * p.cpu_points for p in pods if p.cpu_points) / cpu_points
    mem_mean = sum(p.mem_avg * p.mem_points for p in pods if p.mem_points) / mem_points
    eff_cpu = cpu_mean / u.request_cpu if u.request_cpu else (1.0 if cpu_mean > 0 else 0.0)
    eff_mem = mem_mean / u.request_memory if u.request_memory else (1.0 if mem_mean > 0 else 0.0)
    cost_cpu = (u.request_cpu or 0.0) * prices.cpu_core_hour
    cost_mem = (u.request_memory or 0.0) / GIB * prices.ram_gib_hour
    total = (eff_cpu * cost_cpu + eff_mem * cost_mem) / (cost_cpu + cost_mem) if cost_cpu + cost_mem else 0.0
    return Recommendation(**base, status="ok", rec_cpu=rec_cpu, rec_memory=rec_mem, savings_cpu=savings_cpu,
                          savings_memory=savings_mem, efficiency={"cpu": eff_cpu, "memory": eff_mem, "total": total})


def _hpa_profile(history: History, key: tuple[str, str, str], members: list[ContainerUsage]) -> tuple[LoadProfile, float] | None:
    """Load = total CPU of the workload's pods per step; memory per pod = the sum over its
    containers of their memory statistic (max over pods)."""
    total = history.hpa_load.get(key)
    if total is None or not np.isfinite(total).any():
        return None
    first = int(np.argmax(np.isfinite(total)))
    loads = np.nan_to_num(total[first:], nan=0.0)
    per_pod_mem = 0.0
    for u in members:
        stats = [p.mem_stat for p in u.pods.values() if p.mem_points and math.isfinite(p.mem_stat)]
        per_pod_mem += max(stats, default=0.0)
    times = tuple(float(i * history.step) for i in range(len(loads)))
    usage = {"cpu": UsageModel(0, 1000.0), "memory": UsageModel(int(per_pod_mem * 1000), 0.0)}
    return LoadProfile(times, tuple(float(v) for v in loads), usage, times[-1], PodLifecycle()), per_pod_mem


def hpa_recommendation(history: History, hpa: HPASpec, members: list[Recommendation],
                       usages: list[ContainerUsage], params: SizingParams, prices: Prices,
                       config: ControllerConfig | None = None) -> None:
    """Pick the CPU (and, for memory HPAs, memory) request that minimizes the simulated cost while
    no metric proposal exceeds maxReplicas; updates `members` in place."""
    config = config or ControllerConfig()
    built = _hpa_profile(history, (hpa.namespace, hpa.target_kind, hpa.target_name), usages)
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

    def run(cpu_total: float, mem_total: float, screen: bool = False):
        result = simulate(hpa, workload(cpu_total, mem_total), profile, config, prices, stop_above_max=screen)
        return result.summary() if result.complete else None

    current_cpu = sum(r.latest_cpu or 0.0 for r in members)
    current_mem = sum(r.latest_memory or 0.0 for r in members)
    baseline = run(current_cpu, current_mem) if current_cpu > 0 else None
    # Other containers keep their basic CPU recommendation; the candidates vary the pod total.
    floor = sum(r.rec_cpu or 0.0 for r in members)
    peak = max(profile.loads) if profile.loads else 0.0
    target = util.get("cpu", 0.7)
    needed = peak / (hpa.max_replicas * target) if peak else 0.0  # smallest request keeping ≤ max replicas
    raw = {needed * f for f in (1.0, 1.25, 1.5)} | {floor, current_cpu}
    candidates = sorted({max(_ceil_cpu(c), params.min_cpu_millicores / 1000 * len(members)) for c in raw if c > 0})
    # Screen: a run stops at its first proposal above maxReplicas (infeasible); the feasible
    # candidate with the lowest simulated cost wins.
    best = None
    for c in candidates:
        summary = run(c, mem_total_rec, screen=True)
        if summary is not None and (best is None or (summary["monthlyCost"], c) < best[0]):
            best = ((summary["monthlyCost"], c), c, summary)
    if best is None:  # nothing stays within maxReplicas: the largest candidate overflows least
        chosen = candidates[-1]
        best = (None, chosen, run(chosen, mem_total_rec))
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
                     f"no candidate keeps the HPA within maxReplicas={hpa.max_replicas}; the largest is shown")
        r.hpa = {
            "name": hpa.name,
            "metrics": [{"resource": m.resource, "type": m.type,
                         "value": m.value if m.type == "Utilization" else format_cpu(m.value)
                         if m.resource == "cpu" else format_memory(m.value / 1000)} for m in hpa.metrics],
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


def _size_hpa_workload(history: History, hpa: HPASpec, members: list[Recommendation], usages: list[ContainerUsage],
                       params: SizingParams, prices: Prices, config: ControllerConfig | None) -> list[Recommendation]:
    hpa_recommendation(history, hpa, members, usages, params, prices, config)
    return members


def recommend(history: History, params: SizingParams, prices: Prices, *, filter_node=None,
              cluster: str = "cluster-one", config: ControllerConfig | None = None,
              workers: int = 1) -> list[Recommendation]:
    """Recommendations for every container in the history that passes the filter.

    `workers` > 1 simulates HPA workloads in that many processes (results are identical).
    """
    from concurrent.futures import ProcessPoolExecutor

    from cloudmart.finops.filters import matches

    n = history.steps
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
    jobs = []
    for wkey, items in groups.items():
        hpa = history.hpas.get(wkey)
        if hpa is None or not any(m.type == "Utilization" and m.resource in ("cpu", "memory") for m in hpa.metrics):
            continue
        members = [r for r, _ in items if r.status == "ok"]
        if not members:
            continue
        # only this workload's load series travels to a worker process
        sub = History(history.start, history.end, history.step, {}, {wkey: hpa},
                      {wkey: history.hpa_load[wkey]} if wkey in history.hpa_load else {})
        jobs.append((sub, hpa, members, [u for r, u in items if r.status == "ok"], params, prices, config))
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
            results = list(pool.map(_size_hpa_workload, *zip(*jobs, strict=True)))
        for job, sized in zip(jobs, results, strict=True):
            for original, updated in zip(job[2], sized, strict=True):
                original.__dict__.update(updated.__dict__)
    else:
        for job in jobs:
            _size_hpa_workload(*job)
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
