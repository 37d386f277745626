"""Schema validation of every rendered object: built-in kinds against Kubernetes' own OpenAPI
schemas (kubernetes-validate, strict), custom resources against deploy/schemas/, which also
cover Gatekeeper constraints (their parameters checked against the template's schema)."""

import copy
import json

import jsonschema
import kubernetes_validate
import pytest

from fixtures.deploy import DEPLOY, OVERLAYS, find

K8S_VERSION = "1.31.0"
SCHEMAS = DEPLOY / "schemas"


def crd_schema(obj):
    group, _, version = obj["apiVersion"].rpartition("/")
    if group == "constraints.gatekeeper.sh":
        name = f"{group}_{version}_constraint.json"
    else:
        name = f"{group}_{version}_{obj['kind'].lower()}.json"
    path = SCHEMAS / name
    return json.loads(path.read_text()) if path.exists() else None


def validate(obj, docs):
    """Errors for one object ([] when valid); an object of an unknown kind is an error."""
    group = obj["apiVersion"].rpartition("/")[0]
    schema = crd_schema(obj)
    if schema is None:
        if "." in group and not group.endswith(".k8s.io"):
            return [f"no schema for {obj['apiVersion']} {obj['kind']}"]
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            return [f"no schema for {obj['apiVersion']} {obj['kind']}"]
        except kubernetes_validate.ValidationError as exc:
            return [str(exc)]
        return []
    errors = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(obj)]
    if group == "constraints.gatekeeper.sh":
        template = next(
            (d for d in docs if d["kind"] == "ConstraintTemplate"
             and d["spec"]["crd"]["spec"]["names"]["kind"] == obj["kind"]),
            None,
        )
        if template is None:
            return errors + [f"no ConstraintTemplate for {obj['kind']}"]
        params_schema = template["spec"]["crd"]["spec"].get("validation", {}).get("openAPIV3Schema")
        params = obj["spec"].get("parameters")
        if params is not None:
            if params_schema is None:
                errors.append(f"{obj['kind']} takes no parameters")
            else:
                errors += [e.message for e in jsonschema.Draft202012Validator(
                    {**params_schema, "additionalProperties": False}).iter_errors(params)]
    return errors


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_valid(rendered, overlay):
    docs = rendered[overlay]
    errors = {f"{d['kind']}/{d['metadata']['name']}": e for d in docs if (e := validate(d, docs))}
    assert errors == {}


def test_argocd_objects_are_valid():
    import yaml

    docs = [yaml.safe_load(p.read_text()) for p in sorted((DEPLOY / "argocd").glob("*.yaml")) if p.name != "kustomization.yaml"]
    assert {d["kind"] for d in docs} == {"Application", "AppProject"}
    assert all(validate(d, docs) == [] for d in docs)


@pytest.mark.parametrize(
    ("kind", "name", "namespace", "mutate", "needle"),
    [
        ("Deployment", "user-service", "cloudmart",
         lambda o: o["spec"]["template"]["spec"]["containers"][0]["ports"][0].update(containerPort="eighty"), "eighty"),
        ("Deployment", "user-service", "cloudmart",
         lambda o: o["spec"].update(replica=2), "replica"),
        ("HorizontalPodAutoscaler", "order-service-hpa", "cloudmart",
         lambda o: o["spec"].update(minReplicas="one"), "one"),
        ("PeerAuthentication", "default", "cloudmart",
         lambda o: o["spec"]["mtls"].update(mode="STRICTEST"), "STRICTEST"),
        ("AuthorizationPolicy", "require-jwt", "cloudmart",
         lambda o: o["spec"]["rules"][0]["from"][0]["source"].update(requestPrincipal=["*"]), "requestPrincipal"),
        ("VerticalPodAutoscaler", "redis", "cloudmart",
         lambda o: o["spec"]["updatePolicy"].update(updateMode=False), "False"),
        ("K8sDisallowedTags", "images-are-pinned", None,
         lambda o: o["spec"]["parameters"].update(tag=["latest"]), "tag"),
        ("DestinationRule", "order-service", "cloudmart",
         lambda o: o["spec"]["trafficPolicy"]["tls"].update(mode="MTLS"), "MTLS"),
    ],
)
def test_a_broken_object_is_caught(rendered, kind, name, namespace, mutate, needle):
    docs = rendered["lab"]
    obj = copy.deepcopy(find(docs, kind, name, namespace))
    assert validate(obj, docs) == []
    mutate(obj)
    errors = validate(obj, docs)
    assert errors and needle in " ".join(errors)


def test_an_unknown_custom_kind_is_an_error(rendered):
    obj = {"apiVersion": "example.io/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert validate(obj, rendered["lab"]) == ["no schema for example.io/v1 Widget"]
