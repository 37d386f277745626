"""The built-in sandbox card provider, following well-known test-card behaviour.

Tokenizing checks the number (digits, length, Luhn) and expiry and returns a provider reference;
the number itself is never stored. Test cards: 4242 4242 4242 4242 succeeds, 4000 0000 0000 0002
is declined (`card_declined`), 4000 0000 0000 9995 fails with `insufficient_funds`; any other
valid number succeeds. Charges and refunds are idempotent per key and recorded in the ledger.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudmart.services.payments.models import provider_ledger

SUCCEEDED = "succeeded"
DECLINED = "card_declined"
INSUFFICIENT = "insufficient_funds"

TEST_CARD_OUTCOMES = {
    "4000000000000002": DECLINED,
    "4000000000009995": INSUFFICIENT,
}
_REF_OUTCOME = {"ok": SUCCEEDED, "declined": DECLINED, "nsf": INSUFFICIENT}
_OUTCOME_REF = {v: k for k, v in _REF_OUTCOME.items()}
MESSAGES = {
    DECLINED: "the card was declined",
    INSUFFICIENT: "the card has insufficient funds",
    "unknown_card": "the card is not known to the provider",
}


class CardError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def luhn_valid(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def brand_of(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"34", "37"}:
        return "amex"
    if 51 <= int(number[:2]) <= 55 or 2221 <= int(number[:4]) <= 2720:
        return "mastercard"
    if number.startswith(("6011", "65")) or 644 <= int(number[:3]) <= 649:
        return "discover"
    return "unknown"


@dataclass(frozen=True)
class CardToken:
    ref: str
    brand: str
    last4: str


@dataclass(frozen=True)
class ChargeResult:
    id: str
    outcome: str

    @property
    def succeeded(self) -> bool:
        return self.outcome == SUCCEEDED

    @property
    def message(self) -> str:
        return MESSAGES.get(self.outcome, self.outcome)


class SandboxProvider:
    def tokenize(self, number: str, exp_month: int, exp_year: int, cvc: str, *, today: datetime | None = None) -> CardToken:
        digits = number.replace(" ", "").replace("-", "")
        if not digits.isdigit() or not 12 <= len(digits) <= 19:
            raise CardError("number", "a card number has 12 to 19 digits")
        if not luhn_valid(digits):
            raise CardError("number", "the card number fails the Luhn check")
        if not cvc.isdigit() or len(cvc) not in (3, 4):
            raise CardError("cvc", "the CVC has 3 or 4 digits")
        today = today or datetime.now(UTC)
        if (exp_year, exp_month) < (today.year, today.month):
            raise CardError("exp_year", f"the card expired in {exp_month:02d}/{exp_year}")
        behaviour = _OUTCOME_REF[TEST_CARD_OUTCOMES.get(digits, SUCCEEDED)]
        return CardToken(f"tok_{behaviour}_{secrets.token_hex(8)}", brand_of(digits), digits[-4:])

    async def _replay(self, session: AsyncSession, key: str) -> ChargeResult | None:
        row = (
            await session.execute(select(provider_ledger).where(provider_ledger.c.idempotency_key == key))
        ).first()
        return None if row is None else ChargeResult(row.id, row.outcome)

    async def charge(
        self, session: AsyncSession, ref: str, amount_minor: int, currency: str, idempotency_key: str
    ) -> ChargeResult:
        previous = await self._replay(session, idempotency_key)
        if previous is not None:
            return previous
        parts = ref.split("_")
        outcome = _REF_OUTCOME.get(parts[1], "unknown_card") if len(parts) == 3 and parts[0] == "tok" else "unknown_card"
        result = ChargeResult(f"ch_{secrets.token_hex(12)}", outcome)
        await self._record(session, result, "charge", ref, amount_minor, currency, idempotency_key)
        return result

    async def refund(
        self, session: AsyncSession, charge_id: str, amount_minor: int, currency: str, idempotency_key: str
    ) -> ChargeResult:
        previous = await self._replay(session, idempotency_key)
        if previous is not None:
            return previous
        result = ChargeResult(f"re_{secrets.token_hex(12)}", SUCCEEDED)
        await self._record(session, result, "refund", charge_id, amount_minor, currency, idempotency_key)
        return result

    async def _record(self, session, result, kind, ref, amount_minor, currency, key) -> None:
        await session.execute(
            insert(provider_ledger).values(
                id=result.id, idempotency_key=key, kind=kind, provider_ref=ref, amount_minor=amount_minor,
                currency=currency, outcome=result.outcome, created_at=datetime.now(UTC),
            )
        )
