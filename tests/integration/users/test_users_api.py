"""user-service end to end through its HTTP API, in both runtime modes:
embedded (SQLite, in-process front) and distributed (real PostgreSQL, `serve`'s app)."""

from __future__ import annotations

import base64
import json
import time

import httpx
import jwt
import pytest
from asgi_lifespan import LifespanManager

from cloudmart.core.config import Settings
from cloudmart.core.runtime import create_distributed_app
from cloudmart.local import EmbeddedApp
from cloudmart.services.users import ADMIN_EMAIL, SPEC

PASSWORD = "correct-horse-42"
ADMIN_PASSWORD = "admin-secret-4242"


@pytest.fixture(params=["embedded", "distributed"])
async def api(request, tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDMART_ADMIN_PASSWORD", ADMIN_PASSWORD)
    if request.param == "embedded":
        settings = Settings(CLOUDMART_DATA_DIR=str(tmp_path))
        app = EmbeddedApp(settings, {"users": SPEC}, seed=True)
        ctx = app.contexts["users"]
    else:
        pg_url = request.getfixturevalue("postgres_url")
        settings = Settings(CLOUDMART_MODE="distributed", DATABASE_URL=pg_url, CLOUDMART_DATA_DIR=str(tmp_path))
        app = create_distributed_app(settings, SPEC)
        ctx = app.state.ctx
    async with LifespanManager(app):
        if request.param == "distributed":
            await SPEC.seed_demo(ctx)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            client.ctx = ctx
            client.mode = request.param
            yield client


async def signup(api, email="shopper@example.com", password=PASSWORD, **extra):
    return await api.post("/api/users/signup", json={"email": email, "password": password, **extra})


async def login(api, email="shopper@example.com", password=PASSWORD):
    return await api.post("/api/users/login", json={"email": email, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_signup_login_me(api):
    r = await signup(api, email="Shopper@Example.com", full_name="Sam")
    assert r.status_code == 201, r.text
    user = r.json()
    assert user["email"] == "shopper@example.com" and user["roles"] == ["customer"]
    assert "password" not in r.text
    tokens = (await login(api)).json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 900
    me = await api.get("/api/users/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200 and me.json()["id"] == user["id"]


async def test_access_token_claims_and_jwks(api):
    await signup(api)
    access = (await login(api)).json()["access_token"]
    header = jwt.get_unverified_header(access)
    assert header["alg"] == "RS256"
    jwks = (await api.get("/.well-known/jwks.json")).json()
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    claims = jwt.decode(access, jwt.PyJWK(key).key, algorithms=["RS256"], audience="cloudmart")
    assert claims["iss"] == "cloudmart-user-service"
    assert claims["email"] == "shopper@example.com" and claims["roles"] == ["customer"]
    assert {"sub", "exp", "iat", "jti"} <= claims.keys()
    assert (await api.get("/api/users/jwks.json")).json() == jwks


async def test_passwords_are_argon2_and_refresh_tokens_hashed(api):
    await signup(api)
    refresh = (await login(api)).json()["refresh_token"]
    async with api.ctx.db.transaction() as session:
        from sqlalchemy import select

        from cloudmart.services.users.models import refresh_tokens, users

        stored = (await session.execute(select(users.c.password_hash).where(users.c.email == "shopper@example.com"))).scalar_one()
        hashes = (await session.execute(select(refresh_tokens.c.token_hash))).scalars().all()
    assert stored.startswith("$argon2id$")
    assert refresh not in hashes and len(hashes) == 1 and len(hashes[0]) == 64


async def test_duplicate_email_is_409(api):
    assert (await signup(api)).status_code == 201
    r = await signup(api, email="SHOPPER@example.com")
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["field"] == "email"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": "a@example.com", "password": "short1"}, "password"),
        ({"email": "a@example.com", "password": "onlyletterslong"}, "password"),
        ({"email": "a@example.com", "password": "1234567890"}, "password"),
        ({"email": "a@example.com"}, "password"),
        ({"email": "a@example.com", "password": PASSWORD, "role": "admin"}, "role"),
    ],
)
async def test_bad_signup_is_422_naming_the_field(api, body, field):
    r = await api.post("/api/users/signup", json=body)
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == [field]


async def test_wrong_password_and_unknown_account_look_the_same(api):
    await signup(api)
    wrong = await login(api, password="wrong-password-1")
    unknown = await login(api, email="nobody@example.com")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"] == "invalid email or password"


async def test_refresh_rotates_and_reuse_revokes_the_family(api):
    await signup(api)
    first = (await login(api)).json()
    r = await api.post("/api/users/token/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    # Presenting the rotated token again is a reuse: 401, and the newer token dies with it.
    reuse = await api.post("/api/users/token/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401 and "already used" in reuse.json()["detail"]
    after = await api.post("/api/users/token/refresh", json={"refresh_token": second["refresh_token"]})
    assert after.status_code == 401
    # Another login is a separate family and still works.
    assert (await login(api)).status_code == 200


async def test_logout_revokes_refresh_token(api):
    await signup(api)
    tokens = (await login(api)).json()
    assert (await api.post("/api/users/logout", json={"refresh_token": tokens["refresh_token"]})).status_code == 204
    r = await api.post("/api/users/token/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 401
    assert (await api.post("/api/users/token/refresh", json={"refresh_token": "x" * 43})).status_code == 401


async def test_expired_refresh_token_is_401(api):
    await signup(api)
    tokens = (await login(api)).json()
    from sqlalchemy import update

    from cloudmart.services.users.models import refresh_tokens

    async with api.ctx.db.transaction() as session:
        from datetime import UTC, datetime, timedelta

        await session.execute(update(refresh_tokens).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    r = await api.post("/api/users/token/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 401 and r.json()["detail"] == "refresh token expired"


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_bad_tokens_are_401(api):
    await signup(api)
    good = (await login(api)).json()["access_token"]
    head, payload, sig = good.split(".")
    claims = jwt.decode(good, options={"verify_signature": False})
    tampered = ".".join([head, _b64({**claims, "roles": ["admin"]}), sig])
    from cryptography.hazmat.primitives.asymmetric import rsa

    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = jwt.get_unverified_header(good)["kid"]
    wrong_key = jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": kid})
    expired = jwt.encode(
        {**claims, "exp": int(time.time()) - 10},
        api.ctx.extras["token_issuer"].keys.signing_key()[1],
        algorithm="RS256",
        headers={"kid": kid},
    )
    unsigned = ".".join([_b64({"alg": "none", "kid": kid}), payload, ""])
    for token, reason in [
        (tampered, "signature"),
        (wrong_key, "signature"),
        (expired, "expired"),
        (unsigned, "RS256"),
        ("garbage", "malformed"),
    ]:
        r = await api.get("/api/users/me", headers=bearer(token))
        assert r.status_code == 401, (reason, r.text)
        assert reason in r.json()["detail"]
        assert r.headers["www-authenticate"].startswith("Bearer")
    assert (await api.get("/api/users/me")).status_code == 401


async def test_customer_on_admin_route_is_403_admin_lists(api):
    await signup(api)
    customer = (await login(api)).json()["access_token"]
    assert (await api.get("/api/users", headers=bearer(customer))).status_code == 403
    admin = (await login(api, ADMIN_EMAIL, ADMIN_PASSWORD)).json()["access_token"]
    page = await api.get("/api/users", params={"limit": 2, "offset": 0}, headers=bearer(admin))
    assert page.status_code == 200
    body = page.json()
    assert body["total"] == 3 and len(body["items"]) == 2 and body["limit"] == 2
    found = await api.get("/api/users", params={"email": "shopper"}, headers=bearer(admin))
    assert [u["email"] for u in found.json()["items"]] == ["shopper@example.com"]


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"limit": "ten"}, {"email": ""}])
async def test_invalid_pagination_is_422(api, params):
    await api.post("/api/users/signup", json={"email": "x@example.com", "password": PASSWORD})
    admin = (await login(api, ADMIN_EMAIL, ADMIN_PASSWORD)).json()["access_token"]
    r = await api.get("/api/users", params=params, headers=bearer(admin))
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == next(iter(params))


async def test_user_record_policy_and_roles(api):
    me = (await signup(api)).json()
    other = (await signup(api, email="other@example.com")).json()
    token = (await login(api)).json()["access_token"]
    assert (await api.get(f"/api/users/{me['id']}", headers=bearer(token))).status_code == 200
    r = await api.get(f"/api/users/{other['id']}", headers=bearer(token))
    assert r.status_code == 403 and r.json()["detail"] == "user belongs to another user"
    admin = (await login(api, ADMIN_EMAIL, ADMIN_PASSWORD)).json()["access_token"]
    r = await api.put(f"/api/users/{me['id']}/roles", json={"roles": ["customer", "admin"]}, headers=bearer(admin))
    assert r.status_code == 200 and r.json()["roles"] == ["admin", "customer"]
    bad = await api.put(f"/api/users/{me['id']}/roles", json={"roles": ["root"]}, headers=bearer(admin))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "roles.0"
    missing = await api.put("/api/users/nope/roles", json={"roles": ["customer"]}, headers=bearer(admin))
    assert missing.status_code == 404
    # New roles show up in the next access token.
    fresh = (await login(api)).json()["access_token"]
    assert (await api.get("/api/users", headers=bearer(fresh))).status_code == 200


async def test_login_upgrades_a_weaker_stored_hash(api):
    from argon2 import PasswordHasher
    from sqlalchemy import select, update

    from cloudmart.services.users.models import users

    await signup(api)
    legacy = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    async with api.ctx.db.transaction() as session:
        await session.execute(update(users).where(users.c.email == "shopper@example.com").values(password_hash=legacy))
    assert (await login(api)).status_code == 200
    async with api.ctx.db.transaction() as session:
        stored = (await session.execute(select(users.c.password_hash))).scalars().all()
    assert legacy not in stored and any("$m=19456,t=2,p=1$" in h for h in stored)
