"""Synthetic lab cluster for the cost analyzer: OpenMetrics history plus its exact cost truth.

`generate_scenario` simulates the lab document's kind cluster `lab-cluster` (a control plane
and two workers, more workers for big scenarios) minute by minute: the seed's CloudMart
deployments with their requests and HPA ranges (replicas follow a daily wave), Lab 1 sample
apps in production/staging/development, Kubecost itself, kube-system (static pods and
DaemonSets), a nightly Job, a bare pod, a sidecar without requests, pod churn and daily
rollouts (one ReplicaSet per deployment per day), pending minutes before containers run, pause
(`POD`) and pod-level (`container=""`) cAdvisor series, duplicated kube-state-metrics series
for kube-system, and per-node price metrics on one worker.

It writes `metrics.om` (kube-state-metrics + cAdvisor + HPA series, scraped every 60 s) and
`truth.json`: the allocation per namespace, controller, pod and Service, `__idle__` and the
total, computed from the simulation's own per-minute truth — never from the engine.

Services are exported the way kube-state-metrics does: `kube_endpoint_address{namespace,
endpoint, ip, ready}` per backing pod IP (not ready while the pod is pending), with the pod's
IP in `kube_pod_info{pod_ip}`. Each node hands out the lowest free IP of its range, so IPs are
reused by later pods (of other workloads too) once their pod is gone; host-network pods (static
pods, DaemonSets) share their node's IP. The production database backs
two Services (`database`, `database-headless`): its cost goes to the first by name.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from cloudmart.finops.pricing import GIB, PriceSheet

SCRAPE = 60
MINUTES_PER_DAY = 1440
PENDING_MINUTES = 2
MI = 2**20
CLUSTER = "lab-cluster"
NAMESPACE_LABELS = {
    "cloudmart": {"project": "cloudmart", "team": "platform", "cost_center": "CC-2001", "kubernetes_io_metadata_name": "cloudmart"},
    "production": {"env": "production", "kubernetes_io_metadata_name": "production"},
    "staging": {"env": "staging", "kubernetes_io_metadata_name": "staging"},
    "development": {"env": "development", "kubernetes_io_metadata_name": "development"},
    "kubecost": {"kubernetes_io_metadata_name": "kubecost"},
    "kube-system": {"kubernetes_io_metadata_name": "kube-system"},
}
# The Services each workload's pods back (namespace, workload) → Service names.
SERVICES = {
    ("cloudmart", "user-service"): ("user-service",),
    ("cloudmart", "product-service"): ("product-service",),
    ("cloudmart", "order-service"): ("order-service",),
    ("production", "frontend"): ("frontend",),
    ("production", "backend"): ("backend",),
    ("production", "database"): ("database", "database-headless"),
    ("staging", "frontend"): ("frontend",),
    ("staging", "backend"): ("backend",),
    ("development", "frontend"): ("frontend",),
    ("kubecost", "kubecost-cost-analyzer"): ("kubecost-cost-analyzer",),
    ("kube-system", "coredns"): ("kube-dns",),
}
SERVICE_PORT = "8080"
# Per-node price metrics on this worker (the others use the default sheet).
PRICED_NODE = "lab-cluster-worker2"
PRICED_NODE_CPU = 0.042
PRICED_NODE_RAM = 0.0056


@dataclass
class ContainerSpec:
    name: str
    cpu: float | None  # request, cores
    mem: float | None  # request, bytes
    cpu_util: float  # mean usage as a fraction of the request (or absolute cores without one)
    mem_util: float


@dataclass
class Workload:
    namespace: str
    kind: str | None  # Deployment, StatefulSet, DaemonSet, Job, Node (static) or None (bare pod)
    name: str
    containers: list[ContainerSpec]
    replicas: int = 1
    hpa: tuple[int, int] | None = None  # (min, max)
    labels: dict[str, str] = field(default_factory=dict)
    node: str | None = None  # pinned node (static pods, DaemonSet pods)
    churn_hours: float = 0.0  # mean pod lifetime; 0 = no churn


@dataclass
class Pod:
    workload: Workload
    name: str
    uid: str
    node: str
    owner_kind: str | None
    owner_name: str | None
    start: int  # first running minute
    end: int  # first minute after it stopped running
    created: int  # first minute its metadata exists (pending before start)


def _h(*parts) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()


def seed_workloads(extra_pods: int) -> list[Workload]:
    c = ContainerSpec
    w = [
        Workload("cloudmart", "Deployment", "user-service", [c("user-service", 0.1, 128 * MI, 0.45, 0.7)], 2, (2, 8), {"app": "user-service", "tier": "backend"}, churn_hours=20),
        Workload("cloudmart", "Deployment", "product-service", [c("product-service", 0.15, 256 * MI, 0.55, 0.6)], 3, (2, 10), {"app": "product-service", "tier": "backend"}, churn_hours=20),
        Workload("cloudmart", "Deployment", "order-service", [c("order-service", 0.1, 128 * MI, 0.5, 1.1)], 2, (1, 6), {"app": "order-service", "tier": "backend"}, churn_hours=20),
        Workload("production", "Deployment", "frontend", [c("nginx", 0.2, 256 * MI, 0.3, 0.4), c("log-shipper", None, None, 0.01, 40 * MI)], 3, labels={"app": "frontend"}, churn_hours=30),
        Workload("production", "Deployment", "backend", [c("api", 0.25, 512 * MI, 1.3, 0.8)], 2, labels={"app": "backend"}, churn_hours=30),
        Workload("production", "StatefulSet", "database", [c("postgres", 0.5, 1024 * MI, 0.2, 0.9)], 1, labels={"app": "database"}),
        Workload("staging", "Deployment", "frontend", [c("nginx", 0.1, 128 * MI, 0.2, 0.5)], 2, labels={"app": "frontend"}, churn_hours=12),
        Workload("staging", "Deployment", "backend", [c("api", 0.1, 256 * MI, 0.4, 0.5)], 1, labels={"app": "backend"}, churn_hours=12),
        Workload("development", "Deployment", "frontend", [c("nginx", 0.05, 64 * MI, 0.1, 0.6)], 1, labels={"app": "frontend"}, churn_hours=8),
        Workload("development", None, "debug-shell", [c("shell", 0.05, 32 * MI, 0.02, 0.3)], 1, labels={"run": "debug-shell"}),
        Workload("development", "Job", "nightly-report", [c("report", 0.5, 512 * MI, 0.9, 0.7)], 1, labels={"job-name": "nightly-report"}),
        Workload("kubecost", "Deployment", "kubecost-cost-analyzer", [c("cost-model", 0.2, 512 * MI, 0.3, 0.6), c("cost-analyzer-frontend", 0.01, 64 * MI, 0.5, 0.5), c("cost-analyzer-server", 0.01, 64 * MI, 0.4, 0.5)], 1, labels={"app": "cost-analyzer"}),
        Workload("kubecost", "Deployment", "kubecost-prometheus-server", [c("prometheus-server", 0.2, 512 * MI, 0.5, 1.2), c("prometheus-server-configmap-reload", 0.01, 16 * MI, 0.1, 0.5)], 1, labels={"app": "prometheus"}),
        Workload("kube-system", "Deployment", "coredns", [c("coredns", 0.1, 70 * MI, 0.05, 0.4)], 2, labels={"k8s-app": "kube-dns"}),
    ]
    for i in range(extra_pods):
        ns = ("production", "staging", "development")[i % 3]
        w.append(Workload(ns, "Deployment", f"svc-{i:04d}", [c("app", 0.05 + 0.01 * (i % 7), (64 + 32 * (i % 5)) * MI, 0.2 + 0.1 * (i % 6), 0.5 + 0.05 * (i % 8))], 1, labels={"app": f"svc-{i:04d}"}, churn_hours=24))
    return w


def node_workloads(nodes: list[str]) -> list[Workload]:
    c = ContainerSpec
    out = []
    cp = nodes[0]
    for name, cpu, mem in (("etcd", 0.1, 100 * MI), ("kube-apiserver", 0.25, 256 * MI), ("kube-controller-manager", 0.2, 128 * MI), ("kube-scheduler", 0.1, 64 * MI)):
        out.append(Workload("kube-system", "Node", f"{name}-{cp}", [c(name, cpu, mem, 0.4, 0.8)], 1, labels={"component": name}, node=cp))
    for node in nodes:
        out.append(Workload("kube-system", "DaemonSet", "kube-proxy", [c("kube-proxy", None, None, 0.01, 20 * MI)], 1, labels={"k8s-app": "kube-proxy"}, node=node))
        out.append(Workload("kube-system", "DaemonSet", "kindnet", [c("kindnet-cni", 0.1, 50 * MI, 0.05, 0.6)], 1, labels={"app": "kindnet"}, node=node))
    return out


def _simulate(workloads: list[Workload], nodes: list[str], minutes: int, rng: np.random.Generator) -> tuple[list[Pod], dict]:
    pods: list[Pod] = []
    workers = nodes[1:]
    load = {n: 0.0 for n in workers}
    hpa_replicas: dict[str, np.ndarray] = {}

    def place(wl: Workload) -> str:
        if wl.node:
            return wl.node
        node = min(workers, key=lambda n: load[n])
        load[node] += sum(c.cpu or 0.0 for c in wl.containers)
        return node

    def new_pod(wl: Workload, start: int, idx: int) -> Pod:
        day = max(0, start) // MINUTES_PER_DAY
        if wl.kind == "Deployment":
            rs = f"{wl.name}-{_h(wl.namespace, wl.name, day)[:10]}"
            name, owner = f"{rs}-{_h(rs, start, idx)[:5]}", ("ReplicaSet", rs)
        elif wl.kind == "StatefulSet":
            name, owner = f"{wl.name}-{idx}", ("StatefulSet", wl.name)
        elif wl.kind == "DaemonSet":
            name, owner = f"{wl.name}-{_h(wl.node, start)[:5]}", ("DaemonSet", wl.name)
        elif wl.kind == "Job":
            job = f"{wl.name}-{day}"
            name, owner = f"{job}-{_h(job)[:5]}", ("Job", job)
        elif wl.kind == "Node":
            name, owner = wl.name, ("Node", wl.node)
        else:
            name, owner = wl.name, (None, None)
        created = start - PENDING_MINUTES if start >= PENDING_MINUTES else start
        return Pod(wl, name, _h("uid", wl.namespace, name, start), place(wl), owner[0], owner[1], start, minutes, created)

    tick = 15
    for wl in workloads:
        if wl.kind == "Job":
            for day in range(math.ceil(minutes / MINUTES_PER_DAY)):
                start = day * MINUTES_PER_DAY + 120  # 02:00, runs 45 minutes
                if start < minutes:
                    p = new_pod(wl, start, 0)
                    p.end = min(minutes, start + 45)
                    pods.append(p)
            continue
        phase = rng.uniform(0, 0.3)
        target = np.full(minutes, wl.replicas, dtype=np.int64)
        if wl.hpa:
            lo, hi = wl.hpa
            m = np.arange(minutes)
            wave = 0.5 + 0.5 * np.sin(2 * np.pi * ((m // tick * tick) / MINUTES_PER_DAY - 0.25 + phase))
            target = np.clip(np.round(lo + (hi - lo) * 0.8 * wave), lo, hi).astype(np.int64)
            hpa_replicas[f"{wl.namespace}/{wl.name}"] = target
        active: list[Pod] = []
        counter = 0
        for r in range(target[0]):
            p = new_pod(wl, 0, counter)
            counter += 1
            active.append(p)
        lifetimes = {id(p): rng.exponential(wl.churn_hours * 60) if wl.churn_hours else math.inf for p in active}
        for m in range(1, minutes):
            # churn: replace pods whose lifetime ran out (keep StatefulSet names stable)
            for i, p in enumerate(active):
                if m - p.start >= lifetimes[id(p)]:
                    p.end = m
                    pods.append(p)
                    q = new_pod(wl, m, counter)
                    counter += 1
                    lifetimes[id(q)] = rng.exponential(wl.churn_hours * 60)
                    active[i] = q
            want = int(target[m])
            while len(active) < want:
                q = new_pod(wl, m, counter)
                counter += 1
                lifetimes[id(q)] = rng.exponential(wl.churn_hours * 60) if wl.churn_hours else math.inf
                active.append(q)
            while len(active) > want:
                p = active.pop()
                p.end = m
                pods.append(p)
        for p in active:
            p.end = minutes
            pods.append(p)
    return pods, hpa_replicas


def _usage(spec: ContainerSpec, start: int, end: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per-minute CPU cores and working-set bytes for minutes [start, end)."""
    m = np.arange(start, end)
    wave = 1.0 + 0.45 * np.sin(2 * np.pi * (m / MINUTES_PER_DAY - 0.3))
    base_cpu = spec.cpu_util * (spec.cpu if spec.cpu else 1.0)
    cpu = np.maximum(0.0, base_cpu * wave * (1 + 0.15 * rng.standard_normal(len(m))))
    base_mem = spec.mem_util * (spec.mem if spec.mem else 1.0)
    growth = np.minimum(1.0, 0.7 + 0.3 * (m - start) / 240.0)
    mem = np.floor(base_mem * growth * (1 + 0.03 * rng.standard_normal(len(m))))
    cpu[0] = 0.0  # the first scrape of a counter gives no rate
    return cpu, np.maximum(mem, 1.0)


