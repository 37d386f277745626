"""RS256 JWTs: keys by `kid`, issuing (user-service) and verification (every service).

Keys live as PEM files named `<kid>.pem` in one directory: generated on first embedded run
under `<data_dir>/keys`, or mounted from a Kubernetes Secret at `JWT_KEYS_DIR`. The file named
in `active` (or the newest key) signs; every key verifies, so a rotation keeps tokens signed
by the previous key valid until they expire. Services without the keys verify against the
JWKS (`JWKS_URL`), cached, refetched when a token names an unknown `kid`.
"""

from __future__ import annotations

import json
import os
import secrets
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from cloudmart.core.config import Settings
from cloudmart.core.errors import ServiceUnavailable, Unauthorized

log = structlog.get_logger("cloudmart.auth")

ALGORITHM = "RS256"
KEY_BITS = 2048


@dataclass(frozen=True)
class Principal:
    sub: str
    email: str = ""
    roles: tuple[str, ...] = ()
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


class KeyStore:
    """RSA keys by kid. Private keys sign; public keys (possibly only those) verify."""

    def __init__(self) -> None:
        self._private: dict[str, rsa.RSAPrivateKey] = {}
        self._public: dict[str, rsa.RSAPublicKey] = {}
        self.active_kid: str | None = None
        self.directory: Path | None = None

    @classmethod
    def load_or_create(cls, directory: Path) -> KeyStore:
        """Embedded mode: the keys under data_dir/keys, generating the first one if none exist."""
        store = cls.load(directory, create=True)
        if store.active_kid is None:
            store.rotate()
        return store

    @classmethod
    def load(cls, directory: Path, *, create: bool = False) -> KeyStore:
        """Every `*.pem` (private or public) in `directory`; `active` names the signing kid."""
        store = cls()
        store.directory = directory
        if create:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        elif not directory.is_dir():
            raise FileNotFoundError(f"JWT keys directory {directory} does not exist")
        pems = sorted(directory.glob("*.pem"), key=lambda p: (p.stat().st_mtime, p.name))
        for pem in pems:
            store._add_pem(pem.stem, pem.read_bytes())
        active_file = directory / "active"
        wanted = active_file.read_text().strip() if active_file.exists() else None
        if wanted and wanted in store._private:
            store.active_kid = wanted
        elif store._private:
            store.active_kid = [p.stem for p in pems if p.stem in store._private][-1]
        return store

    def _add_pem(self, kid: str, data: bytes) -> None:
        if b"PRIVATE KEY" in data:
            key = serialization.load_pem_private_key(data, password=None)
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ValueError(f"key {kid} is not an RSA key")
            self._private[kid] = key
            self._public[kid] = key.public_key()
        else:
            pub = serialization.load_pem_public_key(data)
            if not isinstance(pub, rsa.RSAPublicKey):
                raise ValueError(f"key {kid} is not an RSA key")
            self._public[kid] = pub

    def rotate(self) -> str:
        """A new signing key; older keys keep verifying. Persisted when the store has a directory."""
        kid = time.strftime("%Y%m%d%H%M%S", time.gmtime()) + "-" + secrets.token_hex(4)
        key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
        self._private[kid] = key
        self._public[kid] = key.public_key()
        self.active_kid = kid
        if self.directory is not None:
            path = self.directory / f"{kid}.pem"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(
                    key.private_bytes(
                        serialization.Encoding.PEM,
                        serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption(),
                    )
                )
            (self.directory / "active").write_text(kid + "\n")
        return kid

    def signing_key(self) -> tuple[str, rsa.RSAPrivateKey]:
        if self.active_kid is None:
            raise RuntimeError("no private key to sign with")
        return self.active_kid, self._private[self.active_kid]

    def can_sign(self, kid: str) -> bool:
        return kid in self._private

    def public_key(self, kid: str) -> rsa.RSAPublicKey | None:
        return self._public.get(kid)

    @property
    def kids(self) -> list[str]:
        return list(self._public)

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        keys = []
        for kid, pub in self._public.items():
            jwk = json.loads(RSAAlgorithm.to_jwk(pub))
            jwk.update(kid=kid, alg=ALGORITHM, use="sig")
            keys.append(jwk)
        return {"keys": keys}


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int
    jti: str


