"""Alert and recording rules through promtool (check + unit tests), the scrape config and the
Grafana dashboards against what the rules and kube-state-metrics provide."""

import json
import re

import yaml

from fixtures.deploy import DEPLOY, find, run

MONITORING = DEPLOY / "components" / "monitoring"
RULES = MONITORING / "rules" / "cloudmart-alerts.yaml"


def test_promtool_checks_the_rules():
    result = run(["promtool", "check", "rules", RULES])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_of_the_rules_pass():
    result = run(["promtool", "test", "rules", "cloudmart-alerts.test.yaml"], cwd=MONITORING / "rules")
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_fails_a_wrong_expectation(tmp_path):
    broken = (MONITORING / "rules" / "cloudmart-alerts.test.yaml").read_text().replace("value: 0.1\n", "value: 0.2\n", 1)
    (tmp_path / "cloudmart-alerts.yaml").write_text(RULES.read_text())
    (tmp_path / "t.yaml").write_text(broken)
    assert run(["promtool", "test", "rules", "t.yaml"], cwd=tmp_path).returncode != 0


def test_every_alert_is_unit_tested():
    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r}
    tests = yaml.safe_load((MONITORING / "rules" / "cloudmart-alerts.test.yaml").read_text())["tests"]
    tested = {a["alertname"] for t in tests for a in t.get("alert_rule_test", [])}
    assert alerts == tested


def test_scrape_config_feeds_the_cost_analyzer(rendered):
    cfg = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    assert jobs["kube-state-metrics"]["static_configs"][0]["targets"] == ["kubecost-kube-state-metrics.kubecost.svc:8080"]
    assert jobs["kubernetes-cadvisor"]["metrics_path"] == "/metrics/cadvisor"
    assert cfg["rule_files"] == ["/etc/prometheus/rules/*.yaml"]
    docs = rendered["lab"]
    find(docs, "Service", "kubecost-kube-state-metrics", "kubecost")
    prom = find(docs, "Deployment", "kubecost-prometheus-server", "kubecost")
    mounts = {m["mountPath"] for m in prom["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}
    assert {"/etc/prometheus", "/etc/prometheus/rules"} <= mounts
    # the cost analyzer reads this Prometheus
    analyzer = find(docs, "Deployment", "kubecost-cost-analyzer", "kubecost")
    args = analyzer["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--prometheus") + 1] == "http://kubecost-prometheus-server.kubecost.svc:80"


def test_dashboards_query_series_that_exist(rendered):
    recorded = {r["record"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "record" in r}
    cm = find(rendered["lab"], "ConfigMap", next(
        d["metadata"]["name"] for d in rendered["lab"]
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("kubecost-grafana-dashboards")), "kubecost")
    assert "cloudmart-red-dashboard.json" in cm["data"]
    for name, text in cm["data"].items():
        dashboard = json.loads(text)
        assert dashboard["uid"] and dashboard["panels"]
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                for series in re.findall(r"[a-z_]+:[a-z0-9_:]+", target["expr"]):
                    assert series in recorded, f"{name}: {series} is not a recording rule"


def test_dashboard_queries_are_valid_promql(rendered, tmp_path):
    cm = next(d for d in rendered["lab"]
              if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("kubecost-grafana-dashboards"))
    rules = []
    for name, text in cm["data"].items():
        for panel in json.loads(text)["panels"]:
            for target in panel.get("targets", []):
                # Grafana's template variables become a match-all regex for the syntax check
                expr = target["expr"].replace("$service", ".*")
                rules.append({"record": f"dashboard:panel_{len(rules)}", "expr": expr})
    assert rules
    path = tmp_path / "dashboard-exprs.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = run(["promtool", "check", "rules", path])
    assert result.returncode == 0, result.stdout + result.stderr
