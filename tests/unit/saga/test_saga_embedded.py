"""The whole order saga in embedded mode (SQLite files, in-process bus), through the HTTP API."""

from __future__ import annotations

import asyncio

import pytest

from fixtures.saga import DECLINE_CARD, NSF_CARD, SUCCESS_CARD, mart_settings, running_mart


@pytest.fixture
async def mart(tmp_path):
    async with running_mart(mart_settings(tmp_path)) as m:
        yield m


async def _feed(mart, shopper, expect: int = 1):
    """The shopper's feed once it has `expect` items (consumers of other groups may lag)."""
    for _ in range(400):
        r = await mart.client.get("/api/notifications", headers=shopper.headers)
        assert r.status_code == 200, r.text
        if len(r.json()["items"]) >= expect:
            break
        await asyncio.sleep(0.05)
    return r.json()


async def test_paying_with_the_success_card_makes_the_order_paid_and_notified(mart):
    shopper = await mart.shopper(SUCCESS_CARD)
    p1, p2 = await mart.product(1250, stock=10), await mart.product(300, stock=5)
    r = await mart.order(shopper, [(p1, 2), (p2, 1)])
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["status"] == "PENDING" and created["total_minor"] == 2 * 1250 + 300
    assert r.headers["location"] == f"/api/orders/{created['id']}"
    order = await mart.wait_final(shopper, created["id"])
    assert order["status"] == "PAID" and order["paid_at"] is not None
    want = {"product_id": p1, "on_hand": 8, "reserved": 0, "available": 8}
    assert await mart.settled_stock(p1, want) == want
    pay = (await mart.client.get(f"/api/payments/orders/{created['id']}", headers=shopper.headers)).json()
    assert pay["status"] == "succeeded" and pay["amount_minor"] == 2800 and pay["charge_id"].startswith("ch_")
    feed = await _feed(mart, shopper)
    assert [n["kind"] for n in feed["items"]] == ["order_paid"] and feed["unread"] == 1


async def test_prices_come_from_the_catalog_not_the_client(mart):
    shopper = await mart.shopper(SUCCESS_CARD)
    p = await mart.product(999)
    body = {"lines": [{"product_id": p, "quantity": 1, "unit_price_minor": 1}],
            "payment_method_id": shopper.methods[SUCCESS_CARD]}
    r = await mart.client.post("/api/orders", json=body, headers=shopper.headers)
    assert r.status_code == 422 and "unit_price_minor" in r.text
    r = await mart.order(shopper, [(p, 3)])
    assert r.json()["lines"][0]["unit_price_minor"] == 999 and r.json()["total_minor"] == 2997


@pytest.mark.parametrize(
    ("card", "code_text"),
    [(DECLINE_CARD, "the card was declined"), (NSF_CARD, "insufficient funds")],
)
async def test_a_failed_payment_cancels_the_order_and_releases_stock(mart, card, code_text):
    shopper = await mart.shopper(card)
    p = await mart.product(500, stock=4)
    r = await mart.order(shopper, [(p, 3)], card=card)
    order = await mart.wait_final(shopper, r.json()["id"])
    assert order["status"] == "CANCELLED"
    assert order["reason"].startswith("payment failed") and code_text in order["reason"]
    want = {"product_id": p, "on_hand": 4, "reserved": 0, "available": 4}
    assert await mart.settled_stock(p, want) == want
    feed = await _feed(mart, shopper)
    assert [n["kind"] for n in feed["items"]] == ["order_cancelled"]


async def test_more_than_in_stock_cancels_with_a_reason(mart):
    shopper = await mart.shopper(SUCCESS_CARD)
    p = await mart.product(100, stock=2)
    order = await mart.wait_final(shopper, (await mart.order(shopper, [(p, 3)])).json()["id"])
    assert order["status"] == "CANCELLED"
    assert order["reason"] == f"out of stock: product {p}: 3 requested, 2 available"
    pay = await mart.client.get(f"/api/payments/orders/{order['id']}", headers=shopper.headers)
    assert pay.json()["status"] == "voided"  # never charged


