"""What a service is, to the runtime: the contract between services/<name>/ and the composition.

A service package exposes one `SPEC: ServiceSpec` in `services/<name>/__init__.py`. The runtime
(`cloudmart serve <name>` in distributed mode, `cloudmart up` in embedded mode) builds one FastAPI
app per service with `cloudmart.core.http.create_service_app(spec, ctx)`, serving the spec's
router under `/api/<name>` plus `/health`, `/ready`, `/metrics`; embedded mode dispatches the
five apps by path prefix on one port. Services never import each other's internals.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from sqlalchemy import MetaData

from cloudmart.core.config import Settings
from cloudmart.core.db import Database

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from cloudmart.core.events.envelope import CloudEvent

# An event handler runs inside the consumer's transaction: it applies its effect with `session`
# and may emit follow-up events into the service's outbox in that same transaction.
EventHandler = Callable[["CloudEvent", "AsyncSession", "ServiceContext"], Awaitable[None]]


@dataclass
class ServiceContext:
    """Everything a service's code may depend on, built by the runtime for one service."""

    settings: Settings
    spec: ServiceSpec
    db: Database
    cache: Any = None  # cloudmart.core.cache.Cache
    tokens: Any = None  # cloudmart.core.auth token verifier (and issuer, for users)
    policy: Any = None  # cloudmart.core.policy.PolicyEngine
    bus: Any = None  # cloudmart.core.events bus port (publishing is done by the outbox relay)
    http: Any = None  # httpx.AsyncClient (or an in-process transport in embedded mode)
    metrics_registry: Any = None  # prometheus_client.CollectorRegistry (shared by all apps when embedded)
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # "users" — URL segment, DB schema, SQLite file name
    title: str  # "user-service" — Kubernetes name, SERVICE_NAME, CloudEvents source
    router: APIRouter  # mounted at /api/<name>
    metadata: MetaData  # the service's tables (schema = name)
    root_routers: Sequence[APIRouter] = ()  # mounted at / (e.g. /.well-known/jwks.json)
    # CloudEvent type -> handler; the runtime subscribes the service's consumer group to them.
    event_handlers: Mapping[str, EventHandler] = field(default_factory=dict)
    topics: Sequence[str] = ()  # topics the handlers' event types arrive on
    # Apply a partition's fetched batch of events in one transaction (Kafka). Only for handlers
    # whose effects cannot deadlock each other across batches (no multi-row locks in varying order).
    batch_events: bool = False
    # Called once at start-up after migrations (e.g. load keys, warm caches) and for demo data.
    on_startup: Callable[[ServiceContext], Awaitable[None]] | None = None
    seed_demo: Callable[[ServiceContext], Awaitable[dict[str, Any]]] | None = None
    # Long-running loops started (and cancelled on shutdown) by the event runtime, e.g. the
    # notification delivery worker that retries e-mail with backoff.
    workers: Sequence[Callable[[ServiceContext], Awaitable[None]]] = ()
