"""Cost prediction from manifests, offline: what each workload will cost per month at its
HPA's min, at its current (spec) and at its max replica count.

Input is a YAML file, a directory of YAML files, or a kustomize directory. A kustomization is
built with the `kustomize` binary when one is available (the project installs it into
.tools/bin), else resolved here for the common cases: resources (files and directories),
components, namespace, commonLabels/labels, replicas, patchesStrategicMerge and patches
(strategic merge or JSON 6902, with targets).
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cloudmart.finops.hpa import HPASpec, Prices, parse_hpa
from cloudmart.finops.manifests import (
    WORKLOAD_KINDS,
    ManifestError,
    Workload,
    flatten_documents,
    load_documents,
    milli,
    parse_workload,
)

HOURS_PER_MONTH = 730
GIB = 2**30
DEFAULT_STORAGE_PRICE = 0.00005479452  # per GiB-hour
DEFAULT_GPU_PRICE = 0.95
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
                  "PersistentVolume", "StorageClass", "PriorityClass", "ValidatingWebhookConfiguration",
                  "MutatingWebhookConfiguration", "ConstraintTemplate", "APIService", "IngressClass"}


# --------------------------------------------------------------------------- loading manifests


def find_kustomize() -> list[str] | None:
    """The kustomize command to use, or None to resolve kustomizations ourselves."""
    if os.environ.get("CLOUDMART_KUSTOMIZE") == "builtin":
        return None
    root = Path(__file__).resolve().parents[3]
    for candidate in (root / ".tools" / "bin" / "kustomize", shutil.which("kustomize")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return [str(candidate), "build"]
    return None


def load_manifests(path: Path, *, use_binary: bool = True) -> list[dict]:
    """All objects under `path` (file, plain directory, or kustomization directory)."""
    if not path.exists():
        raise ManifestError("PATH", f"{path} does not exist")
    if path.is_file():
        return load_documents(path)
    if any((path / name).is_file() for name in KUSTOMIZATION_FILES):
        command = find_kustomize() if use_binary else None
        if command:
            proc = subprocess.run([*command, str(path)], capture_output=True, text=True, timeout=120)
            if proc.returncode != 0:
                raise ManifestError("kustomization", f"kustomize build failed: {proc.stderr.strip()[:500]}", str(path))
            return flatten_documents(list(yaml.safe_load_all(proc.stdout)), str(path))
        return build_kustomization(path)
    docs: list[dict] = []
    for file in sorted(path.rglob("*")):
        if file.suffix in (".yaml", ".yml") and file.is_file():
            docs.extend(load_documents(file))
    return docs


def _kustomization(directory: Path) -> dict:
    for name in KUSTOMIZATION_FILES:
        file = directory / name
        if file.is_file():
            try:
                doc = yaml.safe_load(file.read_text()) or {}
            except yaml.YAMLError as exc:
                raise ManifestError("(yaml)", f"invalid YAML: {exc}", str(file)) from exc
            if not isinstance(doc, dict):
                raise ManifestError("(document)", "must be a mapping", str(file))
            return doc
    raise ManifestError("kustomization", "no kustomization.yaml", str(directory))


def _strategic_merge(base: Any, patch: Any) -> Any:
    """Strategic merge for the cases manifests use: maps merge, lists of named items merge by name,
    `$patch: delete` removes, other lists and scalars replace."""
    if isinstance(base, dict) and isinstance(patch, dict):
        if patch.get("$patch") == "delete":
            return None
        out = dict(base)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            elif key in out:
                merged = _strategic_merge(out[key], value)
                if merged is None:
                    out.pop(key)
                else:
                    out[key] = merged
            else:
                out[key] = copy.deepcopy(value)
        return out
    if (isinstance(base, list) and isinstance(patch, list) and patch
            and all(isinstance(x, dict) and "name" in x for x in base + patch)):
        out = [copy.deepcopy(x) for x in base]
        for item in patch:
            idx = next((i for i, x in enumerate(out) if x["name"] == item["name"]), None)
            if idx is None:
                if item.get("$patch") != "delete":
                    out.append(copy.deepcopy(item))
            else:
                merged = _strategic_merge(out[idx], item)
                if merged is None:
                    out.pop(idx)
                else:
                    out[idx] = merged
        return out
    return copy.deepcopy(patch)


def _json_pointer(path: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")] if path else []


def _json_patch(doc: dict, ops: list, source: str) -> dict:
    doc = copy.deepcopy(doc)
    for i, op in enumerate(ops):
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise ManifestError(f"patches[{i}]", "JSON 6902 operations need op and path", source)
        parts = _json_pointer(op["path"])
        parent: Any = doc
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent.setdefault(part, {})
        last = parts[-1]
        kind = op["op"]
        if isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            if kind == "add":
                parent.insert(index, copy.deepcopy(op.get("value")))
            elif kind == "replace":
                parent[index] = copy.deepcopy(op.get("value"))
            elif kind == "remove":
                parent.pop(index)
        else:
            if kind in ("add", "replace"):
                parent[last] = copy.deepcopy(op.get("value"))
            elif kind == "remove":
                parent.pop(last, None)
    return doc


def _matches_target(doc: dict, target: dict | None) -> bool:
    if not target:
        return True
    meta = doc.get("metadata") or {}
    # kustomize matches kind, name and namespace as anchored regular expressions
    for key, value in (("kind", doc.get("kind")), ("name", meta.get("name")), ("namespace", meta.get("namespace"))):
        if key in target and not re.fullmatch(str(target[key]), str(value or "")):
            return False
    if "labelSelector" in target:
        labels = meta.get("labels") or {}
        for term in str(target["labelSelector"]).split(","):
            k, _, v = term.partition("=")
            if labels.get(k.strip()) != v.strip():
                return False
    return True


def _same_object(a: dict, b: dict) -> bool:
    ma, mb = a.get("metadata") or {}, b.get("metadata") or {}
    return (a.get("kind") == b.get("kind") and ma.get("name") == mb.get("name")
            and (not mb.get("namespace") or ma.get("namespace") == mb.get("namespace")))


def _apply_patch_doc(docs: list[dict], patch: Any, target: dict | None, source: str) -> list[dict]:
    if isinstance(patch, list):  # JSON 6902
        return [_json_patch(d, patch, source) if _matches_target(d, target) else d for d in docs]
    if not isinstance(patch, dict):
        raise ManifestError("patches", "a patch must be a mapping or a list of operations", source)
    out = []
    for d in docs:
        hit = _matches_target(d, target) if target else _same_object(d, patch)
        if hit:
            body = {k: v for k, v in patch.items() if k not in ("apiVersion", "kind")} if target else patch
            if target:
                body = copy.deepcopy(body)
                body.setdefault("metadata", {}).pop("name", None)
            merged = _strategic_merge(d, body)
            if merged is not None:
                out.append(merged)
        else:
            out.append(d)
    return out


def build_kustomization(directory: Path) -> list[dict]:
    """Resolve a kustomization without the kustomize binary (the common cases)."""
    k = _kustomization(directory)
    src = str(directory)
    docs: list[dict] = []
    for entry in k.get("resources") or []:
        target = directory / str(entry)
        if target.is_dir():
            docs.extend(build_kustomization(target))
        elif target.is_file():
            docs.extend(load_documents(target))
        else:
            raise ManifestError("resources", f"{entry!r} not found", src)
    for entry in k.get("components") or []:
        comp = directory / str(entry)
        if not comp.is_dir():
            raise ManifestError("components", f"{entry!r} not found", src)
        docs = _apply_layer(docs, comp, _kustomization(comp), component=True)
    return _apply_layer(docs, directory, k, component=False)


def _apply_layer(docs: list[dict], directory: Path, k: dict, component: bool) -> list[dict]:
    src = str(directory)
    if component:
        for entry in k.get("resources") or []:
            target = directory / str(entry)
            if target.is_dir():
                docs = docs + build_kustomization(target)
            elif target.is_file():
                docs = docs + load_documents(target)
            else:
                raise ManifestError("resources", f"{entry!r} not found", src)
    for entry in k.get("patchesStrategicMerge") or []:
        for patch in load_documents(directory / str(entry)):
            docs = _apply_patch_doc(docs, patch, None, src)
    for i, entry in enumerate(k.get("patches") or []):
        if not isinstance(entry, dict):
            raise ManifestError(f"patches[{i}]", "must be a mapping with path or patch", src)
        if "path" in entry:
            file = directory / str(entry["path"])
            if not file.is_file():
                raise ManifestError(f"patches[{i}].path", f"{entry['path']!r} not found", src)
            raw = list(yaml.safe_load_all(file.read_text()))
        elif "patch" in entry:
            raw = list(yaml.safe_load_all(str(entry["patch"])))
        else:
            raise ManifestError(f"patches[{i}]", "needs path or patch", src)
        for patch in raw:
            if patch is not None:
                docs = _apply_patch_doc(docs, patch, entry.get("target"), src)
    namespace = k.get("namespace")
    labels: dict[str, str] = dict(k.get("commonLabels") or {})
    for group in k.get("labels") or []:
        labels.update((group or {}).get("pairs") or {})
    out = []
    for d in docs:
        d = copy.deepcopy(d)
        meta = d.setdefault("metadata", {})
        if namespace and d.get("kind") not in CLUSTER_SCOPED:
            meta["namespace"] = namespace
        if labels:
            meta.setdefault("labels", {}).update(labels)
        out.append(d)
    for r in k.get("replicas") or []:
        for d in out:
            if d.get("kind") in WORKLOAD_KINDS and (d.get("metadata") or {}).get("name") == r.get("name"):
                d.setdefault("spec", {})["replicas"] = int(r.get("count", 1))
    return out


def hpas_in(docs: list[dict], source: str = "") -> dict[tuple[str, str, str], HPASpec]:
    """The HPAs among `docs`, keyed by their target (namespace, kind, name)."""
    found = {}
    for doc in docs:
        if doc.get("kind") == "HorizontalPodAutoscaler":
            spec = parse_hpa(doc, source)
            found[(spec.namespace, spec.target_kind, spec.target_name)] = spec
    return found


# --------------------------------------------------------------------------- prediction


@dataclass(frozen=True)
class PredictPrices:
    cpu: float = Prices().cpu_core_hour
    ram: float = Prices().ram_gib_hour
    gpu: float = DEFAULT_GPU_PRICE
    storage: float = DEFAULT_STORAGE_PRICE


@dataclass
class PodCost:
    cpu_cores: float
    ram_bytes: float
    gpus: float
    storage_bytes: float

    def monthly(self, prices: PredictPrices) -> dict[str, float]:
        cpu = self.cpu_cores * prices.cpu * HOURS_PER_MONTH
        ram = self.ram_bytes / GIB * prices.ram * HOURS_PER_MONTH
        gpu = self.gpus * prices.gpu * HOURS_PER_MONTH
        pv = self.storage_bytes / GIB * prices.storage * HOURS_PER_MONTH
        return {"cpu": cpu, "ram": ram, "gpu": gpu, "pv": pv, "total": cpu + ram + gpu + pv}


@dataclass
class WorkloadPrediction:
    namespace: str
    kind: str
    name: str
    hpa: str | None
    replicas: dict[str, int]  # min, current, max
    pod: PodCost
    monthly: dict[str, dict[str, float]] = field(default_factory=dict)  # min/current/max → breakdown

    def to_json(self) -> dict:
        return {
            "namespace": self.namespace, "controllerKind": self.kind, "controllerName": self.name,
            "hpa": self.hpa, "replicas": self.replicas,
            "podRequests": {"cpuCores": round(self.pod.cpu_cores, 5), "ramBytes": self.pod.ram_bytes,
                            "gpus": self.pod.gpus, "storageBytes": self.pod.storage_bytes},
            "monthly": {k: {kk: round(vv, 5) for kk, vv in v.items()} for k, v in self.monthly.items()},
        }


@dataclass
class Prediction:
    workloads: list[WorkloadPrediction]
    warnings: list[str]

    def by_namespace(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for w in self.workloads:
            ns = out.setdefault(w.namespace, {"min": 0.0, "current": 0.0, "max": 0.0})
            for k in ns:
                ns[k] += w.monthly[k]["total"]
        return out

    def total(self) -> dict[str, float]:
        out = {"min": 0.0, "current": 0.0, "max": 0.0}
        for ns in self.by_namespace().values():
            for k in out:
                out[k] += ns[k]
        return out

    def to_json(self) -> dict:
        return {
            "workloads": [w.to_json() for w in self.workloads],
            "namespaces": {ns: {k: round(v, 5) for k, v in c.items()} for ns, c in sorted(self.by_namespace().items())},
            "total": {k: round(v, 5) for k, v in self.total().items()},
            "warnings": self.warnings,
        }


def _pod_cost(doc: dict, workload: Workload, source: str) -> PodCost:
    gpus = 0.0
    for c in workload.containers:
        for res, value in c.requests.items():
            if res.endswith("/gpu"):
                gpus += value / 1000
    storage = 0.0
    for i, claim in enumerate((doc.get("spec") or {}).get("volumeClaimTemplates") or []):
        req = (((claim or {}).get("spec") or {}).get("resources") or {}).get("requests") or {}
        if "storage" in req:
            storage += milli(req["storage"], f"spec.volumeClaimTemplates[{i}].spec.resources.requests.storage") / 1000
    return PodCost(workload.pod_request("cpu") / 1000, workload.pod_request("memory") / 1000, gpus, storage)


def predict(docs: list[dict], prices: PredictPrices | None = None, *, daemonset_nodes: int = 3,
            default_namespace: str = "default", source: str = "") -> Prediction:
    """Monthly cost of every workload at min/current/max replicas; HPAs bound the range."""
    prices = prices or PredictPrices()
    hpas: dict[tuple[str, str, str], HPASpec] = {}
    warnings: list[str] = []
    for d in docs:
        if d.get("kind") == "HorizontalPodAutoscaler":
            hpa = parse_hpa(d, source)
            ns = (d.get("metadata") or {}).get("namespace") or default_namespace
            hpas[(ns, hpa.target_kind, hpa.target_name)] = hpa
    out: list[WorkloadPrediction] = []
    for d in docs:
        kind = d.get("kind")
        if kind not in WORKLOAD_KINDS and kind not in ("PersistentVolumeClaim",):
            continue
        if kind == "PersistentVolumeClaim":
            meta = d.get("metadata") or {}
            req = (((d.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage")
            if req is None:
                continue
            pod = PodCost(0, 0, 0, milli(req, "spec.resources.requests.storage") / 1000)
            wp = WorkloadPrediction(meta.get("namespace") or default_namespace, kind, meta.get("name", "?"), None,
                                    {"min": 1, "current": 1, "max": 1}, pod)
        else:
            name = (d.get("metadata") or {}).get("name", "?")
            workload = parse_workload(d, f"{source} {kind}/{name}".strip(), default_namespace)
            pod = _pod_cost(d, workload, source)
            hpa = hpas.pop((workload.namespace, kind, workload.name), None)
            if kind == "DaemonSet":
                replicas = {"min": daemonset_nodes, "current": daemonset_nodes, "max": daemonset_nodes}
            elif hpa is not None:
                spec_replicas = (d.get("spec") or {}).get("replicas")
                current = hpa.min_replicas if spec_replicas is None else spec_replicas
                current = min(max(current, hpa.min_replicas), hpa.max_replicas)
                replicas = {"min": hpa.min_replicas, "current": current, "max": hpa.max_replicas}
            else:
                replicas = {"min": workload.replicas, "current": workload.replicas, "max": workload.replicas}
            if not any(c.requests for c in workload.containers):
                warnings.append(f"{workload.namespace}/{kind}/{workload.name}: no resource requests; predicted at 0")
            wp = WorkloadPrediction(workload.namespace, kind, workload.name, hpa.name if hpa else None, replicas, pod)
        per_pod = wp.pod.monthly(prices)
        wp.monthly = {k: {kk: vv * n for kk, vv in per_pod.items()} for k, n in wp.replicas.items()}
        out.append(wp)
    for (ns, kind, name), hpa in hpas.items():
        warnings.append(f"HPA {ns}/{hpa.name} targets {kind} {name}, which is not in the manifests")
    out.sort(key=lambda w: (w.namespace, -w.monthly["current"]["total"], w.name))
    return Prediction(out, warnings)


def cost_prediction_fields(monthly: dict[str, float], pod: PodCost, replicas: int) -> dict[str, float]:
    """kubectl-cost's CostPrediction shape for one workload at `replicas`."""
    return {
        "totalMonthlyRate": round(monthly["total"], 5),
        "cpuMonthlyRate": round(monthly["cpu"], 5),
        "ramMonthlyRate": round(monthly["ram"], 5),
        "gpuMonthlyRate": round(monthly["gpu"], 5),
        "monthlyCPUCoreHours": round(pod.cpu_cores * replicas * HOURS_PER_MONTH, 5),
        "monthlyRAMByteHours": round(pod.ram_bytes * replicas * HOURS_PER_MONTH, 5),
        "monthlyGPUHours": round(pod.gpus * replicas * HOURS_PER_MONTH, 5),
    }


