"""Pods → Services: the endpoint-address join, `aggregate=service` and the `services` filter."""

import json
import re

import pytest

from cloudmart.finops.allocation import AllocationQuery, needs_services
from cloudmart.finops.filters import matches, parse_filter, parse_v1
from cloudmart.finops.inputs import InputQueries, service_query, services_by_pod
from cloudmart.finops.pricing import GIB
from cloudmart.finops.scenario import generate_scenario

from .test_engine import make_inputs, run


def test_pairs_from_prometheus_become_sorted_service_tuples_per_pod():
    pairs = [
        ("shop", "web-1", "web"),
        ("shop", "db-0", "db-headless"),
        ("shop", "db-0", "db"),
        ("other", "db-0", "db"),
        ("shop", "batch", ""),
    ]
    assert services_by_pod(pairs) == {
        ("shop", "web-1"): ("web",),
        ("shop", "db-0"): ("db", "db-headless"),
        ("other", "db-0"): ("db",),
    }


def test_service_query_joins_addresses_and_pod_ips_per_step():
    q = service_query("3599s", 60)
    assert q.startswith("max by (namespace, pod, endpoint) (count_over_time((")
    assert q.endswith("[3599s:60s]))")
    # the join is on (namespace, ip): pod_ip is copied to `ip`, endpoint addresses carry `ip`
    assert 'label_replace(max_over_time(kube_pod_info{pod_ip!=""}[59s]), "ip", "$1", "pod_ip", "(.+)")' in q
    assert "group by (namespace, endpoint, ip) (max_over_time(kube_endpoint_address[59s]))" in q
    assert "* on (namespace, ip) group_left (pod)" in q
    # an IP held by several pods in one step (host network) is left out instead of failing the join
    assert "count by (namespace, ip)" in q and "== 1" in q
    assert "kube_endpoint_address" not in " ".join(InputQueries.meta_queries("3599s").values())


def test_join_is_only_requested_when_services_are_needed():
    assert not needs_services(AllocationQuery(aggregate=["namespace"]))
    assert not needs_services(AllocationQuery(aggregate=["namespace"], filter=parse_filter("namespace:shop")))
    assert needs_services(AllocationQuery(aggregate=["service"]))
    assert needs_services(AllocationQuery(aggregate=["namespace"], filter=parse_filter('namespace:shop+services:"web"')))
    assert needs_services(AllocationQuery(aggregate=["pod"], filter=parse_v1({"filterServices": "web"})))


def _inputs():
    inp = make_inputs([
        ("shop", "web-1", "c", 0, 24, 1.0, 0.5, GIB, GIB / 2),
        ("shop", "db-0", "c", 0, 24, 2.0, 1.0, GIB, GIB / 2),
        ("shop", "batch", "c", 0, 12, 1.0, 1.0, GIB, GIB),
    ])
    inp.meta.pod_services = {("shop", "web-1"): ("web",), ("shop", "db-0"): ("db", "db-headless")}
    return inp


def test_aggregate_service_charges_the_first_service_and_unallocated_without_one():
    inp = _inputs()
    out = run(inp, aggregate=["service"], idle=False)
    assert set(out) == {"web", "db", "__unallocated__"}
    by_pod = run(inp, aggregate=["pod"], idle=False)
    assert out["db"].total_cost == pytest.approx(by_pod["db-0"].total_cost)
    assert out["__unallocated__"].total_cost == pytest.approx(by_pod["batch"].total_cost)
    assert out["db"].properties["services"] == ["db", "db-headless"]
    assert sum(a.total_cost for a in out.values()) == pytest.approx(sum(a.total_cost for a in by_pod.values()))


@pytest.mark.parametrize(
    "text,pods",
    [
        ('services:"web"', {"web-1"}),
        ('services:"db-headless"', {"db-0"}),  # any of the pod's services matches
        ('services!:"db"', {"web-1", "batch"}),
        ('services<~:"db"', {"db-0"}),
        ('services:"web","db"', {"web-1", "db-0"}),
        ('services:"nope"', set()),
    ],
)
def test_services_filter(text, pods):
    out = run(_inputs(), aggregate=["pod"], idle=False, filter=parse_filter(text))
    assert set(out) == pods


def test_v1_filter_services_parameter():
    props = {"namespace": "shop", "services": ["db", "db-headless"]}
    assert matches(parse_v1({"filterServices": "db-headless"}), props)
    assert matches(parse_v1({"filterServices": "web,db*"}), props)
    assert not matches(parse_v1({"filterServices": "web"}), props)
    assert not matches(parse_v1({"filterServices": "web"}), {"namespace": "shop"})


def test_scenario_exports_endpoint_addresses_and_per_service_truth(tmp_path):
    generate_scenario(tmp_path, pods=36, days=0.5, seed=1, end=1767225600)
    text = (tmp_path / "metrics.om").read_text()
    assert "# TYPE kube_endpoint_address gauge" in text
    pod_ip = dict(re.findall(r'kube_pod_info\{namespace="cloudmart",pod="(user-service-[^"]+)",.*?pod_ip="([^"]+)"', text))
    assert pod_ip
    ips = set(re.findall(r'kube_endpoint_address\{namespace="cloudmart",endpoint="user-service",.*?ip="([^"]+)",ready="true"\}', text))
    assert ips == set(pod_ip.values())
    all_ips = set(re.findall(r'kube_pod_info\{namespace="(?:production|staging|development|cloudmart)",pod="([^"]+)",[^}]*pod_ip="(10\.[^"]+)"', text))
    assert len({ip for _, ip in all_ips}) < len({pod for pod, _ in all_ips})  # freed IPs are reused by later pods
    w = json.loads((tmp_path / "truth.json").read_text())["windows"][0]
    assert {"user-service", "product-service", "order-service", "frontend", "backend", "database", "kube-dns", "__unallocated__"} <= set(w["service"])
    assert "database-headless" not in w["service"]
    assert sum(v["totalCost"] for v in w["service"].values()) == pytest.approx(w["total"]["totalCost"])
    assert w["service"]["user-service"]["totalCost"] == pytest.approx(w["controller"]["deployment:user-service"]["totalCost"])
