"""notification-service HTTP API (thin): the in-app feed, and delivery records for admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from cloudmart.core.deps import AdminDep, PrincipalDep, SessionDep
from cloudmart.services.notifications import service
from cloudmart.services.notifications.schemas import DeliveryOut, NotificationOut, NotificationPage

router = APIRouter(tags=["notifications"])


@router.get("", response_model=NotificationPage)
async def feed(
    session: SessionDep,
    principal: PrincipalDep,
    unread: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> NotificationPage:
    return await service.feed(session, principal, unread_only=unread, limit=limit, offset=offset)


@router.post("/{notification_id}/read", response_model=NotificationOut)
async def mark_read(notification_id: int, session: SessionDep, principal: PrincipalDep) -> NotificationOut:
    return await service.mark_read(session, principal, notification_id)


@router.get("/deliveries", response_model=list[DeliveryOut])
async def deliveries(
    session: SessionDep,
    _admin: AdminDep,
    status: Annotated[str | None, Query(pattern="^(pending|sent|dead)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeliveryOut]:
    return await service.list_deliveries(session, status=status, limit=limit)
