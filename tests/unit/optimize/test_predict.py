"""Cost prediction from manifests: plain YAML, kustomize overlays (built-in resolver and binary)."""

import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cloudmart.cli import app
from cloudmart.finops.manifests import ManifestError
from cloudmart.finops.predict import build_kustomization, find_kustomize, load_manifests, predict, speccost

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[3]
POD_100M_128MI = 0.1 * 0.031611 * 730 + 0.125 * 0.004237 * 730


def test_seed_deployments_cost_at_min_current_and_max_replicas():
    result = predict(load_manifests(DATA))
    by_name = {w.name: w for w in result.workloads}
    user = by_name["user-service"]
    assert user.hpa == "user-service-hpa" and user.replicas == {"min": 2, "current": 2, "max": 8}
    assert user.monthly["max"]["total"] == pytest.approx(8 * POD_100M_128MI)
    assert by_name["product-service"].replicas == {"min": 2, "current": 3, "max": 10}
    assert by_name["order-service"].replicas == {"min": 1, "current": 2, "max": 6}
    product_pod = 0.15 * 0.031611 * 730 + 0.25 * 0.004237 * 730
    total = result.total()
    assert total["current"] == pytest.approx(2 * POD_100M_128MI + 3 * product_pod + 2 * POD_100M_128MI)
    assert result.by_namespace()["cloudmart"] == total


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


@pytest.fixture
def overlay(tmp_path):
    base = tmp_path / "base"
    _write(base / "kustomization.yaml", """\
        resources: [app.yaml]
        """)
    _write(base / "app.yaml", """\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          replicas: 2
          template:
            spec:
              containers:
              - name: web
                image: web:1
                resources: {requests: {cpu: 100m, memory: 128Mi}}
              - name: sidecar
                image: proxy:1
                resources: {requests: {cpu: 50m, memory: 64Mi}}
        ---
        apiVersion: apps/v1
        kind: StatefulSet
        metadata: {name: db}
        spec:
          replicas: 1
          template:
            spec:
              containers:
              - name: db
                image: db:1
                resources: {requests: {cpu: "1", memory: 1Gi}}
          volumeClaimTemplates:
          - metadata: {name: data}
            spec: {resources: {requests: {storage: 10Gi}}}
        """)
    comp = tmp_path / "components" / "autoscale"
    _write(comp / "kustomization.yaml", """\
        apiVersion: kustomize.config.k8s.io/v1alpha1
        kind: Component
        resources: [hpa.yaml]
        """)
    _write(comp / "hpa.yaml", """\
        apiVersion: autoscaling/v2
        kind: HorizontalPodAutoscaler
        metadata: {name: web-hpa}
        spec:
          scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
          minReplicas: 2
          maxReplicas: 5
          metrics:
          - type: Resource
            resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}
        """)
    lab = tmp_path / "overlays" / "lab"
    _write(lab / "kustomization.yaml", """\
        namespace: shop
        resources: [../../base]
        components: [../../components/autoscale]
        replicas:
        - name: db
          count: 2
        patches:
        - path: web-resources.yaml
        - target: {kind: Deployment, name: web}
          patch: |-
            - op: replace
              path: /spec/replicas
              value: 3
        - target: {kind: HorizontalPodAutoscaler, name: "(web|api)-hpa"}
          patch: |-
            - op: replace
              path: /spec/maxReplicas
              value: 7
        """)
    _write(lab / "web-resources.yaml", """\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          template:
            spec:
              containers:
              - name: web
                resources: {requests: {cpu: 200m}}
        """)
    return lab


def _check_overlay(result):
    by_name = {w.name: w for w in result.workloads}
    web, db = by_name["web"], by_name["db"]
    assert web.namespace == "shop" and db.namespace == "shop"
    assert web.pod.cpu_cores == pytest.approx(0.25)  # patched 200m + sidecar 50m
    assert web.pod.ram_bytes == 192 * 2**20
    assert web.hpa == "web-hpa" and web.replicas == {"min": 2, "current": 3, "max": 7}
    assert db.replicas["current"] == 2 and db.pod.storage_bytes == 10 * 2**30
    assert db.monthly["current"]["pv"] == pytest.approx(2 * 10 * 0.00005479452 * 730)


def test_builtin_kustomize_resolver(overlay):
    _check_overlay(predict(build_kustomization(overlay)))


def test_kustomize_binary_agrees_with_the_builtin_resolver(overlay):
    assert find_kustomize() is not None, "kustomize missing: run scripts/install-deploy-tools.sh"
    _check_overlay(predict(load_manifests(overlay, use_binary=True)))


@pytest.mark.parametrize("overlay", ["lab", "dev", "prod"])
def test_repository_overlays_predict_the_same_with_and_without_the_binary(overlay):
    target = REPO / "deploy" / "overlays" / overlay
    result = predict(load_manifests(target))
    names = {w.name for w in result.workloads}
    assert {"user-service", "product-service", "order-service"} <= names
    assert result.total()["max"] >= result.total()["current"] >= result.total()["min"] > 0
    builtin = predict(build_kustomization(target))
    assert builtin.to_json()["total"] == result.to_json()["total"]
    assert [(w.namespace, w.name, w.replicas) for w in builtin.workloads] == \
        [(w.namespace, w.name, w.replicas) for w in result.workloads]


def test_speccost_shape_matches_kubectl_cost():
    result = predict(load_manifests(DATA / "user-service.yaml"))
    (diff,) = speccost(result)
    assert diff["controllerKind"] == "deployment" and diff["controllerName"] == "user-service"
    assert set(diff) == {"namespace", "controllerKind", "controllerName", "costBefore", "costAfter", "costChange"}
    assert diff["costAfter"]["totalMonthlyRate"] == pytest.approx(2 * POD_100M_128MI, abs=1e-4)
    assert diff["costAfter"]["monthlyCPUCoreHours"] == pytest.approx(0.2 * 730)
    assert diff["costChange"] == diff["costAfter"]


def test_bad_inputs(tmp_path):
    with pytest.raises(ManifestError, match="does not exist"):
        load_manifests(tmp_path / "nope")
    bad = tmp_path / "k"
    _write(bad / "kustomization.yaml", "resources: [missing.yaml]\n")
    with pytest.raises(ManifestError, match="missing.yaml"):
        build_kustomization(bad)
    _write(tmp_path / "d.yaml", "kind: Deployment\nmetadata: {name: x}\nspec: {template: {spec: {containers: []}}}\n")
    with pytest.raises(ManifestError) as exc_info:
        predict(load_manifests(tmp_path / "d.yaml"))
    assert exc_info.value.field == "spec.template.spec.containers"


def test_cli_predict(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["cost", "predict", str(DATA), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["namespaces"]["cloudmart"]["max"] == payload["total"]["max"]
    table = runner.invoke(app, ["cost", "predict", str(DATA)])
    assert table.exit_code == 0 and "total" in table.output
    (tmp_path / "empty.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    empty = runner.invoke(app, ["cost", "predict", str(tmp_path / "empty.yaml")])
    assert empty.exit_code == 2 and "no workloads" in empty.output
