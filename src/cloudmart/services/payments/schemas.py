"""payment-service request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt


class PaymentMethodCreate(BaseModel):
    """A card to tokenize. The number is checked and handed to the provider, never stored."""

    model_config = ConfigDict(extra="forbid")

    number: Annotated[str, Field(min_length=12, max_length=23, examples=["4242424242424242"])]
    exp_month: Annotated[StrictInt, Field(ge=1, le=12)]
    exp_year: Annotated[StrictInt, Field(ge=2000, le=2100)]
    cvc: Annotated[str, Field(min_length=3, max_length=4)]


class PaymentMethodOut(BaseModel):
    id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    created_at: datetime


class PaymentOut(BaseModel):
    order_id: str
    user_id: str
    payment_method_id: str | None
    amount_minor: int
    currency: str
    status: str
    charge_id: str | None
    refund_id: str | None
    failure_code: str | None
    failure_message: str | None
    created_at: datetime
    updated_at: datetime
