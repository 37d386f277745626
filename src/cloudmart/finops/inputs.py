"""PromQL for the cost engine's inputs, and the joins between them.

Every per-container quantity is reduced inside Prometheus (mostly by subqueries evaluating one
point per `resolution` step over the window), so only a few numbers per container cross the
wire, whatever the window's length:

- a container runs at step t when `kube_pod_container_status_running` has a sample in
  (t - resolution, t] equal to 1 (the range is `resolution - 1s` long so that Prometheus 2.x,
  whose ranges are closed at both ends, sees exactly one scrape, as 3.x does);
- CPU usage at t is `irate` of `container_cpu_usage_seconds_total` (last two scrapes);
- allocated = max(request, usage) per step = request × running steps + Σ max(0, usage −
  request), the excess being queried only for containers whose peak usage beats the request;
  usage without a request counts in full.

cAdvisor series carry no `node` label: containers are joined to nodes via `kube_pod_info`.
Pods are mapped to Services (only when asked: `aggregate=service` or a `services` filter) by
joining kube-state-metrics' `kube_endpoint_address{namespace, endpoint, ip}` (KSM >= 2.6; the
endpoint is named after its Service) with `kube_pod_info{namespace, pod, pod_ip}` on
(namespace, ip), ready and not-ready addresses alike, as a selector matches both. Pod IPs are
reused, so the join is made per step inside Prometheus (a pod backs a Service when both had a
sample in the same step); IPs held by several pods at once (host-network pods share their
node's IP) are left out of the join rather than guessed.
Windows longer than `chunk` seconds are split and summed (bounding Prometheus' memory).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field

import numpy as np

from cloudmart.finops.prometheus import PrometheusClient, Series

KEY = ("namespace", "pod", "container")
BY = "namespace, pod, container"
NOT_POD = 'container!="", container!="POD"'
DEFAULT_CHUNK = 86400
EXCESS_BATCH = 300  # containers per excess query (bounds the regex size)


@dataclass
class Meta:
    """Pod, namespace and node metadata seen during the window (latest value wins)."""

    pod_node: dict[tuple[str, str], str] = field(default_factory=dict)
    pod_labels: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    pod_annotations: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    pod_owner: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    replicaset_owner: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    namespace_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    node_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    node_cpu_price: dict[str, float] = field(default_factory=dict)
    node_ram_price: dict[str, float] = field(default_factory=dict)
    pod_services: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)

    def update(self, other: "Meta") -> None:
        for name in self.__dataclass_fields__:
            getattr(self, name).update(getattr(other, name))


# Per-container arrays, one row per (namespace, pod, container); amounts are per step.
CONTAINER_FIELDS = ("steps", "cpu_alloc", "cpu_req", "cpu_use", "ram_alloc", "ram_req", "ram_use")
NODE_FIELDS = ("steps", "cpu_cap", "ram_cap")


@dataclass
class Inputs:
    start: float
    end: float
    resolution: float
    keys: list[tuple[str, str, str]]
    values: dict[str, np.ndarray]  # CONTAINER_FIELDS → float64[len(keys)]
    first: np.ndarray  # first running step (unix seconds)
    last: np.ndarray  # last running step + resolution
    nodes: list[str]
    node_values: dict[str, np.ndarray]  # NODE_FIELDS → float64[len(nodes)]
    meta: Meta

    @classmethod
    def empty(cls, start: float, end: float, resolution: float) -> "Inputs":
        return cls(
            start, end, resolution, [], {f: np.zeros(0) for f in CONTAINER_FIELDS}, np.zeros(0), np.zeros(0),
            [], {f: np.zeros(0) for f in NODE_FIELDS}, Meta(),
        )

    @staticmethod
    def merge(parts: list["Inputs"]) -> "Inputs":
        """Sum inputs of consecutive chunks of one window (vectorized group-by on the keys)."""
        if len(parts) == 1:
            return parts[0]
        keys_all = [k for p in parts for k in p.keys]
        index: dict[tuple, int] = {}
        inv = np.fromiter((index.setdefault(k, len(index)) for k in keys_all), dtype=np.int64, count=len(keys_all))
        n = len(index)
        values = {
            f: np.bincount(inv, weights=np.concatenate([p.values[f] for p in parts]), minlength=n)
            for f in CONTAINER_FIELDS
        }
        first = np.full(n, np.inf)
        last = np.full(n, -np.inf)
        np.minimum.at(first, inv, np.concatenate([p.first for p in parts]))
        np.maximum.at(last, inv, np.concatenate([p.last for p in parts]))
        nodes_all = [k for p in parts for k in p.nodes]
        nindex: dict[str, int] = {}
        ninv = np.fromiter((nindex.setdefault(k, len(nindex)) for k in nodes_all), dtype=np.int64, count=len(nodes_all))
        node_values = {
            f: np.bincount(ninv, weights=np.concatenate([p.node_values[f] for p in parts]), minlength=len(nindex))
            for f in NODE_FIELDS
        }
        meta = Meta()
        for p in parts:
            meta.update(p.meta)
        return Inputs(parts[0].start, parts[-1].end, parts[0].resolution, list(index), values, first, last, list(nindex), node_values, meta)


def _labels(s: Series, prefix: str = "label_") -> dict[str, str]:
    return {k[len(prefix):]: v for k, v in s.labels.items() if k.startswith(prefix)}


class InputQueries:
    """The PromQL for one chunk; `rng` is the subquery range ending at the chunk's last step.

    Per-step joins (binary operators, aggregations) dominate Prometheus' cost in subqueries, so
    the common path has none: requests are read once per window (they are fixed for a
    container's life), usage is summed per series, and only containers whose peak usage exceeds
    their request get a second, narrow query for the per-step excess max(0, usage − request).
    """

    def __init__(self, resolution: float):
        self.res = int(resolution)
        self.inner = f"{self.res - 1}s"
        # irate over 1.5 steps: two scrapes while running, a single one right after the end
        self.rate_range = f"{self.res + self.res // 2}s"

    def running(self) -> str:
        return f"(max_over_time(kube_pod_container_status_running{{{NOT_POD}}}[{self.inner}]) == 1)"

    def request_series(self, resource: str, selector: str = NOT_POD) -> str:
        unit = "core" if resource == "cpu" else "byte"
        return f'kube_pod_container_resource_requests{{resource="{resource}", unit="{unit}", {selector}}}'

    def usage(self, resource: str, selector: str = NOT_POD) -> str:
        if resource == "cpu":
            return f"irate(container_cpu_usage_seconds_total{{{selector}}}[{self.rate_range}])"
        return f"max_over_time(container_memory_working_set_bytes{{{selector}}}[{self.inner}])"

    def container_queries(self, rng: str) -> dict[str, str]:
        run = self.running()
        sub = f"[{rng}:{self.res}s]"
        raw_running = f"max_over_time(kube_pod_container_status_running{{{NOT_POD}}}[{self.inner}])"
        out = {
            # the running series is 0 or 1: its sum is the number of running steps
            "steps": f"max by ({BY}) (sum_over_time({raw_running}{sub}))",
            "first": f"min by ({BY}) (min_over_time(timestamp({run}){sub}))",
            "last": f"max by ({BY}) (max_over_time(timestamp({run}){sub}))",
        }
        for r in ("cpu", "ram"):
            resource = "cpu" if r == "cpu" else "memory"
            out[f"{r}_request"] = f"max by ({BY}) (avg_over_time({self.request_series(resource)}[{rng}]))"
            out[f"{r}_use"] = f"max by ({BY}) (sum_over_time({self.usage(resource)}{sub}))"
            out[f"{r}_peak"] = (
                f"max by ({BY}) (max_over_time({self.usage(resource)}{sub}))"
                if r == "cpu"
                else f"max by ({BY}) (max_over_time(container_memory_working_set_bytes{{{NOT_POD}}}[{rng}]))"
            )
        return out

    def excess(self, resource: str, rng: str, selector: str) -> str:
        """Σ over steps of max(0, usage − request) for the containers `selector` matches."""
        use = f"max by ({BY}) ({self.usage(resource, selector)})"
        req = f"max by ({BY}) (max_over_time({self.request_series(resource, selector)}[{self.inner}]))"
        return f"max by ({BY}) (sum_over_time(clamp_min({use} - on({BY}) {req}, 0)[{rng}:{self.res}s]))"

    def node_queries(self, rng: str) -> dict[str, str]:
        def cap(resource: str, unit: str) -> str:
            return (
                f"sum_over_time((max by (node) (max_over_time(kube_node_status_capacity"
                f'{{resource="{resource}", unit="{unit}"}}[{self.inner}])))[{rng}:{self.res}s])'
            )

        return {
            "steps": f"count_over_time((max by (node) (max_over_time(kube_node_status_capacity{{resource=\"cpu\"}}[{self.inner}])))[{rng}:{self.res}s])",
            "cpu_cap": cap("cpu", "core"),
            "ram_cap": cap("memory", "byte"),
        }

    @staticmethod
    def meta_queries(rng: str) -> dict[str, str]:
        return {
            "pod_info": f"last_over_time(kube_pod_info[{rng}])",
            "pod_labels": f"last_over_time(kube_pod_labels[{rng}])",
            "pod_annotations": f"last_over_time(kube_pod_annotations[{rng}])",
            "pod_owner": f"last_over_time(kube_pod_owner[{rng}])",
            "rs_owner": f"last_over_time(kube_replicaset_owner[{rng}])",
            "ns_labels": f"last_over_time(kube_namespace_labels[{rng}])",
            "node_labels": f"last_over_time(kube_node_labels[{rng}])",
            "node_cpu_price": f"avg by (node) (avg_over_time(node_cpu_hourly_cost[{rng}]))",
            "node_ram_price": f"avg by (node) (avg_over_time(node_ram_hourly_cost[{rng}]))",
        }


def service_query(rng: str, res: int) -> str:
    """(namespace, pod, endpoint) for every pod whose IP was an address of that endpoint in
    some step of the range; the value is the number of such steps."""
    inner = f"{res - 1}s"
    pods = f'label_replace(max_over_time(kube_pod_info{{pod_ip!=""}}[{inner}]), "ip", "$1", "pod_ip", "(.+)")'
    pod_by_ip = f"group by (namespace, ip, pod) ({pods})"
    unique = f"{pod_by_ip} and on (namespace, ip) (count by (namespace, ip) ({pod_by_ip}) == 1)"
    addresses = f"group by (namespace, endpoint, ip) (max_over_time(kube_endpoint_address[{inner}]))"
    join = f"{addresses} * on (namespace, ip) group_left (pod) ({unique})"
    return f"max by (namespace, pod, endpoint) (count_over_time(({join})[{rng}:{res}s]))"


def services_by_pod(pairs: list[tuple[str, str, str]]) -> dict[tuple[str, str], tuple[str, ...]]:
    """(namespace, pod, endpoint) pairs → the Services each pod backs, sorted by name
    (aggregation keys on the first, as OpenCost does)."""
    out: dict[tuple[str, str], set[str]] = {}
    for ns, pod, endpoint in pairs:
        if pod and endpoint:
            out.setdefault((ns, pod), set()).add(endpoint)
    return {k: tuple(sorted(v)) for k, v in out.items()}


def steps_in(start: float, end: float, res: float) -> tuple[float, float] | None:
    """First and last step timestamps (multiples of `res`) in [start, end), or None."""
    first = math.ceil(start / res) * res
    last = math.ceil(end / res) * res - res
    return (first, last) if last >= first else None


def _selector(keys: list[tuple[str, str, str]]) -> str:
    """Label matchers selecting (at least) these containers; names are DNS labels, so only
    dots need escaping in the RE2 alternation."""

    def alternation(values: set[str]) -> str:
        return "|".join(sorted(v.replace(".", "\\\\.") for v in values))

    return f'namespace=~"{alternation({k[0] for k in keys})}", pod=~"{alternation({k[1] for k in keys})}", {NOT_POD}'


async def fetch_chunk(
    client: PrometheusClient, start: float, end: float, resolution: float, services: bool = False
) -> Inputs:
    span = steps_in(start, end, resolution)
    if span is None:
        return Inputs.empty(start, end, resolution)
    first, t = span
    rng = f"{int(t - first + resolution - 1)}s"
    q = InputQueries(resolution)
    cq, nq, mq = q.container_queries(rng), q.node_queries(rng), q.meta_queries(rng)
    if services:
        mq["services"] = service_query(rng, q.res)
    names = list(cq) + [f"node:{k}" for k in nq] + [f"meta:{k}" for k in mq]
    exprs = list(cq.values()) + list(nq.values()) + list(mq.values())
    results = dict(zip(names, await asyncio.gather(*(client.query(e, t) for e in exprs))))

    index: dict[tuple[str, str, str], int] = {}
    for s in results["steps"]:
        index.setdefault(tuple(s.labels.get(k, "") for k in KEY), len(index))
    n = len(index)

    def column(name: str, fill: float = 0.0) -> np.ndarray:
        out = np.full(n, fill)
        for s in results[name]:
            i = index.get(tuple(s.labels.get(k, "") for k in KEY))
            if i is not None and math.isfinite(s.value):
                out[i] = s.value
        return out

    steps = column("steps")
    values = {"steps": steps}
    for r, resource in (("cpu", "cpu"), ("ram", "memory")):
        request, use, peak = column(f"{r}_request"), column(f"{r}_use"), column(f"{r}_peak")
        alloc = np.where(request > 0, request * steps, use)
        over = np.flatnonzero((request > 0) & (peak > request))
        if len(over):
            keys = list(index)
            batches = [[keys[i] for i in over[j : j + EXCESS_BATCH]] for j in range(0, len(over), EXCESS_BATCH)]
            excess_results = await asyncio.gather(*(client.query(q.excess(resource, rng, _selector(b)), t) for b in batches))
            excess = np.zeros(n)
            for batch_result in excess_results:
                for s in batch_result:
                    i = index.get(tuple(s.labels.get(k, "") for k in KEY))
                    if i is not None and math.isfinite(s.value):
                        excess[i] = s.value
            alloc = alloc + np.where((request > 0) & (peak > request), excess, 0.0)
        values[f"{r}_alloc"] = alloc
        values[f"{r}_req"] = request * steps
        values[f"{r}_use"] = use
    first_ts = column("first", np.inf)
    last_ts = column("last", -np.inf) + resolution

    nindex: dict[str, int] = {}
    for s in results["node:steps"]:
        nindex.setdefault(s.labels.get("node", ""), len(nindex))
    node_values = {}
    for f in NODE_FIELDS:
        arr = np.zeros(len(nindex))
        for s in results[f"node:{f}"]:
            i = nindex.get(s.labels.get("node", ""))
            if i is not None and math.isfinite(s.value):
                arr[i] = s.value
        node_values[f] = arr

    meta = Meta()
    for s in results["meta:pod_info"]:
        if s.labels.get("node"):
            meta.pod_node[(s.labels.get("namespace", ""), s.labels.get("pod", ""))] = s.labels["node"]
    if services:
        meta.pod_services = services_by_pod(
            [(s.labels.get("namespace", ""), s.labels.get("pod", ""), s.labels.get("endpoint", "")) for s in results["meta:services"]]
        )
    for s in results["meta:pod_labels"]:
        meta.pod_labels[(s.labels.get("namespace", ""), s.labels.get("pod", ""))] = _labels(s)
    for s in results["meta:pod_annotations"]:
        meta.pod_annotations[(s.labels.get("namespace", ""), s.labels.get("pod", ""))] = _labels(s, "annotation_")
    for s in results["meta:pod_owner"]:
        kind, name = s.labels.get("owner_kind", ""), s.labels.get("owner_name", "")
        if kind and kind != "<none>" and name and name != "<none>":
            meta.pod_owner[(s.labels.get("namespace", ""), s.labels.get("pod", ""))] = (kind, name)
    for s in results["meta:rs_owner"]:
        kind, name = s.labels.get("owner_kind", ""), s.labels.get("owner_name", "")
        if kind and kind != "<none>" and name and name != "<none>":
            meta.replicaset_owner[(s.labels.get("namespace", ""), s.labels.get("replicaset", ""))] = (kind, name)
    for s in results["meta:ns_labels"]:
        meta.namespace_labels[s.labels.get("namespace", "")] = _labels(s)
    for s in results["meta:node_labels"]:
        meta.node_labels[s.labels.get("node", "")] = _labels(s)
    for s in results["meta:node_cpu_price"]:
        if math.isfinite(s.value):
            meta.node_cpu_price[s.labels.get("node", "")] = s.value
    for s in results["meta:node_ram_price"]:
        if math.isfinite(s.value):
            meta.node_ram_price[s.labels.get("node", "")] = s.value
    return Inputs(start, end, resolution, list(index), values, first_ts, last_ts, list(nindex), node_values, meta)


async def fetch(
    client: PrometheusClient,
    start: float,
    end: float,
    resolution: float = 60.0,
    chunk: float = DEFAULT_CHUNK,
    services: bool = False,
) -> Inputs:
    """All inputs for [start, end), fetched in chunks of at most `chunk` seconds and summed;
    `services` adds the pod → Services join (one more query per chunk)."""
    bounds = []
    t = start
    while t < end:
        bounds.append((t, min(t + chunk, end)))
        t += chunk
    if not bounds:
        return Inputs.empty(start, end, resolution)
    parts = await asyncio.gather(*(fetch_chunk(client, a, b, resolution, services) for a, b in bounds))
    return Inputs.merge(list(parts))
