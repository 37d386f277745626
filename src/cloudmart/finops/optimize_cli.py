"""`cloudmart cost rightsize|predict` and `cloudmart hpa simulate`."""

import typer


def register(cost_app: typer.Typer, root: typer.Typer) -> None:
    """Add the optimization commands to the `cost` group and an `hpa` group to the root."""
