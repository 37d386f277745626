"""`cloudmart verify` and `cloudmart loadgen`."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from cloudmart.ops import loadgen as loadgen_mod
from cloudmart.ops import verify as verify_mod

console = Console()
err_console = Console(stderr=True)


def verify(
    cost_url: str = typer.Option("http://localhost:9090", "--cost-url", help="the cost analyzer (port-forwarded)"),
    namespace: str = typer.Option("cloudmart", "--namespace", "-n", help="CloudMart's namespace"),
    cost_namespace: str = typer.Option("kubecost", "--cost-namespace", help="the cost analyzer's namespace"),
    kubeconfig: str | None = typer.Option(None, "--kubeconfig", help="default: $KUBECONFIG or ~/.kube/config"),
    context: str | None = typer.Option(None, "--context", help="kubeconfig context"),
    as_json: bool = typer.Option(False, "--json", help="print the checks as JSON"),
) -> None:
    """The seed's integration checklist: pods, HPA metrics, cost analyzer, node usage, 1-day cost."""
    try:
        api = verify_mod.kube_client(kubeconfig, context)
    except verify_mod.VerifyError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    with api:
        results = verify_mod.run_checks(api, cost_url, namespace, cost_namespace)
    ok = all(r.ok for r in results)
    if as_json:
        typer.echo(json.dumps({"ok": ok, "checks": [r.as_dict() for r in results]}, indent=2))
    else:
        console.print("=== CloudMart integration checks ===")
        for i, r in enumerate(results, 1):
            mark = "[green]PASS[/green]" if r.ok else "[red]FAIL[/red]"
            console.print(f"{i}. {mark} {r.name}: {r.detail}", highlight=False)
            if r.hint:
                console.print(f"   hint: {r.hint}", style="yellow", highlight=False)
        console.print("=== all checks passed ===" if ok else "=== some checks failed ===")
    if not ok:
        raise typer.Exit(1)


def loadgen(
    base_url: str = typer.Argument(..., help="e.g. http://localhost:8000 (Kong on kind) or http://127.0.0.1:8080"),
    users: int = typer.Option(20, "--users", "-u", help="concurrent shoppers (at most 500)"),
    duration: float = typer.Option(60.0, "--duration", "-d", help="seconds to run (at most 3600)"),
    spawn_rate: float = typer.Option(5.0, "--spawn-rate", help="shoppers started per second"),
    browse: int = typer.Option(6, "--browse", help="weight of the browse journey"),
    signup: int = typer.Option(1, "--signup", help="weight of the sign-up journey"),
    order: int = typer.Option(2, "--order", help="weight of the order journey"),
    pay: int = typer.Option(1, "--pay", help="weight of the payment journey"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Drive CloudMart with weighted shopper journeys (browse, sign up, order, pay) to exercise the HPAs."""
    try:
        weights = loadgen_mod.Weights(browse=browse, signup=signup, order=order, pay=pay)
        loadgen_mod.validate(base_url, users, spawn_rate, duration)
    except ValueError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    if not as_json:
        err_console.print(f"running {users} shoppers against {base_url} for {duration:g}s ...")
    try:
        report = loadgen_mod.run_load(base_url, users, duration, spawn_rate, weights)
    except loadgen_mod.LoadgenError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
        return
    table = Table(title=f"{report.requests} requests, {report.failures} failures, {report.rps} req/s")
    for col in ("endpoint", "method", "requests", "failures", "median ms", "p95 ms", "req/s"):
        table.add_column(col, justify="left" if col in ("endpoint", "method") else "right")
    for e in report.endpoints:
        table.add_row(e.name, e.method, str(e.requests), str(e.failures), f"{e.median_ms:.0f}", f"{e.p95_ms:.0f}", f"{e.rps}")
    console.print(table)
    for line in report.errors[:10]:
        err_console.print(f"[yellow]{line}[/yellow]", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the operations commands to the root app."""
    app.command("verify")(verify)
    app.command("loadgen")(loadgen)
