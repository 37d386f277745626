"""An exact simulator of the Kubernetes horizontal pod autoscaler (autoscaling/v2).

It replays the controller's algorithm (pkg/controller/podautoscaler: horizontal.go and
replica_calculator.go) sync by sync over a load profile: utilization as integer percent of
Σusage/Σrequest in milli-units, tolerance, missing/unready pod handling, the CPU
initialization period and initial readiness delay, the max over metrics, `behavior`
policies and stabilization windows (or the legacy path when `behavior` is absent) and the
min/max clamp. Pods are modelled individually: a new pod is Pending for `startupSeconds`,
then Running but not Ready until its readiness delay passes, and reports metrics
`metricsDelaySeconds` after it starts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cloudmart.finops.manifests import ManifestError, Workload, milli, parse_workload

SUPPORTED_RESOURCES = ("cpu", "memory")
MAX_POLICY_PERIOD = 1800
MAX_STABILIZATION = 3600


# --------------------------------------------------------------------------- the HPA object


@dataclass(frozen=True)
class ScalingPolicy:
    type: str  # "Pods" | "Percent"
    value: int
    period_seconds: int


@dataclass(frozen=True)
class ScalingRules:
    stabilization_window_seconds: int
    select_policy: str  # "Max" | "Min" | "Disabled"
    policies: tuple[ScalingPolicy, ...]

    @property
    def longest_period(self) -> int:
        return max((p.period_seconds for p in self.policies), default=0)


@dataclass(frozen=True)
class MetricTarget:
    resource: str  # "cpu" | "memory"
    type: str  # "Utilization" | "AverageValue"
    value: int  # percent for Utilization, milli-units for AverageValue

    @property
    def label(self) -> str:
        return f"{self.resource}/{'util' if self.type == 'Utilization' else 'avg'}"


@dataclass(frozen=True)
class HPASpec:
    name: str
    namespace: str
    target_kind: str
    target_name: str
    min_replicas: int
    max_replicas: int
    metrics: tuple[MetricTarget, ...]
    scale_up: ScalingRules | None  # None on both = no `behavior` (legacy path)
    scale_down: ScalingRules | None

    @property
    def has_behavior(self) -> bool:
        return self.scale_up is not None


def default_scale_up() -> ScalingRules:
    return ScalingRules(0, "Max", (ScalingPolicy("Pods", 4, 15), ScalingPolicy("Percent", 100, 15)))


def default_scale_down() -> ScalingRules:
    return ScalingRules(300, "Max", (ScalingPolicy("Percent", 100, 15),))


def _int(obj: dict, key: str, path: str, source: str, *, default: int | None = None,
         lo: int | None = None, hi: int | None = None) -> int:
    value = obj.get(key, default)
    if value is None:
        raise ManifestError(path, "is required", source)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ManifestError(path, f"must be an integer, got {value!r}", source)
    if lo is not None and value < lo:
        raise ManifestError(path, f"must be >= {lo}, got {value}", source)
    if hi is not None and value > hi:
        raise ManifestError(path, f"must be <= {hi}, got {value}", source)
    return value


def _parse_rules(raw: Any, path: str, source: str, default: ScalingRules) -> ScalingRules:
    """API defaulting (GenerateHPAScale{Up,Down}Rules): each unset field takes the default."""
    if raw is None:
        return default
    if not isinstance(raw, dict):
        raise ManifestError(path, "must be a mapping", source)
    window = default.stabilization_window_seconds
    if raw.get("stabilizationWindowSeconds") is not None:
        window = _int(raw, "stabilizationWindowSeconds", f"{path}.stabilizationWindowSeconds", source,
                      lo=0, hi=MAX_STABILIZATION)
    select = raw.get("selectPolicy", default.select_policy) or default.select_policy
    if select not in ("Max", "Min", "Disabled"):
        raise ManifestError(f"{path}.selectPolicy", f"must be Max, Min or Disabled, got {select!r}", source)
    policies = default.policies
    if raw.get("policies") is not None:
        items = raw["policies"]
        if not isinstance(items, list) or (not items and select != "Disabled"):
            raise ManifestError(f"{path}.policies", "must be a non-empty list", source)
        parsed = []
        for i, p in enumerate(items):
            ppath = f"{path}.policies[{i}]"
            if not isinstance(p, dict):
                raise ManifestError(ppath, "must be a mapping", source)
            ptype = p.get("type")
            if ptype not in ("Pods", "Percent"):
                raise ManifestError(f"{ppath}.type", f"must be Pods or Percent, got {ptype!r}", source)
            parsed.append(ScalingPolicy(
                ptype,
                _int(p, "value", f"{ppath}.value", source, lo=1),
                _int(p, "periodSeconds", f"{ppath}.periodSeconds", source, lo=1, hi=MAX_POLICY_PERIOD),
            ))
        policies = tuple(parsed)
    return ScalingRules(window, select, policies)


def _parse_metric(raw: Any, i: int, source: str) -> MetricTarget:
    path = f"spec.metrics[{i}]"
    if not isinstance(raw, dict):
        raise ManifestError(path, "must be a mapping", source)
    mtype = raw.get("type")
    if mtype != "Resource":
        raise ManifestError(f"{path}.type", f"only Resource metrics can be simulated, got {mtype!r}", source)
    res = raw.get("resource")
    if not isinstance(res, dict):
        raise ManifestError(f"{path}.resource", "is required for type Resource", source)
    name = res.get("name")
    if name not in SUPPORTED_RESOURCES:
        raise ManifestError(f"{path}.resource.name", f"must be cpu or memory, got {name!r}", source)
    target = res.get("target")
    if not isinstance(target, dict):
        raise ManifestError(f"{path}.resource.target", "is required", source)
    ttype = target.get("type")
    tpath = f"{path}.resource.target"
    if ttype == "Utilization":
        value = _int(target, "averageUtilization", f"{tpath}.averageUtilization", source)
        if value <= 0:
            raise ManifestError(f"{tpath}.averageUtilization", f"must be greater than 0, got {value}", source)
        return MetricTarget(name, "Utilization", value)
    if ttype == "AverageValue":
        if target.get("averageValue") is None:
            raise ManifestError(f"{tpath}.averageValue", "is required for type AverageValue", source)
        value = milli(target["averageValue"], f"{tpath}.averageValue")
        if value <= 0:
            raise ManifestError(f"{tpath}.averageValue", "must be greater than 0", source)
        return MetricTarget(name, "AverageValue", value)
    raise ManifestError(f"{tpath}.type", f"must be Utilization or AverageValue, got {ttype!r}", source)


def parse_hpa(doc: Any, source: str = "") -> HPASpec:
    """Validate and default an HPA object (autoscaling/v2, or v1's targetCPUUtilizationPercentage)."""
    if not isinstance(doc, dict):
        raise ManifestError("(document)", "HPA must be a mapping", source)
    if doc.get("kind") != "HorizontalPodAutoscaler":
        raise ManifestError("kind", f"expected HorizontalPodAutoscaler, got {doc.get('kind')!r}", source)
    api = doc.get("apiVersion", "")
    meta = doc.get("metadata") or {}
    if not isinstance(meta, dict) or not meta.get("name"):
        raise ManifestError("metadata.name", "is required", source)
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        raise ManifestError("spec", "is required", source)
    ref = spec.get("scaleTargetRef")
    if not isinstance(ref, dict) or not ref.get("name"):
        raise ManifestError("spec.scaleTargetRef.name", "is required", source)
    max_r = _int(spec, "maxReplicas", "spec.maxReplicas", source, lo=1)
    min_r = _int(spec, "minReplicas", "spec.minReplicas", source, default=1, lo=1)
    if min_r > max_r:
        raise ManifestError("spec.minReplicas", f"must be <= spec.maxReplicas ({max_r}), got {min_r}", source)
    if api == "autoscaling/v1":
        pct = spec.get("targetCPUUtilizationPercentage", 80)
        if isinstance(pct, bool) or not isinstance(pct, int) or pct <= 0:
            raise ManifestError("spec.targetCPUUtilizationPercentage", f"must be greater than 0, got {pct!r}", source)
        metrics: tuple[MetricTarget, ...] = (MetricTarget("cpu", "Utilization", pct),)
        behavior = None
    else:
        raw_metrics = spec.get("metrics")
        if raw_metrics is None:
            metrics = (MetricTarget("cpu", "Utilization", 80),)  # the API default
        elif not isinstance(raw_metrics, list) or not raw_metrics:
            raise ManifestError("spec.metrics", "must be a non-empty list", source)
        else:
            metrics = tuple(_parse_metric(m, i, source) for i, m in enumerate(raw_metrics))
        behavior = spec.get("behavior")
    if behavior is not None and not isinstance(behavior, dict):
        raise ManifestError("spec.behavior", "must be a mapping", source)
    up = down = None
    if behavior is not None:
        up = _parse_rules(behavior.get("scaleUp"), "spec.behavior.scaleUp", source, default_scale_up())
        down = _parse_rules(behavior.get("scaleDown"), "spec.behavior.scaleDown", source, default_scale_down())
    return HPASpec(
        name=meta["name"], namespace=meta.get("namespace") or "default",
        target_kind=ref.get("kind", "Deployment"), target_name=ref["name"],
        min_replicas=min_r, max_replicas=max_r, metrics=metrics, scale_up=up, scale_down=down,
    )


def check_target(hpa: HPASpec, workload: Workload, source: str = "") -> None:
    """The HPA must point at this workload, and every Utilization metric needs requests."""
    if hpa.target_name != workload.name:
        raise ManifestError("spec.scaleTargetRef.name",
                            f"{hpa.target_name!r} does not match {workload.kind} {workload.name!r}", source)
    for m in hpa.metrics:
        if m.type != "Utilization":
            continue
        for i, c in enumerate(workload.containers):
            if c.requests.get(m.resource, 0) <= 0:
                raise ManifestError(
                    f"spec.template.spec.containers[{i}].resources.requests.{m.resource}",
                    f"missing request in container {c.name!r} (needed by the HPA's {m.resource} Utilization metric)",
                    workload.name)


def find_objects(docs: Sequence[dict], source: str = "", name: str | None = None) -> tuple[HPASpec, Workload]:
    """The HPA (the only one, or the one called `name`) and the workload it targets."""
    hpa_docs = [d for d in docs if d.get("kind") == "HorizontalPodAutoscaler"]
    if name is not None:
        hpa_docs = [d for d in hpa_docs if (d.get("metadata") or {}).get("name") == name]
        if not hpa_docs:
            raise ManifestError("metadata.name", f"no HorizontalPodAutoscaler named {name!r}", source)
    if not hpa_docs:
        raise ManifestError("kind", "no HorizontalPodAutoscaler found", source)
    if len(hpa_docs) > 1:
        names = ", ".join(sorted(str((d.get("metadata") or {}).get("name")) for d in hpa_docs))
        raise ManifestError("kind", f"several HorizontalPodAutoscalers ({names}): choose one with --hpa", source)
    hpa = parse_hpa(hpa_docs[0], source)
    hpa_ns = (hpa_docs[0].get("metadata") or {}).get("namespace")

    def same_namespace(d: dict) -> bool:
        ns = (d.get("metadata") or {}).get("namespace")
        return not hpa_ns or not ns or ns == hpa_ns

    candidates = [d for d in docs if d.get("kind") == hpa.target_kind and same_namespace(d)]
    for d in candidates:
        if (d.get("metadata") or {}).get("name") == hpa.target_name:
            workload = parse_workload(d, source, hpa.namespace)
            check_target(hpa, workload, source)
            return hpa, workload
    raise ManifestError("spec.scaleTargetRef.name",
                        f"no {hpa.target_kind} named {hpa.target_name!r} found", source)


# --------------------------------------------------------------------------- controller state


@dataclass(frozen=True)
class ControllerConfig:
    """kube-controller-manager's --horizontal-pod-autoscaler-* flags, with their defaults."""

    sync_period: int = 15
    tolerance: float = 0.1
    cpu_initialization_period: int = 300
    initial_readiness_delay: int = 30
    downscale_stabilization: int = 300


class HPAController:
    """The controller's memory for one HPA: recommendations and scale events, on a simulated clock.

    Each method mirrors its namesake in horizontal.go; `now` is passed explicitly.
    """

    def __init__(self, hpa: HPASpec, config: ControllerConfig | None = None) -> None:
        self.hpa = hpa
        self.config = config or ControllerConfig()
        self.recommendations: list[list[float]] | None = None  # [replicas, timestamp]
        self.scale_up_events: list[tuple[int, float]] = []
        self.scale_down_events: list[tuple[int, float]] = []

    @property
    def window(self) -> int:
        """How far back recommendations matter."""
        if self.hpa.has_behavior:
            return max(self.hpa.scale_up.stabilization_window_seconds, self.hpa.scale_down.stabilization_window_seconds)
        return self.config.downscale_stabilization

    def quiet(self, current: int, now: float) -> bool:
        """Every recommendation that can still matter equals `current`."""
        cutoff = now - self.window
        return all(rec == current for rec, ts in self.recommendations if ts >= cutoff)

    def record_quiet(self, current: int, times: Sequence[float]) -> None:
        """The state after syncs at `times` that each proposed `current` while `quiet`: the same
        recommendation recorded at each, stale ones (which only ever serve as slots to
        overwrite) dropped."""
        cutoff = times[-1] - self.window
        self.recommendations = ([r for r in self.recommendations if r[1] >= cutoff]
                                + [[current, t] for t in times if t >= cutoff])

    # horizontal.go: recordInitialRecommendation
    def record_initial(self, current: int, now: float) -> None:
        if self.recommendations is None:
            self.recommendations = [[current, now]]

    def stabilize_legacy(self, desired: int, now: float) -> int:
        cutoff = now - self.config.downscale_stabilization
        best = desired
        old = -1
        recs = self.recommendations
        for i, (rec, ts) in enumerate(recs):
            if ts < cutoff:
                old = i
            elif rec > best:
                best = rec
        if old >= 0:
            recs[old] = [desired, now]
        else:
            recs.append([desired, now])
        return int(best)

    def normalize_legacy(self, current: int, desired: int, now: float) -> int:
        stabilized = self.stabilize_legacy(desired, now)
        scale_up_limit = max(2 * current, 4)
        maximum = min(self.hpa.max_replicas, scale_up_limit)
        if stabilized < self.hpa.min_replicas:
            return self.hpa.min_replicas
        if stabilized > maximum:
            return maximum
        return stabilized

    def stabilize_with_behaviors(self, current: int, desired: int, now: float) -> int:
        up_cutoff = now - self.hpa.scale_up.stabilization_window_seconds
        down_cutoff = now - self.hpa.scale_down.stabilization_window_seconds
        up_rec = down_rec = desired
        old = -1
        recs = self.recommendations
        for i, (rec, ts) in enumerate(recs):
            if ts > up_cutoff:
                up_rec = min(rec, up_rec)
            if ts > down_cutoff:
                down_rec = max(rec, down_rec)
            if ts < up_cutoff and ts < down_cutoff:
                old = i
        recommendation = current
        if recommendation < up_rec:
            recommendation = up_rec
        if recommendation > down_rec:
            recommendation = down_rec
        if old >= 0:
            recs[old] = [desired, now]
        else:
            recs.append([desired, now])
        return int(recommendation)

    @staticmethod
    def _change_in_period(period: int, events: list[tuple[int, float]], now: float) -> int:
        cutoff = now - period
        return sum(change for change, ts in events if ts > cutoff)

    def scale_up_limit(self, current: int, now: float) -> int:
        rules = self.hpa.scale_up
        if rules.select_policy == "Disabled":
            return current
        pick = min if rules.select_policy == "Min" else max
        result: int | None = None
        for p in rules.policies:
            start = (current - self._change_in_period(p.period_seconds, self.scale_up_events, now)
                     + self._change_in_period(p.period_seconds, self.scale_down_events, now))
            if p.type == "Pods":
                proposed = start + p.value
            else:
                proposed = math.ceil(start * (1 + p.value / 100))
            result = proposed if result is None else pick(result, proposed)
        return result if result is not None else current

    def scale_down_limit(self, current: int, now: float) -> int:
        rules = self.hpa.scale_down
        if rules.select_policy == "Disabled":
            return current
        # Min change on the way down = the highest proposed replica count.
        pick = max if rules.select_policy == "Min" else min
        result: int | None = None
        for p in rules.policies:
            start = (current - self._change_in_period(p.period_seconds, self.scale_up_events, now)
                     + self._change_in_period(p.period_seconds, self.scale_down_events, now))
            if p.type == "Pods":
                proposed = start - p.value
            else:
                proposed = int(start * (1 - p.value / 100))
            result = proposed if result is None else pick(result, proposed)
        return result if result is not None else current

    def convert_with_behavior_rate(self, current: int, desired: int, now: float) -> int:
        if desired > current:
            limit = max(self.scale_up_limit(current, now), current)
            maximum = min(self.hpa.max_replicas, limit)
            return min(desired, maximum)
        if desired < current:
            limit = min(self.scale_down_limit(current, now), current)
            minimum = max(self.hpa.min_replicas, limit)
            return max(desired, minimum)
        return desired

    def normalize_with_behaviors(self, current: int, desired: int, now: float) -> int:
        stabilized = self.stabilize_with_behaviors(current, desired, now)
        return self.convert_with_behavior_rate(current, stabilized, now)

    def store_scale_event(self, previous: int, new: int, now: float) -> None:
        if not self.hpa.has_behavior:
            return
        if new > previous:
            keep = now - self.hpa.scale_up.longest_period
            self.scale_up_events = [e for e in self.scale_up_events if e[1] >= keep]
            self.scale_up_events.append((new - previous, now))
        else:
            keep = now - self.hpa.scale_down.longest_period
            self.scale_down_events = [e for e in self.scale_down_events if e[1] >= keep]
            self.scale_down_events.append((previous - new, now))

    def reconcile(self, current: int, metric_desired: int | None, now: float) -> tuple[int, str]:
        """One reconcileAutoscaler pass. `metric_desired` None = metrics could not be computed."""
        self.record_initial(current, now)
        hpa = self.hpa
        if current == 0:
            return 0, "scaling disabled (target has 0 replicas)"
        if current > hpa.max_replicas:
            desired, reason = hpa.max_replicas, "above maxReplicas"
        elif current < hpa.min_replicas:
            desired, reason = hpa.min_replicas, "below minReplicas"
        else:
            if metric_desired is None:
                return current, "failed to compute replicas from metrics"
            desired = max(metric_desired, 0)
            reason = "above target" if desired > current else ("below target" if desired < current else "")
            if hpa.has_behavior:
                desired = self.normalize_with_behaviors(current, desired, now)
            else:
                desired = self.normalize_legacy(current, desired, now)
        if desired != current:
            self.store_scale_event(current, desired, now)
        return desired, reason


# --------------------------------------------------------------------------- replica calculator


@dataclass
class PodView:
    """What the controller sees of one pod at a sync."""

    name: str
    phase: str  # "Pending" | "Running" | "Failed"
    requests: dict[str, int]  # milli-units per resource (sum over containers)
    start_time: float | None
    ready: bool | None  # None = no Ready condition
    ready_transition: float | None
    metrics: dict[str, tuple[int, float, float]] = field(default_factory=dict)  # res -> (milli, ts, window)
    deleting: bool = False


class MetricError(Exception):
    pass


def group_pods(pods: Sequence[PodView], resource: str, now: float, config: ControllerConfig):
    """replica_calculator.go groupPods: ready count and the unready / missing / ignored sets."""
    ready = 0
    unready: set[str] = set()
    missing: set[str] = set()
    ignored: set[str] = set()
    for pod in pods:
        if pod.deleting or pod.phase == "Failed":
            ignored.add(pod.name)
            continue
        if pod.phase == "Pending":
            unready.add(pod.name)
            continue
        metric = pod.metrics.get(resource)
        if metric is None:
            missing.add(pod.name)
            continue
        if resource == "cpu":
            if pod.ready is None or pod.start_time is None:
                is_unready = True
            elif pod.start_time + config.cpu_initialization_period > now:
                # Still initializing: ignore unready pods and samples taken before readiness + window.
                _, ts, window = metric
                is_unready = (not pod.ready) or ts < pod.ready_transition + window
            else:
                # Ignore pods that are unready and have never been ready.
                is_unready = (not pod.ready) and (
                    pod.start_time + config.initial_readiness_delay > pod.ready_transition)
            if is_unready:
                unready.add(pod.name)
                continue
        ready += 1
    return ready, unready, missing, ignored


def _utilization_ratio(metrics: dict[str, int], requests: dict[str, int], target: MetricTarget):
    """metricsclient GetResourceUtilizationRatio / GetMetricUsageRatio."""
    if target.type == "Utilization":
        total = req = 0
        for name, value in metrics.items():
            if name in requests:
                total += value
                req += requests[name]
        if req == 0:
            raise MetricError("no metrics returned matched known pods")
        utilization = (total * 100) // req
        return utilization / target.value, utilization
    if not metrics:
        raise MetricError("no metrics")
    average = sum(metrics.values()) // len(metrics)
    return average / target.value, average


def replicas_for_metric(target: MetricTarget, current: int, pods: Sequence[PodView], now: float,
                        config: ControllerConfig) -> tuple[int, int]:
    """GetResourceReplicas / GetRawResourceReplicas. Returns (replicas, utilization or average)."""
    if not pods:
        raise MetricError("no pods returned by selector while calculating replica count")
    res = target.resource
    ready, unready, missing, ignored = group_pods(pods, res, now, config)
    metrics = {p.name: p.metrics[res][0] for p in pods
               if res in p.metrics and p.name not in ignored and p.name not in unready}
    if not metrics:
        raise MetricError("did not receive metrics for targeted pods (pods might be unready)")
    requests = {p.name: p.requests.get(res, 0) for p in pods}
    if target.type == "Utilization":
        for p in pods:
            if requests[p.name] <= 0:
                raise MetricError(f"missing request for {res} in pod {p.name}")
    ratio, utilization = _utilization_ratio(metrics, requests, target)
    scale_up_with_unready = bool(unready) and ratio > 1.0
    if not scale_up_with_unready and not missing:
        if abs(1.0 - ratio) <= config.tolerance:
            return current, utilization
        return math.ceil(ratio * ready), utilization
    if missing:
        if ratio < 1.0:
            for name in missing:
                if target.type == "Utilization":
                    fallback = max(100, target.value)
                    metrics[name] = requests[name] * fallback // 100
                else:
                    metrics[name] = target.value
        elif ratio > 1.0:
            for name in missing:
                metrics[name] = 0
    if scale_up_with_unready:
        for name in unready:
            metrics[name] = 0
    new_ratio, _ = _utilization_ratio(metrics, requests, target)
    if (abs(1.0 - new_ratio) <= config.tolerance or (ratio < 1.0 < new_ratio)
            or (ratio > 1.0 > new_ratio)):
        return current, utilization
    new_replicas = math.ceil(new_ratio * len(metrics))
    if (new_ratio < 1.0 and new_replicas > current) or (new_ratio > 1.0 and new_replicas < current):
        return current, utilization
    return new_replicas, utilization


def replicas_for_metrics(hpa: HPASpec, current: int, pods: Sequence[PodView], now: float,
                         config: ControllerConfig) -> tuple[int | None, dict[str, int | None], str]:
    """computeReplicasForMetrics: the max over metrics; invalid metrics block a scale-down."""
    best = -1
    invalid = 0
    readings: dict[str, int | None] = {}
    first_error = ""
    for m in hpa.metrics:
        try:
            replicas, reading = replicas_for_metric(m, current, pods, now, config)
        except MetricError as exc:
            invalid += 1
            readings[m.label] = None
            first_error = first_error or f"{m.resource}: {exc}"
            continue
        readings[m.label] = reading
        best = max(best, replicas)
    if invalid >= len(hpa.metrics) or (invalid > 0 and best < current):
        return None, readings, first_error
    return best, readings, first_error


# --------------------------------------------------------------------------- load profiles


@dataclass(frozen=True)
class UsageModel:
    """Per-pod usage of one resource, in milli-units: base + perUnit × (load ÷ ready pods)."""

    base: int
    per_unit: float


@dataclass(frozen=True)
class PodLifecycle:
    startup_seconds: int = 0
    readiness_delay_seconds: int | None = None  # None = from the Deployment's readinessProbe
    metrics_delay_seconds: int = 15
    metric_window_seconds: int = 30


@dataclass(frozen=True)
class LoadProfile:
    times: tuple[float, ...]  # seconds from the start, strictly increasing, first = 0
    loads: tuple[float, ...]
    usage: dict[str, UsageModel]
    duration: float
    lifecycle: PodLifecycle = PodLifecycle()
    start: datetime | None = None

    def load_at(self, t: float, cursor: int = 0) -> tuple[float, int]:
        """Step-hold value at t, searching forward from `cursor` (simulation time only grows)."""
        times = self.times
        i = cursor
        while i + 1 < len(times) and times[i + 1] <= t:
            i += 1
        return self.loads[i], i


def _parse_time(value: Any, path: str) -> float | datetime:
    if isinstance(value, bool):
        raise ManifestError(path, f"must be seconds or an RFC3339 time, got {value!r}", "load profile")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise ManifestError(path, f"must be seconds or an RFC3339 time, got {value!r}", "load profile") from exc


def _usage_model(raw: Any, res: str) -> UsageModel:
    path = f"usage.{res}"
    if not isinstance(raw, dict):
        raise ManifestError(path, "must be a mapping with base and perUnit", "load profile")
    base = milli(raw.get("base", 0), f"{path}.base")
    per_unit = milli(raw.get("perUnit", 0), f"{path}.perUnit")
    if base < 0 or per_unit < 0:
        raise ManifestError(path, "base and perUnit must not be negative", "load profile")
    return UsageModel(base, per_unit)


def parse_load_profile(doc: Any) -> LoadProfile:
    """Validate a load profile document (see docs/hpa-simulator.md)."""
    src = "load profile"
    if not isinstance(doc, dict):
        raise ManifestError("(document)", "must be a mapping", src)
    points = doc.get("points")
    if not isinstance(points, list) or not points:
        raise ManifestError("points", "must be a non-empty list of {t, load}", src)
    max_gap = doc.get("maxGapSeconds", 900)
    if isinstance(max_gap, bool) or not isinstance(max_gap, int | float) or max_gap <= 0:
        raise ManifestError("maxGapSeconds", f"must be a positive number, got {max_gap!r}", src)
    raw_times = []
    loads = []
    for i, p in enumerate(points):
        if not isinstance(p, dict) or "t" not in p:
            raise ManifestError(f"points[{i}].t", "is required", src)
        raw_times.append(_parse_time(p["t"], f"points[{i}].t"))
        load = p.get("load")
        if isinstance(load, bool) or not isinstance(load, int | float) or not math.isfinite(load):
            raise ManifestError(f"points[{i}].load", f"must be a number (a missing value is a gap), got {load!r}", src)
        if load < 0:
            raise ManifestError(f"points[{i}].load", f"must not be negative, got {load}", src)
        loads.append(float(load))
    kinds = {type(t) for t in raw_times}
    if len(kinds) > 1:
        raise ManifestError("points[].t", "mixes seconds and RFC3339 times", src)
    start = raw_times[0] if isinstance(raw_times[0], datetime) else None
    if start is not None:
        if any(t.tzinfo is None for t in raw_times):
            raise ManifestError("points[].t", "RFC3339 times need a zone (e.g. Z)", src)
        times = [(t - start).total_seconds() for t in raw_times]
    else:
        times = [t - raw_times[0] for t in raw_times]
    for i in range(1, len(times)):
        gap = times[i] - times[i - 1]
        if gap <= 0:
            raise ManifestError(f"points[{i}].t", "time must be strictly increasing "
                                f"(not after points[{i - 1}].t)", src)
        if gap > max_gap:
            raise ManifestError(f"points[{i}].t", f"gap of {gap:g}s after points[{i - 1}] exceeds "
                                f"maxGapSeconds={max_gap:g}", src)
    usage_raw = doc.get("usage")
    if not isinstance(usage_raw, dict) or not usage_raw:
        raise ManifestError("usage", "must map cpu and/or memory to {base, perUnit}", src)
    usage = {}
    for res, raw in usage_raw.items():
        if res not in SUPPORTED_RESOURCES:
            raise ManifestError(f"usage.{res}", "only cpu and memory are supported", src)
        usage[res] = _usage_model(raw, res)
    duration = doc.get("durationSeconds", times[-1])
    if isinstance(duration, bool) or not isinstance(duration, int | float) or duration < 0:
        raise ManifestError("durationSeconds", f"must be a non-negative number, got {duration!r}", src)
    pods = doc.get("pods") or {}
    if not isinstance(pods, dict):
        raise ManifestError("pods", "must be a mapping", src)
    lifecycle_args: dict[str, int | None] = {}
    for key, attr in (("startupSeconds", "startup_seconds"), ("readinessDelaySeconds", "readiness_delay_seconds"),
                      ("metricsDelaySeconds", "metrics_delay_seconds"), ("metricWindowSeconds", "metric_window_seconds")):
        if key in pods:
            lifecycle_args[attr] = _int(pods, key, f"pods.{key}", src, lo=0)
    return LoadProfile(tuple(times), tuple(loads), usage, float(duration), PodLifecycle(**lifecycle_args), start)


# --------------------------------------------------------------------------- the simulation


@dataclass(frozen=True)
class Prices:
    """Hourly prices per core and per GiB (Kubecost's default sheet unless given)."""

    cpu_core_hour: float = 0.031611
    ram_gib_hour: float = 0.004237


@dataclass
class SimPod:
    name: str
    created: float
    start: float
    ready_at: float
    metrics_at: float


@dataclass
class Step:
    t: float
    load: float
    replicas: int  # after this sync's decision
    ready: int
    desired: int | None  # the metrics' proposal before normalization (None = error)
    readings: dict[str, int | None]
    reason: str
    cost: float  # of the interval that starts at this sync


@dataclass
class SimulationResult:
    hpa: HPASpec
    workload: Workload
    steps: list[Step]
    sync_period: int
    prices: Prices
    complete: bool = True  # False: stopped at the first proposal above maxReplicas

    @property
    def replicas(self) -> list[int]:
        return [s.replicas for s in self.steps]

    @property
    def total_cost(self) -> float:
        return sum(s.cost for s in self.steps)

    def summary(self) -> dict[str, Any]:
        reps = self.replicas
        hours = len(self.steps) * self.sync_period / 3600
        return {
            "hpa": self.hpa.name,
            "namespace": self.hpa.namespace,
            "target": f"{self.workload.kind}/{self.workload.name}",
            "steps": len(self.steps),
            "syncPeriodSeconds": self.sync_period,
            "minReplicas": min(reps) if reps else 0,
            "maxReplicas": max(reps) if reps else 0,
            "avgReplicas": round(sum(reps) / len(reps), 5) if reps else 0,
            "scaleEvents": sum(1 for a, b in zip(reps, reps[1:], strict=False) if a != b),
            "atMaxSteps": sum(1 for s in self.steps if s.desired is not None and s.desired > self.hpa.max_replicas),
            "totalCost": round(self.total_cost, 5),
            "hours": round(hours, 5),
            "monthlyCost": round(self.total_cost / hours * 730, 5) if hours else 0.0,
        }

    def to_json(self, every: int = 1) -> dict[str, Any]:
        timeline = []
        for i, s in enumerate(self.steps):
            if i % every and i != len(self.steps) - 1:
                continue
            timeline.append({"t": s.t, "load": s.load, "replicas": s.replicas, "ready": s.ready,
                             "desired": s.desired, "metrics": s.readings, "reason": s.reason,
                             "cost": round(s.cost, 8)})
        return {"summary": self.summary(), "timeline": timeline}


def pod_hourly_cost(workload: Workload, prices: Prices) -> float:
    cores = workload.pod_request("cpu") / 1000
    gib = workload.pod_request("memory") / 1000 / 2**30
    return cores * prices.cpu_core_hour + gib * prices.ram_gib_hour


def _settled_proposal(hpa: HPASpec, current: int, share: float, profile: LoadProfile,
                      requests: dict[str, int], config: ControllerConfig):
    """replicas_for_metrics when every pod is running, ready, past CPU initialization and has
    metrics: all pods report the same usage, so the sums reduce to one pod's numbers."""
    best = -1
    invalid = 0
    readings: dict[str, int | None] = {}
    first_error = ""
    for m in hpa.metrics:
        model = profile.usage.get(m.resource)
        if model is None:
            invalid += 1
            readings[m.label] = None
            first_error = first_error or f"{m.resource}: did not receive metrics for targeted pods (pods might be unready)"
            continue
        value = int(math.ceil(model.base + model.per_unit * share))
        if m.type == "Utilization":
            reading = (current * value * 100) // (current * requests[m.resource])
        else:
            reading = value
        ratio = reading / m.value
        replicas = current if abs(1.0 - ratio) <= config.tolerance else math.ceil(ratio * current)
        readings[m.label] = reading
        best = max(best, replicas)
    if invalid >= len(hpa.metrics) or (invalid > 0 and best < current):
        return None, readings, first_error
    return best, readings, first_error


def simulate(hpa: HPASpec, workload: Workload, profile: LoadProfile,
             config: ControllerConfig | None = None, prices: Prices | None = None,
             initial_replicas: int | None = None, *, fast: bool = True,
             stop_above_max: bool = False) -> SimulationResult:
    """Run the controller every sync period from t=0 to the profile's duration.

    `fast` takes a shortcut, with identical results, while every pod is settled (see
    `_settled_proposal`); `fast=False` builds every pod's view at every sync.
    `stop_above_max` ends the run at the first sync whose proposal exceeds maxReplicas.
    """
    config = config or ControllerConfig()
    prices = prices or Prices()
    controller = HPAController(hpa, config)
    life = profile.lifecycle
    readiness = life.readiness_delay_seconds
    if readiness is None:
        readiness = workload.readiness_delay_seconds
    requests = {res: workload.pod_request(res) for res in SUPPORTED_RESOURCES}
    per_pod_hour = pod_hourly_cost(workload, prices)
    step_hours = config.sync_period / 3600
    usage_items = list(profile.usage.items())

    serial = 0
    long_ago = -10 * 24 * 3600.0
    pods: list[SimPod] = []
    settled_at = long_ago  # from then on every current pod is settled
    shortcut = fast and all(
        m.type != "Utilization" or requests.get(m.resource, 0) > 0 for m in hpa.metrics)

    def add_pod(now: float, settled: bool) -> None:
        nonlocal serial, settled_at
        serial += 1
        if settled:
            pods.append(SimPod(f"pod-{serial}", long_ago, long_ago, long_ago, long_ago))
        else:
            start = now + life.startup_seconds
            pod = SimPod(f"pod-{serial}", now, start, start + readiness, start + life.metrics_delay_seconds)
            pods.append(pod)
            settled_at = max(settled_at, pod.start + config.cpu_initialization_period, pod.ready_at,
                             pod.metrics_at)

    replicas = workload.replicas if initial_replicas is None else initial_replicas
    for _ in range(replicas):
        add_pod(0.0, settled=True)

    steps: list[Step] = []
    sync = config.sync_period
    n = int(profile.duration // sync) + 1
    cursor = 0
    k = -1
    while k + 1 < n:
        k += 1
        now = float(k * sync)
        load, cursor = profile.load_at(now, cursor)
        current = len(pods)
        if shortcut and now >= settled_at and current:
            desired_metric, readings, error = (None, {}, "")
            if hpa.min_replicas <= current <= hpa.max_replicas:
                desired_metric, readings, error = _settled_proposal(hpa, current, load / current, profile,
                                                                    requests, config)
            new, reason = controller.reconcile(current, desired_metric, now)
            if desired_metric is None and error:
                reason = f"{reason}: {error}"
            if new > current:
                for _ in range(new - current):
                    add_pod(now, settled=False)
            elif new < current:
                pods.sort(key=lambda p: -p.created)
                del pods[: current - new]
            cost = new * per_pod_hour * step_hours
            steps.append(Step(now, load, new, current, desired_metric, readings, reason, cost))
            if stop_above_max and desired_metric is not None and desired_metric > hpa.max_replicas:
                return SimulationResult(hpa, workload, steps, sync, prices, complete=False)
            if new == current == desired_metric and controller.quiet(current, now):
                # Nothing can change until the load does: every sync before the next load point
                # would propose `current` again into a window that already holds only `current`.
                last = n - 1
                if cursor + 1 < len(profile.times):
                    last = min(last, math.ceil(profile.times[cursor + 1] / sync) - 1)
                if last > k:
                    skipped = [float(j * sync) for j in range(k + 1, last + 1)]
                    steps.extend(Step(t, load, current, current, desired_metric, readings, reason, cost)
                                 for t in skipped)
                    controller.record_quiet(current, skipped)
                    k = last
            continue
        ready_pods = [p for p in pods if p.start <= now and p.ready_at <= now]
        share = load / len(ready_pods) if ready_pods else 0.0
        views = []
        for p in pods:
            running = p.start <= now
            is_ready = running and p.ready_at <= now
            metrics = {}
            if running and p.metrics_at <= now:
                for res, model in usage_items:
                    value = model.base + (model.per_unit * share if is_ready else 0.0)
                    metrics[res] = (int(math.ceil(value)), now, float(life.metric_window_seconds))
            views.append(PodView(
                name=p.name, phase="Running" if running else "Pending", requests=requests,
                start_time=p.start if running else None, ready=is_ready if running else None,
                ready_transition=(p.ready_at if is_ready else p.start) if running else None,
                metrics=metrics))
        desired_metric, readings, error = (None, {}, "")
        if current >= hpa.min_replicas and current <= hpa.max_replicas and current > 0:
            desired_metric, readings, error = replicas_for_metrics(hpa, current, views, now, config)
        new, reason = controller.reconcile(current, desired_metric, now)
        if desired_metric is None and error:
            reason = f"{reason}: {error}"
        if new > current:
            for _ in range(new - current):
                add_pod(now, settled=False)
        elif new < current:
            # The ReplicaSet deletes not-ready pods first, then the newest.
            pods.sort(key=lambda p: (p.ready_at <= now, -p.created), reverse=True)
            del pods[new:]
        steps.append(Step(now, load, new, len(ready_pods), desired_metric, readings, reason,
                          new * per_pod_hour * step_hours))
        if stop_above_max and desired_metric is not None and desired_metric > hpa.max_replicas:
            return SimulationResult(hpa, workload, steps, sync, prices, complete=False)
    return SimulationResult(hpa, workload, steps, config.sync_period, prices)


# --------------------------------------------------------------------------- history from Prometheus

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str, field: str = "window") -> int:
    """"7d", "24h", "90m", "3600s" → seconds."""
    text = text.strip()
    if len(text) < 2 or text[-1] not in _DURATION_UNITS or not text[:-1].isdigit() or int(text[:-1]) <= 0:
        raise ManifestError(field, f"must be a positive duration like 7d, 24h or 90m, got {text!r}")
    return int(text[:-1]) * _DURATION_UNITS[text[-1]]


def pod_regex(workload: Workload) -> str:
    """Pods of a Deployment are `<name>-<replicaset hash>-<pod hash>`; of a StatefulSet `<name>-<ordinal>`."""
    if workload.kind == "StatefulSet":
        return f"{workload.name}-[0-9]+"
    return f"{workload.name}-[a-z0-9]+-[a-z0-9]+"


async def profile_from_prometheus(client: Any, workload: Workload, window: str, end: float | None = None,
                                  step: int = 60) -> LoadProfile:
    """A load profile from a workload's history: load = its total CPU usage in cores (so each
    ready pod uses load ÷ ready pods), memory = its average per-pod working set."""
    import time

    seconds = parse_duration(window)
    end = float(end if end is not None else time.time())
    end -= end % step
    start = end - seconds
    selector = (f'namespace="{workload.namespace}",pod=~"{pod_regex(workload)}",'
                f'container!="",container!="POD"')
    cpu = await client.query_range(
        f"sum(rate(container_cpu_usage_seconds_total{{{selector}}}[5m]))", start, end, step)
    mem = await client.query_range(
        f"avg(sum by (pod) (container_memory_working_set_bytes{{{selector}}}))", start, end, step)
    if not cpu or not len(cpu[0].values):
        raise ManifestError("prometheus", f"no CPU usage history for {workload.kind} {workload.key} in the last {window}")
    series = cpu[0]
    mem_values = [float(v) for v in mem[0].values] if mem and len(mem[0].values) else []
    mem_values.sort()
    mem_median = mem_values[len(mem_values) // 2] if mem_values else 0.0
    points = [{"t": float(t) - float(series.timestamps[0]), "load": max(0.0, float(v))}
              for t, v in zip(series.timestamps, series.values, strict=True) if math.isfinite(float(v))]
    doc = {
        "maxGapSeconds": 900,
        "usage": {"cpu": {"base": 0, "perUnit": 1}, "memory": {"base": mem_median, "perUnit": 0}},
        "points": points,
    }
    return parse_load_profile(doc)
