"""The access log: one SQLite file of its own, append-only by construction.

The code only ever INSERTs and SELECTs; triggers refuse UPDATE and DELETE, so a bug or
a hand with the sqlite3 shell cannot quietly rewrite who looked. Each entry also
carries a SHA-256 chain digest over the one before it and its own fields, so an entry
changed, removed or inserted at the file level (triggers dropped first) shows in
``verify``. It holds no personal value: ids, names of staff and systems, codes and
category names only. It lives in ``DATA_DIR/access-log.sqlite`` (0600), apart from
the event store, the keys and the projections.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson

from consumers.access.purposes import check_case_ref, check_purpose
from consumers.sqlite_file import open_private_sqlite
from ledger.errors import LedgerError

GENESIS = "0" * 64
_SCHEMA = """
CREATE TABLE IF NOT EXISTS access_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    viewer TEXT NOT NULL,
    role TEXT NOT NULL,
    channel TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    shown TEXT NOT NULL,
    categories TEXT NOT NULL,
    case_ref TEXT NOT NULL,
    purpose TEXT NOT NULL,
    digest TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS access_log_subject ON access_log (subject_id, seq);
CREATE TRIGGER IF NOT EXISTS access_log_no_update BEFORE UPDATE ON access_log
BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS access_log_no_delete BEFORE DELETE ON access_log
BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;
"""
_COLUMNS = ("seq", "at", "viewer", "role", "channel", "subject_id", "shown", "categories",
            "case_ref", "purpose", "digest")
_SELECT = ("SELECT seq, at, viewer, role, channel, subject_id, shown, categories, case_ref, "
           "purpose, digest FROM access_log")


class AccessLogError(LedgerError):
    """The access log cannot be opened, read or written: nothing is shown then."""


@dataclass(frozen=True)
class Consultation:
    """One opening of a subject's values: who, which subject, what, why."""

    viewer: str
    role: str
    channel: str  # "web", "api" or "cli"
    subject_id: UUID
    shown: str  # "subject-view", "export-json", "export-html", "export"
    categories: tuple[str, ...]  # the categories whose values were shown (names only)
    case_ref: str
    purpose: str


@dataclass(frozen=True)
class AccessEntry:
    seq: int
    at: str
    viewer: str
    role: str
    channel: str
    subject_id: str
    shown: str
    categories: list[str]
    case_ref: str
    purpose: str
    digest: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Verification:
    entries: int
    intact: bool
    first_bad_seq: int | None
    head: str


def _digest(previous: str, fields: dict[str, Any]) -> str:
    body = orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(previous.encode("ascii") + body).hexdigest()


def _chained_fields(entry: AccessEntry | dict[str, Any]) -> dict[str, Any]:
    data = entry.as_dict() if isinstance(entry, AccessEntry) else dict(entry)
    data.pop("digest", None)
    return data


class AccessLog:
    """The append-only access log on a SQLite file (created 0600 if missing)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        # Who looked must survive a crash of the process that showed the values.
        self._db = open_private_sqlite(path, _SCHEMA, "synchronous=FULL",
                                       store="the access log", error=AccessLogError)

    def append(self, consultation: Consultation, *, at: datetime | None = None
               ) -> AccessEntry:
        """Records one consultation; called *before* the values are shown."""
        check_case_ref(consultation.case_ref)
        check_purpose(consultation.purpose)
        moment = (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")
        fields: dict[str, Any] = {
                  "at": moment, "viewer": consultation.viewer, "role": consultation.role,
                  "channel": consultation.channel,
                  "subject_id": str(consultation.subject_id), "shown": consultation.shown,
                  "categories": sorted(set(consultation.categories)),
                  "case_ref": consultation.case_ref, "purpose": consultation.purpose}
        with self._lock, self._translated("write"):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                last = self._db.execute(
                    "SELECT seq, digest FROM access_log ORDER BY seq DESC LIMIT 1").fetchone()
                seq = (last[0] if last else 0) + 1
                digest = _digest(last[1] if last else GENESIS, {"seq": seq, **fields})
                self._db.execute(
                    "INSERT INTO access_log (seq, at, viewer, role, channel, subject_id, "
                    "shown, categories, case_ref, purpose, digest) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (seq, moment, fields["viewer"], fields["role"], fields["channel"],
                     fields["subject_id"], fields["shown"], ",".join(fields["categories"]),
                     fields["case_ref"], fields["purpose"], digest))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return AccessEntry(seq=seq, digest=digest, **fields)

    def entries(self, *, subject_id: UUID | None = None, after: int = 0,
                limit: int | None = None) -> list[AccessEntry]:
        query = _SELECT + " WHERE seq > ?"
        params: list[Any] = [after]
        if subject_id is not None:
            query += " AND subject_id = ?"
            params.append(str(subject_id))
        query += " ORDER BY seq"
        if limit is not None:
            query += " LIMIT ?"
            params.append(limit)
        with self._lock, self._translated("read"):
            rows = self._db.execute(query, params).fetchall()
        return [_entry(row) for row in rows]

    def verify(self) -> Verification:
        """Walks the chain from the first entry: is every digest the one its entry and
        the entry before it give?"""
        previous, count = GENESIS, 0
        for entry in self.entries():
            count += 1
            if entry.digest != _digest(previous, _chained_fields(entry)):
                return Verification(count, False, entry.seq, previous)
            previous = entry.digest
        return Verification(count, True, None, previous)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _translated(self, what: str) -> _Translated:
        return _Translated(self.path, what)


class _Translated:
    """sqlite3 errors as ``AccessLogError`` naming the file and the error type only."""

    def __init__(self, path: Path, what: str) -> None:
        self.path, self.what = path, what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: object) -> None:
        if isinstance(error, sqlite3.Error):
            raise AccessLogError(f"cannot {self.what} the access log at {self.path} "
                                 f"({type(error).__name__})") from error


def _entry(row: Sequence[Any]) -> AccessEntry:
    data = dict(zip(_COLUMNS, row, strict=True))
    data["categories"] = [c for c in str(data["categories"]).split(",") if c]
    return AccessEntry(**data)
