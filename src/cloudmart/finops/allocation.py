"""The cost engine: per-container costs from `Inputs`, idle, sharing, filtering, aggregation.

All arithmetic over containers and nodes is vectorized with numpy (group sums via
`np.bincount`); Python only walks containers once to derive their string properties.
Semantics follow Kubecost/OpenCost (see ARCHITECTURE §6):

- allocated CPU/RAM = max(request, usage) per step, integrated over running steps;
- `cpuCost = coreHours × node CPU price`, `ramCost = byteHours / 2^30 × node RAM price`;
- efficiency = usage / request (0 without usage, 1 with usage but no request), and
  `totalEfficiency` is weighted by cost;
- `__idle__` = node capacity cost − allocated cost, clamped at 0, per cluster or per node;
- shared namespaces/labels/fixed cost are spread over the other allocations by total cost
  (`weighted`) or equally per aggregated allocation (`even`); sharing happens before filtering.
"""

from __future__ import annotations

import asyncio
import gc
import math
import re
import time
from dataclasses import dataclass, field, replace

import numpy as np

from cloudmart.finops.filters import Cmp, Node, matches
from cloudmart.finops.inputs import Inputs, fetch
from cloudmart.finops.pricing import GIB, HOURS_PER_MONTH, PriceSheet
from cloudmart.finops.windows import Window

IDLE = "__idle__"
UNALLOCATED = "__unallocated__"
DEFAULT_AGGREGATE = ["cluster", "node", "namespace", "pod", "container"]
CONTROLLER_KINDS = {"deployment": "Deployment", "statefulset": "StatefulSet", "daemonset": "DaemonSet", "job": "Job"}
AGGREGATES = {"cluster", "node", "namespace", "controllerKind", "controller", "pod", "container", "service", *CONTROLLER_KINDS}


class AggregateError(ValueError):
    """An unknown or malformed aggregation property."""


def parse_aggregate(text: str | None) -> list[str]:
    if text is None or not text.strip():
        return list(DEFAULT_AGGREGATE)
    out = []
    for raw in text.split(","):
        part = raw.strip()
        low = part.lower()
        if low.startswith("label:") or low.startswith("annotation:"):
            prefix, key = part.split(":", 1)
            if not key.strip():
                raise AggregateError(f"{part!r} needs a key, e.g. label:app")
            out.append(f"{prefix.lower()}:{key.strip()}")
            continue
        match = next((a for a in AGGREGATES if a.lower() == low), None)
        if match is None:
            raise AggregateError(
                f"unknown aggregate {part!r} (use {', '.join(sorted(AGGREGATES))}, label:<key> or annotation:<key>)"
            )
        out.append(match)
    return out


