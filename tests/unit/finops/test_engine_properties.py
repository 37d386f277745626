"""Engine properties on random clusters (hypothesis): sums, conservation, filter subsets."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudmart.finops.allocation import AllocationQuery, Engine
from cloudmart.finops.filters import parse_filter
from cloudmart.finops.inputs import Inputs, Meta
from cloudmart.finops.pricing import GIB, PriceSheet
from cloudmart.finops.windows import Window

DAY = Window(0.0, 86400.0)
NODES = ["n1", "n2", "n3"]

container = st.tuples(
    st.sampled_from(["a", "b", "c", "kube-system"]),  # namespace
    st.integers(0, 5),  # pod number
    st.sampled_from(NODES),
    st.integers(1, 1440),  # running steps
    st.floats(0, 2), st.floats(0, 3),  # cpu request, usage (cores)
    st.floats(0, 2), st.floats(0, 3),  # ram request, usage (GiB)
    st.sampled_from([None, "web", "db"]),  # app label
)


def build(rows, cpu_cap):
    keys, first, last = [], [], []
    vals = {f: [] for f in ("steps", "cpu_alloc", "cpu_req", "cpu_use", "ram_alloc", "ram_req", "ram_use")}
    meta = Meta()
    seen = set()
    for ns, pn, node, steps, cr, cu, rr, ru, app in rows:
        pod = f"{ns}-p{pn}"
        if (ns, pod) in seen:
            continue
        seen.add((ns, pod))
        keys.append((ns, pod, "c"))
        meta.pod_node[(ns, pod)] = node
        if app:
            meta.pod_labels[(ns, pod)] = {"app": app}
        for f, v in (("steps", 1), ("cpu_alloc", max(cr, cu)), ("cpu_req", cr), ("cpu_use", cu), ("ram_alloc", max(rr, ru) * GIB), ("ram_req", rr * GIB), ("ram_use", ru * GIB)):
            vals[f].append(v * steps)
        first.append(0.0)
        last.append(steps * 60.0)
    m = len(NODES)
    return Inputs(0, 86400, 60.0, keys, {k: np.array(v, dtype=float) for k, v in vals.items()}, np.array(first), np.array(last), NODES,
                  {"steps": np.full(m, 1440.0), "cpu_cap": np.full(m, cpu_cap * 1440), "ram_cap": np.full(m, 8 * GIB * 1440)}, meta)


def total(out):
    return sum(a.total_cost for a in out.values())


@settings(max_examples=60, deadline=None)
@given(st.lists(container, min_size=1, max_size=25), st.floats(0.5, 16), st.booleans())
def test_properties(rows, cpu_cap, by_node):
    inp = build(rows, cpu_cap)
    engine = Engine(PriceSheet())
    base = engine.compute(inp, AllocationQuery(aggregate=["namespace"], idle_by_node=by_node), DAY)
    for agg in (["pod"], ["node"], ["label:app"], ["cluster"], ["namespace", "label:app"]):
        out = engine.compute(inp, AllocationQuery(aggregate=agg, idle_by_node=by_node), DAY)
        assert total(out) == pytest.approx(total(base), rel=1e-9, abs=1e-9)
    shared = engine.compute(inp, AllocationQuery(aggregate=["namespace"], idle_by_node=by_node, share_idle=True), DAY)
    assert total(shared) == pytest.approx(total(base), rel=1e-9, abs=1e-9)
    assert all(v.total_cost >= 0 for v in base.values())
    ns_shared = engine.compute(inp, AllocationQuery(aggregate=["namespace"], idle=False, share_namespaces=["kube-system"]), DAY)
    no_idle = engine.compute(inp, AllocationQuery(aggregate=["namespace"], idle=False), DAY)
    if set(no_idle) - {"kube-system"}:
        assert total(ns_shared) == pytest.approx(total(no_idle), rel=1e-9, abs=1e-9)
    pods = engine.compute(inp, AllocationQuery(aggregate=["pod"]), DAY)
    sub = engine.compute(inp, AllocationQuery(aggregate=["pod"], filter=parse_filter('namespace:"a"|label[app]:"web"')), DAY)
    assert set(sub) <= set(pods) - {"__idle__"}
    for k, v in sub.items():
        assert v.total_cost == pods[k].total_cost
