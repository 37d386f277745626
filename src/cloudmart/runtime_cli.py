"""`cloudmart up` (embedded, all services) and `cloudmart serve <service>` (distributed)."""

import typer


def register(app: typer.Typer) -> None:
    """Add the runtime commands to the root app (owned by the foundation work)."""