def sanitize_key(key: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", key)


@dataclass
class Allocation:
    name: str
    properties: dict
    start: float
    end: float
    cpu_core_hours: float = 0.0
    cpu_request_hours: float = 0.0
    cpu_usage_hours: float = 0.0
    cpu_cost: float = 0.0
    ram_byte_hours: float = 0.0
    ram_request_hours: float = 0.0
    ram_usage_hours: float = 0.0
    ram_cost: float = 0.0
    cpu_idle_cost: float = 0.0  # idle shared into this allocation
    ram_idle_cost: float = 0.0
    shared_cost: float = 0.0

    @property
    def minutes(self) -> float:
        return max(0.0, (self.end - self.start) / 60.0)

    @property
    def total_cost(self) -> float:
        return self.cpu_cost + self.ram_cost + self.cpu_idle_cost + self.ram_idle_cost + self.shared_cost

    @staticmethod
    def _eff(usage: float, request: float) -> float:
        if request > 0:
            return usage / request
        return 1.0 if usage > 0 else 0.0

    @property
    def cpu_efficiency(self) -> float:
        return self._eff(self.cpu_usage_hours, self.cpu_request_hours)

    @property
    def ram_efficiency(self) -> float:
        return self._eff(self.ram_usage_hours, self.ram_request_hours)

    @property
    def total_efficiency(self) -> float:
        cost = self.cpu_cost + self.ram_cost
        if cost <= 0:
            return 0.0
        return (self.cpu_efficiency * self.cpu_cost + self.ram_efficiency * self.ram_cost) / cost

    def add(self, other: "Allocation") -> "Allocation":
        """Sum costs and hours; averages re-weight by minutes through the summed hours."""
        props = {k: v for k, v in self.properties.items() if other.properties.get(k) == v}
        return Allocation(
            self.name,
            props,
            min(self.start, other.start),
            max(self.end, other.end),
            *(getattr(self, f) + getattr(other, f) for f in _NUMERIC),
        )

    def to_json(self, window: Window) -> dict:
        hours = self.minutes / 60.0
        ws, we = window.iso()
        s, e = Window(self.start, self.end).iso() if self.end > self.start else (ws, ws)

        def avg(x: float) -> float:
            return x / hours if hours > 0 else 0.0

        numbers = {
            "minutes": self.minutes,
            "cpuCores": avg(self.cpu_core_hours),
            "cpuCoreRequestAverage": avg(self.cpu_request_hours),
            "cpuCoreUsageAverage": avg(self.cpu_usage_hours),
            "cpuCoreHours": self.cpu_core_hours,
            "cpuCost": self.cpu_cost + self.cpu_idle_cost,
            "cpuCostAdjustment": 0.0,
            "cpuEfficiency": self.cpu_efficiency,
            "gpuCount": 0.0,
            "gpuHours": 0.0,
            "gpuCost": 0.0,
            "gpuCostAdjustment": 0.0,
            "networkCost": 0.0,
            "loadBalancerCost": 0.0,
            "pvBytes": 0.0,
            "pvByteHours": 0.0,
            "pvCost": 0.0,
            "ramBytes": avg(self.ram_byte_hours),
            "ramByteRequestAverage": avg(self.ram_request_hours),
            "ramByteUsageAverage": avg(self.ram_usage_hours),
            "ramByteHours": self.ram_byte_hours,
            "ramCost": self.ram_cost + self.ram_idle_cost,
            "ramCostAdjustment": 0.0,
            "ramEfficiency": self.ram_efficiency,
            "sharedCost": self.shared_cost,
            "externalCost": 0.0,
            "totalCost": self.total_cost,
            "totalEfficiency": self.total_efficiency,
        }
        return {
            "name": self.name,
            "properties": self.properties,
            "window": {"start": ws, "end": we},
            "start": s,
            "end": e,
            **{k: round(v, 5) if math.isfinite(v) else None for k, v in numbers.items()},
        }


_NUMERIC = [
    f for f in Allocation.__dataclass_fields__ if f not in ("name", "properties", "start", "end")
]


@dataclass
class AllocationQuery:
    aggregate: list[str] = field(default_factory=lambda: list(DEFAULT_AGGREGATE))
    filter: Node | None = None
    idle: bool = True
    share_idle: bool = False
    idle_by_node: bool = False
    share_namespaces: list[str] = field(default_factory=list)
    share_labels: list[tuple[str, str]] = field(default_factory=list)
    share_cost: float = 0.0  # fixed cost per month
    share_split: str = "weighted"  # or "even"


def _filter_fields(node: Node | None) -> set[str]:
    if node is None:
        return set()
    if isinstance(node, Cmp):
        return {node.field}
    return set().union(*(_filter_fields(p) for p in node.parts))


def needs_services(q: AllocationQuery) -> bool:
    """Whether the query needs the pod → Services join (kept off the common path)."""
    return "service" in q.aggregate or "services" in _filter_fields(q.filter)


class Engine:
    def __init__(self, pricing: PriceSheet, cluster: str = "cluster-one"):
        self.pricing = pricing
        self.cluster = cluster

    def container_properties(self, inputs: Inputs) -> list[dict]:
        """Properties per container. Label dicts are shared between containers of a pod and
        must be treated as read-only."""
        meta = inputs.meta
        out = []
        empty: dict[str, str] = {}
        merged: dict[tuple[str, str], dict[str, str]] = {}
        gc_was_enabled = gc.isenabled()
        gc.disable()  # tens of thousands of small dicts would trigger needless collections
        try:
            for ns, pod, container in inputs.keys:
                pk = (ns, pod)
                props: dict = {"cluster": self.cluster, "namespace": ns, "pod": pod, "container": container}
                node = meta.pod_node.get(pk)
                if node:
                    props["node"] = node
                owner = meta.pod_owner.get(pk)
                if owner and owner[0] == "ReplicaSet":
                    owner = meta.replicaset_owner.get((ns, owner[1]), owner)
                if owner:
                    props["controllerKind"] = owner[0].lower()
                    props["controller"] = owner[1]
                ns_labels = meta.namespace_labels.get(ns, empty)
                labels = merged.get(pk)
                if labels is None:
                    pod_labels = meta.pod_labels.get(pk, empty)
                    labels = merged[pk] = {**ns_labels, **pod_labels} if ns_labels else pod_labels
                props["namespaceLabels"] = ns_labels
                props["labels"] = labels
                props["annotations"] = meta.pod_annotations.get(pk, empty)
                services = meta.pod_services.get(pk)
                if services:
                    props["services"] = list(services)
                out.append(props)
        finally:
            if gc_was_enabled:
                gc.enable()
        return out

    def key(self, props: dict, aggregate: list[str]) -> str:
        parts = []
        for a in aggregate:
            if a == "controller":
                v = f"{props['controllerKind']}:{props['controller']}" if "controller" in props else None
            elif a in CONTROLLER_KINDS:
                v = props.get("controller") if props.get("controllerKind") == a else None
            elif a.startswith("label:"):
                v = props["labels"].get(sanitize_key(a[6:]))
            elif a.startswith("annotation:"):
                v = props["annotations"].get(sanitize_key(a[11:]))
            elif a == "service":
                # a pod backing several Services is charged to the first one, as OpenCost does
                v = props["services"][0] if props.get("services") else None
            else:
                v = props.get(a)
            parts.append(v if v else UNALLOCATED)
        return "/".join(parts)

    def compute(self, inputs: Inputs, q: AllocationQuery, window: Window) -> dict[str, Allocation]:
        h = inputs.resolution / 3600.0
        props = self.container_properties(inputs)
        n = len(props)
        meta = inputs.meta

        nodes = list(inputs.nodes)
        node_index = {name: i for i, name in enumerate(nodes)}
        for p in props:
            if p.get("node", "") not in node_index:
                node_index[p.get("node", "")] = len(nodes)
                nodes.append(p.get("node", ""))
        prices = [
            self.pricing.node_price(
                meta.node_labels.get(nd, {}), cpu_metric=meta.node_cpu_price.get(nd), ram_metric=meta.node_ram_price.get(nd)
            )
            for nd in nodes
        ]
        node_cpu_price = np.array([p.cpu for p in prices])
        node_ram_price = np.array([p.ram for p in prices])
        cnode = np.fromiter((node_index[p.get("node", "")] for p in props), dtype=np.int64, count=n)

        v = inputs.values
        cpu_hours = v["cpu_alloc"] * h
        ram_hours = v["ram_alloc"] * h
        cpu_cost = cpu_hours * node_cpu_price[cnode]
        ram_cost = ram_hours / GIB * node_ram_price[cnode]

        # idle per node
        m = len(nodes)
        cap_cpu = np.zeros(m)
        cap_ram = np.zeros(m)
        cap_cpu[: len(inputs.nodes)] = inputs.node_values["cpu_cap"] * h
        cap_ram[: len(inputs.nodes)] = inputs.node_values["ram_cap"] * h
        alloc_cpu_node = np.bincount(cnode, weights=cpu_hours, minlength=m)
        alloc_ram_node = np.bincount(cnode, weights=ram_hours, minlength=m)
        cost_cpu_node = np.bincount(cnode, weights=cpu_cost, minlength=m)
        cost_ram_node = np.bincount(cnode, weights=ram_cost, minlength=m)
        cap_cpu_cost = cap_cpu * node_cpu_price
        cap_ram_cost = cap_ram / GIB * node_ram_price

        idle_node_mask = np.ones(m, dtype=bool)
        ffields = _filter_fields(q.filter)
        idle_visible = q.idle and ffields <= {"cluster", "node"}
        if ffields and idle_visible:
            idle_node_mask = np.array([matches(q.filter, {"cluster": self.cluster, "node": nd}) for nd in nodes], dtype=bool)

        cpu_idle_share = np.zeros(n)
        ram_idle_share = np.zeros(n)
        if q.idle_by_node:
            idle_cpu_cost_n = np.maximum(0.0, cap_cpu_cost - cost_cpu_node)
            idle_ram_cost_n = np.maximum(0.0, cap_ram_cost - cost_ram_node)
            idle_cpu_hours_n = np.maximum(0.0, cap_cpu - alloc_cpu_node)
            idle_ram_hours_n = np.maximum(0.0, cap_ram - alloc_ram_node)
            if q.share_idle:
                with np.errstate(divide="ignore", invalid="ignore"):
                    cpu_idle_share = np.where(cost_cpu_node[cnode] > 0, idle_cpu_cost_n[cnode] * cpu_cost / cost_cpu_node[cnode], 0.0)
                    ram_idle_share = np.where(cost_ram_node[cnode] > 0, idle_ram_cost_n[cnode] * ram_cost / cost_ram_node[cnode], 0.0)
                shared_cpu_n = np.bincount(cnode, weights=cpu_idle_share, minlength=m)
                shared_ram_n = np.bincount(cnode, weights=ram_idle_share, minlength=m)
                idle_cpu_cost_n = idle_cpu_cost_n - shared_cpu_n
                idle_ram_cost_n = idle_ram_cost_n - shared_ram_n
                idle_cpu_hours_n = np.where(shared_cpu_n > 0, 0.0, idle_cpu_hours_n)
                idle_ram_hours_n = np.where(shared_ram_n > 0, 0.0, idle_ram_hours_n)
            idle_cpu_cost = float(idle_cpu_cost_n[idle_node_mask].sum())
            idle_ram_cost = float(idle_ram_cost_n[idle_node_mask].sum())
            idle_cpu_hours = float(idle_cpu_hours_n[idle_node_mask].sum())
            idle_ram_hours = float(idle_ram_hours_n[idle_node_mask].sum())
        else:
            sel = idle_node_mask
            csel = sel[cnode]
            idle_cpu_cost = max(0.0, float(cap_cpu_cost[sel].sum() - cpu_cost[csel].sum()))
            idle_ram_cost = max(0.0, float(cap_ram_cost[sel].sum() - ram_cost[csel].sum()))
            idle_cpu_hours = max(0.0, float(cap_cpu[sel].sum() - cpu_hours[csel].sum()))
            idle_ram_hours = max(0.0, float(cap_ram[sel].sum() - ram_hours[csel].sum()))
            if q.share_idle:
                total_cpu, total_ram = cpu_cost.sum(), ram_cost.sum()
                if total_cpu > 0:
                    cpu_idle_share = idle_cpu_cost * cpu_cost / total_cpu
                    idle_cpu_cost, idle_cpu_hours = 0.0, 0.0
                if total_ram > 0:
                    ram_idle_share = idle_ram_cost * ram_cost / total_ram
                    idle_ram_cost, idle_ram_hours = 0.0, 0.0

        # shared namespaces / labels / fixed cost
        shared_mask = np.zeros(n, dtype=bool)
        if q.share_namespaces or q.share_labels:
            share_ns = set(q.share_namespaces)
            share_lb = [(sanitize_key(k), val) for k, val in q.share_labels]
            shared_mask = np.fromiter(
                (p["namespace"] in share_ns or any(p["labels"].get(k) == val for k, val in share_lb) for p in props),
                dtype=bool,
                count=n,
            )
        base_total = cpu_cost + ram_cost + cpu_idle_share + ram_idle_share
        pool = float(base_total[shared_mask].sum()) + q.share_cost * window.hours / HOURS_PER_MONTH
        shared_cost = np.zeros(n)
        keys = [self.key(p, q.aggregate) for p in props]
        receivers = ~shared_mask
        if pool > 0 and receivers.any():
            if q.share_split == "even":
                groups: dict[str, int] = {}
                ginv = np.fromiter((groups.setdefault(k, len(groups)) if r else -1 for k, r in zip(keys, receivers)), dtype=np.int64, count=n)
                gsel = ginv >= 0
                gtotal = np.bincount(ginv[gsel], weights=base_total[gsel], minlength=len(groups))
                gcount = np.bincount(ginv[gsel], minlength=len(groups))
                per_group = pool / len(groups)
                weight = np.zeros(n)
                g = ginv[gsel]
                weight[gsel] = np.where(gtotal[g] > 0, base_total[gsel] / np.where(gtotal[g] > 0, gtotal[g], 1), 1.0 / gcount[g])
                shared_cost = per_group * weight
            else:
                total = base_total[receivers].sum()
                weight = np.where(receivers, base_total / total if total > 0 else 1.0 / receivers.sum(), 0.0)
                shared_cost = pool * weight
            shared_cost[shared_mask] = 0.0
        elif pool > 0:
            shared_mask[:] = False  # nothing to share onto: keep the costs where they are

        keep = ~shared_mask
        if q.filter is not None:
            keep &= np.fromiter((matches(q.filter, p) for p in props), dtype=bool, count=n)

        groups2: dict[str, int] = {}
        idx = np.flatnonzero(keep)
        ginv = np.fromiter((groups2.setdefault(keys[i], len(groups2)) for i in idx), dtype=np.int64, count=len(idx))
        g = len(groups2)

        def gsum(arr: np.ndarray) -> np.ndarray:
            return np.bincount(ginv, weights=arr[idx], minlength=g)

        sums = {
            "cpu_core_hours": gsum(cpu_hours),
            "cpu_request_hours": gsum(v["cpu_req"] * h),
            "cpu_usage_hours": gsum(v["cpu_use"] * h),
            "cpu_cost": gsum(cpu_cost),
            "ram_byte_hours": gsum(ram_hours),
            "ram_request_hours": gsum(v["ram_req"] * h),
            "ram_usage_hours": gsum(v["ram_use"] * h),
            "ram_cost": gsum(ram_cost),
            "cpu_idle_cost": gsum(cpu_idle_share),
            "ram_idle_cost": gsum(ram_idle_share),
            "shared_cost": gsum(shared_cost),
        }
        gstart = np.full(g, np.inf)
        gend = np.full(g, -np.inf)
        np.minimum.at(gstart, ginv, inputs.first[idx])
        np.maximum.at(gend, ginv, inputs.last[idx])

        common: list[dict | None] = [None] * g
        for j, i in zip(ginv, idx):
            p = props[i]
            if common[j] is None:
                common[j] = {k: val for k, val in p.items() if k not in ("labels", "annotations", "namespaceLabels")}
                common[j]["labels"] = dict(p["labels"])
            else:
                c = common[j]
                for k in [k for k in c if k != "labels" and c[k] != p.get(k)]:
                    del c[k]
                c["labels"] = {lk: lv for lk, lv in c["labels"].items() if p["labels"].get(lk) == lv}

        out: dict[str, Allocation] = {}
        for name, j in groups2.items():
            out[name] = Allocation(
                name, common[j] or {}, float(gstart[j]), float(gend[j]), **{f: float(sums[f][j]) for f in sums}
            )

        if idle_visible and (idle_cpu_cost > 0 or idle_ram_cost > 0):
            out[IDLE] = Allocation(
                IDLE,
                {"cluster": self.cluster},
                window.start,
                window.end,
                cpu_core_hours=idle_cpu_hours,
                cpu_cost=idle_cpu_cost,
                ram_byte_hours=idle_ram_hours,
                ram_cost=idle_ram_cost,
            )
        return out


def accumulate(sets: list[dict[str, Allocation]]) -> dict[str, Allocation]:
    out: dict[str, Allocation] = {}
    for s in sets:
        for name, a in s.items():
            out[name] = out[name].add(a) if name in out else replace(a, properties=dict(a.properties))
    return out


async def compute_sets(
    client,
    engine: Engine,
    window: Window,
    q: AllocationQuery,
    *,
    step: float | None = None,
    accumulate_sets: bool = False,
    resolution: float = 60.0,
    timings: dict[str, float] | None = None,
) -> list[tuple[Window, dict[str, Allocation]]]:
    """One allocation set per step of the window (or one for the whole window).

    `timings`, when given, receives the wall seconds spent fetching from Prometheus
    (`prometheus`) and computing (`engine`).
    """
    windows = window.split(step) if step else [window]
    t0 = time.perf_counter()
    services = needs_services(q)
    fetched = await asyncio.gather(*(fetch(client, w.start, w.end, resolution, services=services) for w in windows))
    t1 = time.perf_counter()
    sets = [(w, engine.compute(inputs, q, w)) for w, inputs in zip(windows, fetched)]
    if accumulate_sets and len(sets) > 1:
        sets = [(window, accumulate([s for _, s in sets]))]
    if timings is not None:
        timings["prometheus"] = timings.get("prometheus", 0.0) + t1 - t0
        timings["engine"] = timings.get("engine", 0.0) + time.perf_counter() - t1
    return sets