async def test_unknown_product_is_a_422_naming_it(mart):
    shopper = await mart.shopper(SUCCESS_CARD)
    r = await mart.order(shopper, [(987654, 1)])
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "987654" in r.json()["detail"]
    assert (await mart.client.get("/api/orders", headers=shopper.headers)).json()["total"] == 0


@pytest.mark.parametrize("quantity", [0, -2, 1001])
async def test_bad_quantities_are_422_naming_the_field(mart, quantity):
    shopper = await mart.shopper(SUCCESS_CARD)
    p = await mart.product()
    r = await mart.order(shopper, [(p, quantity)])
    assert r.status_code == 422
    assert any(e["field"] == "lines.0.quantity" for e in r.json()["errors"])


async def test_other_bad_order_bodies_are_422(mart):
    shopper = await mart.shopper(SUCCESS_CARD)
    p = await mart.product()
    cases = [
        ({"lines": [], "payment_method_id": shopper.methods[SUCCESS_CARD]}, "lines"),
        ({"lines": [{"product_id": p, "quantity": 1}], "payment_method_id": "card_123"}, "payment_method_id"),
        ({"lines": [{"product_id": p, "quantity": 1}, {"product_id": p, "quantity": 2}],
          "payment_method_id": shopper.methods[SUCCESS_CARD]}, "appears twice"),
    ]
    for body, needle in cases:
        r = await mart.client.post("/api/orders", json=body, headers=shopper.headers)
        assert r.status_code == 422 and needle in r.text, r.text


async def test_idempotency_key_replay_returns_the_same_order(mart):
    shopper = await mart.shopper(SUCCESS_CARD)
    p = await mart.product(700, stock=10)
    first = await mart.order(shopper, [(p, 2)], key="checkout-42")
    again = await mart.order(shopper, [(p, 2)], key="checkout-42")
    assert first.status_code == 201 and again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    other = await mart.order(shopper, [(p, 3)], key="checkout-42")
    assert other.status_code == 422 and "different request body" in other.json()["detail"]
    await mart.wait_final(shopper, first.json()["id"])
    listing = (await mart.client.get("/api/orders", headers=shopper.headers)).json()
    assert listing["total"] == 1
    want = {"product_id": p, "on_hand": 8, "reserved": 0, "available": 8}
    assert await mart.settled_stock(p, want) == want
    # The key is per customer: someone else may use the same key for their own order.
    stranger = await mart.shopper(SUCCESS_CARD)
    theirs = await mart.order(stranger, [(p, 1)], key="checkout-42")
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]


async def test_bad_idempotency_key_is_422(mart):
    shopper = await mart.shopper(SUCCESS_CARD)
    p = await mart.product()
    r = await mart.order(shopper, [(p, 1)], key="has spaces!")
    assert r.status_code == 422 and "Idempotency-Key" in r.text


async def test_cancel_after_payment_refunds_and_returns_stock(mart):
    shopper = await mart.shopper(SUCCESS_CARD)
    p = await mart.product(1500, stock=3)
    order_id = (await mart.order(shopper, [(p, 1)])).json()["id"]
    assert (await mart.wait_final(shopper, order_id))["status"] == "PAID"
    r = await mart.client.post(f"/api/orders/{order_id}/cancel", headers=shopper.headers)
    assert r.status_code == 200 and r.json()["status"] == "CANCELLED"
    assert "refunded" in r.json()["reason"]
    for _ in range(200):
        order = (await mart.client.get(f"/api/orders/{order_id}", headers=shopper.headers)).json()
        if order["refunded"]:
            break
        await asyncio.sleep(0.05)
    assert order["refunded"] is True
    pay = (await mart.client.get(f"/api/payments/orders/{order_id}", headers=shopper.headers)).json()
    assert pay["status"] == "refunded" and pay["refund_id"].startswith("re_")
    assert (await mart.settled_stock(p, {"on_hand": 3}))["on_hand"] == 3
    kinds = sorted(n["kind"] for n in (await _feed(mart, shopper, expect=3))["items"])
    assert kinds == ["order_cancelled", "order_paid", "payment_refunded"]
    again = await mart.client.post(f"/api/orders/{order_id}/cancel", headers=shopper.headers)
    assert again.status_code == 409


