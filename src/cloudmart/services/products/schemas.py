"""product-service request/response models (pydantic v2)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationInfo, field_validator

# ISO 4217 active codes (funds and precious metals excluded), and the minor-unit exponents that
# are not 2. Prices are stored as integers in the currency's minor unit.
ISO_4217 = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP
    BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP
    GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR
    KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK
    MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR
    SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS
    UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWG
    """.split()
)
MINOR_UNIT_EXPONENT = {
    **dict.fromkeys("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split(), 0),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
}

MAX_PRICE_MINOR = 10**12


def format_price(price_minor: int, currency: str) -> str:
    """Decimal rendering of a minor-unit amount: (1999, USD) -> "19.99", (1500, KRW) -> "1500"."""
    exp = MINOR_UNIT_EXPONENT.get(currency, 2)
    if exp == 0:
        return str(price_minor)
    whole, frac = divmod(price_minor, 10**exp)
    return f"{whole}.{frac:0{exp}d}"


def _currency(value: str) -> str:
    code = value.strip().upper()
    if code not in ISO_4217:
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return code


Slug = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")]
Sku = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
PriceMinor = Annotated[StrictInt, Field(ge=0, le=MAX_PRICE_MINOR)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CategoryCreate(_In):
    slug: Slug
    name: Annotated[str, Field(min_length=1, max_length=120)]
    description: Annotated[str, Field(max_length=2000)] = ""


class CategoryUpdate(_In):
    name: Annotated[str, Field(min_length=1, max_length=120)] | None = None
    description: Annotated[str, Field(max_length=2000)] | None = None


class CategoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    slug: str
    name: str
    description: str


class ProductCreate(_In):
    sku: Sku
    name: Name
    description: Annotated[str, Field(max_length=5000)] = ""
    category_id: Annotated[StrictInt, Field(ge=1)] | None = None
    price_minor: PriceMinor
    currency: Annotated[str, Field(min_length=3, max_length=3)]
    initial_stock: Annotated[StrictInt, Field(ge=0, le=10**9)] = 0
    active: bool = True

    @field_validator("currency")
    @classmethod
    def _currency_code(cls, v: str) -> str:
        return _currency(v)

    @field_validator("sku")
    @classmethod
    def _sku(cls, v: str) -> str:
        return v.upper()


class ProductUpdate(_In):
    sku: Sku | None = None
    name: Name | None = None
    description: Annotated[str, Field(max_length=5000)] | None = None
    category_id: Annotated[StrictInt, Field(ge=1)] | None = None
    price_minor: PriceMinor | None = None
    currency: Annotated[str, Field(min_length=3, max_length=3)] | None = None
    active: bool | None = None

    @field_validator("currency")
    @classmethod
    def _currency_code(cls, v: str | None) -> str | None:
        return None if v is None else _currency(v)

    @field_validator("sku")
    @classmethod
    def _sku(cls, v: str | None) -> str | None:
        return None if v is None else v.upper()


class ProductOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    sku: str
    name: str
    description: str
    category_id: int | None
    price_minor: int
    currency: str
    price: str  # decimal rendering of price_minor in the currency's minor unit
    active: bool
    created_at: datetime
    updated_at: datetime


class ProductPage(BaseModel):
    items: list[ProductOut]
    total: int
    limit: int
    offset: int


SortKey = Literal["name", "-name", "price", "-price", "created", "-created", "id", "-id"]


class ProductQuery(_In):
    """Search, filter and pagination of the public catalog (query parameters)."""

    q: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    category: Slug | None = None
    min_price: Annotated[int, Field(ge=0, le=MAX_PRICE_MINOR)] | None = None
    max_price: Annotated[int, Field(ge=0, le=MAX_PRICE_MINOR)] | None = None
    # Validated even when absent: a price range needs it (minor units of different currencies
    # are not comparable), and price sorting orders within each currency.
    currency: Annotated[str | None, Field(min_length=3, max_length=3, validate_default=True)] = None
    sort: SortKey = "id"
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    offset: Annotated[int, Field(ge=0, le=100_000)] = 0

    @field_validator("currency")
    @classmethod
    def _currency_code(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            if info.data.get("min_price") is not None or info.data.get("max_price") is not None:
                raise ValueError("currency is required with min_price/max_price")
            return None
        return _currency(v)

    @field_validator("max_price")
    @classmethod
    def _range(cls, v: int | None, info: ValidationInfo) -> int | None:
        low = info.data.get("min_price")
        if v is not None and low is not None and v < low:
            raise ValueError(f"max_price ({v}) is below min_price ({low})")
        return v


class StockOut(BaseModel):
    product_id: int
    on_hand: int
    reserved: int
    available: int


class StockUpdate(_In):
    on_hand: Annotated[StrictInt, Field(ge=0, le=10**9)]


class QuoteRequest(_In):
    product_ids: Annotated[list[Annotated[StrictInt, Field(ge=1)]], Field(min_length=1, max_length=100)]


class QuoteItem(BaseModel):
    product_id: int
    sku: str
    name: str
    price_minor: int
    currency: str
    available: int


class QuoteResponse(BaseModel):
    """Authoritative prices read from the database (never from the cache), for order-service."""

    items: list[QuoteItem]
    missing: list[int]  # ids that do not exist or are not for sale


class ReservationLineOut(BaseModel):
    product_id: int
    quantity: int


class ReservationOut(BaseModel):
    order_id: str
    status: str
    reason: str | None
    lines: list[ReservationLineOut]
