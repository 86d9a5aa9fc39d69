"""The access log: who looked at whose values, append-only by construction.

The code only ever INSERTs and SELECTs; triggers refuse UPDATE and DELETE (and, on
PostgreSQL, TRUNCATE), so a bug or a hand with a database shell cannot quietly rewrite
who looked. Each entry also carries a SHA-256 chain digest over the one before it and
its own fields, so an entry changed, removed or inserted at the storage level (triggers
dropped first) shows in ``verify``. It holds no personal value: ids, names of staff and
systems, codes and category names only.

``AccessLog`` is the port and its SQL, shared by the adapters (``param`` is the driver's
placeholder, ``table`` the table's qualified name): a SQLite file of its own
(``log_sqlite``, ``DATA_DIR/access-log.sqlite``, 0600) and PostgreSQL (``log_postgres``,
schema ``ledger_access``) when ``LEDGER_POSTGRES_DSN`` is set, shared by every console
host.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson

from consumers.access.purposes import check_case_ref, check_purpose
from ledger.errors import LedgerError, translated

GENESIS = "0" * 64
_COLUMNS = ("seq", "at", "viewer", "role", "channel", "subject_id", "shown", "categories",
            "case_ref", "purpose", "digest")
_SELECT = ("SELECT seq, at, viewer, role, channel, subject_id, shown, categories, case_ref, "
           "purpose, digest FROM ACCESS_LOG")


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


def chain_digest(previous: str, fields: dict[str, Any]) -> str:
    """The digest of an entry: SHA-256 over the one before and its own fields."""
    body = orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(previous.encode("ascii") + body).hexdigest()


def _chained_fields(entry: AccessEntry | dict[str, Any]) -> dict[str, Any]:
    data = entry.as_dict() if isinstance(entry, AccessEntry) else dict(entry)
    data.pop("digest", None)
    return data


class AccessLog(ABC):
    """The append-only access log; its SQL is shared by the adapters.

    An adapter gives ``_writing`` (a cursor in a transaction that holds the log's append
    lock, so that the last entry read is still the last at commit), ``_reading`` and
    ``close``; ``label`` names where the log is (a path, a schema), for error messages.
    """

    param = "?"
    table = "access_log"
    imports_table = "access_log_imports"  # the logs imported (``import_log``), by head
    label = "the access log"
    driver_errors: tuple[type[BaseException], ...] = ()

    @abstractmethod
    def _writing(self) -> AbstractContextManager[Any]:
        """A cursor in a transaction holding the append lock, committed on exit."""

    @abstractmethod
    def _reading(self) -> AbstractContextManager[Any]:
        """A cursor to read with."""

    @abstractmethod
    def close(self) -> None:
        """Lets go of the storage."""

    def _sql(self, text: str) -> str:
        return (text.replace("?", self.param).replace("ACCESS_IMPORTS", self.imports_table)
                .replace("ACCESS_LOG", self.table))

    def _translated(self, what: str) -> translated:
        return translated(self.driver_errors, AccessLogError, f"cannot {what} {self.label}")

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
        with self._translated("write"), self._writing() as cursor:
            return self._append_in(cursor, fields)

    def import_log(self, source: AccessLog) -> int:
        """Appends every entry of ``source`` (a host's own log from before the shared
        one), in its order and with its moments, in one transaction; returns how many.
        Refused if ``source`` does not verify: an altered log is kept as evidence, never
        laundered into this one. The source's head is recorded with the entries, so a
        second import of the same log adds nothing."""
        checked = source.verify()
        if not checked.intact:
            raise AccessLogError(
                f"{source.label} does not verify (its chain breaks at entry "
                f"{checked.first_bad_seq}): not imported into {self.label}; keep the file "
                "as evidence and move it out of the data directory to go on")
        if checked.head == GENESIS:
            return 0
        entries = source.entries()
        with self._translated("import into"), self._writing() as cursor:
            cursor.execute(self._sql("SELECT head FROM ACCESS_IMPORTS WHERE head = ?"),
                           (checked.head,))
            if cursor.fetchone() is not None:
                return 0
            for entry in entries:
                fields = _chained_fields(entry)
                del fields["seq"]
                self._append_in(cursor, fields)
            cursor.execute(self._sql("INSERT INTO ACCESS_IMPORTS (head, source, entries, at) "
                                     "VALUES (?, ?, ?, ?)"),
                           (checked.head, source.label, len(entries),
                            datetime.now(UTC).isoformat(timespec="microseconds")))
        return len(entries)

    def _append_in(self, cursor: Any, fields: dict[str, Any]) -> AccessEntry:
        """Appends one entry inside ``_writing``'s transaction."""
        cursor.execute(self._sql(
            "SELECT seq, digest FROM ACCESS_LOG ORDER BY seq DESC LIMIT 1"))
        last = cursor.fetchone()
        seq = (int(last[0]) if last else 0) + 1
        digest = chain_digest(last[1] if last else GENESIS, {"seq": seq, **fields})
        cursor.execute(self._sql(
            "INSERT INTO ACCESS_LOG (seq, at, viewer, role, channel, subject_id, "
            "shown, categories, case_ref, purpose, digest) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
            (seq, fields["at"], fields["viewer"], fields["role"], fields["channel"],
             fields["subject_id"], fields["shown"], ",".join(fields["categories"]),
             fields["case_ref"], fields["purpose"], digest))
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
        with self._translated("read"), self._reading() as cursor:
            cursor.execute(self._sql(query), params)
            rows: Sequence[Sequence[Any]] = cursor.fetchall()
        return [_entry(row) for row in rows]

    def verify(self) -> Verification:
        """Walks the chain from the first entry: is every digest the one its entry and
        the entry before it give?"""
        previous, count = GENESIS, 0
        for entry in self.entries():
            count += 1
            if entry.digest != chain_digest(previous, _chained_fields(entry)):
                return Verification(count, False, entry.seq, previous)
            previous = entry.digest
        return Verification(count, True, None, previous)


def _entry(row: Sequence[Any]) -> AccessEntry:
    data = dict(zip(_COLUMNS, row, strict=True))
    data["categories"] = [c for c in str(data["categories"]).split(",") if c]
    return AccessEntry(**data)
