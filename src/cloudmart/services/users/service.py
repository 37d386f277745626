"""user-service logic: accounts, passwords (argon2), access + rotating refresh tokens."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cloudmart.core.auth import TokenIssuer
from cloudmart.core.errors import Conflict, NotFound, Unauthorized
from cloudmart.services.users.models import refresh_tokens, users
from cloudmart.services.users.schemas import TokenPair, UserOut

log = structlog.get_logger("cloudmart.users")

INVALID_CREDENTIALS = "invalid email or password"


# OWASP's argon2id baseline (19 MiB, t=2, p=1). argon2-cffi's default takes 64 MiB per hash:
# a handful of concurrent logins would exceed user-service's 256Mi limit from the seed.
OWASP_HASHER = dict(time_cost=2, memory_cost=19 * 1024, parallelism=1)
MAX_CONCURRENT_HASHES = 4  # bounds memory (and CPU) under a login burst; the rest queue


class Passwords:
    """argon2id hashing off the event loop. A dummy hash is verified for unknown accounts so
    a wrong e-mail and a wrong password take the same time."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher(**OWASP_HASHER)
        self._dummy = self.hasher.hash(secrets.token_urlsafe(16))
        self._slots = asyncio.Semaphore(MAX_CONCURRENT_HASHES)

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self.hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        def check() -> bool:
            try:
                return self.hasher.verify(stored or self._dummy, password) and stored is not None
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

        async with self._slots:
            return await asyncio.to_thread(check)

    def needs_rehash(self, stored: str) -> bool:
        return self.hasher.check_needs_rehash(stored)


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    # SQLite returns naive datetimes; everything stored is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def to_user_out(row: Any) -> UserOut:
    return UserOut(id=row.id, email=row.email, full_name=row.full_name, roles=list(row.roles), created_at=_aware(row.created_at))


async def create_user(
    session: AsyncSession, passwords: Passwords, email: str, password: str, full_name: str | None, roles: list[str]
) -> UserOut:
    email = email.strip().lower()
    if (await session.execute(select(users.c.id).where(users.c.email == email))).first():
        raise Conflict("an account with this e-mail already exists", field="email")
    user_id = str(uuid.uuid4())
    values = dict(
        id=user_id,
        email=email,
        password_hash=await passwords.hash(password),
        full_name=full_name,
        roles=roles,
        created_at=_now(),
    )
    try:
        await session.execute(insert(users).values(**values))
    except IntegrityError as exc:  # a concurrent sign-up with the same e-mail won the race
        raise Conflict("an account with this e-mail already exists", field="email") from exc
    log.info("user created", user_id=user_id)
    return to_user_out(type("Row", (), values))


async def authenticate(session: AsyncSession, passwords: Passwords, email: str, password: str) -> UserOut:
    row = (await session.execute(select(users).where(users.c.email == email.strip().lower()))).first()
    if not await passwords.verify(row.password_hash if row else None, password):
        raise Unauthorized(INVALID_CREDENTIALS)
    if passwords.needs_rehash(row.password_hash):
        await session.execute(update(users).where(users.c.id == row.id).values(password_hash=await passwords.hash(password)))
    return to_user_out(row)


async def issue_tokens(
    session: AsyncSession, issuer: TokenIssuer, user: UserOut, *, family_id: str | None = None
) -> tuple[TokenPair, str]:
    """A new access token and a new refresh token (in `family_id`, or a new family)."""
    access = issuer.issue(user.id, user.email, user.roles)
    raw = secrets.token_urlsafe(32)
    token_id = str(uuid.uuid4())
    ttl = issuer.settings.refresh_token_ttl_seconds
    now = _now()
    await session.execute(
        insert(refresh_tokens).values(
            id=token_id,
            user_id=user.id,
            family_id=family_id or str(uuid.uuid4()),
            token_hash=_hash_token(raw),
            created_at=now,
            expires_at=now + timedelta(seconds=ttl),
        )
    )
    pair = TokenPair(access_token=access.token, expires_in=access.expires_in, refresh_token=raw, refresh_expires_in=ttl)
    return pair, token_id


