"""Bad input to the simulator: each error names the field that is wrong."""

import copy
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cloudmart.cli import app
from cloudmart.finops.hpa import find_objects, parse_duration, parse_hpa, parse_load_profile
from cloudmart.finops.manifests import ManifestError, load_documents, parse_quantity

DATA = Path(__file__).parent / "data"
USER_DOCS = list(yaml.safe_load_all((DATA / "user-service.yaml").read_text()))


def hpa_doc():
    return copy.deepcopy(USER_DOCS[1])


def profile_doc():
    return yaml.safe_load((DATA / "spike.yaml").read_text())


def field_of(exc_info) -> str:
    return exc_info.value.field


def test_seed_hpa_is_parsed_with_api_defaults():
    hpa = parse_hpa(hpa_doc())
    assert (hpa.min_replicas, hpa.max_replicas) == (2, 8)
    assert [(m.resource, m.value) for m in hpa.metrics] == [("cpu", 70), ("memory", 80)]
    assert hpa.scale_up.select_policy == "Max" and hpa.scale_up.stabilization_window_seconds == 0
    assert hpa.scale_down.policies[0].type == "Percent" and hpa.scale_down.policies[0].value == 50


def test_behavior_with_only_scale_down_defaults_scale_up():
    doc = hpa_doc()
    del doc["spec"]["behavior"]["scaleUp"]
    hpa = parse_hpa(doc)
    assert [(p.type, p.value, p.period_seconds) for p in hpa.scale_up.policies] == [("Pods", 4, 15), ("Percent", 100, 15)]


def test_hpa_without_metrics_defaults_to_cpu_80():
    doc = hpa_doc()
    del doc["spec"]["metrics"]
    assert [(m.resource, m.type, m.value) for m in parse_hpa(doc).metrics] == [("cpu", "Utilization", 80)]


def test_autoscaling_v1_is_accepted():
    doc = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"},
           "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "d"}, "maxReplicas": 3,
                    "targetCPUUtilizationPercentage": 60}}
    hpa = parse_hpa(doc)
    assert hpa.metrics[0].value == 60 and not hpa.has_behavior


@pytest.mark.parametrize(
    ("mutate", "field", "text"),
    [
        (lambda d: d["spec"]["metrics"][0]["resource"]["target"].update(averageUtilization=0),
         "spec.metrics[0].resource.target.averageUtilization", "greater than 0"),
        (lambda d: d["spec"].update(minReplicas=9), "spec.minReplicas", "<= spec.maxReplicas"),
        (lambda d: d["spec"].pop("maxReplicas"), "spec.maxReplicas", "required"),
        (lambda d: d["spec"].update(maxReplicas="many"), "spec.maxReplicas", "integer"),
        (lambda d: d["spec"]["metrics"][1].update(type="Pods"), "spec.metrics[1].type", "Resource"),
        (lambda d: d["spec"]["metrics"][0]["resource"].update(name="gpu"), "spec.metrics[0].resource.name", "cpu or memory"),
        (lambda d: d["spec"]["behavior"]["scaleDown"]["policies"][0].update(type="Ratio"),
         "spec.behavior.scaleDown.policies[0].type", "Pods or Percent"),
        (lambda d: d["spec"]["behavior"]["scaleUp"]["policies"][0].update(periodSeconds=0),
         "spec.behavior.scaleUp.policies[0].periodSeconds", ">= 1"),
        (lambda d: d["spec"]["behavior"]["scaleUp"].update(selectPolicy="Most"),
         "spec.behavior.scaleUp.selectPolicy", "Max, Min or Disabled"),
        (lambda d: d["spec"]["behavior"]["scaleDown"].update(stabilizationWindowSeconds=4000),
         "spec.behavior.scaleDown.stabilizationWindowSeconds", "<= 3600"),
        (lambda d: d.update(kind="Deployment"), "kind", "HorizontalPodAutoscaler"),
        (lambda d: d["spec"].pop("scaleTargetRef"), "spec.scaleTargetRef.name", "required"),
    ],
)
def test_invalid_hpa_names_the_field(mutate, field, text):
    doc = hpa_doc()
    mutate(doc)
    with pytest.raises(ManifestError) as exc_info:
        parse_hpa(doc)
    assert field_of(exc_info) == field and text in str(exc_info.value)


