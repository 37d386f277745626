"""Every service the runtime knows, by name, imported lazily.

A service whose package does not exist yet (or exposes no SPEC yet) is skipped, so one
unfinished service never stops the others from running. Import errors inside an existing
service are real bugs and are raised.
"""

from __future__ import annotations

import importlib

import structlog

from cloudmart.core.service import ServiceSpec

log = structlog.get_logger("cloudmart.registry")

# name -> "module:attribute". The name is the URL segment (/api/<name>) and DB schema.
SPECS: dict[str, str] = {
    "users": "cloudmart.services.users:SPEC",
    "products": "cloudmart.services.products:SPEC",
    "orders": "cloudmart.services.orders:SPEC",
    "payments": "cloudmart.services.payments:SPEC",
    "notifications": "cloudmart.services.notifications:SPEC",
}

# The Kubernetes/SERVICE_NAME spelling accepted by `cloudmart serve` as well.
ALIASES: dict[str, str] = {
    "user-service": "users",
    "product-service": "products",
    "order-service": "orders",
    "payment-service": "payments",
    "notification-service": "notifications",
}


class ServiceNotAvailable(LookupError):
    pass


def canonical_name(name: str) -> str:
    name = ALIASES.get(name, name)
    if name not in SPECS:
        known = ", ".join(sorted(SPECS))
        raise ServiceNotAvailable(f"unknown service {name!r}; known services: {known}")
    return name


def load_spec(name: str) -> ServiceSpec:
    name = canonical_name(name)
    module_name, _, attr = SPECS[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name) and exc.name.startswith("cloudmart.services"):
            raise ServiceNotAvailable(f"service {name!r} is not built yet ({module_name} missing)") from exc
        raise
    spec = getattr(module, attr, None)
    if not isinstance(spec, ServiceSpec):
        raise ServiceNotAvailable(f"service {name!r} has no {attr} yet")
    return spec


def available_specs(names: list[str] | None = None) -> dict[str, ServiceSpec]:
    specs = {}
    for name in names or list(SPECS):
        try:
            specs[canonical_name(name)] = load_spec(name)
        except ServiceNotAvailable as exc:
            log.info("service skipped", service=name, reason=str(exc))
    return specs
