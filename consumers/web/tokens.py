"""Tokens: made once, shown once, stored only as a SHA-256 hash.

A token is 32 random bytes (``ldg_`` + base64url); the store keeps its hash, the
token's name (which becomes the ``actor`` of the acts it sends and the viewer in the
access log, so it has the intake's actor form) and its role. Names are never reused,
revoked or not: the access log and the acts refer to them.

Adapters: a SQLite file (``DATA_DIR/tokens.sqlite``, 0600) and PostgreSQL
(``token_store_postgres``, schema ``ledger_web``) when ``LEDGER_POSTGRES_DSN`` is set.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from consumers.sqlite_file import open_private_sqlite, sqlite_transaction
from consumers.web.roles import Role
from ledger.errors import ConfigurationError, LedgerError, check_form, translated

TOKEN_PREFIX = "ldg_"  # noqa: S105 - a prefix that marks a token, not a secret
TOKEN_BYTES = 32
MAX_TOKEN_LENGTH = 128
NAME_PATTERN = r"^[a-z][a-z0-9-]{0,63}$"  # the intake's actor form
_NAME = re.compile(NAME_PATTERN.removesuffix("$"))


class TokenStoreError(LedgerError):
    """The token store cannot be opened, read or written."""


@dataclass(frozen=True)
class Principal:
    """Who a request is from: a token's name and role."""

    name: str
    role: Role


@dataclass(frozen=True)
class TokenInfo:
    name: str
    role: str
    created_at: str
    revoked_at: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "created_at": self.created_at,
                "revoked_at": self.revoked_at, "active": self.revoked_at is None}


def new_token() -> str:
    raw = secrets.token_bytes(TOKEN_BYTES)
    return TOKEN_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_name(name: str) -> str:
    return check_form(name, _NAME, "a token name is 1 to 64 lower-case letters, digits and "
                      "'-', starting with a letter (it becomes the actor of the acts the "
                      "token sends)")


def check_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise ConfigurationError(f"the role must be one of {', '.join(Role)}") from None


class TokenStore(Protocol):
    def create(self, name: str, role: str) -> tuple[str, TokenInfo]: ...
    def list(self) -> list[TokenInfo]: ...
    def revoke(self, name: str) -> bool: ...
    def verify(self, token: str) -> Principal | None: ...
    def principal_of_hash(self, hashed: str) -> Principal | None: ...
    def close(self) -> None: ...


class SQLTokenStore:
    """The store's SQL, shared by both adapters (``param`` is the driver's marker)."""

    param = "?"
    table = "tokens"

    def _cursor(self) -> AbstractContextManager[Any]:  # pragma: no cover - adapters'
        raise NotImplementedError

    def _sql(self, text: str) -> str:
        return text.replace("?", self.param).replace("TOKENS", self.table)

    def create(self, name: str, role: str) -> tuple[str, TokenInfo]:
        check_name(name)
        check_role(role)
        token = new_token()
        info = TokenInfo(name, role, datetime.now(UTC).isoformat(timespec="seconds"), None)
        with self._cursor() as cursor:
            cursor.execute(self._sql("SELECT 1 FROM TOKENS WHERE name = ?"), (name,))
            if cursor.fetchone() is not None:
                raise ConfigurationError(f"a token named {name!r} exists or existed; "
                                         "names are never reused")
            cursor.execute(self._sql(
                "INSERT INTO TOKENS (name, role, token_hash, created_at) VALUES (?, ?, ?, ?)"),
                (name, role, token_hash(token), info.created_at))
        return token, info

    def list(self) -> list[TokenInfo]:
        with self._cursor() as cursor:
            cursor.execute(self._sql(
                "SELECT name, role, created_at, revoked_at FROM TOKENS ORDER BY name"))
            rows: Sequence[Any] = cursor.fetchall()
        return [TokenInfo(*row) for row in rows]

    def revoke(self, name: str) -> bool:
        """True if a live token of that name was revoked now."""
        when = datetime.now(UTC).isoformat(timespec="seconds")
        with self._cursor() as cursor:
            cursor.execute(self._sql(
                "UPDATE TOKENS SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL"),
                (when, name))
            return bool(cursor.rowcount)

    def verify(self, token: str) -> Principal | None:
        """The holder of a live token; None for anything else."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_LENGTH:
            return None
        return self.principal_of_hash(token_hash(token))

    def principal_of_hash(self, hashed: str) -> Principal | None:
        """The holder of the live token of this hash (a session keeps only the hash)."""
        with self._cursor() as cursor:
            cursor.execute(self._sql(
                "SELECT name, role FROM TOKENS WHERE token_hash = ? AND revoked_at IS NULL"),
                (hashed,))
            row = cursor.fetchone()
        return None if row is None else Principal(row[0], Role(row[1]))


_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
"""


class SQLiteTokenStore(SQLTokenStore):
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = open_private_sqlite(path, _SQLITE_SCHEMA, "secure_delete=ON",
                                       store="the token store", error=TokenStoreError)

    @contextmanager
    def _cursor(self) -> Iterator[sqlite3.Cursor]:
        with (self._lock,
              translated(sqlite3.Error, TokenStoreError, f"the token store at {self.path} failed"),
              sqlite_transaction(self._db) as cursor):
            yield cursor

    def close(self) -> None:
        with self._lock:
            self._db.close()
