"""user-service: accounts, login, access + rotating refresh tokens, roles, JWKS."""

from __future__ import annotations

import os
import secrets
from typing import Any

from cloudmart.core.auth import TokenIssuer, TokenVerifier, signing_keys
from cloudmart.core.service import ServiceContext, ServiceSpec
from cloudmart.services.users import service
from cloudmart.services.users.api import router, well_known
from cloudmart.services.users.models import metadata

ADMIN_EMAIL = "admin@cloudmart.dev"
DEMO_CUSTOMER = ("demo@cloudmart.dev", "demo-shopper-2024")


async def on_startup(ctx: ServiceContext) -> None:
    """Signing keys (shared with the embedded verifier, else JWT_KEYS_DIR / data_dir/keys)."""
    keys = getattr(ctx.tokens, "keys", None)
    if keys is None or keys.active_kid is None:
        keys = signing_keys(ctx.settings)
        ctx.tokens = TokenVerifier(ctx.settings, keys=keys)
    ctx.extras["token_issuer"] = TokenIssuer(keys, ctx.settings)
    passwords = ctx.extras.setdefault("passwords", service.Passwords())
    # Bootstrap admin for distributed deployments (password from a Secret); idempotent.
    if password := os.environ.get("CLOUDMART_ADMIN_PASSWORD"):
        async with ctx.db.transaction() as session:
            await service.ensure_user(session, passwords, ADMIN_EMAIL, password, ["admin", "customer"], "Admin")


async def seed_demo(ctx: ServiceContext) -> dict[str, Any]:
    """An admin account (password from CLOUDMART_ADMIN_PASSWORD, else generated once and kept in
    data_dir/admin-password) and a demo customer."""
    password = os.environ.get("CLOUDMART_ADMIN_PASSWORD")
    secret_file = ctx.settings.data_dir / "admin-password"
    if not password:
        if secret_file.exists():
            password = secret_file.read_text().strip()
        else:
            password = secrets.token_urlsafe(12) + "7"
            ctx.settings.data_dir.mkdir(parents=True, exist_ok=True)
            secret_file.write_text(password + "\n")
            secret_file.chmod(0o600)
    passwords = ctx.extras.setdefault("passwords", service.Passwords())
    async with ctx.db.transaction() as session:
        created = await service.ensure_user(session, passwords, ADMIN_EMAIL, password, ["admin", "customer"], "Admin")
        await service.ensure_user(session, passwords, DEMO_CUSTOMER[0], DEMO_CUSTOMER[1], ["customer"], "Demo Shopper")
    return {
        "admin_email": ADMIN_EMAIL,
        "admin_password": password,
        "admin_created": created,
        "demo_email": DEMO_CUSTOMER[0],
        "demo_password": DEMO_CUSTOMER[1],
    }


SPEC = ServiceSpec(
    name="users",
    title="user-service",
    router=router,
    metadata=metadata,
    root_routers=(well_known,),
    on_startup=on_startup,
    seed_demo=seed_demo,
)
