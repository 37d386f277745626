"""Reading Kubernetes objects the optimization layer needs: quantities, Deployments, HPAs.

Every error names the field that is wrong (`ManifestError.field`), so CLI and API can say
exactly what to fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml


class ManifestError(ValueError):
    """An input object is invalid; `field` is the JSON path of the offending field."""

    def __init__(self, field: str, message: str, source: str = "") -> None:
        self.field = field
        self.message = message
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{field}: {message}")


_SUFFIXES = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal(10**3), "M": Decimal(10**6), "G": Decimal(10**9), "T": Decimal(10**12),
    "P": Decimal(10**15), "E": Decimal(10**18),
    "Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30), "Ti": Decimal(2**40),
    "Pi": Decimal(2**50), "Ei": Decimal(2**60),
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(n|u|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")


def parse_quantity(value: Any, field: str = "quantity") -> Decimal:
    """A Kubernetes resource.Quantity ("100m", "128Mi", "0.5", 2) as a Decimal in base units."""
    if isinstance(value, bool) or value is None:
        raise ManifestError(field, f"not a quantity: {value!r}")
    if isinstance(value, int | float):
        return Decimal(str(value))
    match = _QUANTITY.match(str(value).strip())
    if not match:
        raise ManifestError(field, f"not a quantity: {value!r}")
    try:
        number = Decimal(match.group(1))
    except InvalidOperation as exc:
        raise ManifestError(field, f"not a quantity: {value!r}") from exc
    return number * _SUFFIXES[match.group(2) or ""]


def milli(value: Any, field: str) -> int:
    """A quantity in milli-units, rounded up like resource.Quantity.MilliValue()."""
    q = parse_quantity(value, field) * 1000
    return int(q.to_integral_value(rounding="ROUND_CEILING"))


def format_cpu(millicores: float) -> str:
    return f"{round(millicores)}m"


def format_memory(num_bytes: float) -> str:
    mib = num_bytes / 2**20
    return f"{round(mib)}Mi"


def load_documents(path: Path) -> list[dict]:
    """All YAML documents of one file (lists `kind: List` flattened); a parse error names the file."""
    try:
        docs = list(yaml.safe_load_all(path.read_text()))
    except yaml.YAMLError as exc:
        raise ManifestError("(yaml)", f"invalid YAML: {exc}", str(path)) from exc
    except OSError as exc:
        raise ManifestError("(file)", f"cannot read: {exc.strerror}", str(path)) from exc
    return flatten_documents(docs, str(path))


def flatten_documents(docs: list[Any], source: str = "") -> list[dict]:
    out: list[dict] = []
    for i, doc in enumerate(docs):
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise ManifestError(f"document[{i}]", "is not a mapping", source)
        if doc.get("kind") == "List" or (str(doc.get("kind", "")).endswith("List") and "items" in doc):
            out.extend(flatten_documents(doc.get("items") or [], source))
        else:
            out.append(doc)
    return out


@dataclass
class Container:
    name: str
    requests: dict[str, int]  # resource -> milli-units (memory: milli-bytes, like MilliValue)
    limits: dict[str, int]


@dataclass
class Workload:
    """A Deployment/StatefulSet/ReplicaSet/DaemonSet reduced to what cost and scaling need."""

    kind: str
    name: str
    namespace: str
    replicas: int
    containers: list[Container]
    readiness_delay_seconds: int = 0
    labels: dict[str, str] = field(default_factory=dict)

    def pod_request(self, resource: str) -> int:
        return sum(c.requests.get(resource, 0) for c in self.containers)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


WORKLOAD_KINDS = ("Deployment", "StatefulSet", "ReplicaSet", "DaemonSet", "ReplicationController")


def _require_mapping(obj: Any, field: str, source: str) -> dict:
    if not isinstance(obj, dict):
        raise ManifestError(field, "must be a mapping", source)
    return obj


def _int_field(obj: dict, key: str, field: str, source: str, default: int | None = None,
               minimum: int | None = None) -> int:
    value = obj.get(key, default)
    if value is None:
        raise ManifestError(field, "is required", source)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ManifestError(field, f"must be an integer, got {value!r}", source)
    if minimum is not None and value < minimum:
        raise ManifestError(field, f"must be >= {minimum}, got {value}", source)
    return value


def parse_workload(doc: dict, source: str = "", default_namespace: str = "default") -> Workload:
    kind = doc.get("kind")
    if kind not in WORKLOAD_KINDS:
        raise ManifestError("kind", f"expected one of {', '.join(WORKLOAD_KINDS)}, got {kind!r}", source)
    meta = _require_mapping(doc.get("metadata") or {}, "metadata", source)
    name = meta.get("name")
    if not name or not isinstance(name, str):
        raise ManifestError("metadata.name", "is required", source)
    spec = _require_mapping(doc.get("spec"), "spec", source)
    replicas = 1 if kind == "DaemonSet" else _int_field(spec, "replicas", "spec.replicas", source, 1, 0)
    template = _require_mapping(spec.get("template"), "spec.template", source)
    pod_spec = _require_mapping(template.get("spec"), "spec.template.spec", source)
    raw_containers = pod_spec.get("containers")
    if not isinstance(raw_containers, list) or not raw_containers:
        raise ManifestError("spec.template.spec.containers", "must be a non-empty list", source)
    containers = []
    readiness = 0
    for i, c in enumerate(raw_containers):
        path = f"spec.template.spec.containers[{i}]"
        c = _require_mapping(c, path, source)
        cname = c.get("name")
        if not cname:
            raise ManifestError(f"{path}.name", "is required", source)
        resources = _require_mapping(c.get("resources") or {}, f"{path}.resources", source)
        parsed: dict[str, dict[str, int]] = {}
        for section in ("requests", "limits"):
            values = _require_mapping(resources.get(section) or {}, f"{path}.resources.{section}", source)
            parsed[section] = {
                str(res): milli(q, f"{path}.resources.{section}.{res}") for res, q in values.items()
            }
        # Like the API server: a limit without a request defaults the request to the limit.
        for res, lim in parsed["limits"].items():
            parsed["requests"].setdefault(res, lim)
        probe = c.get("readinessProbe")
        if isinstance(probe, dict):
            readiness = max(readiness, _int_field(
                probe, "initialDelaySeconds", f"{path}.readinessProbe.initialDelaySeconds", source, 0, 0))
        containers.append(Container(str(cname), parsed["requests"], parsed["limits"]))
    labels = {str(k): str(v) for k, v in ((template.get("metadata") or {}).get("labels") or {}).items()}
    return Workload(kind=kind, name=name, namespace=meta.get("namespace") or default_namespace,
                    replicas=replicas, containers=containers, readiness_delay_seconds=readiness,
                    labels=labels)
