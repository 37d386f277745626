"""`cloudmart loadgen`: weighted shopper journeys (browse, sign up, order, pay) with locust used as
a library, bounded in users and duration, to drive the HPAs.

Importing locust monkey-patches the standard library with gevent, so only the `loadgen` command
imports this module, and only when it runs.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Any

import gevent
from locust import HttpUser, between
from locust.env import Environment

MAX_USERS = 500
MAX_DURATION_S = 3600
# the sandbox provider's success card (see payments.sandbox)
SUCCESS_CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}
PASSWORD = "Shopper-load-42"


@dataclass(frozen=True)
class Weights:
    browse: int = 6
    signup: int = 1
    order: int = 2
    pay: int = 1

    def __post_init__(self) -> None:
        for name in ("browse", "signup", "order", "pay"):
            if getattr(self, name) < 0:
                raise ValueError(f"weight {name} must be >= 0")
        if self.browse + self.signup + self.order + self.pay == 0:
            raise ValueError("at least one journey needs a positive weight")


@dataclass
class EndpointStats:
    name: str
    method: str
    requests: int
    failures: int
    median_ms: float
    p95_ms: float
    rps: float


@dataclass
class LoadReport:
    base_url: str
    users: int
    duration_s: float
    requests: int
    failures: int
    rps: float
    endpoints: list[EndpointStats] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url, "users": self.users, "duration_s": self.duration_s,
            "requests": self.requests, "failures": self.failures, "rps": self.rps,
            "endpoints": [vars(e) for e in self.endpoints], "errors": self.errors,
        }


class Shopper(HttpUser):
    """One shopper. Journeys are weighted; a shopper signs up before its first order or payment."""

    abstract = True
    wait_time = between(0.2, 1.0)

    def on_start(self) -> None:
        self.token: str | None = None
        self.payment_method: str | None = None
        self.product_ids: list[int] = []

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def browse(self) -> None:
        with self.client.get("/api/products", params={"limit": 20}, name="/api/products",
                             catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"catalog answered {resp.status_code}")
                return
            items = resp.json().get("items", [])
            self.product_ids = [p["id"] for p in items if p.get("active", True)]
        if self.product_ids:
            product = random.choice(self.product_ids)
            self.client.get(f"/api/products/{product}", name="/api/products/{id}")
        self.client.get("/api/products/categories", name="/api/products/categories")

    def sign_up(self) -> None:
        email = f"shopper-{uuid.uuid4().hex[:12]}@loadgen.example.com"
        resp = self.client.post("/api/users/signup", json={"email": email, "password": PASSWORD,
                                                           "full_name": "Load Shopper"}, name="/api/users/signup")
        if resp.status_code != 201:
            return
        resp = self.client.post("/api/users/login", json={"email": email, "password": PASSWORD},
                                name="/api/users/login")
        if resp.status_code == 200:
            self.token = resp.json()["access_token"]
            self.payment_method = None

    def add_card(self) -> None:
        if self.token is None:
            self.sign_up()
        if self.token is None:
            return
        resp = self.client.post("/api/payments/methods", json=SUCCESS_CARD, headers=self._auth(),
                                name="/api/payments/methods")
        if resp.status_code == 201:
            self.payment_method = resp.json()["id"]

    def order(self) -> None:
        if self.payment_method is None:
            self.add_card()
        if not self.product_ids:
            self.browse()
        if self.payment_method is None or not self.product_ids:
            return
        lines = [{"product_id": p, "quantity": random.randint(1, 3)}
                 for p in random.sample(self.product_ids, k=min(2, len(self.product_ids)))]
        resp = self.client.post("/api/orders", json={"lines": lines, "payment_method_id": self.payment_method},
                                headers={**self._auth(), "Idempotency-Key": uuid.uuid4().hex}, name="/api/orders")
        if resp.status_code in (200, 201):
            self.client.get(f"/api/orders/{resp.json()['id']}", headers=self._auth(), name="/api/orders/{id}")

    def pay(self) -> None:
        self.add_card()
        if self.token is not None:
            self.client.get("/api/payments", headers=self._auth(), name="/api/payments")
            self.client.get("/api/notifications", headers=self._auth(), name="/api/notifications")


def shopper_class(weights: Weights) -> type[Shopper]:
    """A concrete Shopper whose journeys carry the given weights."""
    journeys = {Shopper.browse: weights.browse, Shopper.sign_up: weights.signup,
                Shopper.order: weights.order, Shopper.pay: weights.pay}
    return type("WeightedShopper", (Shopper,), {
        "abstract": False,
        "tasks": {task_fn: w for task_fn, w in journeys.items() if w > 0},
    })


def validate(base_url: str, users: int, spawn_rate: float, duration_s: float) -> None:
    if not base_url.startswith(("http://", "https://")):
        raise ValueError(f"base URL {base_url!r} must start with http:// or https://")
    if not 1 <= users <= MAX_USERS:
        raise ValueError(f"users must be between 1 and {MAX_USERS}, got {users}")
    if not 0 < duration_s <= MAX_DURATION_S:
        raise ValueError(f"duration must be between 1s and {MAX_DURATION_S}s, got {duration_s:g}s")
    if spawn_rate <= 0:
        raise ValueError(f"spawn rate must be positive, got {spawn_rate:g}")


def run_load(
    base_url: str,
    users: int,
    duration_s: float,
    spawn_rate: float = 5.0,
    weights: Weights | None = None,
) -> LoadReport:
    """Run the journeys against `base_url` for `duration_s` seconds with at most `users` shoppers."""
    validate(base_url, users, spawn_rate, duration_s)
    user_class = shopper_class(weights or Weights())
    env = Environment(user_classes=[user_class], host=base_url.rstrip("/"))
    runner = env.create_local_runner()
    runner.start(users, spawn_rate=spawn_rate)
    gevent.spawn_later(duration_s, runner.quit)
    runner.greenlet.join()
    total = env.stats.total
    endpoints = [
        EndpointStats(
            name=s.name, method=s.method, requests=s.num_requests, failures=s.num_failures,
            median_ms=float(s.get_response_time_percentile(0.5) or 0),
            p95_ms=float(s.get_response_time_percentile(0.95) or 0),
            rps=round(s.total_rps, 3),
        )
        for s in sorted(env.stats.entries.values(), key=lambda s: (s.name, s.method))
    ]
    errors = [f"{e.method} {e.name}: {e.error} (x{e.occurrences})" for e in env.stats.errors.values()]
    return LoadReport(
        base_url=base_url, users=users, duration_s=duration_s,
        requests=total.num_requests, failures=total.num_failures, rps=round(total.total_rps, 3),
        endpoints=endpoints, errors=errors,
    )
