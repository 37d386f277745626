import numpy as np
import pytest

from cloudmart.finops.allocation import AggregateError, AllocationQuery, Engine, accumulate, parse_aggregate
from cloudmart.finops.filters import parse_filter
from cloudmart.finops.inputs import Inputs, Meta
from cloudmart.finops.pricing import GIB, PriceSheet
from cloudmart.finops.windows import Window

H = 60  # steps per hour at 60 s resolution
DAY = Window(0.0, 86400.0)


def make_inputs(rows, nodes=(("n1", 8.0, 32 * GIB),)):
    """rows: (ns, pod, container, start_h, end_h, cpu_req, cpu_use, ram_req, ram_use) — constant per step."""
    keys, vals = [], {f: [] for f in ("steps", "cpu_alloc", "cpu_req", "cpu_use", "ram_alloc", "ram_req", "ram_use")}
    first, last = [], []
    for ns, pod, c, a, b, cr, cu, rr, ru in rows:
        n = (b - a) * H
        keys.append((ns, pod, c))
        vals["steps"].append(n)
        vals["cpu_alloc"].append(max(cr, cu) * n)
        vals["cpu_req"].append(cr * n)
        vals["cpu_use"].append(cu * n)
        vals["ram_alloc"].append(max(rr, ru) * n)
        vals["ram_req"].append(rr * n)
        vals["ram_use"].append(ru * n)
        first.append(a * 3600.0)
        last.append(b * 3600.0)
    meta = Meta()
    for ns, pod, *_ in rows:
        meta.pod_node[(ns, pod)] = nodes[0][0]
    steps = 24 * H
    return Inputs(
        0.0, 86400.0, 60.0, keys, {k: np.array(v, dtype=float) for k, v in vals.items()}, np.array(first), np.array(last),
        [n for n, *_ in nodes],
        {"steps": np.full(len(nodes), steps, dtype=float), "cpu_cap": np.array([c * steps for _, c, _ in nodes]), "ram_cap": np.array([r * steps for *_, r in nodes])},
        meta,
    )


def run(inputs, **q):
    return Engine(PriceSheet()).compute(inputs, AllocationQuery(**q), DAY)


def test_costs_hours_and_minute_weighted_averages():
    inp = make_inputs([
        ("a", "p1", "c", 0, 12, 2.0, 1.0, GIB, GIB / 2),
        ("a", "p2", "c", 6, 24, 1.0, 0.5, GIB, GIB / 4),
    ])
    out = run(inp, aggregate=["namespace"])
    a = out["a"].to_json(DAY)
    assert a["cpuCoreHours"] == pytest.approx(2 * 12 + 1 * 18)
    assert a["cpuCoreRequestAverage"] == pytest.approx(1.75)  # (2·12 h + 1·18 h) / 24 h union
    assert a["minutes"] == 1440
    assert a["cpuCost"] == pytest.approx(round(42 * 0.031611, 5))
    assert a["ramCost"] == pytest.approx(round(30 * 0.004237, 5))
    assert a["cpuEfficiency"] == pytest.approx((12 + 9) / 42)
    assert a["totalCost"] == pytest.approx(a["cpuCost"] + a["ramCost"], abs=1e-5)


def test_allocated_is_max_of_request_and_usage_and_efficiency_edges():
    inp = make_inputs([
        ("a", "over", "c", 0, 24, 0.5, 1.0, GIB, GIB),
        ("a", "norequest", "c", 0, 24, 0.0, 0.25, 0.0, GIB),
        ("a", "idle", "c", 0, 24, 1.0, 0.0, GIB, 0.0),
    ])
    out = run(inp, aggregate=["pod"])
    assert out["over"].cpu_core_hours == pytest.approx(24.0)
    assert out["over"].cpu_efficiency == pytest.approx(2.0)  # may exceed 1
    assert out["norequest"].cpu_efficiency == 1.0
    assert out["idle"].cpu_efficiency == 0.0
    assert out["idle"].ram_efficiency == 0.0


def test_idle_clamped_and_shared():
    inp = make_inputs([("a", "p", "c", 0, 24, 1.0, 0.5, GIB, GIB)], nodes=(("n1", 4.0, 2 * GIB),))
    out = run(inp, aggregate=["namespace"])
    idle = out["__idle__"]
    assert idle.cpu_core_hours == pytest.approx(3 * 24)
    assert idle.ram_cost == pytest.approx(1 * 24 * 0.004237)
    shared = run(inp, aggregate=["namespace"], share_idle=True)
    assert "__idle__" not in shared
    assert shared["a"].total_cost == pytest.approx(out["a"].total_cost + idle.total_cost)
    over = make_inputs([("a", "p", "c", 0, 24, 8.0, 0.5, 4 * GIB, GIB)], nodes=(("n1", 4.0, 2 * GIB),))
    assert "__idle__" not in run(over, aggregate=["namespace"])  # never negative


