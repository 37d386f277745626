"""The `cloudmart` command. Each area registers its own commands; this file only assembles them."""

import typer

from cloudmart import runtime_cli
from cloudmart.finops import cli as cost_cli
from cloudmart.finops import optimize_cli
from cloudmart.ops import cli as ops_cli

app = typer.Typer(
    name="cloudmart",
    help="CloudMart: a cost-aware commerce platform and its Kubecost-compatible cost analyzer.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

runtime_cli.register(app)  # up, serve
optimize_cli.register(cost_cli.app, app)  # cost rightsize/predict, hpa simulate
app.add_typer(cost_cli.app, name="cost")
ops_cli.register(app)  # verify, loadgen

if __name__ == "__main__":
    app()