async def test_orders_are_private_to_their_owner(mart):
    owner = await mart.shopper(SUCCESS_CARD)
    p = await mart.product()
    order_id = (await mart.order(owner, [(p, 1)])).json()["id"]
    stranger = await mart.shopper()
    assert (await mart.client.get(f"/api/orders/{order_id}", headers=stranger.headers)).status_code == 404
    assert (await mart.client.post(f"/api/orders/{order_id}/cancel", headers=stranger.headers)).status_code == 404
    assert (await mart.client.get("/api/orders", headers=stranger.headers)).json()["total"] == 0
    assert (await mart.client.get(f"/api/orders/{order_id}")).status_code == 401
    assert (await mart.client.get("/api/orders/does-not-exist", headers=owner.headers)).status_code == 404


async def test_paying_with_someone_elses_payment_method_fails_the_order(mart):
    owner = await mart.shopper(SUCCESS_CARD)
    thief = await mart.shopper()
    thief.methods[SUCCESS_CARD] = owner.methods[SUCCESS_CARD]
    p = await mart.product()
    order = await mart.wait_final(thief, (await mart.order(thief, [(p, 1)])).json()["id"])
    assert order["status"] == "CANCELLED" and "not one of the customer's" in order["reason"]


@pytest.mark.parametrize(
    ("card", "field", "text"),
    [
        ({"number": "4242424242424241", "exp_month": 1, "exp_year": 2099, "cvc": "123"}, "number", "Luhn"),
        ({"number": "4242-abcd-efgh-12", "exp_month": 1, "exp_year": 2099, "cvc": "123"}, "number", "digits"),
        ({"number": "4242424242424242", "exp_month": 1, "exp_year": 2001, "cvc": "123"}, "exp_year", "expired"),
        ({"number": "4242424242424242", "exp_month": 13, "exp_year": 2099, "cvc": "123"}, "exp_month", "12"),
        ({"number": "4242424242424242", "exp_month": 1, "exp_year": 2099, "cvc": "12a"}, "cvc", "3 or 4"),
    ],
)
async def test_bad_cards_are_422_naming_the_field(mart, card, field, text):
    shopper = await mart.shopper()
    r = await mart.client.post("/api/payments/methods", json=card, headers=shopper.headers)
    assert r.status_code == 422, r.text
    assert any(e["field"] == field for e in r.json()["errors"]) and text in r.text


async def test_tokenization_keeps_only_brand_and_last4(mart):
    shopper = await mart.shopper(SUCCESS_CARD)
    methods = (await mart.client.get("/api/payments/methods", headers=shopper.headers)).json()
    assert len(methods) == 1
    assert methods[0]["brand"] == "visa" and methods[0]["last4"] == "4242" and methods[0]["id"].startswith("pm_")
    from sqlalchemy import select

    from cloudmart.services.payments.models import payment_methods

    async with mart.ctx("payments").db.transaction() as s:
        row = (await s.execute(select(payment_methods))).one()
    assert SUCCESS_CARD not in " ".join(str(v) for v in row)


async def test_cancel_before_payment_releases_the_reservation(tmp_path):
    # Without payment-service the saga stops at RESERVED: the customer cancels while it waits.
    async with running_mart(mart_settings(tmp_path), services=["users", "products", "orders", "notifications"]) as m:
        shopper = await m.shopper()
        shopper.methods[SUCCESS_CARD] = "pm_0123456789abcdef"
        p = await m.product(400, stock=6)
        order_id = (await m.order(shopper, [(p, 4)])).json()["id"]
        order = await m.wait_final(shopper, order_id, states=("RESERVED",))
        assert order["status"] == "RESERVED"
        assert (await m.settled_stock(p, {"reserved": 4}))["available"] == 2
        r = await m.client.post(f"/api/orders/{order_id}/cancel", headers=shopper.headers)
        assert r.status_code == 200 and r.json()["reason"] == "cancelled by the customer"
        want = {"product_id": p, "on_hand": 6, "reserved": 0, "available": 6}
        assert await m.settled_stock(p, want) == want
        for _ in range(200):  # the notification consumer is a separate group: it may lag a little
            feed = (await m.client.get("/api/notifications", headers=shopper.headers)).json()
            if feed["items"]:
                break
            await asyncio.sleep(0.05)
        assert [n["kind"] for n in feed["items"]] == ["order_cancelled"]
