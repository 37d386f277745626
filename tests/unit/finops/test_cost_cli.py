from typer.testing import CliRunner

from cloudmart.cli import app

runner = CliRunner()


def test_serve_refuses_a_bad_price_sheet(tmp_path):
    bad = tmp_path / "prices.yaml"
    bad.write_text("cpu: -1\nram: 0.004\n")
    r = runner.invoke(app, ["cost", "serve", "--prometheus", "http://127.0.0.1:9", "--pricing", str(bad)])
    assert r.exit_code == 2
    assert "price sheet" in r.output and "cpu" in r.output
    missing = tmp_path / "missing.yaml"
    missing.write_text("cpu: 0.03\n")
    r = runner.invoke(app, ["cost", "serve", "--prometheus", "http://127.0.0.1:9", "--pricing", str(missing)])
    assert r.exit_code == 2 and "missing price(s): ram" in r.output


def test_allocation_bad_input_names_the_parameter():
    r = runner.invoke(app, ["cost", "allocation", "--prometheus", "http://127.0.0.1:9", "--window", "3q"])
    assert r.exit_code == 2 and "window" in r.output
    r = runner.invoke(app, ["cost", "allocation", "--prometheus", "http://127.0.0.1:9", "--aggregate", "nope"])
    assert r.exit_code == 2 and "aggregate" in r.output
    r = runner.invoke(app, ["cost", "allocation", "--prometheus", "http://127.0.0.1:9", "--filter", 'namespace:"x'])
    assert r.exit_code == 2 and "position 10" in r.output


def test_allocation_unreachable_prometheus():
    r = runner.invoke(app, ["cost", "allocation", "--prometheus", "http://127.0.0.1:9"])
    assert r.exit_code == 1 and "http://127.0.0.1:9" in r.output and "unreachable" in r.output


def test_scenario_command(tmp_path):
    r = runner.invoke(app, ["cost", "scenario", "--out", str(tmp_path), "--days", "0.02", "--end", "2026-01-01T00:00:00Z", "--json"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "metrics.om").exists() and (tmp_path / "truth.json").exists()
    assert '"end": "2026-01-01T00:00:00Z"' in r.output
    r = runner.invoke(app, ["cost", "scenario", "--out", str(tmp_path), "--end", "yesterday"])
    assert r.exit_code == 2 and "--end" in r.output
    r = runner.invoke(app, ["cost", "scenario", "--out", str(tmp_path), "--days", "0"])
    assert r.exit_code == 2 and "--days" in r.output
