"""`cloudmart cost rightsize|predict` and `cloudmart hpa simulate`."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.console import Console
from rich.table import Table

from cloudmart.finops import hpa as hpa_sim
from cloudmart.finops.manifests import ManifestError, load_documents

console = Console()
err_console = Console(stderr=True)

BLOCKS = "▁▂▃▄▅▆▇█"


def _fail(message: str, code: int = 2) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def _print_json(payload: object) -> None:
    sys.stdout.write(json.dumps(payload, indent=2) + "\n")


def sparkline(values: list[float], width: int = 72) -> str:
    """Replica counts over time as one line of block characters (each char = max of its bucket)."""
    if not values:
        return ""
    bucket = max(1, -(-len(values) // width))
    points = [max(values[i:i + bucket]) for i in range(0, len(values), bucket)]
    lo, hi = min(points), max(points)
    span = (hi - lo) or 1
    return "".join(BLOCKS[int((v - lo) / span * (len(BLOCKS) - 1))] for v in points)


def _load_yaml_file(path: Path, what: str):
    try:
        text = path.read_text()
    except OSError as exc:
        raise _fail(f"{what} {path}: cannot read ({exc.strerror})") from exc
    try:
        return json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise _fail(f"{what} {path}: invalid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: {exc}") from exc


def _prices(price_sheet: Path | None) -> hpa_sim.Prices:
    if price_sheet is None:
        return hpa_sim.Prices()
    from cloudmart.finops.pricing import PriceSheet, PriceSheetError

    try:
        sheet = PriceSheet.load(price_sheet)
    except PriceSheetError as exc:
        raise _fail(str(exc)) from exc
    return hpa_sim.Prices(sheet.cpu, sheet.ram)


def simulate_command(
    manifests: Annotated[list[Path], typer.Argument(help="YAML files holding the HPA and its Deployment")],
    load: Annotated[Path | None, typer.Option("--load", "-l", help="load profile file (docs/hpa-simulator.md)")] = None,
    prometheus: Annotated[str | None, typer.Option(help="build the load profile from this Prometheus' history")] = None,
    window: Annotated[str, typer.Option(help="history window with --prometheus, e.g. 7d, 24h")] = "7d",
    end: Annotated[float | None, typer.Option(help="end of the history window (unix seconds; default now)")] = None,
    initial_replicas: Annotated[int | None, typer.Option(min=0, help="replicas at t=0 (default: the Deployment's)")] = None,
    sync_period: Annotated[int, typer.Option(min=1, help="controller sync period, seconds")] = 15,
    tolerance: Annotated[float, typer.Option(min=0.0, help="controller tolerance")] = 0.1,
    price_sheet: Annotated[Path | None, typer.Option(help="YAML/JSON price sheet (default: Kubecost's)")] = None,
    every: Annotated[int, typer.Option(min=1, help="with --json: keep every Nth step of the timeline")] = 1,
    hpa_name: Annotated[str | None, typer.Option("--hpa", help="the HPA to simulate when the files hold several")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Replay the Kubernetes HPA controller over a load profile: replicas and cost over time."""
    if (load is None) == (prometheus is None):
        raise _fail("give exactly one of --load FILE or --prometheus URL")
    docs = []
    try:
        for path in manifests:
            docs.extend(load_documents(path))
        hpa, workload = hpa_sim.find_objects(docs, ", ".join(str(m) for m in manifests), hpa_name)
        if load is not None:
            profile = hpa_sim.parse_load_profile(_load_yaml_file(load, "load profile"))
        else:
            profile = asyncio.run(_profile_from_prometheus(prometheus, workload, window, end))
    except ManifestError as exc:
        raise _fail(str(exc)) from exc
    config = hpa_sim.ControllerConfig(sync_period=sync_period, tolerance=tolerance)
    result = hpa_sim.simulate(hpa, workload, profile, config, _prices(price_sheet), initial_replicas)
    if as_json:
        _print_json(result.to_json(every))
        return
    table = Table(title=f"HPA {hpa.namespace}/{hpa.name} → {workload.kind}/{workload.name}: scale events")
    for col in ("t (s)", "load", "replicas", "ready", "proposal", "metrics", "reason"):
        table.add_column(col, justify="right" if col not in ("metrics", "reason") else "left")
    previous = None
    for s in result.steps:
        if s.replicas == previous:
            continue
        metrics = ", ".join(f"{k}={'?' if v is None else v}" for k, v in s.readings.items())
        table.add_row(f"{s.t:g}", f"{s.load:g}", str(s.replicas), str(s.ready),
                      "-" if s.desired is None else str(s.desired), metrics, s.reason)
        previous = s.replicas
    console.print(table)
    summary = result.summary()
    console.print(f"replicas {sparkline(result.replicas)}  ({summary['minReplicas']}–{summary['maxReplicas']}, "
                  f"avg {summary['avgReplicas']})")
    console.print(f"cost {summary['totalCost']:.5f} over {summary['hours']:g} h "
                  f"→ {summary['monthlyCost']:.2f}/month; proposals above maxReplicas in {summary['atMaxSteps']} steps")


