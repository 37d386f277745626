"""The HTTP app factory every service runs in: routing, probes, metrics, request ids, problems.

`create_service_app(spec, ctx)` gives a FastAPI app serving `spec.router` under `/api/<name>`,
`spec.root_routers` at `/`, `/health`, `/ready`, `/metrics`, and OpenAPI under `/api/<name>/`.
Every error leaves as RFC 9457 problem+json; a database that cannot be reached is a 503 with
`Retry-After` (the transaction was rolled back, nothing is half-written), never a 500.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import time
import uuid
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloudmart.core.errors import (
    Conflict,
    ProblemError,
    ServiceUnavailable,
    Unprocessable,
    problem_response,
)
from cloudmart.core.service import ServiceContext, ServiceSpec

log = structlog.get_logger("cloudmart.http")

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
DB_RETRY_AFTER_SECONDS = 5
READY_CHECK_TIMEOUT = 2.0


class HttpMetrics:
    """Request count and latency by service, route template and status, in one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "cloudmart_http_requests_total",
            "HTTP requests handled",
            ["service", "method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "cloudmart_http_request_duration_seconds",
            "HTTP request latency",
            ["service", "method", "route"],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )

    @classmethod
    def for_registry(cls, registry: CollectorRegistry) -> HttpMetrics:
        # Several apps may share one registry (embedded mode); the collectors exist once per registry.
        existing = getattr(registry, "_cloudmart_http_metrics", None)
        if existing is None:
            existing = cls(registry)
            registry._cloudmart_http_metrics = existing  # type: ignore[attr-defined]
        return existing


def route_template(scope: Scope) -> str:
    """The matched route's full path template (bounded label cardinality), after routing."""
    effective = scope.get("fastapi", {}).get("effective_route_context")
    if effective is not None and getattr(effective, "path", None):
        return effective.path
    route = scope.get("route")
    return getattr(route, "path", None) or "<unmatched>"


def request_id_of(scope: Scope) -> str | None:
    return scope.get("state", {}).get("request_id")


class RequestContextMiddleware:
    """Pure ASGI: request id in/out (bound into logs), per-route metrics, one access log line."""

    def __init__(self, app: ASGIApp, *, service: str, metrics: HttpMetrics) -> None:
        self.app = app
        self.service = service
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = incoming if incoming and _REQUEST_ID_OK.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id, service=self.service)
        status = 500
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            template = route_template(scope)
            method = scope["method"]
            self.metrics.requests.labels(self.service, method, template, str(status)).inc()
            self.metrics.latency.labels(self.service, method, template).observe(elapsed)
            log.info(
                "request",
                method=method,
                path=scope["path"],
                route=template,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
            structlog.contextvars.unbind_contextvars("request_id", "service")


def _field_of(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def validation_problem(exc: RequestValidationError) -> ProblemError:
    errors = [
        {
            "field": _field_of(tuple(e.get("loc", ()))),
            "message": str(e.get("msg", "invalid")).removeprefix("Value error, "),
            "type": e.get("type"),
        }
        for e in exc.errors()
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "invalid request"
    return Unprocessable(detail, errors=errors)


def _is_connectivity_error(exc: BaseException) -> bool:
    if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError, OSError)):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        orig = type(exc.orig).__name__ if exc.orig is not None else ""
        return orig in {"CannotConnectNowError", "ConnectionDoesNotExistError", "InterfaceError", "InternalClientError"}
    return False


def install_error_handlers(app: FastAPI) -> None:
    def instance(request: Request) -> str:
        return request.url.path

    async def on_problem(request: Request, exc: ProblemError) -> Response:
        return problem_response(exc, instance(request), request_id_of(request.scope))

    async def on_validation(request: Request, exc: RequestValidationError) -> Response:
        return problem_response(validation_problem(exc), instance(request), request_id_of(request.scope))

    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        try:
            title = HTTPStatus(exc.status_code).phrase
        except ValueError:
            title = "Error"
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else None
        problem = ProblemError(exc.status_code, title, detail, headers=getattr(exc, "headers", None))
        return problem_response(problem, instance(request), request_id_of(request.scope))

    async def on_db(request: Request, exc: Exception) -> Response:
        if isinstance(exc, sa_exc.IntegrityError):
            problem: ProblemError = Conflict("the request conflicts with existing data")
        elif _is_connectivity_error(exc):
            log.warning("database unavailable", error=type(exc).__name__, detail=str(exc)[:300])
            problem = ServiceUnavailable(
                "the database is unavailable; nothing was changed, retry later",
                retry_after=DB_RETRY_AFTER_SECONDS,
            )
        else:
            log.error("database error", error=type(exc).__name__, detail=str(exc)[:300])
            problem = ProblemError(500, "Internal Server Error", "unexpected database error")
        return problem_response(problem, instance(request), request_id_of(request.scope))

    async def on_unhandled(request: Request, exc: Exception) -> Response:
        log.error("unhandled error", error=type(exc).__name__, exc_info=exc)
        problem = ProblemError(500, "Internal Server Error", "unexpected error; see the logs for this request id")
        return problem_response(problem, instance(request), request_id_of(request.scope))

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(sa_exc.DBAPIError, on_db)
    app.add_exception_handler(OSError, on_db)
    app.add_exception_handler(Exception, on_unhandled)


async def _check(probe: Callable[[], Any]) -> bool:
    try:
        result = probe()
        if inspect.isawaitable(result):
            result = await asyncio.wait_for(result, READY_CHECK_TIMEOUT)
        return bool(result)
    except Exception:  # a probe that fails for any reason reports "not ready"
        return False


async def readiness(ctx: ServiceContext) -> tuple[bool, dict[str, dict[str, Any]]]:
    """Each dependency's state. Only the database gates readiness: cache misses fall through to
    the database and the outbox holds events while the broker is away, so those degrade instead."""
    checks: dict[str, dict[str, Any]] = {"database": {"ok": await _check(ctx.db.ping), "critical": True}}
    if ctx.cache is not None and hasattr(ctx.cache, "ping"):
        checks["cache"] = {"ok": await _check(ctx.cache.ping), "critical": False}
    if ctx.bus is not None and hasattr(ctx.bus, "ready"):
        checks["bus"] = {"ok": await _check(ctx.bus.ready), "critical": False}
    ready = all(c["ok"] for c in checks.values() if c["critical"])
    return ready, checks


def create_service_app(spec: ServiceSpec, ctx: ServiceContext, *, lifespan: Any = None) -> FastAPI:
    prefix = f"/api/{spec.name}"
    app = FastAPI(
        title=spec.title,
        version="0.1.0",
        openapi_url=f"{prefix}/openapi.json",
        docs_url=f"{prefix}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    if ctx.metrics_registry is None:
        ctx.metrics_registry = CollectorRegistry()
    metrics = HttpMetrics.for_registry(ctx.metrics_registry)
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware, service=spec.title, metrics=metrics)

    @app.get("/health", tags=["probes"], summary="Liveness: 200 while the process runs")
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": spec.title}

    @app.get("/ready", tags=["probes"], summary="Readiness: database (gating), cache and bus")
    async def ready() -> Response:
        ok, checks = await readiness(ctx)
        body = {"status": "ready" if ok else "unavailable", "service": spec.title, "checks": checks}
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics", tags=["probes"], summary="Prometheus metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(ctx.metrics_registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(spec.router, prefix=prefix)
    for router in spec.root_routers:
        app.include_router(router)
    return app
