"""`cloudmart verify`: every check's pass and fail paths, against a fake Kubernetes API and a fake
cost API on 127.0.0.1 reached through the official kubernetes client and a kubeconfig."""

import json

import pytest
from typer.testing import CliRunner

from cloudmart.cli import app
from cloudmart.ops import verify
from fixtures.kube_api import write_kubeconfig

SERVICES = ("user-service", "product-service", "order-service", "payment-service", "notification-service")
NODES = ("lab-cluster-control-plane", "lab-cluster-worker", "lab-cluster-worker2")


def pod(name, phase="Running", ready=True):
    return {"metadata": {"name": name},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def hpa(name, metrics=("cpu",), current=True, replicas=2):
    spec = [{"type": "Resource", "resource": {"name": m, "target": {"type": "Utilization", "averageUtilization": 70}}}
            for m in metrics]
    cur = [{"type": "Resource", "resource": {"name": m, "current": {"averageUtilization": 12, "averageValue": "30m"}}}
           for m in metrics] if current else None
    return {"metadata": {"name": name}, "spec": {"metrics": spec},
            "status": {"currentReplicas": replicas, "currentMetrics": cur}}


def healthy_cluster(kube, cost):
    kube.routes.update({
        "/api/v1/namespaces/cloudmart/pods": (200, {"items": [pod(f"{s}-7d9f-abc{i}") for s in SERVICES for i in range(2)]}),
        "/apis/autoscaling/v2/namespaces/cloudmart/horizontalpodautoscalers": (200, {"items": [
            hpa("user-service-hpa", ("cpu", "memory")), hpa("product-service-hpa"), hpa("order-service-hpa", replicas=1),
            hpa("payment-service-hpa"), hpa("notification-service-hpa")]}),
        "/api/v1/namespaces/kubecost/pods": (200, {"items": [
            pod("kubecost-cost-analyzer-5c8d-x1"), pod("kubecost-prometheus-server-66f-x2")]}),
        "/api/v1/nodes": (200, {"items": [
            {"metadata": {"name": n}, "status": {"allocatable": {"cpu": "4", "memory": "8Gi"}}} for n in NODES]}),
        "/apis/metrics.k8s.io/v1beta1/nodes": (200, {"items": [
            {"metadata": {"name": n}, "usage": {"cpu": "500000000n", "memory": "2Gi"}} for n in NODES]}),
    })
    cost.routes["/model/allocation"] = (200, {"code": 200, "status": "success",
                                              "data": [{"cloudmart": {"name": "cloudmart", "totalCost": 12.5}}]})


@pytest.fixture
def env(fake_http, tmp_path):
    kube, cost = fake_http(), fake_http()
    healthy_cluster(kube, cost)
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", kube.url)
    return kube, cost, kubeconfig


def run_verify(env, *extra):
    kube, cost, kubeconfig = env
    return CliRunner().invoke(app, ["verify", "--kubeconfig", str(kubeconfig), "--cost-url", cost.url, "--json", *extra])


def checks(result):
    return {c["name"]: c for c in json.loads(result.output)["checks"]}


def test_healthy_cluster_passes_every_check(env):
    result = run_verify(env)
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["ok"] is True
    assert [c["name"] for c in body["checks"]] == [
        "CloudMart pods", "HPA metrics", "cost-analyzer pods", "node resource usage", "cloudmart cost (1d)"]
    got = checks(result)
    assert got["CloudMart pods"]["detail"] == "10/10 pods Running and Ready in cloudmart"
    assert got["cost-analyzer pods"]["detail"] == "1/1 pods Running and Ready in kubecost"
    assert got["node resource usage"]["detail"].startswith("lab-cluster-control-plane cpu 12% mem 25%")
    assert got["cloudmart cost (1d)"]["detail"] == "cloudmart totalCost 12.50"
    assert all(c["hint"] is None for c in body["checks"])
    # the seed's exact cost query
    kube, cost, _ = env
    assert any("window=1d" in r and "aggregate=namespace" in r and "filter=namespace%3Acloudmart" in r for r in cost.requests)


def test_pending_pod_fails_with_the_resources_hint(env):
    kube = env[0]
    kube.routes["/api/v1/namespaces/cloudmart/pods"] = (200, {"items": [
        pod("user-service-a"), pod("user-service-b", phase="Pending", ready=False)]})
    result = run_verify(env)
    assert result.exit_code == 1
    check = checks(result)["CloudMart pods"]
    assert check["ok"] is False
    assert "user-service-b Pending" in check["detail"]
    assert "kubectl describe pod user-service-b -n cloudmart" in check["hint"]
    assert "kubectl top nodes" in check["hint"]


def test_running_but_unready_pod_fails_with_logs_hint(env):
    env[0].routes["/api/v1/namespaces/cloudmart/pods"] = (200, {"items": [pod("order-service-a", ready=False)]})
    check = checks(run_verify(env))["CloudMart pods"]
    assert check["ok"] is False and "not ready" in check["detail"]
    assert check["hint"] == "kubectl describe pod order-service-a -n cloudmart; kubectl logs order-service-a -n cloudmart"


def test_no_pods_is_a_failure(env):
    env[0].routes["/api/v1/namespaces/cloudmart/pods"] = (200, {"items": []})
    check = checks(run_verify(env))["CloudMart pods"]
    assert check["ok"] is False and check["detail"] == "no pods in namespace cloudmart"


def test_hpa_with_unknown_metrics_points_at_metrics_server(env):
    env[0].routes["/apis/autoscaling/v2/namespaces/cloudmart/horizontalpodautoscalers"] = (200, {"items": [
        hpa("user-service-hpa", ("cpu", "memory"), current=False), hpa("product-service-hpa"), hpa("order-service-hpa")]})
    result = run_verify(env)
    assert result.exit_code == 1
    check = checks(result)["HPA metrics"]
    assert check["detail"] == "<unknown> targets: user-service-hpa"
    assert "metrics-server" in check["hint"]


def test_hpa_reporting_only_some_of_its_metrics_is_unknown(env):
    partial = hpa("user-service-hpa", ("cpu", "memory"))
    partial["status"]["currentMetrics"] = partial["status"]["currentMetrics"][:1]
    env[0].routes["/apis/autoscaling/v2/namespaces/cloudmart/horizontalpodautoscalers"] = (200, {"items": [
        partial, hpa("product-service-hpa"), hpa("order-service-hpa")]})
    assert checks(run_verify(env))["HPA metrics"]["ok"] is False


def test_missing_seed_hpa_fails(env):
    env[0].routes["/apis/autoscaling/v2/namespaces/cloudmart/horizontalpodautoscalers"] = (200, {"items": [
        hpa("user-service-hpa"), hpa("order-service-hpa")]})
    check = checks(run_verify(env))["HPA metrics"]
    assert check["ok"] is False and check["detail"] == "missing HPAs: product-service-hpa"


def test_cost_analyzer_down(env):
    env[0].routes["/api/v1/namespaces/kubecost/pods"] = (200, {"items": [
        pod("kubecost-cost-analyzer-5c8d-x1", phase="Failed", ready=False), pod("kubecost-prometheus-server-1")]})
    check = checks(run_verify(env))["cost-analyzer pods"]
    assert check["ok"] is False
    assert check["detail"] == "0/1 ready; kubecost-cost-analyzer-5c8d-x1 Failed (not ready)"


def test_cost_analyzer_absent(env):
    env[0].routes["/api/v1/namespaces/kubecost/pods"] = (200, {"items": [pod("kubecost-prometheus-server-1")]})
    check = checks(run_verify(env))["cost-analyzer pods"]
    assert check["ok"] is False and check["detail"] == "no pods named kubecost-cost-analyzer* in namespace kubecost"


def test_metrics_api_missing_fails_node_usage(env):
    del env[0].routes["/apis/metrics.k8s.io/v1beta1/nodes"]
    check = checks(run_verify(env))["node resource usage"]
    assert check["ok"] is False
    assert check["detail"] == "the metrics API (metrics.k8s.io) is not available"
    assert "metrics-server" in check["hint"]


def test_node_without_usage_fails(env):
    env[0].routes["/apis/metrics.k8s.io/v1beta1/nodes"] = (200, {"items": [
        {"metadata": {"name": NODES[0]}, "usage": {"cpu": "100m", "memory": "1Gi"}}]})
    check = checks(run_verify(env))["node resource usage"]
    assert check["ok"] is False and "lab-cluster-worker, lab-cluster-worker2" in check["detail"]


def test_cost_api_refused_suggests_the_port_forward(env, tmp_path):
    from fixtures.servers import free_port

    kube, _, kubeconfig = env
    result = CliRunner().invoke(app, ["verify", "--kubeconfig", str(kubeconfig),
                                      "--cost-url", f"http://127.0.0.1:{free_port()}", "--json"])
    assert result.exit_code == 1
    check = checks(result)["cloudmart cost (1d)"]
    assert check["ok"] is False and check["detail"].startswith("cannot reach")
    assert check["hint"] == verify.HINT_PORT_FORWARD
    assert "kubectl port-forward -n kubecost svc/kubecost-cost-analyzer 9090:9090" in check["hint"]


def test_cost_api_error_and_empty_answers_fail(env):
    cost = env[1]
    cost.routes["/model/allocation"] = (400, {"code": 400, "message": "bad window"})
    check = checks(run_verify(env))["cloudmart cost (1d)"]
    assert check["ok"] is False and "400" in check["detail"]
    cost.routes["/model/allocation"] = (200, {"code": 200, "data": [{}]})
    check = checks(run_verify(env))["cloudmart cost (1d)"]
    assert check["ok"] is False and check["detail"] == "no cost for namespace cloudmart in the last day"
    cost.routes["/model/allocation"] = (200, {"unexpected": True})
    check = checks(run_verify(env))["cloudmart cost (1d)"]
    assert check["ok"] is False and "not a Kubecost allocation response" in check["detail"]


def test_api_server_errors_are_reported_not_raised(env):
    env[0].routes["/api/v1/namespaces/cloudmart/pods"] = (403, {"kind": "Status", "code": 403})
    result = run_verify(env)
    assert result.exit_code == 1
    assert checks(result)["CloudMart pods"]["detail"].startswith("Kubernetes API answered 403")


def test_unreachable_api_server_fails_every_kubernetes_check(fake_http, tmp_path):
    from fixtures.servers import free_port

    cost = fake_http()
    cost.routes["/model/allocation"] = (200, {"code": 200, "data": [{"cloudmart": {"totalCost": 1.0}}]})
    kubeconfig = write_kubeconfig(tmp_path / "kc", f"http://127.0.0.1:{free_port()}")
    result = CliRunner().invoke(app, ["verify", "--kubeconfig", str(kubeconfig), "--cost-url", cost.url, "--json"])
    assert result.exit_code == 1
    got = checks(result)
    assert [n for n, c in got.items() if not c["ok"]] == [
        "CloudMart pods", "HPA metrics", "cost-analyzer pods", "node resource usage"]
    assert got["CloudMart pods"]["detail"].startswith("Kubernetes API unreachable")


def test_text_output_has_one_line_per_check_and_the_hints(env):
    env[0].routes["/api/v1/namespaces/cloudmart/pods"] = (200, {"items": [pod("user-service-b", phase="Pending", ready=False)]})
    kube, cost, kubeconfig = env
    result = CliRunner().invoke(app, ["verify", "--kubeconfig", str(kubeconfig), "--cost-url", cost.url])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert sum(1 for line in lines if line[:2] in {f"{i}." for i in range(1, 6)}) == 5
    assert "1. FAIL CloudMart pods" in result.output
    assert "2. PASS HPA metrics" in result.output
    assert "hint: Pending pods" in result.output
    assert lines[-1] == "=== some checks failed ==="


def test_bad_kubeconfig_is_a_clear_usage_error(tmp_path):
    result = CliRunner().invoke(app, ["verify", "--kubeconfig", str(tmp_path / "nope"), "--json"])
    assert result.exit_code == 2
    assert "cannot load kubeconfig" in result.output


def test_quantities():
    assert verify._cpu_cores("250m") == 0.25
    assert verify._cpu_cores("500000000n") == 0.5
    assert verify._cpu_cores("2") == 2
    assert verify._bytes("1Gi") == 2**30
    assert verify._bytes("1500k") == 1.5e6
