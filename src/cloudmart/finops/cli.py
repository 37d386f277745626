"""`cloudmart cost …`: the cost analyzer's commands (allocation, serve, scenario, demo)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from cloudmart.finops.pricing import PriceSheet, PriceSheetError

app = typer.Typer(help="Cost allocation, right-sizing and prediction (Kubecost-compatible).", no_args_is_help=True)
console = Console()
err = Console(stderr=True)


def load_pricing(path: Optional[Path]) -> PriceSheet:
    if path is None:
        return PriceSheet()
    try:
        return PriceSheet.load(path)
    except PriceSheetError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None


@app.command()
def allocation(
    prometheus: str = typer.Option(..., "--prometheus", help="Prometheus base URL, e.g. http://127.0.0.1:9091"),
    window: str = typer.Option("1d", help="Kubecost window: 1d, 7d, today, RFC3339 pair, …"),
    aggregate: str = typer.Option("namespace", help="namespace, controller, pod, label:app, … (comma list)"),
    filter: str = typer.Option("", "--filter", help='v2 filter, e.g. namespace:"cloudmart"'),
    idle: bool = typer.Option(True, help="Include __idle__"),
    share_idle: bool = typer.Option(False, "--share-idle", help="Spread idle cost over allocations"),
    pricing: Optional[Path] = typer.Option(None, "--pricing", help="Custom price sheet (YAML/JSON)"),
    as_json: bool = typer.Option(False, "--json", help="Print the Kubecost JSON response"),
) -> None:
    """Print what each namespace/workload/pod cost over a window."""
    from cloudmart.finops.api import ParameterError, parse_request
    from cloudmart.finops.allocation import Engine, compute_sets
    from cloudmart.finops.prometheus import PrometheusClient, PrometheusError

    sheet = load_pricing(pricing)
    params = {"window": window, "aggregate": aggregate, "filter": filter, "idle": str(idle).lower(), "shareIdle": str(share_idle).lower()}
    try:
        args = parse_request(params, idle_param="idle", idle_default=True, now=time.time())
    except ParameterError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None

    async def run():
        async with PrometheusClient(prometheus) as client:
            return await compute_sets(client, Engine(sheet), **args)

    try:
        sets = asyncio.run(run())
    except PrometheusError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(1) from None
    data = [{name: a.to_json(w) for name, a in sorted(s.items())} for w, s in sets]
    if as_json:
        typer.echo(json.dumps({"code": 200, "status": "success", "data": data}, indent=2))
        return
    for (w, _), allocs in zip(sets, data):
        start, end = w.iso()
        table = Table(title=f"Cost by {aggregate}  {start} → {end}")
        for col in ("name", "CPU", "RAM", "total cost", "efficiency"):
            table.add_column(col, justify="left" if col == "name" else "right")
        for name, a in sorted(allocs.items(), key=lambda kv: -(kv[1]["totalCost"] or 0)):
            table.add_row(
                name, f"${a['cpuCost']:.2f}", f"${a['ramCost']:.2f}", f"${a['totalCost']:.2f}", f"{(a['totalEfficiency'] or 0) * 100:.1f}%"
            )
        total = sum(a["totalCost"] or 0 for a in allocs.values())
        table.add_section()
        table.add_row("total", "", "", f"${total:.2f}", "")
        console.print(table)


@app.command()
def serve(
    prometheus: str = typer.Option(..., "--prometheus", help="Prometheus base URL"),
    port: int = typer.Option(9090, help="Port to listen on"),
    host: str = typer.Option("127.0.0.1", help="Address to bind"),
    pricing: Optional[Path] = typer.Option(None, "--pricing", help="Custom price sheet (YAML/JSON)"),
    cluster: str = typer.Option("cluster-one", help="Cluster name reported in allocations"),
) -> None:
    """Serve the Kubecost-compatible API (/model/allocation, /allocation/compute, /healthz)."""
    import uvicorn

    from cloudmart.finops.api import create_app

    sheet = load_pricing(pricing)
    uvicorn.run(create_app(prometheus, sheet, cluster=cluster), host=host, port=port, log_level="warning")