async def _profile_from_prometheus(url: str, workload, window: str, end: float | None):
    from cloudmart.finops.prometheus import PrometheusClient, PrometheusError

    try:
        async with PrometheusClient(url) as client:
            return await hpa_sim.profile_from_prometheus(client, workload, window, end)
    except PrometheusError as exc:
        raise _fail(str(exc), 1) from exc


def _predict_prices(price_sheet: Path | None):
    from cloudmart.finops.predict import PredictPrices

    if price_sheet is None:
        return PredictPrices()
    from cloudmart.finops.pricing import PriceSheet, PriceSheetError

    try:
        sheet = PriceSheet.load(price_sheet)
    except PriceSheetError as exc:
        raise _fail(str(exc)) from exc
    return PredictPrices(sheet.cpu, sheet.ram, sheet.gpu, sheet.storage)


def predict_command(
    path: Annotated[Path, typer.Argument(help="a YAML file, a directory of YAML, or a kustomize overlay")],
    price_sheet: Annotated[Path | None, typer.Option(help="YAML/JSON price sheet (default: Kubecost's)")] = None,
    daemonset_nodes: Annotated[int, typer.Option(min=0, help="nodes a DaemonSet runs on")] = 3,
    builtin: Annotated[bool, typer.Option(help="resolve kustomizations without the kustomize binary")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the prediction as JSON")] = False,
) -> None:
    """Monthly cost of each workload in manifests at min, current and max replicas (offline)."""
    from cloudmart.finops.predict import load_manifests, predict

    try:
        docs = load_manifests(path, use_binary=not builtin)
        result = predict(docs, _predict_prices(price_sheet), daemonset_nodes=daemonset_nodes, source=str(path))
    except ManifestError as exc:
        raise _fail(str(exc)) from exc
    if not result.workloads:
        raise _fail(f"{path}: no workloads (Deployment, StatefulSet, DaemonSet, ReplicaSet, PVC) found")
    if as_json:
        _print_json(result.to_json())
        return
    table = Table(title=f"Predicted monthly cost: {path}")
    for col in ("namespace", "workload", "HPA", "replicas min/cur/max", "CPU/pod", "RAM/pod",
                "min", "current", "max"):
        table.add_column(col, justify="right" if col in ("min", "current", "max", "CPU/pod", "RAM/pod") else "left")
    for w in result.workloads:
        r = w.replicas
        table.add_row(w.namespace, f"{w.kind}/{w.name}", w.hpa or "-", f"{r['min']}/{r['current']}/{r['max']}",
                      f"{w.pod.cpu_cores * 1000:g}m", f"{w.pod.ram_bytes / 2**20:g}Mi",
                      *(f"{w.monthly[k]['total']:.2f}" for k in ("min", "current", "max")))
    console.print(table)
    ns_table = Table(title="By namespace (monthly)")
    for col in ("namespace", "min", "current", "max"):
        ns_table.add_column(col, justify="left" if col == "namespace" else "right")
    for ns, c in sorted(result.by_namespace().items()):
        ns_table.add_row(ns, *(f"{c[k]:.2f}" for k in ("min", "current", "max")))
    total = result.total()
    ns_table.add_row("[bold]total[/]", *(f"[bold]{total[k]:.2f}[/]" for k in ("min", "current", "max")))
    console.print(ns_table)
    for w in result.warnings:
        err_console.print(f"[yellow]warning:[/] {w}", highlight=False)


def _hpas_from_manifests(path: Path) -> dict:
    from cloudmart.finops.predict import hpas_in, load_manifests

    return hpas_in(load_manifests(path), str(path))


def rightsize_command(
    prometheus: Annotated[str, typer.Option(help="Prometheus base URL", envvar="PROMETHEUS_URL")],
    window: Annotated[str, typer.Option(help="usage history window (Kubecost syntax: 2d, 7d, RFC3339 pair…)")] = "7d",
    end: Annotated[float | None, typer.Option(help="evaluate as if now were this unix time")] = None,
    filter_: Annotated[str, typer.Option("--filter", help='v2 filter, e.g. namespace:"cloudmart"')] = "",
    algorithm_cpu: Annotated[str, typer.Option(help="max or quantile")] = "quantile",
    q_cpu: Annotated[float, typer.Option(help="CPU quantile")] = 0.95,
    algorithm_ram: Annotated[str, typer.Option(help="max or quantile")] = "max",
    target_cpu: Annotated[float, typer.Option(help="target CPU utilization of the request")] = 0.7,
    target_ram: Annotated[float, typer.Option(help="target memory utilization of the request")] = 1.0,
    ram_buffer: Annotated[float, typer.Option(help="buffer added to the memory statistic")] = 0.15,
    min_cpu: Annotated[float, typer.Option(help="minimum CPU recommendation, millicores")] = 10.0,
    min_ram: Annotated[float, typer.Option(help="minimum memory recommendation, bytes")] = 20 * 2**20,
    manifests: Annotated[Path | None, typer.Option(help="HPAs (with behavior) from these manifests")] = None,
    price_sheet: Annotated[Path | None, typer.Option(help="YAML/JSON price sheet (default: Kubecost's)")] = None,
    top: Annotated[int, typer.Option(min=1, help="rows in the table")] = 50,
    workers: Annotated[int, typer.Option(min=1, help="processes simulating HPA workloads")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="print the requestSizingV2 JSON")] = False,
) -> None:
    """Request recommendations per container; HPA workloads are sized by replaying their HPA."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from cloudmart.finops import rightsizing
    from cloudmart.finops.filters import FilterError, parse_filter
    from cloudmart.finops.prometheus import PrometheusClient, PrometheusError
    from cloudmart.finops.windows import WindowError, parse_window

    raw = {"algorithmCPU": algorithm_cpu, "qCPU": str(q_cpu), "algorithmRAM": algorithm_ram,
           "targetCPUUtilization": str(target_cpu), "targetRAMUtilization": str(target_ram),
           "ramBuffer": str(ram_buffer), "minRecCPUMillicores": str(min_cpu), "minRecRAMBytes": str(min_ram)}
    option_names = {"algorithmCPU": "--algorithm-cpu", "qCPU": "--q-cpu", "algorithmRAM": "--algorithm-ram",
                    "targetCPUUtilization": "--target-cpu", "targetRAMUtilization": "--target-ram",
                    "ramBuffer": "--ram-buffer", "minRecCPUMillicores": "--min-cpu", "minRecRAMBytes": "--min-ram"}
    try:
        params = rightsizing.parse_params(raw)
    except rightsizing.ParameterError as exc:
        raise _fail(f"{option_names.get(exc.parameter, exc.parameter)}: {str(exc).split(': ', 1)[1]}") from exc
    try:
        win = parse_window(window, now=end)
    except WindowError as exc:
        raise _fail(f"--window: {exc}") from exc
    try:
        node = parse_filter(filter_)
    except FilterError as exc:
        raise _fail(f"--filter: {exc}") from exc
    try:
        hpas = _hpas_from_manifests(manifests) if manifests else {}
    except ManifestError as exc:
        raise _fail(str(exc)) from exc
    prices = _prices(price_sheet)

    async def run():
        async with PrometheusClient(prometheus) as client:
            return await rightsizing.fetch_history(client, win.start, win.end, params, extra_hpas=hpas)

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=err_console, transient=True, disable=as_json) as progress:
        task = progress.add_task("reading usage history from Prometheus", total=None)
        try:
            history = asyncio.run(run())
        except PrometheusError as exc:
            raise _fail(str(exc), 1) from exc
        progress.update(task, description=f"sizing {len(history.containers)} containers (simulating HPAs)")
        recs = rightsizing.sort_recommendations(
            rightsizing.recommend(history, params, prices, filter_node=node, workers=workers))
    if as_json:
        _print_json([r.to_json("cluster-one") for r in recs])
        return
    if not recs:
        raise _fail(f"no containers with usage in {window} (filter {filter_ or 'none'})", 1)
    table = Table(title=f"Right-sizing over {window}")
    for col in ("namespace", "controller", "container", "CPU now→rec", "RAM now→rec", "savings/mo", "status"):
        table.add_column(col, justify="right" if col == "savings/mo" else "left")
    for r in recs[:top]:
        j = r.to_json("")
        table.add_row(r.namespace, f"{j['controllerKind']}/{r.controller}", r.container,
                      f"{j['latestKnownRequest']['cpu'] or 'none'}→{j['recommendedRequest']['cpu'] or '-'}",
                      f"{j['latestKnownRequest']['memory'] or 'none'}→{j['recommendedRequest']['memory'] or '-'}",
                      f"{r.total_savings:.2f}", r.status)
    console.print(table)
    hpa_rows = [r for r in recs if r.hpa]
    if hpa_rows:
        ht = Table(title="HPA projections at the recommended requests")
        for col in ("workload", "HPA", "replicas now", "replicas projected", "cost/mo now→projected"):
            ht.add_column(col)
        for r in hpa_rows:
            h = r.hpa
            cur = h["currentReplicas"]
            ht.add_row(f"{r.namespace}/{r.controller}", h["name"],
                       "-" if cur is None else f"{cur['min']}–{cur['max']} (avg {cur['avg']:.2f})",
                       f"{h['projectedReplicas']['min']}–{h['projectedReplicas']['max']} (avg {h['projectedReplicas']['avg']:.2f})",
                       f"{(h['currentMonthlyCost'] or 0):.2f}→{h['projectedMonthlyCost']:.2f}")
        console.print(ht)
    total = sum(max(0.0, r.total_savings) for r in recs)
    missing = [r for r in recs if r.status == "noUsageHistory"]
    console.print(f"potential savings {total:.2f}/month over {len(recs)} containers"
                  + (f"; {len(missing)} without usage history (no recommendation)" if missing else ""))


def register(cost_app: typer.Typer, root: typer.Typer) -> None:
    """Add the optimization commands to the `cost` group and an `hpa` group to the root."""
    cost_app.command("predict")(predict_command)
    cost_app.command("rightsize")(rightsize_command)
    hpa_app = typer.Typer(help="Horizontal pod autoscaler simulation.", no_args_is_help=True)
    hpa_app.command("simulate")(simulate_command)
    root.add_typer(hpa_app, name="hpa")