class TokenIssuer:
    def __init__(self, keys: KeyStore, settings: Settings) -> None:
        self.keys = keys
        self.settings = settings

    def issue(self, sub: str, email: str, roles: list[str] | tuple[str, ...]) -> IssuedToken:
        kid, key = self.keys.signing_key()
        now = int(time.time())
        ttl = self.settings.access_token_ttl_seconds
        jti = uuid.uuid4().hex
        claims = {
            "iss": self.settings.jwt_issuer,
            "aud": self.settings.jwt_audience,
            "sub": sub,
            "email": email,
            "roles": list(roles),
            "iat": now,
            "exp": now + ttl,
            "jti": jti,
        }
        token = jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid})
        return IssuedToken(token, ttl, jti)


class JwksClient:
    """Public keys from a JWKS URL, cached for `ttl` seconds, refetched (at most every
    `min_refetch` seconds) when a token names a kid the cache does not know."""

    def __init__(self, url: str, *, ttl: float = 300.0, min_refetch: float = 10.0, client: httpx.AsyncClient | None = None):
        self.url = url
        self.ttl = ttl
        self.min_refetch = min_refetch
        self._client = client
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0

    async def _fetch(self) -> None:
        client = self._client or httpx.AsyncClient(timeout=5.0)
        try:
            resp = await client.get(self.url)
            resp.raise_for_status()
            keys = {}
            for jwk in resp.json().get("keys", []):
                if jwk.get("kty") == "RSA" and jwk.get("kid"):
                    keys[jwk["kid"]] = RSAAlgorithm.from_jwk(json.dumps(jwk))
            self._keys = keys
            self._fetched_at = time.monotonic()
        finally:
            if self._client is None:
                await client.aclose()

    async def key(self, kid: str) -> Any | None:
        age = time.monotonic() - self._fetched_at
        if (not self._keys or age > self.ttl) or (kid not in self._keys and age > self.min_refetch):
            try:
                await self._fetch()
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("jwks fetch failed", url=self.url, error=str(exc))
                if not self._keys:
                    raise ServiceUnavailable("token keys are unavailable", retry_after=5) from exc
        return self._keys.get(kid)


class TokenVerifier:
    """Verifies access tokens against local keys or a JWKS; any failure is a 401."""

    def __init__(self, settings: Settings, *, keys: KeyStore | None = None, jwks: JwksClient | None = None):
        if keys is None and jwks is None:
            raise ValueError("a TokenVerifier needs local keys or a JWKS URL")
        self.settings = settings
        self.keys = keys
        self.jwks = jwks

    async def _key_for(self, kid: str) -> Any | None:
        if self.keys is not None and (key := self.keys.public_key(kid)) is not None:
            return key
        if self.jwks is not None:
            return await self.jwks.key(kid)
        return None

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized("malformed token") from exc
        if header.get("alg") != ALGORITHM:
            raise Unauthorized("token must be signed with RS256")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise Unauthorized("token has no key id")
        key = await self._key_for(kid)
        if key is None:
            raise Unauthorized("token signed by an unknown key")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("token expired") from exc
        except jwt.InvalidSignatureError as exc:
            raise Unauthorized("token signature is invalid") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid token: {exc}") from exc
        roles = claims.get("roles") or []
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise Unauthorized("invalid token: roles must be a list of strings")
        return Principal(sub=str(claims["sub"]), email=str(claims.get("email", "")), roles=tuple(roles), claims=claims)


def build_token_verifier(settings: Settings, keys: KeyStore | None = None) -> TokenVerifier:
    """Local keys when this process has them, plus the JWKS of user-service in distributed mode."""
    jwks = None
    if keys is None and settings.jwt_keys_dir is not None and settings.jwt_keys_dir.is_dir():
        keys = KeyStore.load(settings.jwt_keys_dir)
    if settings.mode == "distributed" or settings.jwks_url:
        url = settings.jwks_url or settings.user_service_url.rstrip("/") + "/.well-known/jwks.json"
        jwks = JwksClient(url)
    return TokenVerifier(settings, keys=keys, jwks=jwks)


def signing_keys(settings: Settings) -> KeyStore:
    """user-service's keys: the mounted JWT_KEYS_DIR (must hold a private key), else generated
    and persisted under data_dir/keys."""
    if settings.jwt_keys_dir is not None:
        keys = KeyStore.load(settings.jwt_keys_dir)
        if keys.active_kid is None:
            raise ValueError(f"JWT_KEYS_DIR {settings.jwt_keys_dir} holds no private key to sign with")
        return keys
    return KeyStore.load_or_create(settings.data_dir / "keys")
