"""The cost analyzer's HTTP API (Kubecost-compatible), built by `create_app`.

Dependencies live on `app.state`:

- `app.state.prometheus`     — the `PrometheusClient` every query goes through
- `app.state.prometheus_url` — its base URL (str)
- `app.state.pricing`        — the `PriceSheet` in force
- `app.state.engine`         — the allocation `Engine` (pricing + cluster name)
- `app.state.cluster`        — the cluster name reported in allocation properties
- `app.state.now`            — a zero-argument callable returning unix seconds (relative windows)

Allocation responses carry a `Server-Timing` header splitting the time between waiting on
Prometheus (`prometheus`) and the engine's own work (`engine`, incl. JSON rendering).

Routes: `GET /model/allocation` (Kubecost; idle included by default), `GET /allocation/compute`
(OpenCost's name; `includeIdle` defaults to false), `GET /healthz`, plus everything in
`cloudmart.finops.optimize_api.router`. Bad parameters → 400 problem+json naming the parameter;
Prometheus failures → 503 naming the Prometheus and what failed. `aggregate=service` and
the `services` filter map pods to Services through kube-state-metrics' endpoint addresses
(see `cloudmart.finops.inputs`).
"""

from __future__ import annotations

import time
from contextlib import asynccontextmanager
from typing import Callable

from fastapi import FastAPI, Request
import orjson
from fastapi.responses import JSONResponse, Response

from cloudmart.finops import optimize_api
from cloudmart.finops.allocation import AggregateError, AllocationQuery, Engine, compute_sets, parse_aggregate
from cloudmart.finops.filters import FilterError, combine, parse_filter, parse_v1
from cloudmart.finops.pricing import PriceSheet
from cloudmart.finops.prometheus import PrometheusClient, PrometheusError
from cloudmart.finops.windows import WindowError, parse_duration, parse_window


class ParameterError(ValueError):
    def __init__(self, parameter: str, message: str):
        self.parameter = parameter
        super().__init__(f"invalid parameter {parameter!r}: {message}")


def problem(status: int, title: str, detail: str, **extra) -> JSONResponse:
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail, "code": status, "message": detail, **extra},
        status_code=status,
        media_type="application/problem+json",
    )


def _bool(params, name: str, default: bool) -> bool:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    low = raw.strip().lower()
    if low in ("true", "1", "yes"):
        return True
    if low in ("false", "0", "no"):
        return False
    raise ParameterError(name, f"{raw!r} is not a boolean (true or false)")


def parse_request(params, *, idle_param: str, idle_default: bool, now: float) -> dict:
    """Query parameters → keyword arguments of `compute_sets` (raises ParameterError)."""
    if not params.get("window"):
        raise ParameterError("window", "missing (e.g. window=1d)")
    try:
        window = parse_window(params["window"], now=now)
    except WindowError as e:
        raise ParameterError("window", str(e)) from None
    try:
        aggregate = parse_aggregate(params.get("aggregate"))
    except AggregateError as e:
        raise ParameterError("aggregate", str(e)) from None
    try:
        v2 = parse_filter(params.get("filter", ""))
    except FilterError as e:
        raise ParameterError("filter", str(e)) from None
    try:
        v1 = parse_v1(params)
    except FilterError as e:
        raise ParameterError(str(e).split(":", 1)[0], str(e)) from None
    step = None
    if params.get("step"):
        try:
            step = parse_duration(params["step"])
        except WindowError as e:
            raise ParameterError("step", str(e)) from None
    resolution = 60.0
    if params.get("resolution"):
        try:
            resolution = parse_duration(params["resolution"])
        except WindowError as e:
            raise ParameterError("resolution", str(e)) from None
        if resolution < 2 or resolution % 1:
            raise ParameterError("resolution", "must be a whole number of seconds, at least 2s")
    share_cost = 0.0
    if params.get("shareCost") not in (None, ""):
        try:
            share_cost = float(params["shareCost"])
        except ValueError:
            raise ParameterError("shareCost", f"{params['shareCost']!r} is not a number") from None
        if not (share_cost >= 0) or share_cost == float("inf"):
            raise ParameterError("shareCost", f"{params['shareCost']!r} must be a finite number ≥ 0")
    split = (params.get("shareSplit") or "weighted").strip().lower()
    if split not in ("weighted", "even"):
        raise ParameterError("shareSplit", f"{params['shareSplit']!r} is not 'weighted' or 'even'")
    share_labels = []
    for item in (x.strip() for x in (params.get("shareLabels") or "").split(",")):
        if not item:
            continue
        if ":" not in item:
            raise ParameterError("shareLabels", f"{item!r} must be key:value")
        k, val = item.split(":", 1)
        share_labels.append((k.strip(), val.strip()))
    q = AllocationQuery(
        aggregate=aggregate,
        filter=combine(v2, v1),
        idle=_bool(params, idle_param, idle_default),
        share_idle=_bool(params, "shareIdle", False),
        idle_by_node=_bool(params, "idleByNode", False),
        share_namespaces=[x.strip() for x in (params.get("shareNamespaces") or "").split(",") if x.strip()],
        share_labels=share_labels,
        share_cost=share_cost,
        share_split=split,
    )
    return {
        "window": window,
        "q": q,
        "step": step,
        "accumulate_sets": _bool(params, "accumulate", False),
        "resolution": resolution,
    }


