"""`cloudmart verify` and `cloudmart loadgen`."""

import typer


def register(app: typer.Typer) -> None:
    """Add the operations commands to the root app."""
