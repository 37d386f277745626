"""`cloudmart cost …`: the cost analyzer's commands."""

import typer

app = typer.Typer(help="Cost allocation, right-sizing and prediction (Kubecost-compatible).", no_args_is_help=True)
