"""Building and running services in a process: one ServiceContext per service, migrations,
start-up hooks, the event runtime, and an orderly shutdown. Used by both modes:
`cloudmart.local` (embedded, all services) and `cloudmart serve <name>` (distributed, one).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import structlog
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from cloudmart.core import migrate
from cloudmart.core.auth import build_token_verifier
from cloudmart.core.config import Settings
from cloudmart.core.db import Database
from cloudmart.core.http import create_service_app
from cloudmart.core.policy import default_engine
from cloudmart.core.service import ServiceContext, ServiceSpec

log = structlog.get_logger("cloudmart.runtime")


def make_context(settings: Settings, spec: ServiceSpec, **parts: Any) -> ServiceContext:
    db = Database(settings.database_url_for(spec.name), spec.name)
    return ServiceContext(settings=settings, spec=spec, db=db, **parts)


def _event_runtime_class() -> Any:
    try:
        from cloudmart.core.events.runtime import EventRuntime
    except ModuleNotFoundError:
        return None
    return EventRuntime


class ServiceRuntime:
    """Start and stop a set of service contexts living in one process."""

    def __init__(self, settings: Settings, contexts: Mapping[str, ServiceContext]) -> None:
        self.settings = settings
        self.contexts = dict(contexts)
        self.events: Any = None
        self.seeded: dict[str, dict[str, Any]] = {}

    async def start(self, *, seed: bool = False) -> None:
        if self.settings.mode == "embedded":  # containers run with a read-only root FS
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        for ctx in self.contexts.values():
            await migrate.upgrade(ctx.db, ctx.spec)
        for ctx in self.contexts.values():
            if ctx.spec.on_startup is not None:
                await ctx.spec.on_startup(ctx)
        event_runtime = _event_runtime_class()
        if event_runtime is not None:
            self.events = event_runtime(self.settings, self.contexts)
            await self.events.start()
        if seed:
            for name, ctx in self.contexts.items():
                if ctx.spec.seed_demo is not None:
                    self.seeded[name] = await ctx.spec.seed_demo(ctx)
        log.info("services started", services=list(self.contexts), mode=self.settings.mode)

    async def stop(self) -> None:
        """Release everything; each step is bounded so a dead dependency cannot hang shutdown."""
        if self.events is not None:
            await _bounded("event runtime", self.events.stop())
        closed: set[int] = set()
        for ctx in self.contexts.values():
            for resource, method in ((ctx.http, "aclose"), (ctx.cache, "close")):
                if resource is not None and id(resource) not in closed and hasattr(resource, method):
                    closed.add(id(resource))
                    await _bounded(f"{ctx.spec.name} {method}", getattr(resource, method)())
            await _bounded(f"{ctx.spec.name} database", ctx.db.dispose())
        log.info("services stopped", services=list(self.contexts))


STOP_STEP_TIMEOUT = 10.0


async def _bounded(step: str, awaitable: Any) -> None:
    try:
        await asyncio.wait_for(awaitable, STOP_STEP_TIMEOUT)
    except Exception as exc:  # shutting down: report and carry on with the next step
        log.warning("shutdown step failed", step=step, error=repr(exc))


def distributed_context(settings: Settings, spec: ServiceSpec) -> ServiceContext:
    """One service against PostgreSQL, Redis (if configured) and Kafka (if configured)."""
    from cloudmart.core.cache import cache_from_settings, register_cache_metrics

    registry = CollectorRegistry()
    register_cache_metrics(registry)
    return make_context(
        settings,
        spec,
        cache=cache_from_settings(settings),
        tokens=build_token_verifier(settings),
        policy=default_engine(),
        http=httpx.AsyncClient(timeout=10.0),
        metrics_registry=registry,
    )


def create_distributed_app(settings: Settings, spec: ServiceSpec, *, seed: bool = False) -> FastAPI:
    ctx = distributed_context(settings, spec)
    runtime = ServiceRuntime(settings, {spec.name: ctx})

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start(seed=seed)
        try:
            yield
        finally:
            await runtime.stop()

    app = create_service_app(spec, ctx, lifespan=lifespan)
    app.state.runtime = runtime
    return app
