"""FastAPI dependencies services declare in their routers (thin: no logic beyond wiring)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from cloudmart.core.auth import Principal
from cloudmart.core.errors import Forbidden, Unauthorized
from cloudmart.core.service import ServiceContext


async def get_ctx(request: Request) -> ServiceContext:
    # async on purpose: FastAPI runs a sync dependency in the thread pool, a hop per request.
    return request.app.state.ctx


CtxDep = Annotated[ServiceContext, Depends(get_ctx)]


async def get_session(ctx: CtxDep) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed when the handler returns and before the response
    is sent (scope="function"), so a failed commit is the client's error response."""
    async with ctx.db.transaction() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="Access token from POST /api/users/login")


async def get_principal(
    ctx: CtxDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorized("missing bearer token")
    if ctx.tokens is None:
        raise Unauthorized("this service cannot verify tokens")
    return await ctx.tokens.verify(credentials.credentials)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def require_admin(principal: PrincipalDep) -> Principal:
    if not principal.is_admin:
        raise Forbidden("this operation needs the admin role")
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]


def authorize(
    principal: Principal | None,
    action: str,
    resource: Mapping[str, Any],
    *,
    policy: Any = None,
) -> str:
    """Ask the Rego policy (`cloudmart.authz`) whether `principal` may `action` the `resource`
    ({"type": ..., "owner": ...}); returns the policy's reason, raises 403 (401 if anonymous)."""
    from cloudmart.core.policy import default_engine

    engine = policy or default_engine()
    decision = engine.decide(principal, action, resource)
    if not decision.allow:
        if principal is None:
            raise Unauthorized(decision.reason)
        raise Forbidden(decision.reason)
    return decision.reason