def test_deployment_without_the_request_the_hpa_needs():
    deploy = copy.deepcopy(USER_DOCS[0])
    del deploy["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["memory"]
    del deploy["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"]
    with pytest.raises(ManifestError) as exc_info:
        find_objects([deploy, hpa_doc()])
    assert field_of(exc_info) == "spec.template.spec.containers[0].resources.requests.memory"


def test_invalid_deployment_fields():
    deploy = copy.deepcopy(USER_DOCS[0])
    deploy["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "lots"
    with pytest.raises(ManifestError) as exc_info:
        find_objects([deploy, hpa_doc()])
    assert field_of(exc_info) == "spec.template.spec.containers[0].resources.requests.cpu"
    deploy["spec"]["template"]["spec"]["containers"] = []
    with pytest.raises(ManifestError, match="non-empty list") as exc_info:
        find_objects([deploy, hpa_doc()])


def test_hpa_pointing_elsewhere():
    doc = hpa_doc()
    doc["spec"]["scaleTargetRef"]["name"] = "ghost"
    with pytest.raises(ManifestError) as exc_info:
        find_objects([USER_DOCS[0], doc])
    assert field_of(exc_info) == "spec.scaleTargetRef.name" and "ghost" in str(exc_info.value)


def test_invalid_yaml_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Deployment\n  spec: [\n")
    with pytest.raises(ManifestError, match="invalid YAML"):
        load_documents(bad)


def test_quantities():
    assert parse_quantity("100m") * 1000 == 100
    assert parse_quantity("128Mi") == 128 * 2**20
    assert parse_quantity("1.5") == parse_quantity("1500m")
    assert parse_quantity("1e3") == 1000
    with pytest.raises(ManifestError):
        parse_quantity("12 cores")


@pytest.mark.parametrize(
    ("mutate", "field", "text"),
    [
        (lambda d: d["points"][2].update(t=300), "points[2].t", "strictly increasing"),
        (lambda d: d["points"][1].update(t=0), "points[1].t", "strictly increasing"),
        (lambda d: d.update(maxGapSeconds=300), "points[1].t", "gap of 600s"),
        (lambda d: d["points"][1].update(load=None), "points[1].load", "gap"),
        (lambda d: d["points"][1].update(load=-1), "points[1].load", "negative"),
        (lambda d: d["points"][1].pop("t"), "points[1].t", "required"),
        (lambda d: d["points"][1].update(t="yesterday"), "points[1].t", "RFC3339"),
        (lambda d: d.update(points=[]), "points", "non-empty"),
        (lambda d: d.pop("usage"), "usage", "cpu and/or memory"),
        (lambda d: d["usage"]["cpu"].update(base="fast"), "usage.cpu.base", "quantity"),
    ],
)
def test_invalid_load_profile_names_the_field(mutate, field, text):
    doc = profile_doc()
    mutate(doc)
    with pytest.raises(ManifestError) as exc_info:
        parse_load_profile(doc)
    assert field_of(exc_info) == field and text in str(exc_info.value)


def test_rfc3339_points_become_offsets():
    doc = profile_doc()
    doc["points"] = [{"t": "2026-11-20T00:00:00Z", "load": 1}, {"t": "2026-11-20T00:05:00Z", "load": 2}]
    profile = parse_load_profile(doc)
    assert profile.times == (0.0, 300.0) and profile.duration == 300.0


def test_parse_duration():
    assert parse_duration("7d") == 7 * 86400
    with pytest.raises(ManifestError, match="window"):
        parse_duration("0h")


def test_cli_simulate_json_and_table(tmp_path):
    runner = CliRunner()
    args = ["hpa", "simulate", str(DATA / "order-service.yaml"), "--load", str(DATA / "spike.yaml")]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["summary"]["maxReplicas"] == 6 and len(payload["timeline"]) == 201
    table = runner.invoke(app, args)
    assert table.exit_code == 0 and "order-service-hpa" in table.output and "above target" in table.output


def test_cli_simulate_reports_bad_input_by_field(tmp_path):
    profile = profile_doc()
    profile["points"][2]["t"] = 10
    bad = tmp_path / "load.yaml"
    bad.write_text(yaml.safe_dump(profile))
    result = CliRunner().invoke(app, ["hpa", "simulate", str(DATA / "order-service.yaml"), "--load", str(bad)])
    assert result.exit_code == 2 and "points[2].t" in result.output
    doc = hpa_doc()
    doc["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] = 0
    manifest = tmp_path / "hpa.yaml"
    manifest.write_text(yaml.safe_dump_all([USER_DOCS[0], doc]))
    result = CliRunner().invoke(app, ["hpa", "simulate", str(manifest), "--load", str(DATA / "spike.yaml")])
    assert result.exit_code == 2 and "averageUtilization" in result.output
    result = CliRunner().invoke(app, ["hpa", "simulate", str(manifest)])
    assert result.exit_code == 2 and "--load" in result.output


def test_several_hpas_need_a_choice():
    docs = load_documents(DATA / "user-service.yaml") + load_documents(DATA / "order-service.yaml")
    with pytest.raises(ManifestError, match="several HorizontalPodAutoscalers"):
        find_objects(docs)
    hpa, deploy = find_objects(docs, name="order-service-hpa")
    assert deploy.name == "order-service" and hpa.max_replicas == 6
    with pytest.raises(ManifestError, match="no HorizontalPodAutoscaler named"):
        find_objects(docs, name="nope")
    result = CliRunner().invoke(app, ["hpa", "simulate", str(DATA / "user-service.yaml"), str(DATA / "order-service.yaml"),
                                      "--hpa", "user-service-hpa", "--load", str(DATA / "spike.yaml"), "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["summary"]["hpa"] == "user-service-hpa"


def test_invalid_yaml_via_the_cli(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: HorizontalPodAutoscaler\n  spec: [\n")
    result = CliRunner().invoke(app, ["hpa", "simulate", str(bad), "--load", str(DATA / "spike.yaml")])
    assert result.exit_code == 2 and "invalid YAML" in result.output