HPAS = {
    "cloudmart/user-service": ("user-service-hpa", {"cpu": 70, "memory": 80}),
    "cloudmart/product-service": ("product-service-hpa", {"cpu": 70}),
    "cloudmart/order-service": ("order-service-hpa", {"cpu": 70}),
}
FAMILIES = [
    ("kube_node_labels", "gauge"),
    ("kube_node_status_capacity", "gauge"),
    ("node_cpu_hourly_cost", "gauge"),
    ("node_ram_hourly_cost", "gauge"),
    ("kube_namespace_labels", "gauge"),
    ("kube_replicaset_owner", "gauge"),
    ("kube_pod_info", "gauge"),
    ("kube_pod_labels", "gauge"),
    ("kube_pod_owner", "gauge"),
    ("kube_endpoint_address", "gauge"),
    ("kube_pod_container_status_running", "gauge"),
    ("kube_pod_container_resource_requests", "gauge"),
    ("container_cpu_usage_seconds", "counter"),
    ("container_memory_working_set_bytes", "gauge"),
    ("kube_horizontalpodautoscaler_spec_min_replicas", "gauge"),
    ("kube_horizontalpodautoscaler_spec_max_replicas", "gauge"),
    ("kube_horizontalpodautoscaler_spec_target_metric", "gauge"),
    ("kube_horizontalpodautoscaler_status_current_replicas", "gauge"),
    ("kube_horizontalpodautoscaler_status_desired_replicas", "gauge"),
]


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"')


