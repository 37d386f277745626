"""The seed's Step 5 checklist (verify-cloudmart.sh), through the Kubernetes API and the cost API.

Each check returns one `CheckResult`: pass/fail, what was seen, and on failure the seed's
troubleshooting hint (Pending → resources; HPA `<unknown>` → metrics-server; cost API refused →
port-forward).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import httpx
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError as Urllib3Error

SEED_HPAS = ("user-service-hpa", "product-service-hpa", "order-service-hpa")

HINT_PENDING = (
    "Pending pods: not enough node resources or scheduling failed. "
    "kubectl describe pod {pod} -n {ns}; kubectl top nodes; if needed lower the requests "
    "(kubectl edit deployment <name> -n {ns})"
)
HINT_NOT_READY = "kubectl describe pod {pod} -n {ns}; kubectl logs {pod} -n {ns}"
HINT_METRICS = (
    "HPA targets <unknown>: metrics-server is still collecting metrics. Wait 1-2 minutes and "
    "re-run; kubectl logs -n kube-system deployment/metrics-server"
)
HINT_PORT_FORWARD = (
    "cost API unreachable: start the port-forward: "
    "kubectl port-forward -n kubecost svc/kubecost-cost-analyzer 9090:9090"
)


class VerifyError(Exception):
    """The checks could not run at all (no usable kubeconfig)."""


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    hint: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def kube_client(kubeconfig: str | None = None, context: str | None = None) -> k8s.ApiClient:
    """An API client from a kubeconfig (default: $KUBECONFIG or ~/.kube/config), else in-cluster."""
    try:
        return k8s_config.new_client_from_config(config_file=kubeconfig, context=context)
    except (k8s_config.ConfigException, FileNotFoundError, OSError) as exc:
        error = exc
    if kubeconfig is None and context is None and k8s_config.incluster_config.SERVICE_HOST_ENV_NAME in os.environ:
        k8s_config.load_incluster_config()
        return k8s.ApiClient()
    raise VerifyError(f"cannot load kubeconfig{f' {kubeconfig}' if kubeconfig else ''}: {error}") from error


def _get(call: Callable[..., Any], *args: Any) -> dict[str, Any]:
    """Raw JSON of a list call: the checks read only a few fields and tolerate partial objects."""
    response = call(*args, _preload_content=False, _request_timeout=15)
    return json.loads(response.data)


def _api_failure(name: str, exc: Exception, hint: str) -> CheckResult:
    if isinstance(exc, ApiException):
        detail = f"Kubernetes API answered {exc.status} {exc.reason}"
    else:
        detail = f"Kubernetes API unreachable: {exc}"
    return CheckResult(name, False, detail, hint)


def _pod_state(pod: dict[str, Any]) -> tuple[str, bool]:
    status = pod.get("status", {})
    phase = status.get("phase", "Unknown")
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions", []))
    return phase, ready


def check_pods(api: k8s.ApiClient, namespace: str, name: str, prefix: str = "") -> CheckResult:
    """Every pod (whose name starts with `prefix`) in `namespace` is Running and Ready."""
    try:
        pods = _get(k8s.CoreV1Api(api).list_namespaced_pod, namespace)["items"]
    except (ApiException, Urllib3Error, OSError) as exc:
        return _api_failure(name, exc, f"kubectl get pods -n {namespace}")
    pods = [p for p in pods if p["metadata"]["name"].startswith(prefix)]
    if not pods:
        what = f"pods named {prefix}*" if prefix else "pods"
        return CheckResult(name, False, f"no {what} in namespace {namespace}",
                           f"kubectl get pods -n {namespace}; is the overlay applied?")
    bad = []
    for pod in pods:
        phase, ready = _pod_state(pod)
        if phase != "Running" or not ready:
            bad.append((pod["metadata"]["name"], phase, ready))
    if not bad:
        return CheckResult(name, True, f"{len(pods)}/{len(pods)} pods Running and Ready in {namespace}")
    listing = ", ".join(f"{pod} {phase}{'' if ready else ' (not ready)'}" for pod, phase, ready in bad)
    pending = [pod for pod, phase, _ in bad if phase == "Pending"]
    first = pending[0] if pending else bad[0][0]
    hint = (HINT_PENDING if pending else HINT_NOT_READY).format(pod=first, ns=namespace)
    return CheckResult(name, False, f"{len(pods) - len(bad)}/{len(pods)} ready; {listing}", hint)


def _metric_key(metric: dict[str, Any]) -> tuple[str, str] | None:
    kind = metric.get("type", "")
    body = metric.get(kind[:1].lower() + kind[1:], {}) if kind else {}
    if kind in ("Resource", "ContainerResource"):
        return kind, body.get("name", "")
    return (kind, body.get("metric", {}).get("name", "")) if body else None


def _has_value(current: dict[str, Any]) -> bool:
    kind = current.get("type", "")
    body = current.get(kind[:1].lower() + kind[1:], {}) if kind else {}
    values = body.get("current", {})
    return any(values.get(k) is not None for k in ("averageUtilization", "averageValue", "value"))


def check_hpas(api: k8s.ApiClient, namespace: str, expected: tuple[str, ...] = SEED_HPAS) -> CheckResult:
    """Every HPA reports a current value for each of its metrics (not `<unknown>`)."""
    name = "HPA metrics"
    try:
        hpas = _get(k8s.AutoscalingV2Api(api).list_namespaced_horizontal_pod_autoscaler, namespace)["items"]
    except (ApiException, Urllib3Error, OSError) as exc:
        return _api_failure(name, exc, f"kubectl get hpa -n {namespace}")
    names = {h["metadata"]["name"] for h in hpas}
    missing = [n for n in expected if n not in names]
    if missing:
        return CheckResult(name, False, f"missing HPAs: {', '.join(missing)}",
                           f"kubectl get hpa -n {namespace}; is the overlay applied?")
    unknown, shown = [], []
    for hpa in sorted(hpas, key=lambda h: h["metadata"]["name"]):
        wanted = {_metric_key(m) for m in hpa.get("spec", {}).get("metrics", [])}
        current = hpa.get("status", {}).get("currentMetrics") or []
        have = {_metric_key(c) for c in current if _has_value(c)}
        if not wanted or not wanted <= have:
            unknown.append(hpa["metadata"]["name"])
        else:
            replicas = hpa.get("status", {}).get("currentReplicas", "?")
            shown.append(f"{hpa['metadata']['name']} {replicas} replicas")
    if unknown:
        return CheckResult(name, False, f"<unknown> targets: {', '.join(unknown)}", HINT_METRICS)
    return CheckResult(name, True, f"{len(hpas)} HPAs report metrics ({'; '.join(shown)})")


def _cpu_cores(quantity: str) -> float:
    units = {"n": 1e-9, "u": 1e-6, "m": 1e-3}
    if quantity and quantity[-1] in units:
        return float(quantity[:-1]) * units[quantity[-1]]
    return float(quantity)


def _bytes(quantity: str) -> float:
    binary = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    decimal = {"k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
    for suffix, factor in binary.items():
        if quantity.endswith(suffix):
            return float(quantity[: -len(suffix)]) * factor
    if quantity and quantity[-1] in decimal:
        return float(quantity[:-1]) * decimal[quantity[-1]]
    return float(quantity)


def check_nodes(api: k8s.ApiClient) -> CheckResult:
    """`kubectl top nodes`: the metrics API has usage for every node."""
    name = "node resource usage"
    try:
        nodes = _get(k8s.CoreV1Api(api).list_node)["items"]
        usage = _get(k8s.CustomObjectsApi(api).list_cluster_custom_object, "metrics.k8s.io", "v1beta1", "nodes")["items"]
    except ApiException as exc:
        if exc.status in (404, 503):
            return CheckResult(name, False, "the metrics API (metrics.k8s.io) is not available", HINT_METRICS)
        return _api_failure(name, exc, "kubectl top nodes")
    except (Urllib3Error, OSError) as exc:
        return _api_failure(name, exc, "kubectl top nodes")
    by_node = {u["metadata"]["name"]: u.get("usage", {}) for u in usage}
    missing = [n["metadata"]["name"] for n in nodes if n["metadata"]["name"] not in by_node]
    if not nodes or missing:
        return CheckResult(name, False, f"no usage for nodes: {', '.join(missing) or 'no nodes'}", HINT_METRICS)
    parts = []
    for node in nodes:
        node_name = node["metadata"]["name"]
        capacity = node.get("status", {}).get("allocatable") or node.get("status", {}).get("capacity", {})
        cpu = _cpu_cores(by_node[node_name]["cpu"]) / _cpu_cores(capacity["cpu"])
        mem = _bytes(by_node[node_name]["memory"]) / _bytes(capacity["memory"])
        parts.append(f"{node_name} cpu {cpu:.0%} mem {mem:.0%}")
    return CheckResult(name, True, "; ".join(parts))


def check_cost(cost_url: str, namespace: str, timeout: float = 10.0) -> CheckResult:
    """CloudMart's cost over the last day, from the cost analyzer's Kubecost-compatible API."""
    name = f"{namespace} cost (1d)"
    url = cost_url.rstrip("/") + "/model/allocation"
    params = {"window": "1d", "aggregate": "namespace", "filter": f"namespace:{namespace}"}
    try:
        response = httpx.get(url, params=params, timeout=timeout)
    except httpx.TransportError as exc:
        return CheckResult(name, False, f"cannot reach {cost_url}: {exc.__class__.__name__}", HINT_PORT_FORWARD)
    if response.status_code != 200:
        return CheckResult(name, False, f"cost API answered {response.status_code}: {response.text[:200]}",
                           "kubectl logs -n kubecost deployment/kubecost-cost-analyzer")
    try:
        body = response.json()
        totals = [sets[namespace]["totalCost"] for sets in body["data"] if sets and namespace in sets]
    except (ValueError, KeyError, TypeError):
        return CheckResult(name, False, "cost API answer is not a Kubecost allocation response",
                           "kubectl logs -n kubecost deployment/kubecost-cost-analyzer")
    if not totals or any(not isinstance(t, int | float) for t in totals):
        return CheckResult(name, False, f"no cost for namespace {namespace} in the last day",
                           "Prometheus may not have scraped kube-state-metrics yet; wait a few minutes")
    return CheckResult(name, True, f"{namespace} totalCost {sum(totals):.2f}")


def run_checks(
    api: k8s.ApiClient,
    cost_url: str,
    namespace: str = "cloudmart",
    cost_namespace: str = "kubecost",
) -> list[CheckResult]:
    """The seed's five checks, in the seed's order."""
    return [
        check_pods(api, namespace, "CloudMart pods"),
        check_hpas(api, namespace),
        check_pods(api, cost_namespace, "cost-analyzer pods", prefix="kubecost-cost-analyzer"),
        check_nodes(api),
        check_cost(cost_url, namespace),
    ]
