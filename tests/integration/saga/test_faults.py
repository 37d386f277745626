"""Fault tests of the saga against the real broker and database (PostgreSQL + Kafka):
the broker stops while 200 orders are placed; a consumer process is killed mid-batch; the
database is down when an order is created."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from cloudmart.core.db import Database
from cloudmart.services.notifications.models import notifications
from cloudmart.services.orders.models import orders, outbox
from cloudmart.services.payments.models import payments, provider_ledger
from fixtures.saga import DECLINE_CARD, SUCCESS_CARD, mart_settings, running_mart
from fixtures.servers import free_port, wait_for_port

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]


async def _rows(ctx, query):
    async with ctx.db.transaction() as s:
        return (await s.execute(query)).all()


async def _place(mart, shoppers, product_ids, n, *, concurrency=8, decline_every=10, on_progress=None):
    """Place n orders from several shoppers; every `decline_every`-th pays with the decline card."""
    placed: list[tuple[object, str]] = []
    queue = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def worker():
        while not queue.empty():
            i = queue.get_nowait()
            shopper = shoppers[i % len(shoppers)]
            card = DECLINE_CARD if i % decline_every == decline_every - 1 else SUCCESS_CARD
            r = await mart.order(shopper, [(product_ids[i % len(product_ids)], 1 + i % 2)], card=card, key=f"k-{i}")
            assert r.status_code == 201, r.text
            placed.append((shopper, r.json()["id"]))
            if on_progress is not None:
                await on_progress(len(placed))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return placed


async def _all_final(mart, expected: int, timeout: float) -> dict[str, str]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        rows = await _rows(mart.ctx("orders"), select(orders.c.id, orders.c.status))
        states = dict(rows)
        if len(states) == expected and all(s in ("PAID", "CANCELLED") for s in states.values()):
            return states
        if loop.time() > deadline:
            raise AssertionError(f"not final after {timeout}s: {Counter(states.values())}")
        await asyncio.sleep(0.25)


async def _check_invariants(mart, states: dict[str, str], payments_ctx=None) -> None:
    pctx = payments_ctx or mart.ctx("payments")
    charges = await _rows(
        pctx, select(provider_ledger.c.idempotency_key, provider_ledger.c.outcome).where(provider_ledger.c.kind == "charge")
    )
    per_order = Counter(key.removeprefix("charge:") for key, _ in charges)
    assert max(per_order.values()) == 1, "an order was charged twice"
    succeeded = {key.removeprefix("charge:") for key, outcome in charges if outcome == "succeeded"}
    paid = {oid for oid, s in states.items() if s == "PAID"}
    assert succeeded == paid  # every PAID order charged exactly once, nothing else charged
    pay_rows = dict(await _rows(pctx, select(payments.c.order_id, payments.c.status)))
    assert {o for o, s in pay_rows.items() if s == "succeeded"} == paid
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while True:  # the last order.paid / order.cancelled events may still be on their way
        feed = await _rows(
            mart.ctx("notifications"), select(notifications.c.user_id, notifications.c.order_id, notifications.c.kind)
        )
        if len(feed) >= len(states) or loop.time() > deadline:
            break
        await asyncio.sleep(0.25)
    seen = Counter(feed)
    assert max(seen.values()) == 1, "a notification was created twice"
    expected = {(oid, "order_paid" if s == "PAID" else "order_cancelled") for oid, s in states.items()}
    assert {(o, k) for _, o, k in feed} == expected  # each order notified once, with its outcome


async def test_kafka_stopped_while_200_orders_are_placed(own_kafka, postgres_url, tmp_path):
    settings = mart_settings(tmp_path, DATABASE_URL=postgres_url, KAFKA_BROKERS=own_kafka.bootstrap)
    async with running_mart(settings) as mart:
        await mart.app.runtime.events.bus.wait_connected(60)
        shoppers = [await mart.shopper(SUCCESS_CARD, DECLINE_CARD) for _ in range(5)]
        products = [await mart.product(1000 + i, stock=1000) for i in range(4)]
        broker_stopped = asyncio.Event()

        async def stop_broker_midway(count: int) -> None:
            if count == 60 and not broker_stopped.is_set():
                broker_stopped.set()
                await asyncio.to_thread(own_kafka.stop)

        placed = await _place(mart, shoppers, products, 200, on_progress=stop_broker_midway)
        assert broker_stopped.is_set() and len(placed) == 200
        pending = await _rows(mart.ctx("orders"), select(func.count()).where(outbox.c.published_at.is_(None)))
        assert pending[0][0] > 0  # events held in the outbox while the broker is away
        await asyncio.to_thread(own_kafka.start)
        states = await _all_final(mart, 200, timeout=150)
        assert Counter(states.values()) == {"PAID": 180, "CANCELLED": 20}
        await _check_invariants(mart, states)
        for pid in products:  # committed stock matches the paid orders
            stock = await mart.settled_stock(pid, {"reserved": 0})
            assert stock["reserved"] == 0 and stock["on_hand"] < 1000


async def test_payment_consumer_killed_mid_batch(own_kafka, postgres_url, tmp_path):
    settings = mart_settings(tmp_path, DATABASE_URL=postgres_url, KAFKA_BROKERS=own_kafka.bootstrap)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": postgres_url,
        "KAFKA_BROKERS": own_kafka.bootstrap,
        "JWT_KEYS_DIR": str(tmp_path / "keys"),
        "SERVICE_NAME": "payment-service",
        "CLOUDMART_DATA_DIR": str(tmp_path / "payments-data"),
        "CACHE_ENABLED": "false",
        "LOG_LEVEL": "warning",
    }

    def start_payments() -> subprocess.Popen:
        log = open(tmp_path / "payments.log", "ab")  # noqa: SIM115 (the process owns it)
        proc = subprocess.Popen(
            [sys.executable, "-m", "cloudmart.cli", "serve", "payments", "--port", str(port)],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )
        wait_for_port(port, timeout=60)
        return proc

    async with running_mart(settings, services=["users", "products", "orders", "notifications"]) as mart:
        await mart.app.runtime.events.bus.wait_connected(60)
        proc = await asyncio.to_thread(start_payments)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as pay:
                shoppers = []
                for _ in range(4):
                    shopper = await mart.shopper()
                    for card in (SUCCESS_CARD, DECLINE_CARD):
                        r = await pay.post("/api/payments/methods", headers=shopper.headers,
                                           json={"number": card, "exp_month": 12, "exp_year": 2099, "cvc": "123"})
                        assert r.status_code == 201, r.text
                        shopper.methods[card] = r.json()["id"]
                    shoppers.append(shopper)
            products = [await mart.product(500, stock=1000) for _ in range(3)]
            payments_db = Database(settings.postgres_url(), "payments")

            class _PaymentsCtx:
                db = payments_db

            placing = asyncio.create_task(_place(mart, shoppers, products, 120))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while True:  # kill it while it is working: orders are still being placed and charged
                charged = (await _rows(_PaymentsCtx, select(func.count()).select_from(payments)))[0][0]
                if charged >= 10 or loop.time() > deadline:
                    break
                await asyncio.sleep(0.01)
            assert 0 < charged < 120, f"wanted to kill mid-way, {charged} payments done"
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            await placing
            proc = await asyncio.to_thread(start_payments)
            states = await _all_final(mart, 120, timeout=120)
            assert Counter(states.values()) == {"PAID": 108, "CANCELLED": 12}
            await _check_invariants(mart, states, payments_ctx=_PaymentsCtx)
            await payments_db.dispose()
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


async def test_database_down_on_create_is_503_and_nothing_persisted(own_postgres, postgres_url, tmp_path):
    orders_db = own_postgres.url()
    settings = mart_settings(tmp_path, DATABASE_URL=postgres_url)
    async with running_mart(settings, databases={"orders": orders_db}) as mart:
        shopper = await mart.shopper(SUCCESS_CARD)
        p = await mart.product(800, stock=5)
        await asyncio.to_thread(own_postgres.stop)
        try:
            for key in ("retry-me", None):
                r = await mart.order(shopper, [(p, 2)], key=key)
                assert r.status_code == 503, r.text
                assert r.headers["retry-after"].isdigit()
                assert r.headers["content-type"].startswith("application/problem+json")
            ready = await mart.client.get("/ready")
            assert ready.status_code == 503
        finally:
            await asyncio.to_thread(own_postgres.start)
        assert await _rows(mart.ctx("orders"), select(orders.c.id)) == []
        assert await _rows(mart.ctx("orders"), select(outbox.c.seq)) == []
        assert (await mart.stock(p))["reserved"] == 0
        # The client's retry with the same key goes through once the database is back.
        r = await mart.order(shopper, [(p, 2)], key="retry-me")
        assert r.status_code == 201, r.text
        assert (await mart.wait_final(shopper, r.json()["id"]))["status"] == "PAID"