def _labels(d: dict[str, str]) -> str:
    return ",".join(f'{k}="{_esc(str(v))}"' for k, v in d.items())


class _Writer:
    """One temporary file per metric family, concatenated into one OpenMetrics file at the end."""

    def __init__(self, out: Path, t0: int):
        self.out = out
        self.t0 = t0
        self.files = {name: open(out.with_name(f".{name}.part"), "w") for name, _ in FAMILIES}
        self.samples = 0

    def series(self, family: str, sample: str, labels: dict[str, str], start: int, values) -> None:
        """Samples at minutes start, start+1, …; `values` is a str or a sequence of floats/strs."""
        prefix = f"{sample}{{{_labels(labels)}}} "
        if isinstance(values, str):
            raise TypeError("pass a sequence")
        ts = range(self.t0 + start * SCRAPE, self.t0 + (start + len(values)) * SCRAPE, SCRAPE)
        vals = values if isinstance(values, list) and values and isinstance(values[0], str) else [repr(float(v)) for v in values]
        self.files[family].write("".join(f"{prefix}{v} {t}\n" for v, t in zip(vals, ts)))
        self.samples += len(vals)

    def constant(self, family: str, labels: dict[str, str], start: int, end: int, value: str = "1", sample: str | None = None) -> None:
        if end > start:
            self.series(family, sample or family, labels, start, [value] * (end - start))

    def close(self) -> None:
        with open(self.out, "w") as out:
            for name, kind in FAMILIES:
                f = self.files[name]
                f.close()
                out.write(f"# TYPE {name} {kind}\n")
                with open(f.name) as part:
                    while chunk := part.read(1 << 22):
                        out.write(chunk)
                Path(f.name).unlink()
            out.write("# EOF\n")


