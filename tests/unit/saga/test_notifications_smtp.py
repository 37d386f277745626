"""Notifications over a real SMTP server (aiosmtpd): delivered once, retried, then dead-lettered."""

from __future__ import annotations

import asyncio

from fixtures.saga import SUCCESS_CARD, mart_settings, running_mart


def _settings(tmp_path, smtp_server):
    return mart_settings(tmp_path, SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_server.port))


FAST_RETRIES = {"notifications": {"smtp_backoff_seconds": 0.05, "smtp_max_attempts": 3}}


async def _deliveries(mart, status=None):
    admin = await mart.shopper(roles=("admin",))
    params = {"status": status} if status else {}
    r = await mart.client.get("/api/notifications/deliveries", params=params, headers=admin.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def _until(predicate, timeout=20.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


async def test_a_paid_order_sends_one_confirmation_email(tmp_path, smtp_server):
    async with running_mart(_settings(tmp_path, smtp_server), extras=FAST_RETRIES) as mart:
        shopper = await mart.shopper(SUCCESS_CARD)
        p = await mart.product(2500)
        order_id = (await mart.order(shopper, [(p, 2)])).json()["id"]
        assert (await mart.wait_final(shopper, order_id))["status"] == "PAID"

        async def delivered():
            return len(smtp_server.mailbox.messages) >= 1

        await _until(delivered)
        await asyncio.sleep(0.5)  # nothing else arrives
        [message] = smtp_server.mailbox.messages
        assert message["To"] == shopper.email
        assert message["Subject"] == f"Order {order_id[:8]} is paid"
        assert "50.00 EUR" in message.get_payload() and order_id in message.get_payload()
        assert smtp_server.mailbox.envelopes[0][1] == [shopper.email]
        [delivery] = await _deliveries(mart)
        assert delivery["status"] == "sent" and delivery["attempts"] == 1


async def test_a_temporary_smtp_failure_is_retried(tmp_path, smtp_server):
    smtp_server.mailbox.fail_next = 2
    async with running_mart(_settings(tmp_path, smtp_server), extras=FAST_RETRIES) as mart:
        shopper = await mart.shopper(SUCCESS_CARD)
        order_id = (await mart.order(shopper, [(await mart.product(), 1)])).json()["id"]
        await mart.wait_final(shopper, order_id)

        async def sent():
            return [d["status"] for d in await _deliveries(mart)] == ["sent"]

        await _until(sent)
        [delivery] = await _deliveries(mart)
        assert delivery["attempts"] == 3 and "451" in delivery["last_error"]
        assert len(smtp_server.mailbox.messages) == 1


async def test_an_undeliverable_email_is_dead_lettered_and_the_feed_still_has_it(tmp_path, smtp_server):
    smtp_server.mailbox.fail_next = 1000
    async with running_mart(_settings(tmp_path, smtp_server), extras=FAST_RETRIES) as mart:
        shopper = await mart.shopper(SUCCESS_CARD)
        order_id = (await mart.order(shopper, [(await mart.product(), 1)])).json()["id"]
        await mart.wait_final(shopper, order_id)

        async def dead():
            return len(await _deliveries(mart, "dead")) == 1

        await _until(dead)
        [delivery] = await _deliveries(mart, "dead")
        assert delivery["attempts"] == 3 and delivery["recipient"] == shopper.email
        assert smtp_server.mailbox.messages == []
        feed = (await mart.client.get("/api/notifications", headers=shopper.headers)).json()
        assert [n["kind"] for n in feed["items"]] == ["order_paid"]
        r = await mart.client.post(f"/api/notifications/{feed['items'][0]['id']}/read", headers=shopper.headers)
        assert r.status_code == 200 and r.json()["read_at"] is not None
        assert (await mart.client.get("/api/notifications", headers=shopper.headers)).json()["unread"] == 0


async def test_deliveries_are_admin_only_and_feeds_private(tmp_path, smtp_server):
    async with running_mart(_settings(tmp_path, smtp_server)) as mart:
        shopper = await mart.shopper()
        assert (await mart.client.get("/api/notifications/deliveries", headers=shopper.headers)).status_code == 403
        assert (await mart.client.get("/api/notifications")).status_code == 401
        assert (await mart.client.post("/api/notifications/999/read", headers=shopper.headers)).status_code == 404
        bad = await mart.client.get("/api/notifications/deliveries", params={"status": "lost"}, headers=(await mart.shopper(roles=("admin",))).headers)
        assert bad.status_code == 422 and "status" in bad.text