def test_idle_by_node_and_node_filter():
    inp = make_inputs([("a", "p", "c", 0, 24, 1.0, 0.5, GIB, GIB)], nodes=(("n1", 2.0, 2 * GIB), ("n2", 2.0, 2 * GIB)))
    cluster = run(inp, aggregate=["namespace"])
    by_node = run(inp, aggregate=["namespace"], idle_by_node=True)
    assert by_node["__idle__"].total_cost == pytest.approx(cluster["__idle__"].total_cost)
    only_n2 = run(inp, aggregate=["node"], filter=parse_filter('node:"n2"'))
    assert set(only_n2) == {"__idle__"}
    assert only_n2["__idle__"].cpu_core_hours == pytest.approx(48)
    assert "__idle__" not in run(inp, aggregate=["namespace"], filter=parse_filter("namespace:a"))


def test_controllers_labels_and_unallocated():
    inp = make_inputs([("a", "web-1", "c", 0, 24, 1, 1, GIB, GIB), ("a", "bare", "c", 0, 24, 1, 1, GIB, GIB)])
    inp.meta.pod_owner[("a", "web-1")] = ("ReplicaSet", "web-5d9")
    inp.meta.replicaset_owner[("a", "web-5d9")] = ("Deployment", "web")
    inp.meta.pod_labels[("a", "web-1")] = {"app": "web"}
    inp.meta.namespace_labels["a"] = {"team": "x"}
    out = run(inp, aggregate=["controller"])
    assert set(out) == {"deployment:web", "__unallocated__", "__idle__"}
    assert set(run(inp, aggregate=["deployment"])) == {"web", "__unallocated__", "__idle__"}
    assert set(run(inp, aggregate=["label:app"])) == {"web", "__unallocated__", "__idle__"}
    assert set(run(inp, aggregate=["label:team"])) == {"x", "__idle__"}  # namespace labels flow to pods
    assert set(run(inp, aggregate=["namespace", "controllerKind"])) == {"a/deployment", "a/__unallocated__", "__idle__"}


def test_shared_namespaces_weighted_and_even():
    inp = make_inputs([
        ("a", "p1", "c", 0, 24, 3.0, 0, 0, 0),
        ("b", "p2", "c", 0, 24, 1.0, 0, 0, 0),
        ("kube-system", "p3", "c", 0, 24, 1.0, 0, 0, 0),
    ])
    base = run(inp, aggregate=["namespace"], idle=False)
    shared = run(inp, aggregate=["namespace"], idle=False, share_namespaces=["kube-system"])
    pool = base["kube-system"].total_cost
    assert shared["a"].shared_cost == pytest.approx(pool * 0.75)
    even = run(inp, aggregate=["namespace"], idle=False, share_namespaces=["kube-system"], share_split="even")
    assert even["a"].shared_cost == pytest.approx(pool / 2) == pytest.approx(even["b"].shared_cost)
    fixed = run(inp, aggregate=["namespace"], idle=False, share_cost=730.0)
    assert sum(x.shared_cost for x in fixed.values()) == pytest.approx(24.0)


def test_accumulate_sums_sets():
    inp = make_inputs([("a", "p", "c", 0, 24, 1.0, 0.5, GIB, GIB)])
    one = run(inp, aggregate=["namespace"], idle=False)
    two = accumulate([one, one])
    assert two["a"].cpu_core_hours == pytest.approx(48)
    assert one["a"].cpu_core_hours == pytest.approx(24)  # inputs untouched


def test_empty_inputs_give_empty_set():
    assert run(Inputs.empty(0, 86400, 60), aggregate=["namespace"]) == {}


@pytest.mark.parametrize("text", ["namespac", "label:", "pod,bogus"])
def test_unknown_aggregate(text):
    with pytest.raises(AggregateError):
        parse_aggregate(text)


def test_aggregate_parsing():
    assert parse_aggregate(None) == ["cluster", "node", "namespace", "pod", "container"]
    assert parse_aggregate("Namespace, label:app") == ["namespace", "label:app"]
