"""order-service request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

MAX_QUANTITY = 1000


class OrderLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: Annotated[StrictInt, Field(ge=1, description="id of a product in the catalog")]
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY, description="units, 1..1000")]


class OrderCreate(BaseModel):
    """Prices are never taken from the client: they come from product-service."""

    model_config = ConfigDict(extra="forbid")

    lines: Annotated[list[OrderLineIn], Field(min_length=1, max_length=50)]
    payment_method_id: Annotated[str, Field(pattern=r"^pm_[A-Za-z0-9]{8,60}$", description="from POST /api/payments/methods")]

    @field_validator("lines")
    @classmethod
    def _one_line_per_product(cls, lines: list[OrderLineIn]) -> list[OrderLineIn]:
        seen: set[int] = set()
        for line in lines:
            if line.product_id in seen:
                raise ValueError(f"product {line.product_id} appears twice; give one line per product")
            seen.add(line.product_id)
        return lines


class OrderLineOut(BaseModel):
    product_id: int
    sku: str
    name: str
    quantity: int
    unit_price_minor: int
    line_total_minor: int


class OrderOut(BaseModel):
    id: str
    user_id: str
    status: str
    currency: str
    total_minor: int
    payment_method_id: str
    reason: str | None
    refunded: bool
    created_at: datetime
    updated_at: datetime
    paid_at: datetime | None
    cancelled_at: datetime | None
    lines: list[OrderLineOut]


class OrderPage(BaseModel):
    items: list[OrderOut]
    total: int
    limit: int
    offset: int