def _sanitize(key: str) -> str:
    return "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in key)


def _metrics(d: dict) -> dict:
    cpu_cost, ram_cost = d["cpuCost"], d["ramCost"]

    def eff(use: float, req: float) -> float:
        return use / req if req > 0 else (1.0 if use > 0 else 0.0)

    ce, re_ = eff(d["cpuUse"], d["cpuReq"]), eff(d["ramUse"], d["ramReq"])
    cost = cpu_cost + ram_cost
    return {
        "minutes": d["minutes"],
        "cpuCoreHours": d["cpuAlloc"] / 60.0,
        "ramByteHours": d["ramAlloc"] / 60.0,
        "cpuCost": cpu_cost,
        "ramCost": ram_cost,
        "totalCost": cost,
        "cpuEfficiency": ce,
        "ramEfficiency": re_,
        "totalEfficiency": (ce * cpu_cost + re_ * ram_cost) / cost if cost > 0 else 0.0,
    }


def generate_scenario(
    out_dir: str | Path,
    pods: int = 40,
    days: float = 1,
    seed: int = 0,
    end: datetime | float | None = None,
) -> dict:
    """Write `metrics.om` and `truth.json` to `out_dir`; returns the truth's summary.

    `pods` is the approximate number of concurrently running pods (at least the lab's own
    ~35); `end` defaults to the current minute, and the history covers `days` before it.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    if end is None:
        end_ts = int(datetime.now(timezone.utc).timestamp()) // SCRAPE * SCRAPE
    elif isinstance(end, datetime):
        end_ts = int(end.timestamp()) // SCRAPE * SCRAPE
    else:
        end_ts = int(end) // SCRAPE * SCRAPE
    minutes = int(round(days * MINUTES_PER_DAY))
    if minutes < 10:
        raise ValueError("days must cover at least 10 minutes")
    t0 = end_ts - minutes * SCRAPE

    base_pods = 35
    extra = max(0, pods - base_pods)
    workloads = seed_workloads(extra)
    req_cpu = sum(sum(c.cpu or 0 for c in w.containers) * (w.hpa[1] if w.hpa else w.replicas) for w in workloads)
    n_workers = max(2, math.ceil(req_cpu / 5.0))
    nodes = [f"{CLUSTER}-control-plane", f"{CLUSTER}-worker"] + [f"{CLUSTER}-worker{i}" for i in range(2, n_workers + 1)]
    capacity = {n: (4.0, 8 * GIB) if n.endswith("control-plane") else (8.0, 16 * GIB) for n in nodes}
    workloads += node_workloads(nodes)
    pod_list, hpa_replicas = _simulate(workloads, nodes, minutes, rng)

    sheet = PriceSheet()
    price = {n: (sheet.cpu, sheet.ram) for n in nodes}
    if PRICED_NODE in price:
        price[PRICED_NODE] = (PRICED_NODE_CPU, PRICED_NODE_RAM)

    w = _Writer(out / "metrics.om", t0)
    for n in nodes:
        role = "control-plane" if n.endswith("control-plane") else "worker"
        w.constant("kube_node_labels", {"node": n, "label_kubernetes_io_hostname": n, "label_node_kubernetes_io_instance_type": "kind-node", "label_role": role}, 0, minutes)
        cpu, mem = capacity[n]
        w.constant("kube_node_status_capacity", {"node": n, "resource": "cpu", "unit": "core"}, 0, minutes, repr(cpu))
        w.constant("kube_node_status_capacity", {"node": n, "resource": "memory", "unit": "byte"}, 0, minutes, repr(float(mem)))
        w.constant("kube_node_status_capacity", {"node": n, "resource": "pods", "unit": "integer"}, 0, minutes, "110")
    w.constant("node_cpu_hourly_cost", {"node": PRICED_NODE, "instance_type": "kind-node"}, 0, minutes, repr(PRICED_NODE_CPU))
    w.constant("node_ram_hourly_cost", {"node": PRICED_NODE, "instance_type": "kind-node"}, 0, minutes, repr(PRICED_NODE_RAM))
    for ns, labels in NAMESPACE_LABELS.items():
        w.constant("kube_namespace_labels", {"namespace": ns, **{f"label_{k}": v for k, v in labels.items()}}, 0, minutes)

    rs_span: dict[tuple[str, str, str], list[int]] = {}
    for p in pod_list:
        if p.owner_kind == "ReplicaSet":
            span = rs_span.setdefault((p.workload.namespace, p.owner_name, p.workload.name), [p.created, p.end])
            span[0], span[1] = min(span[0], p.created), max(span[1], p.end)
    for (ns, rs, dep), (a, b) in rs_span.items():
        w.constant("kube_replicaset_owner", {"namespace": ns, "replicaset": rs, "owner_kind": "Deployment", "owner_name": dep, "owner_is_controller": "true"}, a, b)

    # per-container truth: (namespace, controller key, pod) → sums over the whole scenario and per day
    n_days = math.ceil(minutes / MINUTES_PER_DAY)
    cuts = [(0, minutes)] + [(d * MINUTES_PER_DAY, min(minutes, (d + 1) * MINUTES_PER_DAY)) for d in range(n_days)] if n_days > 1 else [(0, minutes)]
    rows: list[tuple[str, str, str, str, str, list[dict]]] = []
    pod_ips = _assign_pod_ips(pod_list, nodes)
    for pi, p in enumerate(pod_list):
        wl = p.workload
        ns = wl.namespace
        pk = {"namespace": ns, "pod": p.name, "uid": p.uid}
        pod_ip = pod_ips[pi]
        services = sorted(SERVICES.get((ns, wl.name), ())) if wl.kind in ("Deployment", "StatefulSet") else []
        for svc in services:
            ep = {"namespace": ns, "endpoint": svc, "port_protocol": "TCP", "port_number": SERVICE_PORT, "port_name": "http", "ip": pod_ip}
            w.constant("kube_endpoint_address", {**ep, "ready": "false"}, p.created, p.start)
            w.constant("kube_endpoint_address", {**ep, "ready": "true"}, p.start, p.end)
        svc_key = services[0] if services else "__unallocated__"
        w.constant("kube_pod_info", {**pk, "node": p.node, "host_ip": f"172.18.0.{nodes.index(p.node) + 2}", "pod_ip": pod_ip, "created_by_kind": p.owner_kind or "<none>", "created_by_name": p.owner_name or "<none>"}, p.created, p.end)
        w.constant("kube_pod_labels", {**pk, **{f"label_{_sanitize(k)}": v for k, v in wl.labels.items()}}, p.created, p.end)
        w.constant("kube_pod_owner", {**pk, "owner_kind": p.owner_kind or "<none>", "owner_name": p.owner_name or "<none>", "owner_is_controller": "true" if p.owner_kind else "false"}, p.created, p.end)
        owner = (p.owner_kind, p.owner_name)
        if owner[0] == "ReplicaSet":
            owner = ("Deployment", wl.name)
        ctrl = f"{owner[0].lower()}:{owner[1]}" if owner[0] else "__unallocated__"
        duplicate_ksm = ns == "kube-system"
        pod_cpu = np.zeros(p.end - p.start)
        pod_mem = np.zeros(p.end - p.start)
        for ci, spec in enumerate(wl.containers):
            crng = np.random.default_rng([seed, int(p.uid[:8], 16), ci])
            ck = {**pk, "container": spec.name}
            pend = p.start - p.created
            w.series("kube_pod_container_status_running", "kube_pod_container_status_running", ck, p.created, ["0"] * pend + ["1"] * (p.end - p.start))
            for inst in (("ksm-0", "ksm-1") if duplicate_ksm else ("ksm-0",)):
                if spec.cpu is not None:
                    w.constant("kube_pod_container_resource_requests", {**ck, "node": p.node, "resource": "cpu", "unit": "core", "instance": inst}, p.created, p.end, repr(spec.cpu))
                if spec.mem is not None:
                    w.constant("kube_pod_container_resource_requests", {**ck, "node": p.node, "resource": "memory", "unit": "byte", "instance": inst}, p.created, p.end, repr(float(spec.mem)))
            cpu, mem = _usage(spec, p.start, p.end, crng)
            pod_cpu += cpu
            pod_mem += mem
            cad = {"namespace": ns, "pod": p.name, "container": spec.name, "id": f"/kubepods/pod{p.uid}/{spec.name}", "image": f"{spec.name}:1", "instance": f"172.18.0.{nodes.index(p.node) + 2}:10250"}
            w.series("container_cpu_usage_seconds", "container_cpu_usage_seconds_total", cad, p.start, np.cumsum(cpu * SCRAPE))
            w.series("container_memory_working_set_bytes", "container_memory_working_set_bytes", cad, p.start, mem)
            req_c = spec.cpu or 0.0
            req_m = float(spec.mem or 0.0)
            per_cut = []
            for a, b in cuts:
                lo, hi = max(a, p.start), min(b, p.end)
                if hi <= lo:
                    per_cut.append(None)
                    continue
                sc, sm = cpu[lo - p.start : hi - p.start], mem[lo - p.start : hi - p.start]
                pc, pr = price[p.node]
                cpu_alloc = float(np.maximum(sc, req_c).sum())
                ram_alloc = float(np.maximum(sm, req_m).sum())
                per_cut.append(
                    {
                        "first": lo, "last": hi, "cpuAlloc": cpu_alloc, "ramAlloc": ram_alloc,
                        "cpuReq": req_c * (hi - lo), "ramReq": req_m * (hi - lo),
                        "cpuUse": float(sc.sum()), "ramUse": float(sm.sum()),
                        "cpuCost": cpu_alloc / 60.0 * pc, "ramCost": ram_alloc / 60.0 / GIB * pr,
                    }
                )
            rows.append((ns, ctrl, p.name, svc_key, p.node, per_cut))
        # the pod-level cgroup and the pause container: must be ignored by the engine
        cad = {"namespace": ns, "pod": p.name, "id": f"/kubepods/pod{p.uid}", "instance": f"172.18.0.{nodes.index(p.node) + 2}:10250"}
        w.series("container_cpu_usage_seconds", "container_cpu_usage_seconds_total", {**cad, "container": ""}, p.start, np.cumsum(pod_cpu * SCRAPE))
        w.series("container_memory_working_set_bytes", "container_memory_working_set_bytes", {**cad, "container": ""}, p.start, pod_mem)
        w.series("container_cpu_usage_seconds", "container_cpu_usage_seconds_total", {**cad, "container": "POD"}, p.start, np.arange(p.end - p.start) * 0.06)
        w.constant("container_memory_working_set_bytes", {**cad, "container": "POD"}, p.start, p.end, "524288", sample="container_memory_working_set_bytes")

    for key, replicas in hpa_replicas.items():
        ns, dep = key.split("/")
        hpa_name, targets = HPAS.get(key, (f"{dep}-hpa", {"cpu": 70}))
        wl = next(x for x in workloads if x.namespace == ns and x.name == dep)
        hk = {"namespace": ns, "horizontalpodautoscaler": hpa_name}
        w.constant("kube_horizontalpodautoscaler_spec_min_replicas", hk, 0, minutes, str(wl.hpa[0]))
        w.constant("kube_horizontalpodautoscaler_spec_max_replicas", hk, 0, minutes, str(wl.hpa[1]))
        for metric, target in targets.items():
            w.constant("kube_horizontalpodautoscaler_spec_target_metric", {**hk, "metric_name": metric, "metric_target_type": "utilization"}, 0, minutes, str(target))
        vals = [str(int(v)) for v in replicas]
        w.series("kube_horizontalpodautoscaler_status_current_replicas", "kube_horizontalpodautoscaler_status_current_replicas", hk, 0, vals)
        w.series("kube_horizontalpodautoscaler_status_desired_replicas", "kube_horizontalpodautoscaler_status_desired_replicas", hk, 0, vals)
    w.close()

    windows = []
    for ci, (a, b) in enumerate(cuts):
        groups: dict[str, dict[str, dict]] = {"namespace": {}, "controller": {}, "pod": {}, "service": {}}
        total = None
        node_cost: dict[str, float] = {}
        for ns, ctrl, pod, svc, node, per_cut in rows:
            d = per_cut[ci]
            if d is None:
                continue
            for agg, name in (("namespace", ns), ("controller", ctrl), ("pod", pod), ("service", svc)):
                g = groups[agg].get(name)
                groups[agg][name] = _merge(g, d)
            total = _merge(total, d)
        cap_cpu = sum(capacity[n][0] * (b - a) / 60.0 * price[n][0] for n in nodes)
        cap_ram = sum(capacity[n][1] * (b - a) / 60.0 / GIB * price[n][1] for n in nodes)
        cap_cpu_h = sum(capacity[n][0] * (b - a) / 60.0 for n in nodes)
        cap_ram_h = sum(capacity[n][1] * (b - a) / 60.0 for n in nodes)
        tot = total or _merge(None, {"first": a, "last": a, **{k: 0.0 for k in ("cpuAlloc", "ramAlloc", "cpuReq", "ramReq", "cpuUse", "ramUse", "cpuCost", "ramCost")}})
        idle_cpu = max(0.0, cap_cpu - tot["cpuCost"])
        idle_ram = max(0.0, cap_ram - tot["ramCost"])
        windows.append(
            {
                "start": _iso(t0 + a * SCRAPE),
                "end": _iso(t0 + b * SCRAPE),
                "window": f"{_iso(t0 + a * SCRAPE)},{_iso(t0 + b * SCRAPE)}",
                **{agg: {k: _metrics(v) for k, v in sorted(g.items())} for agg, g in groups.items()},
                "__idle__": {
                    "cpuCost": idle_cpu, "ramCost": idle_ram, "totalCost": idle_cpu + idle_ram,
                    "cpuCoreHours": max(0.0, cap_cpu_h - tot["cpuAlloc"] / 60.0),
                    "ramByteHours": max(0.0, cap_ram_h - tot["ramAlloc"] / 60.0),
                },
                "total": _metrics(tot),
                "capacityCost": cap_cpu + cap_ram,
            }
        )
    truth = {
        "cluster": CLUSTER,
        "seed": seed,
        "scrapeSeconds": SCRAPE,
        "start": _iso(t0),
        "end": _iso(end_ts),
        "nodes": {n: {"cpuCores": capacity[n][0], "ramBytes": capacity[n][1], "cpuPrice": price[n][0], "ramPrice": price[n][1]} for n in nodes},
        "pods": len(pod_list),
        "samples": w.samples,
        "windows": windows,
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=1))
    return {k: truth[k] for k in ("start", "end", "pods", "samples")} | {"dir": str(out), "nodes": len(nodes)}


def _merge(g: dict | None, d: dict) -> dict:
    if g is None:
        g = {**d}
    else:
        for k in ("cpuAlloc", "ramAlloc", "cpuReq", "ramReq", "cpuUse", "ramUse", "cpuCost", "ramCost"):
            g[k] += d[k]
        g["first"], g["last"] = min(g["first"], d["first"]), max(g["last"], d["last"])
    g["minutes"] = float(g["last"] - g["first"])
    return g


def _assign_pod_ips(pods: list[Pod], nodes: list[str]) -> list[str]:
    """Pod IPs, in `pods` order: host-network pods get their node's IP; the others the lowest
    free address of their node's /22 (from 10.244.0.0), free again once the pod is gone."""
    out = [""] * len(pods)
    free = {n: list(range(2, 1022)) for n in nodes}  # heaps of host numbers
    busy: dict[str, list[tuple[int, int]]] = {n: [] for n in nodes}  # heaps of (end minute, host)
    for i in sorted(range(len(pods)), key=lambda i: pods[i].created):
        p = pods[i]
        ni = nodes.index(p.node)
        if p.workload.kind in ("Node", "DaemonSet"):
            out[i] = f"172.18.0.{ni + 2}"
            continue
        while busy[p.node] and busy[p.node][0][0] <= p.created:
            heapq.heappush(free[p.node], heapq.heappop(busy[p.node])[1])
        if not free[p.node]:
            raise RuntimeError(f"node {p.node} ran out of pod IPs")
        k = heapq.heappop(free[p.node])
        heapq.heappush(busy[p.node], (p.end, k))
        out[i] = f"10.{244 + (ni >> 6)}.{((ni & 63) << 2) | (k >> 8)}.{k & 255}"
    return out


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
