"""`cloudmart up` (embedded, all services) and `cloudmart serve <service>` (distributed)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from pydantic import ValidationError
from rich.console import Console

from cloudmart.core.config import Settings
from cloudmart.core.logging import configure_logging

console = Console()
err = Console(stderr=True)


def run_loop(main: Any) -> None:
    """Run the server coroutine on uvloop when it is installed (uvicorn[standard] brings it):
    its C socket transports cut the per-request and per-statement CPU of the asyncio loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment plus CLI overrides (given by their env-var names)."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        for e in exc.errors():
            where = ".".join(str(p) for p in e["loc"]) or "settings"
            message = str(e["msg"]).removeprefix("Value error, ")
            err.print(f"[red]configuration error[/red] {where}: {message}", soft_wrap=True)
        raise typer.Exit(2) from None


def ensure_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            err.print(f"[red]error[/red] cannot listen on {host}:{port} ({exc.strerror}); choose another with --port", soft_wrap=True)
            raise typer.Exit(1) from None


class GracefulServer(uvicorn.Server):
    """uvicorn's server, but SIGINT/SIGTERM end it with exit status 0 after a graceful shutdown
    (uvicorn re-raises the signal, which makes Ctrl-C or a pod stop look like a crash)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # the event loop's handlers own the signals
        yield

    def request_exit(self) -> None:
        if self.should_exit:  # second signal: stop waiting for open connections
            self.force_exit = True
        self.should_exit = True


async def _serve(app: Any, host: str, port: int, on_started: Any = None) -> None:
    config = uvicorn.Config(app, host=host, port=port, lifespan="on", log_config=None, access_log=False)
    server = GracefulServer(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, server.request_exit)
    serving = asyncio.create_task(server.serve())
    if on_started is not None:
        while not server.started and not serving.done():
            await asyncio.sleep(0.05)
        if server.started:
            on_started()
    await serving
    if not server.started:
        raise typer.Exit(1)


keys_app = typer.Typer(help="user-service's JWT signing keys (RS256, by kid).", no_args_is_help=True)


def _keys_dir(keys_dir: Path | None, data_dir: Path | None) -> Path:
    if keys_dir is not None:
        return keys_dir
    settings = load_settings(CLOUDMART_DATA_DIR=str(data_dir) if data_dir else None)
    return settings.jwt_keys_dir or settings.data_dir / "keys"


KeysDirOpt = Annotated[Path | None, typer.Option("--keys-dir", help="Key directory (default JWT_KEYS_DIR or <data-dir>/keys)")]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="Embedded data dir (default .cloudmart)")]


@keys_app.command("rotate")
def keys_rotate(keys_dir: KeysDirOpt = None, data_dir: DataDirOpt = None, json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Add a new signing key and make it active; older keys keep verifying until removed."""
    from cloudmart.core.auth import KeyStore

    directory = _keys_dir(keys_dir, data_dir)
    store = KeyStore.load(directory, create=True)
    previous = store.active_kid
    kid = store.rotate()
    if json_out:
        console.print_json(data={"active": kid, "previous": previous, "kids": store.kids, "dir": str(directory)})
    else:
        console.print(f"active key is now [bold]{kid}[/bold] (was {previous}); {len(store.kids)} keys in {directory}")


@keys_app.command("list")
def keys_list(keys_dir: KeysDirOpt = None, data_dir: DataDirOpt = None, json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The keys in the directory, the active one marked."""
    from rich.table import Table

    from cloudmart.core.auth import KeyStore

    directory = _keys_dir(keys_dir, data_dir)
    try:
        store = KeyStore.load(directory)
    except FileNotFoundError as exc:
        err.print(f"[red]error[/red] {exc}", soft_wrap=True)
        raise typer.Exit(1) from None
    if json_out:
        console.print_json(data={"active": store.active_kid, "jwks": store.jwks()})
        return
    table = Table("kid", "active", "can sign")
    for kid in store.kids:
        table.add_row(kid, "yes" if kid == store.active_kid else "", "yes" if store.can_sign(kid) else "no")
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the runtime commands to the root app (owned by the foundation work)."""
    app.add_typer(keys_app, name="keys")

    @app.command()
    def up(
        port: Annotated[int | None, typer.Option(help="Port to listen on (default 8080)", min=1, max=65535)] = None,
        host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1)")] = None,
        data_dir: Annotated[Path | None, typer.Option(help="Where the SQLite files and keys live (default .cloudmart)")] = None,
        seed: Annotated[bool, typer.Option(help="Seed the demo catalog and the admin account")] = True,
    ) -> None:
        """Run every CloudMart service in one process on one port (SQLite, no servers needed)."""
        settings = load_settings(
            CLOUDMART_MODE="embedded",
            CLOUDMART_PORT=port,
            CLOUDMART_HOST=host,
            CLOUDMART_DATA_DIR=str(data_dir) if data_dir else None,
        )
        ensure_port_free(settings.host, settings.port)
        configure_logging(settings.log_level)
        from cloudmart.local import EmbeddedApp, banner

        embedded = EmbeddedApp(settings, seed=seed)
        if not embedded.apps:
            err.print("[red]error[/red] no service is available to run")
            raise typer.Exit(1)
        shown_host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
        base_url = f"http://{shown_host}:{settings.port}"
        run_loop(_serve(embedded, settings.host, settings.port, lambda: console.print(banner(settings, embedded, base_url), highlight=False)))

    @app.command()
    def serve(
        service: Annotated[str | None, typer.Argument(help="users | products | orders | payments | notifications (default: SERVICE_NAME)")] = None,
        port: Annotated[int | None, typer.Option(help="Port to listen on (default 8080)", min=1, max=65535)] = None,
        host: Annotated[str | None, typer.Option(help="Address to bind (default CLOUDMART_HOST or 127.0.0.1)")] = None,
        seed: Annotated[bool, typer.Option(help="Seed the service's demo data at start (idempotent)")] = False,
    ) -> None:
        """Run one service against PostgreSQL, Redis and Kafka (distributed mode)."""
        from cloudmart.services.registry import ServiceNotAvailable, canonical_name, load_spec

        settings = load_settings(CLOUDMART_MODE="distributed", CLOUDMART_PORT=port, CLOUDMART_HOST=host)
        name = service or settings.service_name
        try:
            spec = load_spec(canonical_name(name))
        except ServiceNotAvailable as exc:
            err.print(f"[red]error[/red] {exc}", soft_wrap=True)
            raise typer.Exit(2) from None
        ensure_port_free(settings.host, settings.port)
        configure_logging(settings.log_level)
        from cloudmart.core.runtime import create_distributed_app

        application = create_distributed_app(settings, spec, seed=seed)
        run_loop(
            _serve(
                application,
                settings.host,
                settings.port,
                lambda: err.print(f"{spec.title} listening on http://{settings.host}:{settings.port}"),
            )
        )
