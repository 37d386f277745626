"""Kong's DB-less config: rendered by the same render.sh Kong's init container runs, then checked
against deploy/schemas/kong_declarative_3.0.json and against what CloudMart needs of it."""

import json
import subprocess

import jsonschema
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fixtures.deploy import CLOUDMART_SERVICES, DEPLOY, find

KONG = DEPLOY / "components" / "kong"
SCHEMA = json.loads((DEPLOY / "schemas" / "kong_declarative_3.0.json").read_text())
ISSUER = "cloudmart-user-service"  # the `iss` of user-service's tokens


@pytest.fixture(scope="module")
def public_key(tmp_path_factory):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    path = tmp_path_factory.mktemp("jwt") / "public.pem"
    path.write_bytes(pem)
    return path


def render(public_pem, out):
    return subprocess.run(["sh", KONG / "render.sh", KONG / "kong.yml.tmpl", public_pem, out],
                          capture_output=True, text=True, timeout=30)


@pytest.fixture(scope="module")
def config(public_key, tmp_path_factory):
    out = tmp_path_factory.mktemp("kong") / "kong.yml"
    result = render(public_key, out)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(out.read_text())


def test_config_matches_kongs_declarative_schema(config):
    jsonschema.Draft202012Validator(SCHEMA).validate(config)


def test_every_service_has_a_route_to_its_kubernetes_service(config, rendered):
    by_name = {s["name"]: s for s in config["services"]}
    assert set(by_name) == set(CLOUDMART_SERVICES)
    for name, svc in by_name.items():
        assert svc["url"] == f"http://{name}.cloudmart.svc.cluster.local:80"
        find(rendered["lab"], "Service", name, "cloudmart")
        assert svc["routes"]
    paths = {p for s in config["services"] for r in s["routes"] for p in r["paths"]}
    for api in ("users", "products", "orders", "payments", "notifications"):
        assert f"/api/{api}" in paths
    assert "/.well-known/jwks.json" in paths


def test_jwt_consumer_is_keyed_by_the_issuer_with_rs256_and_the_real_key(config, public_key):
    (consumer,) = config["consumers"]
    (secret,) = consumer["jwt_secrets"]
    assert secret["key"] == ISSUER and secret["algorithm"] == "RS256"
    assert secret["rsa_public_key"].strip() == public_key.read_text().strip()
    serialization.load_pem_public_key(secret["rsa_public_key"].encode())


def test_protected_routes_verify_jwts_by_issuer(config):
    jwt_routes = {r["name"]: p["config"] for s in config["services"] for r in s["routes"]
                  for p in r.get("plugins", []) if p["name"] == "jwt"}
    assert {"users", "products-write", "orders", "payments", "notifications"} == set(jwt_routes)
    for cfg in jwt_routes.values():
        assert cfg["key_claim_name"] == "iss" and "exp" in cfg["claims_to_verify"]
        assert cfg["uri_param_names"] == []  # tokens never in URLs


def test_rate_limiting_is_local_and_prometheus_is_on(config):
    plugins = {p["name"]: p.get("config", {}) for p in config["plugins"]}
    assert plugins["rate-limiting"]["policy"] == "local"
    assert "prometheus" in plugins


def test_schema_rejects_what_db_less_kong_would(config):
    bad = json.loads(json.dumps(config))
    next(p for p in bad["plugins"] if p["name"] == "rate-limiting")["config"]["policy"] = "cluster"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA)
    bad = json.loads(json.dumps(config))
    del bad["consumers"][0]["jwt_secrets"][0]["rsa_public_key"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA)


def test_render_refuses_a_missing_or_non_pem_key(tmp_path):
    result = render(tmp_path / "absent.pem", tmp_path / "out.yml")
    assert result.returncode != 0 and "missing or empty" in result.stderr
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key\n")
    result = render(junk, tmp_path / "out.yml")
    assert result.returncode != 0 and "not a PEM public key" in result.stderr


def test_kong_deployment_renders_the_config_before_starting(rendered):
    dep = find(rendered["lab"], "Deployment", "kong", "cloudmart")
    spec = dep["spec"]["template"]["spec"]
    (init,) = spec["initContainers"]
    assert init["command"][:2] == ["sh", "/config/render.sh"]
    env = {e["name"]: e["value"] for e in spec["containers"][0]["env"]}
    assert env["KONG_DATABASE"] == "off"
    assert env["KONG_DECLARATIVE_CONFIG"] == init["command"][-1]
    cm_name = next(v["configMap"]["name"] for v in spec["volumes"] if v["name"] == "config")
    cm = find(rendered["lab"], "ConfigMap", cm_name, "cloudmart")
    assert {"kong.yml.tmpl", "render.sh"} <= set(cm["data"])
