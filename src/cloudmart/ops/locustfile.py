"""The locust side of `cloudmart loadgen`: shopper journeys (browse, sign up, order, pay) and the
run itself. It runs in its own process (`python -m cloudmart.ops.locustfile CONFIG_JSON`, started
by cloudmart.ops.loadgen) because gevent must patch the standard library before anything imports
ssl; it prints the report as JSON on stdout.
"""

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import uuid  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
from locust import HttpUser, between  # noqa: E402
from locust.env import Environment  # noqa: E402

# the sandbox provider's success card (see payments.sandbox)
SUCCESS_CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}
PASSWORD = "Shopper-load-42"


def _problem(resp: Any) -> str:
    """The detail of an RFC 9457 problem answer, else the start of the body."""
    try:
        body = resp.json()
        return str(body.get("detail") or body.get("title") or body)[:200]
    except ValueError:
        return resp.text[:200]


class Shopper(HttpUser):
    """One shopper. Journeys are weighted; a shopper signs up before its first order or payment."""

    abstract = True
    wait_time = between(0.2, 1.0)

    def on_start(self) -> None:
        self.token: str | None = None
        self.payment_method: str | None = None
        self.products: list[dict[str, Any]] = []

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def browse(self) -> None:
        with self.client.get("/api/products", params={"limit": 20}, name="/api/products",
                             catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"catalog answered {resp.status_code}")
                return
            items = resp.json().get("items", [])
            self.products = [p for p in items if p.get("active", True)]
        if self.products:
            product = random.choice(self.products)
            self.client.get(f"/api/products/{product['id']}", name="/api/products/{id}")
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
        if not self.products:
            self.browse()
        if self.payment_method is None or not self.products:
            return
        # an order is paid in one currency: its lines share the first product's
        first = random.choice(self.products)
        same = [p for p in self.products if p.get("currency") == first.get("currency") and p["id"] != first["id"]]
        picked = [first, *random.sample(same, k=min(1, len(same)))]
        lines = [{"product_id": p["id"], "quantity": random.randint(1, 3)} for p in picked]
        with self.client.post("/api/orders", json={"lines": lines, "payment_method_id": self.payment_method},
                              headers={**self._auth(), "Idempotency-Key": uuid.uuid4().hex}, name="/api/orders",
                              catch_response=True) as resp:
            if resp.status_code not in (200, 201):
                resp.failure(f"order refused with {resp.status_code}: {_problem(resp)}")
                return
            order_id = resp.json()["id"]
        self.client.get(f"/api/orders/{order_id}", headers=self._auth(), name="/api/orders/{id}")

    def pay(self) -> None:
        self.add_card()
        if self.token is not None:
            self.client.get("/api/payments", headers=self._auth(), name="/api/payments")
            self.client.get("/api/notifications", headers=self._auth(), name="/api/notifications")


def shopper_class(weights: dict[str, int]) -> type[Shopper]:
    """A concrete Shopper whose journeys carry the given weights."""
    journeys = {Shopper.browse: weights["browse"], Shopper.sign_up: weights["signup"],
                Shopper.order: weights["order"], Shopper.pay: weights["pay"]}
    return type("WeightedShopper", (Shopper,), {
        "abstract": False,
        "tasks": {task_fn: w for task_fn, w in journeys.items() if w > 0},
    })


def run(config: dict[str, Any]) -> dict[str, Any]:
    """Run the journeys for config["duration_s"] seconds with at most config["users"] shoppers."""
    env = Environment(user_classes=[shopper_class(config["weights"])], host=config["base_url"].rstrip("/"))
    runner = env.create_local_runner()
    runner.start(config["users"], spawn_rate=config["spawn_rate"])
    gevent.spawn_later(config["duration_s"], runner.quit)
    runner.greenlet.join()
    total = env.stats.total
    return {
        "requests": total.num_requests,
        "failures": total.num_failures,
        "rps": round(total.total_rps, 3),
        "endpoints": [
            {
                "name": s.name, "method": s.method, "requests": s.num_requests, "failures": s.num_failures,
                "median_ms": float(s.get_response_time_percentile(0.5) or 0),
                "p95_ms": float(s.get_response_time_percentile(0.95) or 0),
                "rps": round(s.total_rps, 3),
            }
            for s in sorted(env.stats.entries.values(), key=lambda s: (s.name, s.method))
        ],
        "errors": [f"{e.method} {e.name}: {e.error} (x{e.occurrences})" for e in env.stats.errors.values()],
    }


if __name__ == "__main__":
    json.dump(run(json.loads(sys.argv[1])), sys.stdout)
