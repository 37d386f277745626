import json

import pytest

from cloudmart.finops.pricing import HOURS_PER_MONTH, PriceSheet, PriceSheetError


def test_defaults_are_kubecosts():
    s = PriceSheet()
    assert (s.cpu, s.ram, s.gpu, s.storage, s.spot.cpu, s.spot.ram) == (0.031611, 0.004237, 0.95, 0.00005479452, 0.006655, 0.000892)
    assert HOURS_PER_MONTH == 730


def test_node_resolution_order(tmp_path):
    p = tmp_path / "sheet.yaml"
    p.write_text("cpu: 0.05\nram: 0.005\ninstanceTypes:\n  m5.large: {cpu: 0.048, ram: 0.006}\nspot: {label: lifecycle, value: spot, cpu: 0.01, ram: 0.001}\n")
    s = PriceSheet.load(p)
    assert s.node_price({}).source == "default" and s.node_price({}).cpu == 0.05
    it = s.node_price({"label_node_kubernetes_io_instance_type": "m5.large"})
    assert (it.cpu, it.ram, it.source) == (0.048, 0.006, "instanceType:m5.large")
    spot = s.node_price({"lifecycle": "spot"})
    assert (spot.cpu, spot.ram, spot.source) == (0.01, 0.001, "spot")
    metric = s.node_price({"lifecycle": "spot"}, cpu_metric=0.2, ram_metric=0.02)
    assert (metric.cpu, metric.ram, metric.source) == (0.2, 0.02, "metric")
    half = s.node_price({}, cpu_metric=0.2)
    assert (half.cpu, half.ram) == (0.2, 0.005)
    assert PriceSheet().node_price({"label_karpenter_sh_capacity_type": "spot"}).source == "spot"


def test_json_sheet(tmp_path):
    p = tmp_path / "sheet.json"
    p.write_text(json.dumps({"cpu": 0.1, "ram": 0.01}))
    assert PriceSheet.load(p).cpu == 0.1


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("cpu: -0.1\nram: 0.004\n", "cpu"),
        ("ram: 0.004\n", "missing price(s): cpu"),
        ("cpu: 0.03\n", "missing price(s): ram"),
        ("cpu: abc\nram: 0.004\n", "cpu"),
        ("cpu: 0.03\nram: 0.004\ninstanceTypes:\n  m5: {cpu: 0.1}\n", "instanceTypes.m5.ram"),
        ("cpu: 0.03\nram: 0.004\ninstanceTypes:\n  m5: {cpu: 0.1, ram: -1}\n", "instanceTypes.m5.ram"),
        ("cpu: 0.03\nram: 0.004\nbogus: 1\n", "bogus"),
        ("- 1\n", "mapping"),
        ("cpu: [\n", "not valid YAML"),
    ],
)
def test_bad_sheets_are_refused(tmp_path, text, fragment):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(PriceSheetError) as e:
        PriceSheet.load(p)
    assert fragment in str(e.value) and str(p) in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(PriceSheetError, match="cannot read"):
        PriceSheet.load(tmp_path / "nope.yaml")
