from typer.testing import CliRunner

from cloudmart.cli import app


def test_root_help_lists_the_command_groups():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "cost" in result.output


def test_unknown_command_is_a_usage_error():
    result = CliRunner().invoke(app, ["no-such-command"])
    assert result.exit_code == 2