async def running_costs(client, at: float, prices: PredictPrices) -> dict[tuple[str, str, str], dict[str, float]]:
    """What each controller's running pods request now, in the CostPrediction shape (monthly)."""
    import asyncio

    from cloudmart.finops.rightsizing import _owner_maps

    req, owners, rs = await asyncio.gather(
        client.query('max by (namespace, pod, container, resource) '
                     '(kube_pod_container_resource_requests{resource=~"cpu|memory",container!=""})', at),
        client.query("max by (namespace, pod, owner_kind, owner_name) (kube_pod_owner)", at),
        client.query("max by (namespace, replicaset, owner_kind, owner_name) (kube_replicaset_owner)", at))
    owner = _owner_maps(owners, rs)
    totals: dict[tuple[str, str, str], list[float]] = {}
    for s in req:
        ns, pod = s.labels.get("namespace", ""), s.labels.get("pod", "")
        kind, name = owner.get((ns, pod), ("Pod", pod))
        acc = totals.setdefault((ns, kind.lower(), name), [0.0, 0.0])
        acc[0 if s.labels.get("resource") == "cpu" else 1] += s.value
    out = {}
    for key, (cores, ram) in totals.items():
        cpu = cores * prices.cpu * HOURS_PER_MONTH
        mem = ram / GIB * prices.ram * HOURS_PER_MONTH
        out[key] = {"totalMonthlyRate": round(cpu + mem, 5), "cpuMonthlyRate": round(cpu, 5),
                    "ramMonthlyRate": round(mem, 5), "gpuMonthlyRate": 0.0,
                    "monthlyCPUCoreHours": round(cores * HOURS_PER_MONTH, 5),
                    "monthlyRAMByteHours": round(ram * HOURS_PER_MONTH, 5), "monthlyGPUHours": 0.0}
    return out


def speccost(prediction: Prediction, before: dict[tuple[str, str, str], dict[str, float]] | None = None) -> list[dict]:
    """The `/model/prediction/speccost` response: one SpecCostDiff per workload (at current replicas).

    `before` maps (namespace, lower-case kind, name) to the workload's running cost in the same
    shape (see `running_costs`); a workload missing from it is treated as new.
    """
    zero = {k: 0.0 for k in ("totalMonthlyRate", "cpuMonthlyRate", "ramMonthlyRate", "gpuMonthlyRate",
                             "monthlyCPUCoreHours", "monthlyRAMByteHours", "monthlyGPUHours")}
    out = []
    for w in prediction.workloads:
        if w.kind == "PersistentVolumeClaim":
            continue
        after = cost_prediction_fields(w.monthly["current"], w.pod, w.replicas["current"])
        prev = (before or {}).get((w.namespace, w.kind.lower(), w.name), zero)
        out.append({
            "namespace": w.namespace, "controllerKind": w.kind.lower(), "controllerName": w.name,
            "costBefore": prev, "costAfter": after,
            "costChange": {k: round(after[k] - prev.get(k, 0.0), 5) for k in after},
        })
    return out
