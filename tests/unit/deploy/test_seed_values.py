"""The seed's values, exactly, in the rendered lab overlay (and what the other overlays keep)."""

import re
import tomllib

import pytest
import yaml

from fixtures.deploy import CLOUDMART_SERVICES, DEPLOY, OVERLAYS, ROOT, find, pod_spec

SEED_NAMESPACE_LABELS = {"project": "cloudmart", "team": "platform", "cost-center": "CC-2001"}

# name: (replicas, requests, limits, env the seed gives)
SEED_DEPLOYMENTS = {
    "user-service": (2, {"cpu": "100m", "memory": "128Mi"}, {"cpu": "300m", "memory": "256Mi"},
                     {"SERVICE_NAME": "user-service", "DB_HOST": "postgres-service"}),
    "product-service": (3, {"cpu": "150m", "memory": "256Mi"}, {"cpu": "500m", "memory": "512Mi"},
                        {"SERVICE_NAME": "product-service", "REDIS_HOST": "redis-service"}),
    "order-service": (2, {"cpu": "100m", "memory": "128Mi"}, {"cpu": "300m", "memory": "256Mi"},
                      {"SERVICE_NAME": "order-service", "KAFKA_BROKERS": "kafka-service:9092"}),
    "payment-service": (2, {"cpu": "100m", "memory": "128Mi"}, {"cpu": "300m", "memory": "256Mi"},
                        {"SERVICE_NAME": "payment-service", "KAFKA_BROKERS": "kafka-service:9092"}),
    "notification-service": (2, {"cpu": "100m", "memory": "128Mi"}, {"cpu": "300m", "memory": "256Mi"},
                             {"SERVICE_NAME": "notification-service", "KAFKA_BROKERS": "kafka-service:9092"}),
}
SERVE_NAMES = {"user-service": "users", "product-service": "products", "order-service": "orders",
               "payment-service": "payments", "notification-service": "notifications"}

CPU70 = {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}
MEM80 = {"type": "Resource", "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 80}}}
SEED_HPAS = {
    "user-service-hpa": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "user-service"},
        "minReplicas": 2, "maxReplicas": 8, "metrics": [CPU70, MEM80],
        "behavior": {
            "scaleDown": {"stabilizationWindowSeconds": 300, "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}]},
            "scaleUp": {"stabilizationWindowSeconds": 0, "policies": [{"type": "Percent", "value": 100, "periodSeconds": 30}]},
        },
    },
    "product-service-hpa": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "product-service"},
        "minReplicas": 2, "maxReplicas": 10, "metrics": [CPU70],
    },
    "order-service-hpa": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "order-service"},
        "minReplicas": 1, "maxReplicas": 6, "metrics": [CPU70],
    },
}


def test_cloudmart_namespace_has_exactly_the_seed_labels(rendered):
    assert find(rendered["dev"], "Namespace", "cloudmart")["metadata"]["labels"] == SEED_NAMESPACE_LABELS
    # the mesh overlays add only Istio's injection label
    for overlay in ("lab", "prod"):
        labels = find(rendered[overlay], "Namespace", "cloudmart")["metadata"]["labels"]
        assert labels == {**SEED_NAMESPACE_LABELS, "istio-injection": "enabled"}


@pytest.mark.parametrize("name", CLOUDMART_SERVICES)
def test_deployment_matches_the_seed(rendered, name):
    replicas, requests, limits, env = SEED_DEPLOYMENTS[name]
    dep = find(rendered["lab"], "Deployment", name, "cloudmart")
    assert dep["metadata"]["labels"] == {"app": name, "tier": "backend"}
    assert dep["spec"]["replicas"] == replicas
    assert dep["spec"]["selector"] == {"matchLabels": {"app": name}}
    template = dep["spec"]["template"]
    assert template["metadata"]["labels"] == {"app": name, "tier": "backend", "version": "v1"}
    (container,) = template["spec"]["containers"]
    assert container["name"] == name
    assert container["ports"][0] == {"containerPort": 8080, "name": "http"}
    assert container["resources"] == {"requests": requests, "limits": limits}
    assert container["livenessProbe"] == {
        "httpGet": {"path": "/health", "port": 8080}, "initialDelaySeconds": 30, "periodSeconds": 10}
    assert container["readinessProbe"] == {
        "httpGet": {"path": "/ready", "port": 8080}, "initialDelaySeconds": 10, "periodSeconds": 5}
    values = {e["name"]: e.get("value") for e in container["env"]}
    for key, value in env.items():
        assert values[key] == value, key
    assert container["args"][:2] == ["serve", SERVE_NAMES[name]]
    assert template["spec"]["serviceAccountName"] == name


