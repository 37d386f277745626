"""`cloudmart up` / `cloudmart serve` argument and configuration errors name what is wrong."""

import socket

from typer.testing import CliRunner

from cloudmart.cli import app

runner = CliRunner()


def test_serve_unknown_service(monkeypatch):
    monkeypatch.setenv("DB_HOST", "127.0.0.1")
    result = runner.invoke(app, ["serve", "shop"])
    assert result.exit_code == 2
    assert "unknown service 'shop'" in result.output


def test_serve_without_database_is_a_config_error(monkeypatch):
    for var in ("DB_HOST", "DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    result = runner.invoke(app, ["serve", "users"])
    assert result.exit_code == 2
    assert "distributed mode needs DATABASE_URL or DB_HOST" in result.output


def test_up_rejects_bad_port_and_busy_port(tmp_path):
    result = runner.invoke(app, ["up", "--port", "70000"])
    assert result.exit_code == 2 and "65535" in result.output
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = runner.invoke(app, ["up", "--port", str(port), "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output


def test_keys_rotate_and_list(tmp_path):
    import json

    keys = tmp_path / "keys"
    first = json.loads(runner.invoke(app, ["keys", "rotate", "--keys-dir", str(keys), "--json"]).output)
    second = json.loads(runner.invoke(app, ["keys", "rotate", "--keys-dir", str(keys), "--json"]).output)
    assert first["previous"] is None and first["kids"] == [first["active"]]
    assert second["previous"] == first["active"] != second["active"]
    listed = json.loads(runner.invoke(app, ["keys", "list", "--keys-dir", str(keys), "--json"]).output)
    assert listed["active"] == second["active"]
    assert {k["kid"] for k in listed["jwks"]["keys"]} == set(second["kids"])
    table = runner.invoke(app, ["keys", "list", "--keys-dir", str(keys)])
    assert second["active"] in table.output
    missing = runner.invoke(app, ["keys", "list", "--keys-dir", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "does not exist" in missing.output
