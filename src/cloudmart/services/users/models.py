"""user-service tables, in schema `users`."""

from sqlalchemy import JSON, Column, DateTime, ForeignKey, String, Table

from cloudmart.core.db import service_metadata

SCHEMA = "users"
metadata = service_metadata(SCHEMA)

users = Table(
    "users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("email", String(320), nullable=False, unique=True),  # stored lower-cased
    Column("password_hash", String(255), nullable=False),
    Column("full_name", String(200), nullable=True),
    Column("roles", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Refresh tokens are opaque random strings; only their SHA-256 is stored. Tokens of one login
# share a family: presenting an already-rotated token revokes the whole family (theft signal).
refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), ForeignKey(f"{SCHEMA}.users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("family_id", String(36), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("replaced_by", String(36), nullable=True),
)
