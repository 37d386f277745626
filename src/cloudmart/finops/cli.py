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
    from cloudmart.finops.allocation import IDLE, Engine, compute_sets
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
                name, f"${a['cpuCost']:.2f}", f"${a['ramCost']:.2f}", f"${a['totalCost']:.2f}",
                "—" if name == IDLE else f"{(a['totalEfficiency'] or 0) * 100:.1f}%",
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


def _parse_end(end: Optional[str]):
    if end is None:
        return None
    from datetime import datetime

    try:
        dt = datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        err.print(f"[red]error:[/red] --end {end!r} is not an RFC3339 time such as 2026-01-10T00:00:00Z")
        raise typer.Exit(2) from None
    if dt.tzinfo is None:
        err.print(f"[red]error:[/red] --end {end!r} has no time zone (append Z for UTC)")
        raise typer.Exit(2)
    return dt


def _generate(out: Path, pods: int, days: float, seed: int, end) -> dict:
    from cloudmart.finops.scenario import generate_scenario

    if pods < 1 or days <= 0:
        err.print("[red]error:[/red] --pods must be ≥ 1 and --days > 0")
        raise typer.Exit(2)
    with console.status(f"simulating {pods} pods over {days:g} day(s) → {out}"):
        try:
            return generate_scenario(out, pods=pods, days=days, seed=seed, end=end)
        except ValueError as e:
            err.print(f"[red]error:[/red] {e}")
            raise typer.Exit(2) from None


@app.command()
def scenario(
    out: Path = typer.Option(..., "--out", help="Directory for metrics.om and truth.json"),
    pods: int = typer.Option(40, help="Approximate number of concurrently running pods"),
    days: float = typer.Option(1.0, help="Days of history (60 s scrapes)"),
    seed: int = typer.Option(0, help="Random seed"),
    end: Optional[str] = typer.Option(None, help="End of the history (RFC3339); default: now"),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON"),
) -> None:
    """Write OpenMetrics for the lab cluster plus truth.json (exact expected allocation)."""
    summary = _generate(out, pods, days, seed, _parse_end(end))
    if as_json:
        typer.echo(json.dumps(summary))
        return
    console.print(
        f"wrote {summary['samples']:,} samples for {summary['pods']} pods on {summary['nodes']} nodes "
        f"({summary['start']} → {summary['end']}) to {out}/metrics.om and {out}/truth.json\n"
        f"backfill and serve it: bash scripts/prometheus.sh start {out} 9091"
    )


SEED_CALLS = [
    'curl -s "http://localhost:{port}/model/allocation?window=1d&aggregate=namespace&filter=namespace:cloudmart" | jq',
    "curl -s \"http://localhost:{port}/model/allocation?window=1d&aggregate=namespace\" | jq '.data[] | to_entries[] | {{name: .key, totalCost: .value.totalCost}}'",
    "curl -s \"http://localhost:{port}/model/allocation?window=1d&aggregate=pod&filter=namespace:cloudmart\" | jq '.data[] | to_entries[] | {{pod: .key, cpu: .value.cpuCost, memory: .value.ramCost, total: .value.totalCost}}' | head -20",
]


def _prometheus_script() -> Path:
    for base in (Path.cwd(), *Path(__file__).resolve().parents):
        candidate = base / "scripts" / "prometheus.sh"
        if candidate.is_file():
            return candidate
    err.print("[red]error:[/red] scripts/prometheus.sh not found (run from the CloudMart checkout)")
    raise typer.Exit(1)


@app.command()
def demo(
    port: int = typer.Option(9090, help="Port of the cost analyzer API"),
    prometheus_port: int = typer.Option(0, help="Port for Prometheus (0 = a free one)"),
    pods: int = typer.Option(40, help="Approximate number of running pods"),
    days: float = typer.Option(2.0, help="Days of history ending now"),
    data_dir: Optional[Path] = typer.Option(None, "--dir", help="Where to keep the scenario and TSDB (default: a temp dir)"),
) -> None:
    """Generate a lab scenario, backfill and start Prometheus, and serve the API over it."""
    import signal
    import socket
    import subprocess
    import tempfile

    import uvicorn

    from cloudmart.finops.api import create_app

    script = _prometheus_script()
    data = data_dir or Path(tempfile.mkdtemp(prefix="cloudmart-cost-demo-"))
    summary = _generate(data, pods, days, 0, None)
    if not prometheus_port:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            prometheus_port = s.getsockname()[1]
    with console.status("backfilling with promtool and starting Prometheus"):
        started = subprocess.run(["bash", str(script), "start", str(data), str(prometheus_port)], capture_output=True, text=True)
    if started.returncode != 0:
        err.print(f"[red]error:[/red] Prometheus did not start: {started.stderr.strip()}")
        raise typer.Exit(1)
    prom_url = f"http://127.0.0.1:{prometheus_port}"
    console.print(f"Prometheus {prom_url} holds {summary['samples']:,} samples ({summary['start']} → {summary['end']}), data in {data}")
    console.print(f"Cost analyzer on http://127.0.0.1:{port} — try the lab's Step 4 (Ctrl-C to stop):")
    for call in SEED_CALLS:
        console.print("  " + call.format(port=port), highlight=False, soft_wrap=True)
    console.print(f"  cloudmart cost allocation --prometheus {prom_url} --window 1d --aggregate namespace", highlight=False)
    def _exit(signum, frame):
        raise SystemExit(128 + signum)

    # uvicorn re-raises SIGTERM after its own shutdown; turn it into SystemExit so that the
    # Prometheus we started is stopped below
    previous = signal.signal(signal.SIGTERM, _exit)
    try:
        uvicorn.run(create_app(prom_url, cluster="lab-cluster"), host="127.0.0.1", port=port, log_level="warning")
    finally:
        signal.signal(signal.SIGTERM, previous)
        subprocess.run(["bash", str(script), "stop", str(data)], capture_output=True)
