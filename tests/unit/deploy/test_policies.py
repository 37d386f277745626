"""Rego: unit tests of every policy (opa test), the ConstraintTemplates are our policies verbatim,
and every object of every overlay is admitted by the overlay's own Gatekeeper constraints."""

import copy
import json
import re

import pytest
import yaml

from fixtures.deploy import DEPLOY, OVERLAYS, ROOT, Gatekeeper, find, run, tool

POLICIES = ROOT / "policies"


def test_opa_unit_tests_pass_for_every_policy():
    result = run([tool("opa"), "test", POLICIES, "--format", "json"])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    results = json.loads(result.stdout)
    assert len(results) >= 20
    assert all(r.get("fail") is not True and not r.get("error") for r in results)
    # each policy package has tests
    tested = {r["package"].removeprefix("data.") for r in results}
    assert {"cloudmart.authz_test", "admission_test"} <= tested
    sources = "".join(p.read_text() for p in POLICIES.rglob("*_test.rego"))
    for rego in POLICIES.rglob("*.rego"):
        if rego.name.endswith("_test.rego"):
            continue
        package = re.search(r"^package (\S+)", rego.read_text(), re.M).group(1)
        assert f"import data.{package}" in sources, f"{rego} has no tests"


def test_admission_policies_parse_as_gatekeeper_reads_them():
    # Gatekeeper 3.x compiles templates with the Rego v0 parser; `import rego.v1` makes v1 valid there
    templates = sorted(str(p) for p in (POLICIES / "admission").glob("k8s*.rego"))
    result = run([tool("opa"), "check", "--v0-compatible", *templates])
    assert result.returncode == 0, result.stderr


def test_opa_test_fails_on_a_broken_policy(tmp_path):
    broken = tmp_path / "policies"
    broken.mkdir()
    (broken / "p.rego").write_text("package p\nimport rego.v1\nallow if input.x == 1\n")
    (broken / "p_test.rego").write_text("package p_test\nimport rego.v1\nimport data.p\ntest_allow if p.allow with input as {\"x\": 2}\n")
    assert run([tool("opa"), "test", broken]).returncode != 0


def test_constraint_templates_embed_our_policies_verbatim():
    templates = sorted(DEPLOY.glob("components/gatekeeper*/template-*.yaml"))
    assert len(templates) == 5
    for path in templates:
        t = yaml.safe_load(path.read_text())
        source = ROOT / t["metadata"]["annotations"]["cloudmart.io/source"]
        assert t["spec"]["targets"][0]["rego"] == source.read_text(), path


def test_authz_policy_documents_its_input_contract():
    text = (POLICIES / "authz" / "authz.rego").read_text()
    assert "package cloudmart.authz" in text
    for word in ('"subject"', '"action"', '"resource"', '"owner"', "allow", "reason"):
        assert word in text


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_admitted_by_the_overlays_gatekeeper_policies(rendered, overlay):
    docs = rendered[overlay]
    gk = Gatekeeper(docs)
    assert len(gk.constraints) == (5 if overlay == "prod" else 4)
    refused = {f"{d['kind']}/{d['metadata']['name']}": v for d in docs if (v := gk.violations(d))}
    assert refused == {}
    reviewed = sum(1 for d in docs for c in gk.constraints if gk.matches(c, d))
    assert reviewed > 40  # the constraints really looked at the workloads and namespaces


def test_the_harness_refuses_what_gatekeeper_would(rendered):
    docs = rendered["lab"]
    gk = Gatekeeper(docs)
    dep = copy.deepcopy(find(docs, "Deployment", "order-service", "cloudmart"))
    container = dep["spec"]["template"]["spec"]["containers"][0]
    container["image"] = "cloudmart:latest"
    del container["resources"]["limits"]
    container["securityContext"]["runAsUser"] = 0
    found = gk.violations(dep)
    assert any(v.startswith("images-are-pinned:") for v in found)
    assert sum(v.startswith("containers-have-requests-and-limits:") for v in found) == 2
    assert any(v.startswith("containers-run-as-non-root:") for v in found)
    ns = copy.deepcopy(find(docs, "Namespace", "staging"))
    del ns["metadata"]["labels"]["cost-center"]
    (only,) = gk.violations(ns)
    assert only.startswith("namespaces-have-cost-labels: Namespace staging is missing required labels")
    assert "cost-center" in only and "team" not in only


def test_system_namespaces_are_exempt(rendered):
    gk = Gatekeeper(rendered["lab"])
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x", "namespace": "istio-system"},
           "spec": {"containers": [{"name": "x", "image": "x"}]}}
    assert gk.violations(pod) == []
    pod["metadata"]["namespace"] = "cloudmart"
    assert len(gk.violations(pod)) >= 3
