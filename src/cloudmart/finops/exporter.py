"""Cost metrics in OpenCost's names, for the analyzer's `/metrics`, so existing Grafana
dashboards (and the CloudMart one in deploy/components/monitoring/dashboards/) work unchanged.

Computed at scrape time from the analyzer's Prometheus (the latest 5 minutes) and its price
sheet: node prices per hour (`node_cpu_hourly_cost` per core, `node_ram_hourly_cost` per GiB,
`node_gpu_hourly_cost`, `node_total_hourly_cost`, `kubecost_node_is_spot`) and per-container
allocations (`container_cpu_allocation` cores and `container_memory_allocation_bytes` =
max(request, usage) of running containers), plus `cloudmart_namespace_hourly_cost`.
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from cloudmart.finops.pricing import GIB, PriceSheet

NOT_POD = 'container!="",container!="POD"'
LOOKBACK = "5m"


@dataclass
class CostSnapshot:
    nodes: dict[str, dict] = field(default_factory=dict)  # node → {cpu, ram_gib, gpu, prices, labels, spot}
    containers: list[dict] = field(default_factory=list)  # namespace, pod, container, node, cpu, ram


def _key(labels: dict, *names: str) -> tuple[str, ...]:
    return tuple(labels.get(n, "") for n in names)


async def snapshot(client, pricing: PriceSheet, at: float) -> CostSnapshot:
    """One consistent read of what the exporter publishes, evaluated at `at`."""
    q = {
        "cap": f'max by (node, resource) (last_over_time(kube_node_status_capacity{{resource=~"cpu|memory|nvidia_com_gpu"}}[{LOOKBACK}]))',
        "node_labels": f"last_over_time(kube_node_labels[{LOOKBACK}])",
        "cpu_price": f"avg by (node) (last_over_time(node_cpu_hourly_cost[{LOOKBACK}]))",
        "ram_price": f"avg by (node) (last_over_time(node_ram_hourly_cost[{LOOKBACK}]))",
        "req": ('max by (namespace, pod, container, resource) (last_over_time(kube_pod_container_resource_requests'
                f'{{resource=~"cpu|memory",{NOT_POD}}}[{LOOKBACK}]))'),
        "running": f"max by (namespace, pod, container) (last_over_time(kube_pod_container_status_running{{{NOT_POD}}}[{LOOKBACK}])) == 1",
        "cpu_use": f"sum by (namespace, pod, container) (rate(container_cpu_usage_seconds_total{{{NOT_POD}}}[{LOOKBACK}]))",
        "ram_use": f"max by (namespace, pod, container) (last_over_time(container_memory_working_set_bytes{{{NOT_POD}}}[{LOOKBACK}]))",
        "pod_node": f"max by (namespace, pod, node) (last_over_time(kube_pod_info[{LOOKBACK}]))",
    }
    names = list(q)
    results = dict(zip(names, await asyncio.gather(*(client.query(q[n], at) for n in names)), strict=True))
    snap = CostSnapshot()
    caps: dict[str, dict[str, float]] = defaultdict(dict)
    for s in results["cap"]:
        caps[s.labels.get("node", "")][s.labels.get("resource", "")] = s.value
    labels = {s.labels.get("node", ""): s.labels for s in results["node_labels"]}
    cpu_price = {s.labels.get("node", ""): s.value for s in results["cpu_price"] if math.isfinite(s.value)}
    ram_price = {s.labels.get("node", ""): s.value for s in results["ram_price"] if math.isfinite(s.value)}
    for node, cap in sorted(caps.items()):
        node_labels = labels.get(node, {})
        price = pricing.node_price(node_labels, cpu_metric=cpu_price.get(node), ram_metric=ram_price.get(node))
        snap.nodes[node] = {
            "cpu": cap.get("cpu", 0.0), "ram_gib": cap.get("memory", 0.0) / GIB, "gpu": cap.get("nvidia_com_gpu", 0.0),
            "cpu_price": price.cpu, "ram_price": price.ram, "gpu_price": pricing.gpu,
            "spot": pricing.is_spot(node_labels),
            "instance_type": node_labels.get("label_node_kubernetes_io_instance_type", ""),
            "region": node_labels.get("label_topology_kubernetes_io_region", ""),
        }
    req: dict[tuple, dict[str, float]] = defaultdict(dict)
    for s in results["req"]:
        req[_key(s.labels, "namespace", "pod", "container")][s.labels.get("resource", "")] = s.value
    cpu_use = {_key(s.labels, "namespace", "pod", "container"): s.value for s in results["cpu_use"]}
    ram_use = {_key(s.labels, "namespace", "pod", "container"): s.value for s in results["ram_use"]}
    pod_node = {_key(s.labels, "namespace", "pod"): s.labels.get("node", "") for s in results["pod_node"]}
    for s in sorted(results["running"], key=lambda s: _key(s.labels, "namespace", "pod", "container")):
        k = _key(s.labels, "namespace", "pod", "container")
        r = req.get(k, {})

        def alloc(request: float | None, usage: float | None) -> float:
            vals = [v for v in (request, usage) if v is not None and math.isfinite(v)]
            return max(vals) if vals else 0.0

        snap.containers.append({
            "namespace": k[0], "pod": k[1], "container": k[2], "node": pod_node.get(k[:2], ""),
            "cpu": alloc(r.get("cpu"), cpu_use.get(k)), "ram": alloc(r.get("memory"), ram_use.get(k)),
        })
    return snap


class _Collector:
    def __init__(self, snap: CostSnapshot, pricing: PriceSheet) -> None:
        self.snap = snap
        self.pricing = pricing

    def collect(self):
        node_keys = ["instance", "node", "instance_type", "region"]
        cpu = GaugeMetricFamily("node_cpu_hourly_cost", "Hourly cost per vCPU on this node", labels=node_keys)
        ram = GaugeMetricFamily("node_ram_hourly_cost", "Hourly cost per GiB of memory on this node", labels=node_keys)
        gpu = GaugeMetricFamily("node_gpu_hourly_cost", "Hourly cost per GPU on this node", labels=node_keys)
        gpu_count = GaugeMetricFamily("node_gpu_count", "GPUs on this node", labels=node_keys)
        total = GaugeMetricFamily("node_total_hourly_cost", "Total hourly cost of this node", labels=node_keys)
        spot = GaugeMetricFamily("kubecost_node_is_spot", "Whether the node is spot/preemptible", labels=node_keys)
        for node, n in self.snap.nodes.items():
            lv = [node, node, n["instance_type"], n["region"]]
            cpu.add_metric(lv, n["cpu_price"])
            ram.add_metric(lv, n["ram_price"])
            gpu.add_metric(lv, n["gpu_price"])
            gpu_count.add_metric(lv, n["gpu"])
            total.add_metric(lv, n["cpu"] * n["cpu_price"] + n["ram_gib"] * n["ram_price"] + n["gpu"] * n["gpu_price"])
            spot.add_metric(lv, 1.0 if n["spot"] else 0.0)
        ckeys = ["namespace", "pod", "container", "node", "instance"]
        c_cpu = GaugeMetricFamily("container_cpu_allocation", "CPU cores allocated to the container: max(request, usage)", labels=ckeys)
        c_ram = GaugeMetricFamily("container_memory_allocation_bytes", "Memory allocated to the container: max(request, usage)", labels=ckeys)
        ns_cost: dict[str, float] = defaultdict(float)
        for c in self.snap.containers:
            lv = [c["namespace"], c["pod"], c["container"], c["node"], c["node"]]
            c_cpu.add_metric(lv, c["cpu"])
            c_ram.add_metric(lv, c["ram"])
            n = self.snap.nodes.get(c["node"])
            cpu_p = n["cpu_price"] if n else self.pricing.cpu
            ram_p = n["ram_price"] if n else self.pricing.ram
            ns_cost[c["namespace"]] += c["cpu"] * cpu_p + c["ram"] / GIB * ram_p
        ns = GaugeMetricFamily("cloudmart_namespace_hourly_cost", "Hourly cost of what is allocated in the namespace now",
                               labels=["namespace"])
        for name, value in sorted(ns_cost.items()):
            ns.add_metric([name], value)
        yield from (cpu, ram, gpu, gpu_count, total, spot, c_cpu, c_ram, ns)


def render(snap: CostSnapshot, pricing: PriceSheet) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(snap, pricing))
    return generate_latest(registry)
