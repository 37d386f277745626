"""HTTP routes of the optimization layer, mounted by the cost analyzer's app.

`/` the dashboard, `/metrics` the cost exporter, `/model/savings/requestSizingV2`
right-sizing, `/model/prediction/speccost` (kubectl cost predict) and
`/model/prediction/overlay` (the deployed manifests' predicted cost). The app's state gives
the dependencies: `prometheus`, `pricing`, `now`, `cluster`, and optionally
`optimize_manifests` (a path; default `$CLOUDMART_MANIFESTS`, then ./deploy/overlays/lab) whose
HPAs, with their `behavior`, take precedence over what kube-state-metrics reports.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import yaml
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from cloudmart.finops import exporter, predict, rightsizing
from cloudmart.finops.filters import FilterError, combine, parse_filter, parse_v1
from cloudmart.finops.hpa import Prices
from cloudmart.finops.manifests import ManifestError, flatten_documents
from cloudmart.finops.windows import WindowError, parse_window

router = APIRouter()
DASHBOARD = Path(__file__).parent / "dashboard"
ASSETS = {"app.js": "text/javascript", "style.css": "text/css"}
CACHE_SECONDS = 60.0
MAX_SPEC_BYTES = 5 * 2**20


def problem(status: int, title: str, detail: str, **extra) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def bad_parameter(parameter: str, detail: str) -> JSONResponse:
    return problem(400, "Bad Request", detail, parameter=parameter)


def _prices(state) -> Prices:
    return Prices(state.pricing.cpu, state.pricing.ram)


@router.get("/", include_in_schema=False)
async def dashboard() -> FileResponse:
    return FileResponse(DASHBOARD / "index.html", media_type="text/html")


@router.get("/dashboard/{asset}", include_in_schema=False)
async def dashboard_asset(asset: str):
    if asset not in ASSETS:
        return problem(404, "Not Found", f"no dashboard asset {asset!r}")
    return FileResponse(DASHBOARD / asset, media_type=ASSETS[asset])


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    st = request.app.state
    snap = await exporter.snapshot(st.prometheus, st.pricing, st.now())
    return Response(exporter.render(snap, st.pricing), media_type=CONTENT_TYPE_LATEST)


@router.get("/model/savings/requestSizingV2")
async def request_sizing(request: Request):
    st = request.app.state
    params = dict(request.query_params)
    if not params.get("window"):
        return bad_parameter("window", "window is required (e.g. 2d, 7d, or an RFC3339 pair)")
    try:
        window = parse_window(params["window"], now=st.now())
    except WindowError as exc:
        return bad_parameter("window", str(exc))
    try:
        node = combine(parse_filter(params.get("filter", "")), parse_v1(params))
    except FilterError as exc:
        return bad_parameter("filter", str(exc))
    try:
        sizing = rightsizing.parse_params(params)
        sort_by, order = params.get("sortBy", "totalSavings"), params.get("sortByOrder", "descending")
        rightsizing.sort_recommendations([], sort_by, order)
    except rightsizing.ParameterError as exc:
        return bad_parameter(exc.parameter, str(exc))
    cache = getattr(st, "sizing_cache", None)
    if cache is None:
        cache = st.sizing_cache = {}
    key = (str(request.query_params), window.start, window.end)
    hit = cache.get(key)
    if hit and time.monotonic() - hit[0] < CACHE_SECONDS:
        return hit[1]
    try:
        manifest_hpas = await asyncio.to_thread(hpas_from_manifests, st)
    except ManifestError as exc:
        return problem(422, "Unprocessable Entity", f"HPAs of the configured manifests: {exc}", field=exc.field)
    history = await rightsizing.fetch_history(st.prometheus, window.start, window.end, sizing,
                                              extra_hpas=manifest_hpas)
    recs = await asyncio.to_thread(rightsizing.recommend, history, sizing, _prices(st), filter_node=node,
                                   cluster=st.cluster)
    body = [r.to_json(st.cluster) for r in rightsizing.sort_recommendations(recs, sort_by, order)]
    now = time.monotonic()
    for stale in [k for k, (at, _) in cache.items() if now - at >= CACHE_SECONDS]:
        del cache[stale]
    cache[key] = (now, body)
    return body


@router.post("/model/prediction/speccost")
async def spec_cost(request: Request):
    body = await request.body()
    if not body.strip():
        return problem(400, "Bad Request", "the request body must hold Kubernetes YAML (one or more documents)")
    if len(body) > MAX_SPEC_BYTES:
        return problem(413, "Payload Too Large", f"spec larger than {MAX_SPEC_BYTES} bytes")
    namespace = request.query_params.get("defaultNamespace") or "default"
    try:
        docs = flatten_documents(list(yaml.safe_load_all(body.decode("utf-8"))), "request body")
        result = predict.predict(docs, _predict_prices(request.app.state), default_namespace=namespace,
                                 source="request body")
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        return problem(400, "Bad Request", f"request body: invalid YAML: {exc}")
    except ManifestError as exc:
        return problem(400, "Bad Request", str(exc), field=exc.field)
    if not result.workloads:
        return problem(400, "Bad Request", "no workloads (Deployment, StatefulSet, DaemonSet, ReplicaSet) in the spec")
    st = request.app.state
    before = await predict.running_costs(st.prometheus, st.now(), _predict_prices(st))
    diffs = predict.speccost(result, before)
    if not diffs:
        return problem(400, "Bad Request", "no workloads (Deployment, StatefulSet, DaemonSet, ReplicaSet) in the spec")
    return diffs


def _predict_prices(state) -> predict.PredictPrices:
    p = state.pricing
    return predict.PredictPrices(p.cpu, p.ram, p.gpu, p.storage)


def manifests_path(state) -> Path | None:
    configured = getattr(state, "optimize_manifests", None) or os.environ.get("CLOUDMART_MANIFESTS")
    if configured:
        return Path(configured)
    default = Path("deploy/overlays/lab")
    return default if default.is_dir() else None


def hpas_from_manifests(state) -> dict:
    """The HPAs of the configured manifests, keyed like right-sizing's (cached per path)."""
    path = manifests_path(state)
    if path is None:
        return {}
    cache = getattr(state, "manifest_hpas", None)
    if cache and cache[0] == path:
        return cache[1]
    found = predict.hpas_in(predict.load_manifests(path), str(path))
    state.manifest_hpas = (path, found)
    return found


@router.get("/model/prediction/overlay")
async def overlay_prediction(request: Request):
    st = request.app.state
    path = manifests_path(st)
    if path is None:
        return problem(404, "Not Found", "no manifests configured (set CLOUDMART_MANIFESTS to a kustomize overlay)")
    try:
        docs = await asyncio.to_thread(predict.load_manifests, path)
        result = predict.predict(docs, _predict_prices(st), source=str(path))
    except ManifestError as exc:
        return problem(422, "Unprocessable Entity", str(exc), field=exc.field)
    return {"path": str(path), **result.to_json()}
