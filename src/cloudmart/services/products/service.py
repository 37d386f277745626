"""product-service logic: catalog CRUD, search, stock and order reservations.

Every function takes an AsyncSession (the caller owns the transaction) and plain arguments, so
the same code runs in request handlers, in the saga's event handlers and in tests, on SQLite and
PostgreSQL. Client mistakes raise `cloudmart.core.errors` problems.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cloudmart.core.errors import Conflict, NotFound, Unprocessable
from cloudmart.services.products.models import (
    Category,
    Product,
    Reservation,
    ReservationLine,
    StockLevel,
)
from cloudmart.services.products.schemas import (
    CategoryCreate,
    CategoryOut,
    CategoryUpdate,
    ProductCreate,
    ProductOut,
    ProductPage,
    ProductQuery,
    ProductUpdate,
    QuoteItem,
    QuoteResponse,
    StockOut,
    format_price,
)

# ---------------------------------------------------------------- categories


async def list_categories(session: AsyncSession) -> list[CategoryOut]:
    rows = (await session.scalars(select(Category).order_by(Category.name))).all()
    return [CategoryOut.model_validate(c) for c in rows]


async def _category(session: AsyncSession, category_id: int) -> Category:
    category = await session.get(Category, category_id)
    if category is None:
        raise NotFound(f"category {category_id} does not exist")
    return category


async def get_category(session: AsyncSession, category_id: int) -> CategoryOut:
    return CategoryOut.model_validate(await _category(session, category_id))


async def create_category(session: AsyncSession, data: CategoryCreate) -> CategoryOut:
    if await session.scalar(select(Category.id).where(Category.slug == data.slug)) is not None:
        raise Conflict(f"a category with slug {data.slug!r} already exists")
    category = Category(**data.model_dump())
    session.add(category)
    await session.flush()
    return CategoryOut.model_validate(category)


async def update_category(session: AsyncSession, category_id: int, data: CategoryUpdate) -> CategoryOut:
    category = await _category(session, category_id)
    for name, value in data.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(category, name, value)
    await session.flush()
    return CategoryOut.model_validate(category)


async def delete_category(session: AsyncSession, category_id: int) -> None:
    category = await _category(session, category_id)
    used = await session.scalar(select(func.count()).where(Product.category_id == category_id))
    if used:
        raise Conflict(f"category {category_id} still has {used} product(s)")
    await session.delete(category)
    await session.flush()


# ---------------------------------------------------------------- products


def _aware(moment: datetime) -> datetime:
    # SQLite hands timestamps back without their zone; they were written in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def product_out(product: Product) -> ProductOut:
    return ProductOut(
        id=product.id,
        sku=product.sku,
        name=product.name,
        description=product.description,
        category_id=product.category_id,
        price_minor=product.price_minor,
        currency=product.currency,
        price=format_price(product.price_minor, product.currency),
        active=product.active,
        created_at=_aware(product.created_at),
        updated_at=_aware(product.updated_at),
    )


async def _product(session: AsyncSession, product_id: int, *, public: bool = False) -> Product:
    product = await session.get(Product, product_id)
    if product is None or (public and not product.active):
        raise NotFound(f"product {product_id} does not exist")
    return product


async def get_product(session: AsyncSession, product_id: int, *, public: bool = True) -> ProductOut:
    """A product; `public=True` hides inactive (unlisted) products as if they did not exist."""
    return product_out(await _product(session, product_id, public=public))


async def _check_category(session: AsyncSession, category_id: int | None) -> None:
    if category_id is not None and await session.get(Category, category_id) is None:
        raise Unprocessable(
            f"category {category_id} does not exist",
            errors=[{"field": "category_id", "message": f"category {category_id} does not exist"}],
        )


async def _check_sku_free(session: AsyncSession, sku: str, product_id: int | None = None) -> None:
    query = select(Product.id).where(Product.sku == sku)
    if product_id is not None:
        query = query.where(Product.id != product_id)
    if await session.scalar(query) is not None:
        raise Conflict(f"a product with SKU {sku!r} already exists")


async def create_product(session: AsyncSession, data: ProductCreate) -> ProductOut:
    await _check_category(session, data.category_id)
    await _check_sku_free(session, data.sku)
    values = data.model_dump(exclude={"initial_stock"})
    product = Product(**values)
    session.add(product)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent insert of the same SKU
        raise Conflict(f"a product with SKU {data.sku!r} already exists") from exc
    session.add(StockLevel(product_id=product.id, on_hand=data.initial_stock, reserved=0))
    await session.flush()
    return product_out(product)


async def update_product(session: AsyncSession, product_id: int, data: ProductUpdate) -> ProductOut:
    product = await _product(session, product_id)
    changes = data.model_dump(exclude_unset=True)
    for name in ("sku", "name", "description", "price_minor", "currency", "active"):
        if name in changes and changes[name] is None:
            raise Unprocessable(
                f"{name} cannot be null", errors=[{"field": name, "message": "cannot be null"}]
            )
    if "category_id" in changes:
        await _check_category(session, changes["category_id"])
    if "sku" in changes:
        await _check_sku_free(session, changes["sku"], product_id)
    for name, value in changes.items():
        setattr(product, name, value)
    await session.flush()
    await session.refresh(product)
    return product_out(product)


async def delete_product(session: AsyncSession, product_id: int) -> None:
    product = await _product(session, product_id)
    reserved = await session.scalar(select(StockLevel.reserved).where(StockLevel.product_id == product_id))
    if reserved:
        raise Conflict(f"product {product_id} has {reserved} unit(s) reserved by open orders")
    await session.execute(delete(StockLevel).where(StockLevel.product_id == product_id))
    await session.delete(product)
    await session.flush()


_SORTS = {
    "id": Product.id.asc(),
    "-id": Product.id.desc(),
    "name": Product.name.asc(),
    "-name": Product.name.desc(),
    "price": Product.price_minor.asc(),
    "-price": Product.price_minor.desc(),
    "created": Product.created_at.asc(),
    "-created": Product.created_at.desc(),
}


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(query: Select, params: ProductQuery) -> Select:
    conditions = [Product.active.is_(True)]
    if params.q:
        pattern = f"%{_escape_like(params.q.lower())}%"
        conditions.append(
            or_(
                func.lower(Product.name).like(pattern, escape="\\"),
                func.lower(Product.description).like(pattern, escape="\\"),
                func.lower(Product.sku).like(pattern, escape="\\"),
            )
        )
    if params.category:
        query = query.join(Category, Category.id == Product.category_id)
        conditions.append(Category.slug == params.category)
    if params.min_price is not None:
        conditions.append(Product.price_minor >= params.min_price)
    if params.max_price is not None:
        conditions.append(Product.price_minor <= params.max_price)
    if params.currency:
        conditions.append(Product.currency == params.currency)
    return query.where(and_(*conditions))


async def search_products(session: AsyncSession, params: ProductQuery) -> ProductPage:
    total = await session.scalar(_filtered(select(func.count(Product.id)), params))
    order = [_SORTS[params.sort]]
    if params.sort.lstrip("-") == "price":
        order.insert(0, Product.currency.asc())  # amounts compare only within a currency
    if params.sort.lstrip("-") != "id":
        order.append(Product.id.asc())  # stable pages when the sort key ties
    rows = await session.scalars(
        _filtered(select(Product), params).order_by(*order).limit(params.limit).offset(params.offset)
    )
    return ProductPage(
        items=[product_out(p) for p in rows.all()], total=total or 0, limit=params.limit, offset=params.offset
    )


async def quote_prices(session: AsyncSession, product_ids: Iterable[int]) -> QuoteResponse:
    """Current prices and availability straight from the database, for order-service."""
    wanted = list(dict.fromkeys(product_ids))
    rows = (
        await session.execute(
            select(Product, StockLevel)
            .outerjoin(StockLevel, StockLevel.product_id == Product.id)
            .where(Product.id.in_(wanted), Product.active.is_(True))
        )
    ).all()
    found = {
        p.id: QuoteItem(
            product_id=p.id,
            sku=p.sku,
            name=p.name,
            price_minor=p.price_minor,
            currency=p.currency,
            available=(s.on_hand - s.reserved) if s else 0,
        )
        for p, s in rows
    }
    return QuoteResponse(
        items=[found[i] for i in wanted if i in found], missing=[i for i in wanted if i not in found]
    )


# ---------------------------------------------------------------- stock


def _stock_out(stock: StockLevel) -> StockOut:
    return StockOut(
        product_id=stock.product_id,
        on_hand=stock.on_hand,
        reserved=stock.reserved,
        available=stock.on_hand - stock.reserved,
    )


async def get_stock(session: AsyncSession, product_id: int) -> StockOut:
    await _product(session, product_id, public=True)
    stock = await session.get(StockLevel, product_id)
    if stock is None:
        return StockOut(product_id=product_id, on_hand=0, reserved=0, available=0)
    return _stock_out(stock)


async def set_stock(session: AsyncSession, product_id: int, on_hand: int) -> StockOut:
    """Set the units physically on hand (an inventory count); cannot go below what is reserved."""
    await _product(session, product_id)
    result = await session.execute(
        update(StockLevel)
        .where(StockLevel.product_id == product_id, StockLevel.reserved <= on_hand)
        .values(on_hand=on_hand)
        .returning(StockLevel.product_id)
    )
    if result.first() is None:
        stock = await session.get(StockLevel, product_id)
        if stock is None:
            session.add(StockLevel(product_id=product_id, on_hand=on_hand, reserved=0))
            await session.flush()
        else:
            await session.refresh(stock)
            raise Conflict(
                f"on_hand {on_hand} is below the {stock.reserved} unit(s) reserved for open orders"
            )
    stock = await session.get(StockLevel, product_id, populate_existing=True)
    return _stock_out(stock)


# ---------------------------------------------------------------- reservations (order saga)

RESERVED, REJECTED, COMMITTED, RELEASED = "reserved", "rejected", "committed", "released"


@dataclass(frozen=True)
class ReservationResult:
    order_id: str
    status: str  # reserved | rejected | committed | released
    lines: tuple[tuple[int, int], ...] = ()  # (product_id, quantity)
    reason: str | None = None
    changed: bool = True  # False when the call was a replay or a no-op
    shortages: tuple[dict[str, Any], ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.status in (RESERVED, COMMITTED)

    def as_dict(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "status": self.status,
            "reason": self.reason,
            "lines": [{"product_id": p, "quantity": q} for p, q in self.lines],
            "shortages": list(self.shortages),
        }


def normalize_lines(lines: Iterable[Any]) -> tuple[tuple[int, int], ...]:
    """(product_id, quantity) pairs from tuples or {"product_id", "quantity"} mappings, merged
    per product and sorted by id (the lock order that keeps concurrent reservations deadlock-free)."""
    merged: dict[int, int] = {}
    for line in lines:
        if isinstance(line, Mapping):
            product_id, quantity = line.get("product_id"), line.get("quantity")
        else:
            product_id, quantity = line
        if isinstance(product_id, bool) or not isinstance(product_id, int) or product_id < 1:
            raise ValueError(f"invalid product_id {product_id!r}")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise ValueError(f"invalid quantity {quantity!r} for product {product_id}")
        merged[product_id] = merged.get(product_id, 0) + quantity
    if not merged:
        raise ValueError("a reservation needs at least one line")
    return tuple(sorted(merged.items()))


async def _stored(session: AsyncSession, reservation: Reservation, *, changed: bool) -> ReservationResult:
    lines = (
        await session.execute(
            select(ReservationLine.product_id, ReservationLine.quantity)
            .where(ReservationLine.order_id == reservation.order_id)
            .order_by(ReservationLine.product_id)
        )
    ).all()
    return ReservationResult(
        order_id=reservation.order_id,
        status=reservation.status,
        lines=tuple((p, q) for p, q in lines),
        reason=reservation.reason,
        changed=changed,
    )


async def get_reservation(session: AsyncSession, order_id: str) -> ReservationResult | None:
    reservation = await session.get(Reservation, order_id)
    return None if reservation is None else await _stored(session, reservation, changed=False)


async def reserve_stock(session: AsyncSession, order_id: str, lines: Iterable[Any]) -> ReservationResult:
    """Reserve every line or none. Idempotent per order id: a replay returns the first outcome
    (reserved or rejected), and an order already released (cancelled first) is not reserved."""
    existing = await session.get(Reservation, order_id)
    if existing is not None:
        return await _stored(session, existing, changed=False)
    wanted = normalize_lines(lines)
    ids = [p for p, _ in wanted]
    products = {
        p.id: p
        for p in (await session.scalars(select(Product).where(Product.id.in_(ids)))).all()
    }
    shortages: list[dict[str, Any]] = []
    for product_id, quantity in wanted:
        product = products.get(product_id)
        if product is None or not product.active:
            shortages.append({"product_id": product_id, "requested": quantity, "available": 0, "problem": "unknown"})
    applied: list[tuple[int, int]] = []
    if not shortages:
        for product_id, quantity in wanted:
            # Conditional update: atomic per row on both databases, locks rows in id order.
            result = await session.execute(
                update(StockLevel)
                .where(
                    StockLevel.product_id == product_id,
                    StockLevel.on_hand - StockLevel.reserved >= quantity,
                )
                .values(reserved=StockLevel.reserved + quantity)
                .returning(StockLevel.product_id)
            )
            if result.first() is None:
                stock = await session.get(StockLevel, product_id, populate_existing=True)
                available = (stock.on_hand - stock.reserved) if stock else 0
                shortages.append(
                    {"product_id": product_id, "requested": quantity, "available": available, "problem": "insufficient"}
                )
                break
            applied.append((product_id, quantity))
    if shortages:
        for product_id, quantity in applied:  # undo the partial work inside this transaction
            await session.execute(
                update(StockLevel)
                .where(StockLevel.product_id == product_id)
                .values(reserved=StockLevel.reserved - quantity)
            )
        reason = "; ".join(
            f"product {s['product_id']} does not exist"
            if s["problem"] == "unknown"
            else f"product {s['product_id']}: {s['requested']} requested, {s['available']} available"
            for s in shortages
        )
        session.add(Reservation(order_id=order_id, status=REJECTED, reason=reason[:200]))
        await session.flush()
        return ReservationResult(order_id, REJECTED, wanted, reason[:200], True, tuple(shortages))
    session.add(Reservation(order_id=order_id, status=RESERVED))
    await session.flush()
    session.add_all(ReservationLine(order_id=order_id, product_id=p, quantity=q) for p, q in wanted)
    await session.flush()
    return ReservationResult(order_id, RESERVED, wanted)


async def commit_reservation(session: AsyncSession, order_id: str) -> ReservationResult:
    """The order is paid: reserved units leave stock for good. Idempotent; a reservation that
    was rejected or released stays as it is (the result says so)."""
    reservation = await session.get(Reservation, order_id, with_for_update=True)
    if reservation is None:
        raise NotFound(f"no reservation for order {order_id}")
    if reservation.status != RESERVED:
        return await _stored(session, reservation, changed=False)
    result = await _stored(session, reservation, changed=True)
    for product_id, quantity in result.lines:
        await session.execute(
            update(StockLevel)
            .where(StockLevel.product_id == product_id)
            .values(on_hand=StockLevel.on_hand - quantity, reserved=StockLevel.reserved - quantity)
        )
    reservation.status = COMMITTED
    await session.flush()
    return ReservationResult(order_id, COMMITTED, result.lines, None, True)


async def release_reservation(
    session: AsyncSession, order_id: str, reason: str | None = None
) -> ReservationResult:
    """The order is cancelled: reserved units become available again; committed units go back on
    hand (a refunded order's goods return to stock). Idempotent. Releasing an order that was
    never reserved records the release, so a late reservation attempt for it is refused."""
    reservation = await session.get(Reservation, order_id, with_for_update=True)
    if reservation is None:
        session.add(Reservation(order_id=order_id, status=RELEASED, reason=(reason or "released before reservation")[:200]))
        await session.flush()
        return ReservationResult(order_id, RELEASED, (), reason, True)
    if reservation.status in (REJECTED, RELEASED):
        return await _stored(session, reservation, changed=False)
    result = await _stored(session, reservation, changed=True)
    for product_id, quantity in result.lines:
        values = (
            {"reserved": StockLevel.reserved - quantity}
            if reservation.status == RESERVED
            else {"on_hand": StockLevel.on_hand + quantity}
        )
        await session.execute(update(StockLevel).where(StockLevel.product_id == product_id).values(**values))
    reservation.status = RELEASED
    reservation.reason = (reason or reservation.reason)
    await session.flush()
    return ReservationResult(order_id, RELEASED, result.lines, reservation.reason, True)
