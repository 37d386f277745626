"""The sandbox card provider: Luhn, brands, test-card outcomes, idempotent charges and refunds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from cloudmart.core.config import Settings
from cloudmart.core.db import Database
from cloudmart.services.payments.models import metadata, provider_ledger
from cloudmart.services.payments.sandbox import (
    DECLINED,
    INSUFFICIENT,
    SUCCEEDED,
    CardError,
    SandboxProvider,
    brand_of,
    luhn_valid,
)


@pytest.mark.parametrize(
    ("number", "valid"),
    [("4242424242424242", True), ("4000000000000002", True), ("4000000000009995", True),
     ("5555555555554444", True), ("378282246310005", True), ("4242424242424241", False), ("1234567812345678", False)],
)
def test_luhn(number, valid):
    assert luhn_valid(number) is valid


@pytest.mark.parametrize(
    ("number", "brand"),
    [("4242424242424242", "visa"), ("5555555555554444", "mastercard"), ("2223003122003222", "mastercard"),
     ("378282246310005", "amex"), ("6011111111111117", "discover"), ("3056930009020004", "unknown")],
)
def test_brand(number, brand):
    assert brand_of(number) == brand


def test_tokenize_keeps_no_number_and_checks_expiry():
    provider = SandboxProvider()
    token = provider.tokenize("4242 4242 4242 4242", 12, 2099, "123")
    assert (token.brand, token.last4) == ("visa", "4242") and "4242424242424242" not in token.ref
    today = datetime(2030, 6, 15, tzinfo=UTC)
    assert provider.tokenize("4242424242424242", 6, 2030, "123", today=today).last4 == "4242"  # this month is fine
    with pytest.raises(CardError) as err:
        provider.tokenize("4242424242424242", 5, 2030, "123", today=today)
    assert err.value.field == "exp_year" and "05/2030" in err.value.message


@pytest.fixture
async def session(tmp_path):
    db = Database(Settings(CLOUDMART_DATA_DIR=str(tmp_path)).sqlite_url("payments"), "payments")
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    async with db.transaction() as s:
        yield s
    await db.dispose()


@pytest.mark.parametrize(
    ("number", "outcome"),
    [("4242424242424242", SUCCEEDED), ("4000000000000002", DECLINED), ("4000000000009995", INSUFFICIENT),
     ("5555555555554444", SUCCEEDED)],
)
async def test_test_card_outcomes(session, number, outcome):
    provider = SandboxProvider()
    ref = provider.tokenize(number, 1, 2099, "123").ref
    result = await provider.charge(session, ref, 1000, "EUR", "charge:o-1")
    assert result.outcome == outcome and result.succeeded is (outcome == SUCCEEDED)


async def test_charges_and_refunds_are_idempotent_per_key(session):
    provider = SandboxProvider()
    ref = provider.tokenize("4242424242424242", 1, 2099, "123").ref
    first = await provider.charge(session, ref, 1000, "EUR", "charge:o-2")
    again = await provider.charge(session, ref, 1000, "EUR", "charge:o-2")
    assert first == again
    refund = await provider.refund(session, first.id, 1000, "EUR", "refund:o-2")
    assert refund == await provider.refund(session, first.id, 1000, "EUR", "refund:o-2")
    count = (await session.execute(select(func.count()).select_from(provider_ledger))).scalar_one()
    assert count == 2


async def test_an_unknown_provider_reference_is_not_charged(session):
    result = await SandboxProvider().charge(session, "pm_forged", 1000, "EUR", "charge:o-3")
    assert not result.succeeded and result.outcome == "unknown_card"
    assert result.message == "the card is not known to the provider"

