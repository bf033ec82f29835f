"""Versioned schema migrations, one ordered list per SQL dialect.

A migration is applied once, inside the transaction that records it in ``schema_migrations``;
a store refuses to open a database whose schema is newer than this code knows.
"""

from __future__ import annotations

from typing import Final

__all__ = ["MIGRATIONS"]

_V1_COMMON: Final = """
CREATE TABLE events (
    seq      BIGINT PRIMARY KEY,      -- leaf index in the ledger
    id       TEXT NOT NULL UNIQUE,
    time_us  BIGINT NOT NULL,         -- event time, microseconds since the epoch, UTC
    action   TEXT NOT NULL,           -- access action, or context event type
    actor    TEXT,
    merchant TEXT,
    body     TEXT NOT NULL            -- the leaf: RFC 8785 canonical JSON of the event
);
CREATE TABLE checkpoints (
    size       BIGINT PRIMARY KEY,
    root       {blob} NOT NULL,
    note       TEXT NOT NULL,         -- the signed note, as printed
    created_us BIGINT NOT NULL
);
CREATE TABLE ledger_state (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    size BIGINT NOT NULL
);
INSERT INTO ledger_state (id, size) VALUES (1, 0);
CREATE TABLE tiles (
    level INTEGER NOT NULL,
    idx   BIGINT NOT NULL,
    data  {blob} NOT NULL,
    PRIMARY KEY (level, idx)
);
CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    key_hash   TEXT NOT NULL UNIQUE,  -- SHA-256 of the key (the key itself is never stored)
    created_us BIGINT NOT NULL,
    revoked_us BIGINT
);
"""

MIGRATIONS: Final[dict[str, list[tuple[int, str]]]] = {
    "sqlite": [(1, _V1_COMMON.format(blob="BLOB"))],
    "postgresql": [(1, _V1_COMMON.format(blob="BYTEA"))],
}