def create_app(
    prometheus_url: str,
    pricing: PriceSheet | None = None,
    *,
    cluster: str = "cluster-one",
    timeout: float = 60.0,
    retries: int = 2,
    now: Callable[[], float] = time.time,
    prometheus: PrometheusClient | None = None,
) -> FastAPI:
    client = prometheus or PrometheusClient(prometheus_url, timeout=timeout, retries=retries)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        await client.aclose()

    app = FastAPI(title="CloudMart cost analyzer", lifespan=lifespan)
    app.state.prometheus = client
    app.state.prometheus_url = client.url
    app.state.pricing = pricing or PriceSheet()
    app.state.cluster = cluster
    app.state.engine = Engine(app.state.pricing, cluster=cluster)
    app.state.now = now

    @app.exception_handler(ParameterError)
    async def _bad_parameter(request: Request, exc: ParameterError):
        return problem(400, "Bad Request", str(exc), parameter=exc.parameter)

    @app.exception_handler(PrometheusError)
    async def _prometheus_down(request: Request, exc: PrometheusError):
        return problem(503, "Service Unavailable", str(exc), prometheus=exc.url)

    async def allocation(request: Request, idle_param: str, idle_default: bool):
        st = request.app.state
        args = parse_request(request.query_params, idle_param=idle_param, idle_default=idle_default, now=st.now())
        timings: dict[str, float] = {}
        sets = await compute_sets(st.prometheus, st.engine, **args, timings=timings)
        t0 = time.perf_counter()
        data = [{name: a.to_json(w) for name, a in sorted(s.items())} for w, s in sets]
        body = orjson.dumps({"code": 200, "status": "success", "data": data})
        timings["engine"] += time.perf_counter() - t0
        server_timing = ", ".join(f"{k};dur={v * 1000:.1f}" for k, v in timings.items())
        return Response(body, media_type="application/json", headers={"Server-Timing": server_timing})

    @app.get("/model/allocation")
    async def model_allocation(request: Request):
        return await allocation(request, "idle", True)

    @app.get("/allocation/compute")
    async def allocation_compute(request: Request):
        return await allocation(request, "includeIdle", False)

    @app.get("/healthz")
    async def healthz(request: Request):
        ready = await request.app.state.prometheus.healthy()
        body = {"status": "ok" if ready else "degraded", "prometheus": request.app.state.prometheus_url, "prometheusReady": ready}
        return JSONResponse(body, status_code=200)

    app.include_router(optimize_api.router)
    return app
