"""The commands the manifests give the cloudmart image exist, with the options they use."""

import pytest
from typer.testing import CliRunner

from cloudmart.cli import app
from fixtures.deploy import OVERLAYS, pod_spec


def command_lines(rendered):
    for overlay in OVERLAYS:
        for obj in rendered[overlay]:
            spec = pod_spec(obj)
            for c in (spec or {}).get("containers", []):
                if c["image"].startswith("cloudmart:"):
                    yield c["args"]


def test_every_cloudmart_container_runs_a_real_command(rendered):
    seen = list(command_lines(rendered))
    assert len(seen) >= 18
    runner = CliRunner()
    for args in {tuple(a) for a in seen}:
        # the positional words name the command; --help proves it and lists its options
        words = [a for a in args if not a.startswith("-")]
        command = words[:2] if words[0] == "cost" else words[:1]
        result = runner.invoke(app, [*command, "--help"], terminal_width=200)
        assert result.exit_code == 0, (args, result.output)
        for option in (a for a in args if a.startswith("--")):
            assert option in result.output, (args, option)


@pytest.mark.parametrize("service", ["users", "products", "orders", "payments", "notifications"])
def test_serve_accepts_each_service_name(service, rendered):
    assert any(args[:2] == ["serve", service] for args in command_lines(rendered))
