"""Embedded mode: every built service in one process, on one port, with zero servers.

Each service keeps its own FastAPI app, SQLite file (data_dir/<service>.db) and context; one
ASGI front dispatches `/api/<service>/...` by path prefix, serves the services' root routes
(e.g. `/.well-known/jwks.json`), and answers `/health`, `/ready`, `/metrics` for the whole
process. Services call each other through ctx.http, an httpx client whose ASGI transport
points back at this front, so the HTTP path is the same as in distributed mode.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import structlog
from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from cloudmart.core.auth import KeyStore, TokenVerifier
from cloudmart.core.config import Settings
from cloudmart.core.errors import NotFound, problem_response
from cloudmart.core.http import readiness
from cloudmart.core.policy import default_engine
from cloudmart.core.runtime import ServiceRuntime, make_context
from cloudmart.core.service import ServiceSpec
from cloudmart.services.registry import available_specs

log = structlog.get_logger("cloudmart.local")

INTERNAL_BASE_URL = "http://cloudmart.local"


def _memory_cache(settings: Settings) -> Any:
    if not settings.cache_enabled:
        return None
    from cloudmart.core.cache import MemoryCache

    return MemoryCache()


class EmbeddedApp:
    """The ASGI application behind `cloudmart up`."""

    def __init__(self, settings: Settings, specs: dict[str, ServiceSpec] | None = None, *, seed: bool = True) -> None:
        from cloudmart.core.cache import register_cache_metrics
        from cloudmart.core.http import create_service_app

        self.settings = settings
        self.seed = seed
        self.specs = specs if specs is not None else available_specs()
        self.registry = CollectorRegistry()
        register_cache_metrics(self.registry)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        keys = KeyStore.load_or_create(settings.data_dir / "keys")
        tokens = TokenVerifier(settings, keys=keys)
        cache = _memory_cache(settings)
        policy = default_engine()
        self.contexts = {}
        self.apps: dict[str, FastAPI] = {}
        self.root_routes: dict[str, FastAPI] = {}
        for name, spec in self.specs.items():
            http = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=self), base_url=INTERNAL_BASE_URL, timeout=30.0
            )
            ctx = make_context(
                settings, spec, cache=cache, tokens=tokens, policy=policy, http=http, metrics_registry=self.registry
            )
            self.contexts[name] = ctx
            app = create_service_app(spec, ctx)
            self.apps[name] = app
            for router in spec.root_routers:
                for route in router.routes:
                    if isinstance(route, Route):
                        self.root_routes[route.path] = app
        self.runtime = ServiceRuntime(settings, self.contexts)
        self.front = self._front_app()
        self.started = asyncio.Event()

    def _front_app(self) -> FastAPI:
        front = FastAPI(title="CloudMart (embedded)", docs_url=None, redoc_url=None, openapi_url=None)

        @front.get("/")
        async def index() -> dict[str, Any]:
            return {
                "name": "CloudMart",
                "mode": "embedded",
                "services": {name: {"api": f"/api/{name}", "docs": f"/api/{name}/docs"} for name in self.apps},
            }

        @front.get("/health")
        async def health() -> dict[str, Any]:
            return {"status": "ok", "services": sorted(self.apps)}

        @front.get("/ready")
        async def ready() -> Response:
            results = {name: await readiness(ctx) for name, ctx in self.contexts.items()}
            ok = all(r[0] for r in results.values())
            body = {
                "status": "ready" if ok else "unavailable",
                "services": {name: {"ready": r[0], "checks": r[1]} for name, r in results.items()},
            }
            return JSONResponse(body, status_code=200 if ok else 503)

        @front.get("/metrics")
        async def metrics() -> Response:
            return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

        return front

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.runtime.start(seed=self.seed)
                except Exception as exc:
                    log.error("start-up failed", error=str(exc), exc_info=exc)
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                self.started.set()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.runtime.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        path: str = scope.get("path", "/")
        if path.startswith("/api/"):
            name = path.split("/", 3)[2]
            app = self.apps.get(name)
            if app is None:
                known = ", ".join(sorted(self.apps)) or "none"
                problem = NotFound(f"no service {name!r} in this process (running: {known})")
                await problem_response(problem, path)(scope, receive, send)
                return
            await app(scope, receive, send)
            return
        app = self.root_routes.get(path)
        await (app or self.front)(scope, receive, send)


def banner(settings: Settings, app: EmbeddedApp, base_url: str) -> str:
    lines = [f"CloudMart is running (embedded) on {base_url}", "", "API docs:"]
    lines += [f"  {name:<14} {base_url}/api/{name}/docs" for name in app.apps]
    users = app.runtime.seeded.get("users")
    if users:
        lines += [
            "",
            f"Admin account:  {users['admin_email']}  password: {users['admin_password']}",
            f"Demo customer:  {users['demo_email']}  password: {users['demo_password']}",
            f"(the admin password is kept in {settings.data_dir.resolve() / 'admin-password'})",
        ]
    for name, info in app.runtime.seeded.items():
        if name != "users" and info:
            lines.append(f"Demo data ({name}): " + orjson.dumps(info, default=str).decode())
    lines += ["", f"Health: {base_url}/health   Ready: {base_url}/ready   Metrics: {base_url}/metrics"]
    return "\n".join(lines)
