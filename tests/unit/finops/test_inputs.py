import numpy as np

from cloudmart.finops.inputs import InputQueries, Inputs, Meta, _selector, steps_in


def test_steps_are_the_multiples_of_the_resolution_inside_the_half_open_window():
    assert steps_in(0, 3600, 60) == (0, 3540)
    assert steps_in(30, 3630, 60) == (60, 3600)
    assert steps_in(10, 50, 60) is None


def test_ranges_account_for_closed_ranges_in_prometheus_2():
    q = InputQueries(60)
    assert q.inner == "59s" and q.rate_range == "90s"
    cq = q.container_queries("86399s")
    assert "[86399s:60s]" in cq["steps"] and "[59s]" in cq["steps"]
    assert 'container!=""' in cq["cpu_use"] and 'container!="POD"' in cq["cpu_use"]
    assert "node" not in cq["cpu_use"]  # cAdvisor series are joined through kube_pod_info, not a node label


def test_excess_selector_escapes_dots():
    sel = _selector([("ns-a", "web.v1-abc", "c"), ("ns-b", "api-1", "c")])
    assert 'namespace=~"ns-a|ns-b"' in sel and 'pod=~"api-1|web\\\\.v1-abc"' in sel


def test_merge_sums_chunks_and_keeps_the_span():
    def part(start, keys, cpu):
        n = len(keys)
        vals = {f: np.full(n, cpu) for f in ("steps", "cpu_alloc", "cpu_req", "cpu_use", "ram_alloc", "ram_req", "ram_use")}
        return Inputs(start, start + 86400, 60.0, keys, vals, np.full(n, start), np.full(n, start + 600), ["n1"],
                      {"steps": np.ones(1), "cpu_cap": np.ones(1), "ram_cap": np.ones(1)}, Meta())

    a = part(0, [("ns", "p1", "c"), ("ns", "p2", "c")], 1.0)
    b = part(86400, [("ns", "p2", "c"), ("ns", "p3", "c")], 2.0)
    m = Inputs.merge([a, b])
    assert m.keys == [("ns", "p1", "c"), ("ns", "p2", "c"), ("ns", "p3", "c")]
    assert list(m.values["cpu_alloc"]) == [1.0, 3.0, 2.0]
    assert list(m.first) == [0, 0, 86400] and list(m.last) == [600, 87000, 87000]
    assert list(m.node_values["cpu_cap"]) == [2.0]
