"""RS256 keys, issuing and verification: rotation by kid, JWKS refetch, every failure → 401."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest

from cloudmart.core.auth import JwksClient, KeyStore, TokenIssuer, TokenVerifier, build_token_verifier, signing_keys
from cloudmart.core.config import Settings
from cloudmart.core.errors import ServiceUnavailable, Unauthorized


@pytest.fixture
def settings(tmp_path):
    return Settings(CLOUDMART_DATA_DIR=str(tmp_path))


def test_keys_are_generated_once_and_persisted(tmp_path, settings):
    first = KeyStore.load_or_create(tmp_path / "keys")
    again = KeyStore.load_or_create(tmp_path / "keys")
    assert first.active_kid == again.active_kid
    assert (tmp_path / "keys" / f"{first.active_kid}.pem").stat().st_mode & 0o077 == 0
    assert signing_keys(settings).active_kid == first.active_kid


async def test_rotation_keeps_old_tokens_valid_and_signs_with_new_kid(tmp_path, settings):
    keys = KeyStore.load_or_create(tmp_path / "keys")
    issuer = TokenIssuer(keys, settings)
    old = issuer.issue("u1", "a@example.com", ["customer"]).token
    old_kid = keys.active_kid
    new_kid = keys.rotate()
    new = issuer.issue("u1", "a@example.com", ["customer"]).token
    assert jwt.get_unverified_header(new)["kid"] == new_kid != old_kid
    reloaded = KeyStore.load(tmp_path / "keys")
    assert reloaded.active_kid == new_kid and set(reloaded.kids) == {old_kid, new_kid}
    verifier = TokenVerifier(settings, keys=reloaded)
    assert (await verifier.verify(old)).sub == "u1"
    principal = await verifier.verify(new)
    assert principal.roles == ("customer",) and principal.email == "a@example.com" and not principal.is_admin


def test_mounted_keys_dir_without_private_key_is_refused(tmp_path):
    keys = KeyStore.load_or_create(tmp_path / "src")
    pub_dir = tmp_path / "mounted"
    pub_dir.mkdir()
    from cryptography.hazmat.primitives import serialization

    pub = keys.public_key(keys.active_kid).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (pub_dir / f"{keys.active_kid}.pem").write_bytes(pub)
    settings = Settings(JWT_KEYS_DIR=str(pub_dir))
    with pytest.raises(ValueError, match="no private key"):
        signing_keys(settings)
    # ...but a verifier can use the public keys alone.
    verifier = build_token_verifier(settings)
    assert verifier.keys is not None and verifier.keys.kids == [keys.active_kid]


async def test_wrong_issuer_audience_and_missing_claims_are_401(tmp_path, settings):
    keys = KeyStore.load_or_create(tmp_path / "keys")
    kid, key = keys.signing_key()
    verifier = TokenVerifier(settings, keys=keys)
    now = int(time.time())
    base = {"iss": "cloudmart-user-service", "aud": "cloudmart", "sub": "u", "iat": now, "exp": now + 60}
    cases = {
        "issuer": {**base, "iss": "evil"},
        "audience": {**base, "aud": "other"},
        "exp": {k: v for k, v in base.items() if k != "exp"},
        "roles": {**base, "roles": "admin"},
    }
    for word, claims in cases.items():
        token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})
        with pytest.raises(Unauthorized) as info:
            await verifier.verify(token)
        assert word in str(info.value.detail).lower()
    hs = jwt.encode(base, "s" * 40, algorithm="HS256", headers={"kid": kid})
    with pytest.raises(Unauthorized, match="RS256"):
        await verifier.verify(hs)
    no_kid = jwt.encode(base, key, algorithm="RS256")
    with pytest.raises(Unauthorized, match="key id"):
        await verifier.verify(no_kid)


async def test_jwks_is_cached_and_refetched_on_unknown_kid(tmp_path, settings):
    keys = KeyStore.load_or_create(tmp_path / "keys")
    issuer = TokenIssuer(keys, settings)
    fetches = []

    def handler(request: httpx.Request) -> httpx.Response:
        fetches.append(request.url.path)
        return httpx.Response(200, json=keys.jwks())

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    verifier = TokenVerifier(settings, jwks=JwksClient("http://users/.well-known/jwks.json", min_refetch=0, client=client))
    token = issuer.issue("u1", "", []).token
    await verifier.verify(token)
    await verifier.verify(token)
    assert len(fetches) == 1  # cached
    keys.rotate()
    await verifier.verify(issuer.issue("u2", "", []).token)
    assert len(fetches) == 2  # unknown kid → refetch
    with pytest.raises(Unauthorized, match="unknown key"):
        other = KeyStore()
        other.rotate()
        await verifier.verify(TokenIssuer(other, settings).issue("x", "", []).token)
    await client.aclose()


async def test_jwks_unreachable_is_503_not_401(settings, tmp_path):
    keys = KeyStore.load_or_create(tmp_path / "keys")

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    client = httpx.AsyncClient(transport=httpx.MockTransport(down))
    verifier = TokenVerifier(settings, jwks=JwksClient("http://users/jwks", client=client))
    with pytest.raises(ServiceUnavailable):
        await verifier.verify(TokenIssuer(keys, settings).issue("u", "", []).token)
    await client.aclose()


def test_distributed_services_verify_with_user_service_jwks():
    settings = Settings(CLOUDMART_MODE="distributed", DB_HOST="postgres-service")
    verifier = build_token_verifier(settings)
    assert verifier.jwks.url == "http://user-service/.well-known/jwks.json"
    with pytest.raises(ValueError):
        TokenVerifier(Settings())
