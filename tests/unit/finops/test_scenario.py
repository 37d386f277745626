import json
import re
from collections import defaultdict

import pytest

from cloudmart.finops.scenario import generate_scenario

END = 1767225600  # 2026-01-01T00:00:00Z


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    out = tmp_path_factory.mktemp("scenario")
    summary = generate_scenario(out, pods=36, days=0.1, seed=3, end=END)
    return out, summary, json.loads((out / "truth.json").read_text())


def test_openmetrics_is_backfillable(scenario):
    out, summary, _ = scenario
    text = (out / "metrics.om").read_text()
    assert text.endswith("# EOF\n")
    assert "# TYPE container_cpu_usage_seconds counter" in text
    last: dict[str, int] = {}
    families_seen = []
    samples = 0
    line_re = re.compile(r"^([a-z_]+)\{(.*)\} (\S+) (\d+)$")
    for line in text.splitlines():
        if line.startswith("# TYPE"):
            families_seen.append(line.split()[2])
            continue
        if line == "# EOF":
            continue
        m = line_re.match(line)
        assert m, line
        name, labels, value, ts = m.groups()
        float(value)
        t = int(ts)
        assert END - 86400 < t < END  # seconds, not milliseconds
        key = name + labels
        assert t > last.get(key, 0)  # in time order per series
        last[key] = t
        samples += 1
        if name.startswith("container_cpu_usage_seconds"):
            assert name == "container_cpu_usage_seconds_total"
    assert samples == summary["samples"]
    assert len(families_seen) == len(set(families_seen))  # families are contiguous


def test_truth_is_consistent(scenario):
    _, _, truth = scenario
    w = truth["windows"][0]
    for agg in ("namespace", "controller", "pod"):
        assert sum(v["totalCost"] for v in w[agg].values()) == pytest.approx(w["total"]["totalCost"])
    assert w["total"]["totalCost"] + w["__idle__"]["totalCost"] == pytest.approx(w["capacityCost"])
    assert {"cloudmart", "kubecost", "kube-system"} <= set(w["namespace"])
    assert {"deployment:user-service", "deployment:product-service", "deployment:order-service"} <= set(w["controller"])
    assert truth["nodes"]["lab-cluster-worker2"]["cpuPrice"] != truth["nodes"]["lab-cluster-worker"]["cpuPrice"]


def test_deterministic_and_scales_with_pods(tmp_path):
    a = generate_scenario(tmp_path / "a", pods=36, days=0.05, seed=1, end=END)
    b = generate_scenario(tmp_path / "b", pods=36, days=0.05, seed=1, end=END)
    assert (tmp_path / "a" / "truth.json").read_text() == (tmp_path / "b" / "truth.json").read_text()
    big = generate_scenario(tmp_path / "c", pods=80, days=0.05, seed=1, end=END)
    assert big["pods"] > a["pods"] and big["samples"] > b["samples"]


def test_hpa_series_follow_the_seed(scenario):
    out, _, _ = scenario
    text = (out / "metrics.om").read_text()
    for hpa, lo, hi in (("user-service-hpa", 2, 8), ("product-service-hpa", 2, 10), ("order-service-hpa", 1, 6)):
        assert f'kube_horizontalpodautoscaler_spec_min_replicas{{namespace="cloudmart",horizontalpodautoscaler="{hpa}"}} {lo} ' in text
        assert f'kube_horizontalpodautoscaler_spec_max_replicas{{namespace="cloudmart",horizontalpodautoscaler="{hpa}"}} {hi} ' in text
    assert 'metric_name="memory",metric_target_type="utilization"} 80 ' in text


def test_rejects_tiny_windows(tmp_path):
    with pytest.raises(ValueError, match="10 minutes"):
        generate_scenario(tmp_path, days=0.001, end=END)