@dataclass(frozen=True)
class RefreshOutcome:
    tokens: TokenPair | None
    error: str | None = None  # set when the caller must answer 401 (after committing revocations)


async def _revoke_family(session: AsyncSession, family_id: str) -> None:
    await session.execute(
        update(refresh_tokens)
        .where(refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=_now())
    )


async def rotate_refresh_token(session: AsyncSession, issuer: TokenIssuer, raw: str) -> RefreshOutcome:
    """Exchange a refresh token for a new pair. A token that was already rotated is a reuse:
    the whole family is revoked, so a stolen token and the legitimate one both stop working."""
    row = (
        await session.execute(select(refresh_tokens).where(refresh_tokens.c.token_hash == _hash_token(raw)).with_for_update())
    ).first()
    if row is None:
        return RefreshOutcome(None, "unknown refresh token")
    if row.revoked_at is not None:
        await _revoke_family(session, row.family_id)
        log.warning("refresh token reuse detected; family revoked", user_id=row.user_id, family_id=row.family_id)
        return RefreshOutcome(None, "refresh token was already used; all sessions of this login are revoked")
    if _aware(row.expires_at) <= _now():
        return RefreshOutcome(None, "refresh token expired")
    user_row = (await session.execute(select(users).where(users.c.id == row.user_id))).first()
    if user_row is None:
        return RefreshOutcome(None, "account no longer exists")
    # Claim the token atomically: of two concurrent refreshes only one rotates it.
    claimed = await session.execute(
        update(refresh_tokens)
        .where(refresh_tokens.c.id == row.id, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=_now())
    )
    if claimed.rowcount != 1:
        await _revoke_family(session, row.family_id)
        return RefreshOutcome(None, "refresh token was already used; all sessions of this login are revoked")
    pair, new_id = await issue_tokens(session, issuer, to_user_out(user_row), family_id=row.family_id)
    await session.execute(update(refresh_tokens).where(refresh_tokens.c.id == row.id).values(replaced_by=new_id))
    return RefreshOutcome(pair)


async def revoke_refresh_token(session: AsyncSession, raw: str) -> None:
    """Log out: the presented token's whole family. Unknown tokens are ignored (idempotent)."""
    row = (await session.execute(select(refresh_tokens.c.family_id).where(refresh_tokens.c.token_hash == _hash_token(raw)))).first()
    if row is not None:
        await _revoke_family(session, row.family_id)


async def get_user(session: AsyncSession, user_id: str) -> UserOut:
    row = (await session.execute(select(users).where(users.c.id == user_id))).first()
    if row is None:
        raise NotFound(f"user {user_id} does not exist")
    return to_user_out(row)


async def list_users(
    session: AsyncSession, *, limit: int, offset: int, email_contains: str | None = None
) -> tuple[list[UserOut], int]:
    query = select(users)
    count = select(func.count()).select_from(users)
    if email_contains:
        pattern = f"%{email_contains.lower()}%"
        query = query.where(users.c.email.like(pattern))
        count = count.where(users.c.email.like(pattern))
    rows = (await session.execute(query.order_by(users.c.created_at, users.c.id).limit(limit).offset(offset))).all()
    total = (await session.execute(count)).scalar_one()
    return [to_user_out(r) for r in rows], total


async def set_roles(session: AsyncSession, user_id: str, roles: list[str]) -> UserOut:
    result = await session.execute(update(users).where(users.c.id == user_id).values(roles=sorted(set(roles))))
    if result.rowcount != 1:
        raise NotFound(f"user {user_id} does not exist")
    return await get_user(session, user_id)


async def ensure_user(
    session: AsyncSession, passwords: Passwords, email: str, password: str, roles: list[str], full_name: str | None = None
) -> bool:
    """Create the account if it does not exist; True when created."""
    if (await session.execute(select(users.c.id).where(users.c.email == email.lower()))).first():
        return False
    await create_user(session, passwords, email, password, full_name, roles)
    return True
