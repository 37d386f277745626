"""Price sheets: Kubecost's default hourly prices, custom sheets, and per-node resolution.

A custom sheet (YAML or JSON) looks like::

    cpu: 0.031611          # per core-hour        (required)
    ram: 0.004237          # per GiB-hour         (required)
    gpu: 0.95              # per GPU-hour         (optional, default shown)
    storage: 0.00005479452 # per GiB-hour         (optional)
    spot:                  # optional: nodes carrying label=value are priced at spot rates
      label: karpenter.sh/capacity-type
      value: spot
      cpu: 0.006655
      ram: 0.000892
    instanceTypes:         # optional: per node.kubernetes.io/instance-type overrides
      m5.large: {cpu: 0.048, ram: 0.006}

Resolution order for a node: its `node_cpu_hourly_cost` / `node_ram_hourly_cost` metrics,
then its instance type, then spot, then the sheet's defaults.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

HOURS_PER_MONTH = 730
GIB = 2.0**30

DEFAULT_CPU = 0.031611
DEFAULT_RAM = 0.004237
DEFAULT_GPU = 0.95
DEFAULT_STORAGE = 0.00005479452
DEFAULT_SPOT_CPU = 0.006655
DEFAULT_SPOT_RAM = 0.000892

INSTANCE_TYPE_LABELS = ("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type")
# Well-known spot/preemptible node labels, used when a sheet does not name its own.
DEFAULT_SPOT_LABELS = {
    "karpenter.sh/capacity-type": "spot",
    "eks.amazonaws.com/capacityType": "SPOT",
    "cloud.google.com/gke-spot": "true",
    "cloud.google.com/gke-preemptible": "true",
    "kubernetes.azure.com/scalesetpriority": "spot",
}

Price = Field(ge=0, allow_inf_nan=False)


class PriceSheetError(ValueError):
    """A price sheet file was refused; the message names the file and the offending entry."""


class ResourcePrices(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cpu: float = Price
    ram: float = Price


class SpotPrices(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str | None = None
    value: str | None = None
    cpu: float = Field(default=DEFAULT_SPOT_CPU, ge=0, allow_inf_nan=False)
    ram: float = Field(default=DEFAULT_SPOT_RAM, ge=0, allow_inf_nan=False)


@dataclass(frozen=True)
class NodePrice:
    cpu: float  # per core-hour
    ram: float  # per GiB-hour
    source: str  # "metric", "instanceType:<t>", "spot", "default"


def sanitize_label(name: str) -> str:
    """kube-state-metrics' rendering of a Kubernetes label key as a Prometheus label name."""
    return "label_" + re.sub(r"[^a-zA-Z0-9_]", "_", name)


class PriceSheet(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    cpu: float = Field(default=DEFAULT_CPU, ge=0, allow_inf_nan=False)
    ram: float = Field(default=DEFAULT_RAM, ge=0, allow_inf_nan=False)
    gpu: float = Field(default=DEFAULT_GPU, ge=0, allow_inf_nan=False)
    storage: float = Field(default=DEFAULT_STORAGE, ge=0, allow_inf_nan=False)
    spot: SpotPrices = Field(default_factory=SpotPrices)
    instance_types: dict[str, ResourcePrices] = Field(default_factory=dict, alias="instanceTypes")

    @classmethod
    def load(cls, path: str | Path) -> "PriceSheet":
        """Read a YAML or JSON sheet; refuse missing, negative or non-numeric prices."""
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as e:
            raise PriceSheetError(f"price sheet {p}: cannot read ({e.strerror})") from e
        try:
            raw = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as e:
            raise PriceSheetError(f"price sheet {p}: not valid {'JSON' if p.suffix.lower() == '.json' else 'YAML'} ({e})") from e
        if not isinstance(raw, dict):
            raise PriceSheetError(f"price sheet {p}: expected a mapping of prices at the top level")
        missing = [k for k in ("cpu", "ram") if k not in raw]
        if missing:
            raise PriceSheetError(f"price sheet {p}: missing price(s): {', '.join(missing)}")
        try:
            return cls.model_validate(raw)
        except ValidationError as e:
            problems = "; ".join(
                f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in e.errors(include_url=False)
            )
            raise PriceSheetError(f"price sheet {p}: {problems}") from e

    def _has(self, labels: dict[str, str], key: str, value: str | None = None) -> bool:
        for k in (key, sanitize_label(key)):
            if k in labels and (value is None or labels[k] == value):
                return True
        return False

    def _get(self, labels: dict[str, str], key: str) -> str | None:
        for k in (key, sanitize_label(key)):
            if k in labels:
                return labels[k]
        return None

    def is_spot(self, node_labels: dict[str, str]) -> bool:
        if self.spot.label:
            return self._has(node_labels, self.spot.label, self.spot.value)
        return any(self._has(node_labels, k, v) for k, v in DEFAULT_SPOT_LABELS.items())

    def node_price(
        self,
        node_labels: dict[str, str] | None = None,
        *,
        cpu_metric: float | None = None,
        ram_metric: float | None = None,
    ) -> NodePrice:
        """Hourly prices of one node. `ram_metric` is per GiB-hour, as Kubecost exports it."""
        labels = node_labels or {}
        if cpu_metric is not None and ram_metric is not None:
            return NodePrice(cpu_metric, ram_metric, "metric")
        base: NodePrice
        itype = next((v for k in INSTANCE_TYPE_LABELS if (v := self._get(labels, k)) is not None), None)
        if itype is not None and itype in self.instance_types:
            it = self.instance_types[itype]
            base = NodePrice(it.cpu, it.ram, f"instanceType:{itype}")
        elif self.is_spot(labels):
            base = NodePrice(self.spot.cpu, self.spot.ram, "spot")
        else:
            base = NodePrice(self.cpu, self.ram, "default")
        if cpu_metric is not None or ram_metric is not None:
            return NodePrice(
                cpu_metric if cpu_metric is not None else base.cpu,
                ram_metric if ram_metric is not None else base.ram,
                "metric",
            )
        return base