@pytest.mark.parametrize("name", CLOUDMART_SERVICES)
def test_service_maps_port_80_to_8080(rendered, name):
    svc = find(rendered["lab"], "Service", name, "cloudmart")
    assert svc["spec"]["selector"] == {"app": name}
    assert svc["spec"]["type"] == "ClusterIP"
    assert [(p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [(80, 8080)]


@pytest.mark.parametrize("name", sorted(SEED_HPAS))
def test_seed_hpas_exactly(rendered, name):
    hpa = find(rendered["lab"], "HorizontalPodAutoscaler", name, "cloudmart")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"] == SEED_HPAS[name]


def test_payment_and_notification_have_hpas_too(rendered):
    for name in ("payment-service", "notification-service"):
        hpa = find(rendered["lab"], "HorizontalPodAutoscaler", f"{name}-hpa", "cloudmart")
        assert hpa["spec"]["scaleTargetRef"]["name"] == name
        assert hpa["spec"]["metrics"] == [CPU70]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_vpas_recommend_only_and_never_fight_a_resource_hpa(rendered, overlay):
    docs = rendered[overlay]
    hpa_targets = {
        (h["metadata"]["namespace"], h["spec"]["scaleTargetRef"]["kind"], h["spec"]["scaleTargetRef"]["name"])
        for h in docs
        if h["kind"] == "HorizontalPodAutoscaler"
        and any(m["type"] == "Resource" and m["resource"]["name"] in ("cpu", "memory") for m in h["spec"]["metrics"])
    }
    vpas = [d for d in docs if d["kind"] == "VerticalPodAutoscaler"]
    assert vpas
    for vpa in vpas:
        assert vpa["spec"]["updatePolicy"]["updateMode"] == "Off"  # the string, not YAML's false
        target = (vpa["metadata"]["namespace"], vpa["spec"]["targetRef"]["kind"], vpa["spec"]["targetRef"]["name"])
        assert target not in hpa_targets, target
        find(docs, target[1], target[2], target[0])  # the target exists


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_is_hardened_and_has_its_own_service_account(rendered, overlay):
    docs = rendered[overlay]
    accounts = set()
    for obj in docs:
        spec = pod_spec(obj)
        if spec is None:
            continue
        ns = obj["metadata"]["namespace"]
        assert spec["securityContext"]["runAsNonRoot"] is True, obj["metadata"]["name"]
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        sa = spec["serviceAccountName"]
        assert (ns, sa) not in accounts, f"{sa} shared"
        accounts.add((ns, sa))
        find(docs, "ServiceAccount", sa, ns)
        for c in spec["containers"] + spec.get("initContainers", []):
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert sc["runAsNonRoot"] is True
            if obj["metadata"]["name"] != "kafka":  # waived in deploy/checkov-waivers.yaml
                assert sc["readOnlyRootFilesystem"] is True, c["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_namespace_denies_by_default_in_both_directions(rendered, overlay):
    docs = rendered[overlay]
    namespaces = {d["metadata"]["name"] for d in docs if d["kind"] == "Namespace"}
    for ns in namespaces:
        policies = [d for d in docs if d["kind"] == "NetworkPolicy" and d["metadata"]["namespace"] == ns]
        assert any(
            p["spec"]["podSelector"] == {} and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
            and not p["spec"].get("ingress") and not p["spec"].get("egress")
            for p in policies
        ) or ns in ("production", "staging", "development"), ns
        for p in policies:
            assert p["spec"]["policyTypes"], p["metadata"]["name"]


def test_sample_namespaces_lock_down_their_pods(rendered):
    for ns in ("production", "staging", "development"):
        policy = find(rendered["lab"], "NetworkPolicy", "sample-web", ns)
        assert policy["spec"]["podSelector"] == {}
        assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        assert "egress" not in policy["spec"]  # no egress at all


def test_data_services_and_cost_analyzer_names_and_ports(rendered):
    docs = rendered["lab"]
    assert [p["port"] for p in find(docs, "Service", "postgres-service", "cloudmart")["spec"]["ports"]] == [5432]
    assert [p["port"] for p in find(docs, "Service", "redis-service", "cloudmart")["spec"]["ports"]] == [6379]
    assert [p["port"] for p in find(docs, "Service", "kafka-service", "cloudmart")["spec"]["ports"]] == [9092]
    kafka = find(docs, "StatefulSet", "kafka", "cloudmart")
    env = {e["name"]: e.get("value") for e in kafka["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    analyzer = find(docs, "Service", "kubecost-cost-analyzer", "kubecost")
    assert [(p["port"], p["targetPort"]) for p in analyzer["spec"]["ports"]] == [(9090, 9090)]
    dep = find(docs, "Deployment", "kubecost-cost-analyzer", "kubecost")
    args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:2] == ["cost", "serve"] and args[args.index("--port") + 1] == "9090"


def test_lab_has_the_sample_namespaces_and_dev_is_light(rendered):
    lab_ns = {d["metadata"]["name"] for d in rendered["lab"] if d["kind"] == "Namespace"}
    assert {"cloudmart", "kubecost", "production", "staging", "development"} <= lab_ns
    dev = rendered["dev"]
    assert not [d for d in dev if d["apiVersion"].startswith(("security.istio.io", "networking.istio.io"))]
    assert all(d["spec"]["replicas"] == 1 for d in dev if d["kind"] == "Deployment" and d["metadata"]["namespace"] == "cloudmart")


def test_prod_is_hardened(rendered):
    prod = rendered["prod"]
    kafka = find(prod, "StatefulSet", "kafka", "cloudmart")
    assert kafka["spec"]["replicas"] == 3
    env = {e["name"]: e.get("value") for e in kafka["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
    assert len(env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")) == 3
    assert find(prod, "Cluster", "postgres", "cloudmart")["spec"]["instances"] == 3
    assert not [d for d in prod if d["kind"] == "StatefulSet" and d["metadata"]["name"] == "postgres"]
    assert find(prod, "Service", "postgres-service", "cloudmart")["spec"]["selector"]["cnpg.io/cluster"] == "postgres"
    find(prod, "K8sHardenedContainers", "containers-are-hardened")
    for name in CLOUDMART_SERVICES:
        assert find(prod, "HorizontalPodAutoscaler", f"{name}-hpa", "cloudmart")["spec"]["minReplicas"] >= 2


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_backend_has_a_pdb(rendered, overlay):
    docs = rendered[overlay]
    pdbs = {d["spec"]["selector"]["matchLabels"]["app"] for d in docs if d["kind"] == "PodDisruptionBudget"}
    assert set(CLOUDMART_SERVICES) <= pdbs


def test_image_tag_is_the_package_version(rendered):
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    images = {c["image"] for d in rendered["lab"] if pod_spec(d) for c in pod_spec(d)["containers"]}
    ours = {i for i in images if i.startswith("cloudmart:")}
    assert ours == {f"cloudmart:{version}"}


def test_argocd_applications_prune_and_self_heal():
    apps = [yaml.safe_load((DEPLOY / "argocd" / f"cloudmart-{o}.yaml").read_text()) for o in OVERLAYS]
    for overlay, app in zip(OVERLAYS, apps):
        assert app["spec"]["source"]["path"] == f"deploy/overlays/{overlay}"
        assert app["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
        assert "CreateNamespace=true" in app["spec"]["syncPolicy"]["syncOptions"]
        assert (ROOT / app["spec"]["source"]["path"] / "kustomization.yaml").exists()


def test_kind_cluster_is_the_seeds_lab_cluster():
    cfg = yaml.safe_load((DEPLOY / "kind" / "lab-cluster.yaml").read_text())
    assert cfg["kind"] == "Cluster" and cfg["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert cfg["name"] == "lab-cluster"
    assert [n["role"] for n in cfg["nodes"]] == ["control-plane", "worker", "worker"]
    mapping = cfg["nodes"][0]["extraPortMappings"][0]
    assert mapping["containerPort"] == 30080  # Kong's NodePort


def test_kong_nodeport_matches_the_kind_port_mapping(rendered):
    svc = find(rendered["lab"], "Service", "kong-proxy", "cloudmart")
    assert svc["spec"]["type"] == "NodePort"
    assert svc["spec"]["ports"][0]["nodePort"] == 30080


def test_updatemode_off_is_quoted_in_the_sources():
    # PyYAML (and YAML 1.1 readers) read a bare Off as false
    for path in DEPLOY.rglob("*.yaml"):
        assert not re.search(r"updateMode:\s*Off\b", path.read_text()), path


def test_mesh_requires_mtls_and_a_request_principal(rendered):
    for overlay in ("lab", "prod"):
        docs = rendered[overlay]
        assert find(docs, "PeerAuthentication", "default", "cloudmart")["spec"]["mtls"] == {"mode": "STRICT"}
        (rule,) = find(docs, "RequestAuthentication", "cloudmart-jwt", "cloudmart")["spec"]["jwtRules"]
        assert rule["issuer"] == "cloudmart-user-service" and rule["audiences"] == ["cloudmart"]
        assert rule["jwksUri"].endswith("/.well-known/jwks.json")
        policy = find(docs, "AuthorizationPolicy", "require-jwt", "cloudmart")
        assert policy["spec"]["selector"] == find(docs, "RequestAuthentication", "cloudmart-jwt", "cloudmart")["spec"]["selector"]
        assert {"from": [{"source": {"requestPrincipals": ["*"]}}]} in policy["spec"]["rules"]
        # the only rules without a principal are the public endpoints
        for rule in policy["spec"]["rules"]:
            if "from" not in rule:
                assert all(not m.startswith(("/api/orders", "/api/payments", "/api/notifications"))
                           for op in rule["to"] for m in op["operation"]["paths"])
        for name in CLOUDMART_SERVICES:
            dr = find(docs, "DestinationRule", name, "cloudmart")
            assert dr["spec"]["trafficPolicy"]["tls"]["mode"] == "ISTIO_MUTUAL"


def test_metrics_server_is_set_up_for_kind(rendered):
    for overlay in ("lab", "dev"):
        ms = find(rendered[overlay], "Deployment", "metrics-server", "kube-system")
        assert "--kubelet-insecure-tls" in ms["spec"]["template"]["spec"]["containers"][0]["args"]
        find(rendered[overlay], "APIService", "v1beta1.metrics.k8s.io")
