"""Settings, read from the environment (the seed's variable names verbatim) and failing fast.

The seed's Deployments set `SERVICE_NAME`, `DB_HOST`, `REDIS_HOST` and `KAFKA_BROKERS`; richer
deployments give full URLs (`DATABASE_URL`, `REDIS_URL`). `CLOUDMART_MODE` picks the adapters:
`embedded` (SQLite, in-process bus, in-memory cache) or `distributed` (PostgreSQL, Kafka, Redis).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Mode = Literal["embedded", "distributed"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False, frozen=True)

    service_name: str = Field("cloudmart", validation_alias=AliasChoices("SERVICE_NAME"))
    mode: Mode = Field("embedded", validation_alias=AliasChoices("CLOUDMART_MODE"))
    data_dir: Path = Field(Path(".cloudmart"), validation_alias=AliasChoices("CLOUDMART_DATA_DIR"))
    host: str = Field("127.0.0.1", validation_alias=AliasChoices("CLOUDMART_HOST"))
    port: int = Field(8080, ge=1, le=65535, validation_alias=AliasChoices("CLOUDMART_PORT", "PORT"))
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", validation_alias=AliasChoices("LOG_LEVEL")
    )

    # PostgreSQL (distributed mode): DATABASE_URL wins over the DB_* parts.
    database_url: str | None = Field(None, validation_alias=AliasChoices("DATABASE_URL"))
    db_host: str | None = Field(None, validation_alias=AliasChoices("DB_HOST"))
    db_port: int = Field(5432, ge=1, le=65535, validation_alias=AliasChoices("DB_PORT"))
    db_user: str = Field("cloudmart", validation_alias=AliasChoices("DB_USER"))
    db_password: str = Field("", validation_alias=AliasChoices("DB_PASSWORD"))
    db_name: str = Field("cloudmart", validation_alias=AliasChoices("DB_NAME"))

    # Redis: REDIS_URL wins over REDIS_HOST/REDIS_PORT.
    redis_url: str | None = Field(None, validation_alias=AliasChoices("REDIS_URL"))
    redis_host: str | None = Field(None, validation_alias=AliasChoices("REDIS_HOST"))
    redis_port: int = Field(6379, ge=1, le=65535, validation_alias=AliasChoices("REDIS_PORT"))

    # Cache (cloudmart.core.cache): Redis when REDIS_URL/REDIS_HOST is set, in-memory otherwise.
    cache_enabled: bool = Field(True, validation_alias=AliasChoices("CACHE_ENABLED"))
    cache_ttl_seconds: float = Field(60.0, gt=0, validation_alias=AliasChoices("CACHE_TTL_SECONDS"))
    # Seconds a process keeps its own copy of a Redis entry (pub/sub-invalidated); 0 disables it.
    cache_local_ttl_seconds: float = Field(2.0, ge=0, validation_alias=AliasChoices("CACHE_LOCAL_TTL_SECONDS"))

    # Kafka: comma-separated host:port list, as in the seed ("kafka-service:9092").
    kafka_brokers: str | None = Field(None, validation_alias=AliasChoices("KAFKA_BROKERS"))

    # JWT (RS256). The issuer is also Kong's jwt_secrets key and Istio's RequestAuthentication issuer.
    jwt_issuer: str = Field("cloudmart-user-service", validation_alias=AliasChoices("JWT_ISSUER"))
    jwt_audience: str = Field("cloudmart", validation_alias=AliasChoices("JWT_AUDIENCE"))
    access_token_ttl_seconds: int = Field(900, ge=30, validation_alias=AliasChoices("ACCESS_TOKEN_TTL"))
    refresh_token_ttl_seconds: int = Field(
        14 * 24 * 3600, ge=60, validation_alias=AliasChoices("REFRESH_TOKEN_TTL")
    )
    jwt_keys_dir: Path | None = Field(None, validation_alias=AliasChoices("JWT_KEYS_DIR"))
    jwks_url: str | None = Field(None, validation_alias=AliasChoices("JWKS_URL"))

    # How other services are reached over HTTP in distributed mode (e.g. order → product prices).
    product_service_url: str = Field(
        "http://product-service", validation_alias=AliasChoices("PRODUCT_SERVICE_URL")
    )
    user_service_url: str = Field("http://user-service", validation_alias=AliasChoices("USER_SERVICE_URL"))

    # Outbound e-mail for notification-service.
    smtp_host: str | None = Field(None, validation_alias=AliasChoices("SMTP_HOST"))
    smtp_port: int = Field(25, ge=1, le=65535, validation_alias=AliasChoices("SMTP_PORT"))
    smtp_sender: str = Field("CloudMart <no-reply@cloudmart.local>", validation_alias=AliasChoices("SMTP_SENDER"))

    @field_validator("kafka_brokers")
    @classmethod
    def _brokers_are_host_port(cls, value: str | None) -> str | None:
        if value is None:
            return None
        for broker in value.split(","):
            host, sep, port = broker.strip().rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"KAFKA_BROKERS entry {broker!r} is not host:port")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql", "sqlite")):
            raise ValueError("DATABASE_URL must be a postgresql:// or sqlite:// URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("REDIS_URL must be a redis://, rediss:// or unix:// URL")
        return value

    @model_validator(mode="after")
    def _distributed_needs_a_database(self) -> Settings:
        if self.mode == "distributed" and not (self.database_url or self.db_host):
            raise ValueError("distributed mode needs DATABASE_URL or DB_HOST")
        return self

    def postgres_url(self) -> str:
        """The SQLAlchemy async URL of the PostgreSQL database (distributed mode)."""
        url = self.database_url
        if url is None:
            auth = self.db_user + (f":{self.db_password}" if self.db_password else "")
            url = f"postgresql://{auth}@{self.db_host}:{self.db_port}/{self.db_name}"
        if url.startswith("postgresql://"):
            url = "postgresql+asyncpg://" + url.removeprefix("postgresql://")
        return url

    def sqlite_url(self, service: str) -> str:
        """The SQLAlchemy async URL of a service's own SQLite file (embedded mode)."""
        return f"sqlite+aiosqlite:///{(self.data_dir / f'{service}.db').resolve()}"

    def database_url_for(self, service: str) -> str:
        if self.mode == "embedded" and not self.database_url:
            return self.sqlite_url(service)
        return self.postgres_url()

    def resolved_redis_url(self) -> str | None:
        if self.redis_url:
            return self.redis_url
        if self.redis_host:
            return f"redis://{self.redis_host}:{self.redis_port}/0"
        return None

    def kafka_bootstrap(self) -> list[str]:
        return [b.strip() for b in self.kafka_brokers.split(",")] if self.kafka_brokers else []
