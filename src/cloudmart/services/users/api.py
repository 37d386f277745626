"""user-service HTTP API (thin: validation and wiring; logic lives in service.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from cloudmart.core.deps import AdminDep, CtxDep, PrincipalDep, SessionDep, authorize
from cloudmart.core.errors import Unauthorized
from cloudmart.services.users import service
from cloudmart.services.users.schemas import (
    Login,
    RefreshRequest,
    RolesUpdate,
    SignUp,
    TokenPair,
    UserOut,
    UserPage,
)

router = APIRouter(tags=["users"])
well_known = APIRouter(tags=["keys"])


def _passwords(ctx) -> service.Passwords:
    return ctx.extras["passwords"]


@router.post("/signup", status_code=status.HTTP_201_CREATED, response_model=UserOut, summary="Create a customer account")
async def sign_up(body: SignUp, ctx: CtxDep, session: SessionDep) -> UserOut:
    return await service.create_user(session, _passwords(ctx), body.email, body.password, body.full_name, ["customer"])


@router.post("/login", response_model=TokenPair, summary="Exchange e-mail and password for tokens")
async def login(body: Login, ctx: CtxDep, session: SessionDep) -> TokenPair:
    user = await service.authenticate(session, _passwords(ctx), body.email, body.password)
    pair, _ = await service.issue_tokens(session, ctx.extras["token_issuer"], user)
    return pair


@router.post("/token/refresh", response_model=TokenPair, summary="Rotate a refresh token")
async def refresh(body: RefreshRequest, ctx: CtxDep) -> TokenPair:
    # Own transaction: a detected reuse must commit the family revocation and still answer 401.
    async with ctx.db.transaction() as session:
        outcome = await service.rotate_refresh_token(session, ctx.extras["token_issuer"], body.refresh_token)
    if outcome.tokens is None:
        raise Unauthorized(outcome.error)
    return outcome.tokens


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke a refresh token and its family")
async def logout(body: RefreshRequest, session: SessionDep) -> Response:
    await service.revoke_refresh_token(session, body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=UserOut, summary="The signed-in user")
async def me(principal: PrincipalDep, session: SessionDep) -> UserOut:
    return await service.get_user(session, principal.sub)


@router.get("", response_model=UserPage, summary="List users (admin)")
async def list_users(
    _: AdminDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
    email: Annotated[str | None, Query(min_length=1, max_length=320, description="substring of the e-mail")] = None,
) -> UserPage:
    items, total = await service.list_users(session, limit=limit, offset=offset, email_contains=email)
    return UserPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/jwks.json", summary="Public signing keys (JWKS)")
async def jwks_under_prefix(ctx: CtxDep) -> dict:
    return ctx.extras["token_issuer"].keys.jwks()


@router.get("/{user_id}", response_model=UserOut, summary="One user (self or admin)")
async def get_user(user_id: str, principal: PrincipalDep, session: SessionDep) -> UserOut:
    authorize(principal, "read", {"type": "user", "owner": user_id})
    return await service.get_user(session, user_id)


@router.put("/{user_id}/roles", response_model=UserOut, summary="Set a user's roles (admin)")
async def set_roles(user_id: str, body: RolesUpdate, _: AdminDep, session: SessionDep) -> UserOut:
    return await service.set_roles(session, user_id, list(body.roles))


@well_known.get("/.well-known/jwks.json", summary="Public signing keys (JWKS)")
async def jwks(ctx: CtxDep) -> dict:
    return ctx.extras["token_issuer"].keys.jwks()
