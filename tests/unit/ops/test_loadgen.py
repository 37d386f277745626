"""`cloudmart loadgen` against a tiny shop on 127.0.0.1: the journeys hit the real API paths with
the right bodies and headers, users and duration are bounded, bad input is a usage error.
The command runs in a subprocess: locust monkey-patches the process it is imported in."""

import json
import re
import subprocess
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

PRODUCTS = [{"id": i, "sku": f"SKU-{i}", "name": f"Item {i}", "active": True, "currency": cur}
            for i, cur in ((1, "USD"), (2, "USD"), (3, "KRW"), (4, "EUR"))]
CURRENCY = {p["id"]: p["currency"] for p in PRODUCTS}


class TinyShop:
    """Just enough of CloudMart's API for the journeys; counts requests by route template."""

    def __init__(self, fail_catalog: bool = False):
        self.hits: Counter = Counter()
        self.orders: list[dict] = []
        self.lock = threading.Lock()
        shop = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status, body=None):
                data = json.dumps(body if body is not None else {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _route(self):
                path = self.path.split("?")[0]
                return re.sub(r"/(\d+|ord_\w+)$", "/{id}", path)

            def _body(self):
                length = int(self.headers.get("Content-Length", 0))
                return json.loads(self.rfile.read(length) or b"{}")

            def _authed(self):
                return self.headers.get("Authorization") == "Bearer tok-123"

            def do_GET(self):  # noqa: N802
                route = self._route()
                with shop.lock:
                    shop.hits["GET " + route] += 1
                if route == "/api/products":
                    return self._send(500 if fail_catalog else 200, {"items": PRODUCTS, "total": 3, "limit": 20, "offset": 0})
                if route in ("/api/products/{id}", "/api/products/categories"):
                    return self._send(200, {})
                if route in ("/api/orders/{id}", "/api/payments", "/api/notifications"):
                    return self._send(200 if self._authed() else 401, [])
                return self._send(404)

            def do_POST(self):  # noqa: N802
                route = self._route()
                body = self._body()
                with shop.lock:
                    shop.hits["POST " + route] += 1
                if route == "/api/users/signup":
                    ok = body["email"].endswith("@loadgen.example.com") and len(body["password"]) >= 10
                    return self._send(201 if ok else 422, {"id": "u1"})
                if route == "/api/users/login":
                    return self._send(200, {"access_token": "tok-123", "token_type": "Bearer"})
                if route == "/api/payments/methods":
                    ok = self._authed() and body["number"] == "4242424242424242"
                    return self._send(201 if ok else 401, {"id": "pm_abcdefgh12"})
                if route == "/api/orders":
                    ok = self._authed() and self.headers.get("Idempotency-Key") and body["payment_method_id"] == "pm_abcdefgh12"
                    if len({CURRENCY[line["product_id"]] for line in body["lines"]}) > 1:
                        return self._send(422, {"title": "Unprocessable", "detail": "an order is paid in one currency"})
                    with shop.lock:
                        shop.orders.append(body)
                    return self._send(201 if ok else 400, {"id": "ord_1"})
                return self._send(404)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def shop():
    s = TinyShop()
    yield s
    s.close()


def loadgen(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "cloudmart.cli", "loadgen", *args],
                          capture_output=True, text=True, timeout=timeout)


def test_mixed_journeys_report_what_the_shop_served(shop):
    result = loadgen(shop.url, "--users", "4", "--spawn-rate", "4", "--duration", "4", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["users"] == 4 and report["duration_s"] == 4
    served = sum(shop.hits.values())
    assert 0 < report["requests"] <= served
    assert report["failures"] == 0, report["errors"]
    names = {e["name"] for e in report["endpoints"]}
    assert "/api/products" in names
    assert names <= {"/api/products", "/api/products/{id}", "/api/products/categories", "/api/users/signup",
                     "/api/users/login", "/api/payments/methods", "/api/orders", "/api/orders/{id}",
                     "/api/payments", "/api/notifications"}


def test_order_journey_signs_up_adds_a_card_and_orders_idempotently(shop):
    result = loadgen(shop.url, "--users", "2", "--spawn-rate", "2", "--duration", "3",
                     "--browse", "0", "--signup", "0", "--order", "1", "--pay", "0", "--json")
    assert result.returncode == 0, result.stderr
    assert shop.hits["POST /api/users/signup"] >= 1
    assert shop.hits["POST /api/users/login"] >= 1
    assert shop.hits["POST /api/payments/methods"] >= 1
    assert shop.hits["POST /api/orders"] >= 1
    assert shop.hits["GET /api/orders/{id}"] >= 1
    assert shop.hits["GET /api/products"] >= 1  # the catalog is read to pick the lines
    assert all(1 <= line["quantity"] <= 3 and line["product_id"] in CURRENCY for o in shop.orders for line in o["lines"])
    assert json.loads(result.stdout)["failures"] == 0


def test_failing_catalog_is_counted_as_failures():
    failing = TinyShop(fail_catalog=True)
    try:
        result = loadgen(failing.url, "--users", "2", "--spawn-rate", "2", "--duration", "2",
                         "--signup", "0", "--order", "0", "--pay", "0", "--json")
    finally:
        failing.close()
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["failures"] >= 1
    assert any("catalog answered 500" in e for e in report["errors"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ftp://127.0.0.1:1"], "must start with http:// or https://"),
        (["http://127.0.0.1:1", "--users", "0"], "users must be between 1 and 500"),
        (["http://127.0.0.1:1", "--users", "501"], "users must be between 1 and 500"),
        (["http://127.0.0.1:1", "--duration", "0"], "duration must be between 1s and 3600s"),
        (["http://127.0.0.1:1", "--duration", "7200"], "duration must be between 1s and 3600s"),
        (["http://127.0.0.1:1", "--browse", "0", "--signup", "0", "--order", "0", "--pay", "0"],
         "at least one journey needs a positive weight"),
        (["http://127.0.0.1:1", "--order", "-1"], "weight order must be >= 0"),
    ],
)
def test_bad_input_is_a_usage_error(args, message):
    result = loadgen(*args)
    assert result.returncode == 2
    assert message in result.stderr
