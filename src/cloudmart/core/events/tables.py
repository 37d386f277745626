"""The two tables every event-producing or -consuming service carries in its own schema.

`outbox`: events written in the same transaction as the state change they describe; the relay
publishes them in `seq` order and marks them published. `processed_events`: ids of the events a
consumer has applied, written in the same transaction as the effect, so redelivery is a no-op.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, DateTime, Integer, MetaData, String, Table, Text


def add_event_tables(metadata: MetaData) -> tuple[Table, Table]:
    outbox = Table(
        "outbox",
        metadata,
        Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("event_id", String(64), nullable=False, unique=True),
        Column("topic", String(128), nullable=False),
        Column("key", String(128), nullable=False),
        Column("type", String(128), nullable=False),
        Column("payload", JSON, nullable=False),  # the CloudEvent, JSON
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("published_at", DateTime(timezone=True), nullable=True, index=True),
        Column("attempts", Integer, nullable=False, default=0),
        Column("last_error", Text, nullable=True),
    )
    processed = Table(
        "processed_events",
        metadata,
        Column("consumer", String(128), primary_key=True),
        Column("event_id", String(64), primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False),
    )
    return outbox, processed
