"""checkov (offline, --skip-download) over every rendered overlay: no finding except the waivers
written down with their reasons in deploy/checkov-waivers.yaml, and no stale waiver."""

import json

import pytest
import yaml

from fixtures.deploy import DEPLOY, OVERLAYS, run, tool

WAIVERS = yaml.safe_load((DEPLOY / "checkov-waivers.yaml").read_text())["waivers"]


def waived(check_id: str, resource: str) -> bool:
    return any(
        w["check"] == check_id and (w["resources"] == "*" or resource in w["resources"]) for w in WAIVERS
    )


def checkov_findings(manifest) -> list[tuple[str, str]]:
    result = run([tool("checkov"), "-f", manifest, "--framework", "kubernetes", "--skip-download",
                  "-o", "json", "--compact", "--quiet"])
    assert result.returncode in (0, 1), result.stderr[-2000:]
    report = json.loads(result.stdout)
    report = report[0] if isinstance(report, list) else report
    assert report["summary"]["parsing_errors"] == 0
    return [(f["check_id"], f["resource"]) for f in report["results"]["failed_checks"]]


@pytest.fixture(scope="module")
def findings(rendered, tmp_path_factory):
    out = {}
    for overlay in OVERLAYS:
        manifest = tmp_path_factory.mktemp("checkov") / f"{overlay}.yaml"
        manifest.write_text(yaml.safe_dump_all(rendered[overlay], sort_keys=False))
        out[overlay] = checkov_findings(manifest)
    return out


def test_every_waiver_has_a_reason():
    for w in WAIVERS:
        assert w["check"].startswith("CKV_K8S_")
        assert len(w["reason"].split()) >= 10, w["check"]
        assert w["resources"] == "*" or isinstance(w["resources"], list)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_finding_without_a_waiver(findings, overlay):
    assert [f for f in findings[overlay] if not waived(*f)] == []


def test_no_stale_waiver(findings):
    seen = {f for overlay in OVERLAYS for f in findings[overlay]}
    for w in WAIVERS:
        hits = {r for c, r in seen if c == w["check"]}
        assert hits, f"waiver {w['check']} matches nothing"
        if w["resources"] != "*":
            assert set(w["resources"]) <= hits, w["check"]


def test_checkov_catches_a_privileged_pod(tmp_path):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad", "namespace": "cloudmart"},
           "spec": {"containers": [{"name": "c", "image": "x:1", "securityContext": {"privileged": True}}]}}
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(yaml.safe_dump(pod))
    found = {c for c, _ in checkov_findings(manifest)}
    assert "CKV_K8S_16" in found  # privileged container
