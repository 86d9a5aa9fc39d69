"""The embedded event store with its verifiable log: ``PERSISTENCE_MODULE=
ledger.persistence.sqlite_audited`` (eventsourcing's SQLite module, configured the same
way: ``SQLITE_DBNAME``, ``SQLITE_LOCK_TIMEOUT``).

The application recorder is eventsourcing's own, with one addition inside its insert
transaction: each stored event becomes the next leaf of the log's RFC 9162 tree
(``ledger.audit``), numbered from 0 without gaps. In the same SQLite transaction as the
events, so that no event is ever stored without its leaf or the other way round:

- ``ledger_leaves``: one row per event: its ``sequence``, its ``notification_id`` (the
  library's rowid, unchanged), its identity (originator id and version, as the library
  stores them) and the ``leaf_hash`` appended;
- ``ledger_tree``: one row: the tree's frontier (``Frontier.to_bytes``), and the size
  and time of the last checkpoint;
- ``ledger_checkpoints``: the signed checkpoints (C2SP notes), when the signer the
  composition root attaches (``signer``) finds one due: every N events or T seconds,
  in the transaction of the events it covers, and when the process closes the ledger
  (``checkpoint_now``).

The leaf of an event is its stored form (ciphertext, key id, nonce, clear metadata), so
an erasure, which destroys keys and leaves events as they are, changes no leaf.

**Migration.** A store written before the tree existed has events but no tree: the first
open numbers its events in notification order, appends their leaves and stores the
frontier, all in one write transaction (other processes opening the store meanwhile
wait, then find the tree in place).

``EmbeddedAuditLog`` reads it all back, read-only and in one snapshot, for `ledger audit
verify` and the proofs of an export.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any
from uuid import UUID

import eventsourcing.sqlite as library_sqlite
from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor

from ledger.audit.checkpoint import SignedCheckpoint, shard_origin
from ledger.audit.errors import AuditError
from ledger.audit.frontier import Frontier
from ledger.audit.leaves import event_leaf_hash
from ledger.audit.signer import CheckpointSigner
from ledger.audit.verify import LeafRecord, StoredTree
from ledger.crypto.binding import META_LEDGER_ID
from ledger.errors import ConfigurationError

LEAVES = "ledger_leaves"
TREE = "ledger_tree"
CHECKPOINTS = "ledger_checkpoints"
_UNNUMBERED = b""  # the frontier of a tree row a migration has claimed but not filled
_MIGRATION_CHUNK = 2000
# Each stored event with the leaf row of its identity, and that of its notification id.
_SELECT_RECORDS = (
    "SELECT e.rowid AS nid, e.originator_id, e.originator_version, e.topic, e.state, "
    "l.sequence AS seq, l.leaf_hash AS leaf, n.sequence AS nseq, n.leaf_hash AS nleaf "
    "FROM stored_events e "
    "LEFT JOIN ledger_leaves l ON l.originator_id = e.originator_id "
    "AND l.originator_version = e.originator_version "
    "LEFT JOIN ledger_leaves n ON n.notification_id = e.rowid ORDER BY e.rowid")


def _stored_id(originator_id: UUID | str) -> str:
    """The originator id as the library's SQLite recorder stores it."""
    return originator_id.hex if isinstance(originator_id, UUID) else originator_id


def _leaf_id(stored: str) -> str:
    """The originator id as a leaf carries it: ``str(UUID)``, as the writer saw it."""
    try:
        return str(UUID(stored))
    except ValueError:
        return stored


class AuditedSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    # Attached by the composition root, with the ledger's key and origin; without it
    # the tree grows and nothing is signed.
    signer: CheckpointSigner | None = None

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {LEAVES} ("
            "sequence INTEGER PRIMARY KEY, notification_id INTEGER NOT NULL UNIQUE, "
            "originator_id TEXT NOT NULL, originator_version INTEGER NOT NULL, "
            "leaf_hash BLOB NOT NULL, UNIQUE (originator_id, originator_version))",
            f"CREATE TABLE IF NOT EXISTS {TREE} ("
            "id INTEGER PRIMARY KEY CHECK (id = 0), frontier BLOB NOT NULL, "
            "signed_size INTEGER NOT NULL, signed_at REAL)",
            f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS} ("
            "id INTEGER PRIMARY KEY AUTOINCREMENT, tree_size INTEGER NOT NULL, "
            "signed_at REAL NOT NULL, note TEXT NOT NULL)",
        ]

    def create_table(self) -> None:
        super().create_table()
        self._number_unnumbered()

    # -- writing ------------------------------------------------------------------------

    def _insert_events(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent],
                       **kwargs: Any) -> Sequence[int] | None:
        # The library's inserts come first: they take the write lock, so the tree read
        # below is the latest, and no other writer can append before this commits.
        ids = super()._insert_events(c, stored_events, **kwargs)
        if ids is None or len(ids) != len(stored_events):
            raise AuditError("the event store did not number every inserted event")
        frontier, signed_size, signed_at = self._tree(c)
        rows = []
        for event, notification_id in zip(stored_events, ids, strict=True):
            sequence = frontier.size
            leaf = event_leaf_hash(sequence, event)
            frontier.append(leaf)
            rows.append((sequence, notification_id, _stored_id(event.originator_id),
                         event.originator_version, leaf))
        c.executemany(f"INSERT INTO {LEAVES} VALUES (?, ?, ?, ?, ?)", rows)  # noqa: S608
        self._store_tree(c, frontier, signed_size, signed_at)
        return ids

    def checkpoint_now(self) -> SignedCheckpoint | None:
        """Signs the tree if any leaf is unsigned (when the process closes the ledger,
        before an export's proofs); the checkpoint, or None if there was nothing to sign
        or no signer."""
        signer = self.signer
        if signer is None:
            return None
        with self.datastore.transaction(commit=True) as c:
            # A write first: the lock is ours before the tree is read.
            c.execute(f"UPDATE {TREE} SET id = id WHERE id = 0")  # noqa: S608
            frontier, signed_size, signed_at = self._tree(c)
            if not signer.due(frontier.size, signed_size, signed_at, closing=True):
                return None
            return self._sign(c, signer, frontier)

    def _tree(self, c: SQLiteCursor) -> tuple[Frontier, int, float | None]:
        c.execute(f"SELECT frontier, signed_size, signed_at FROM {TREE} WHERE id = 0")  # noqa: S608
        row = c.fetchone()
        if row is None or row["frontier"] == _UNNUMBERED:
            raise AuditError("the event store has no tree: open it through the ledger "
                             "once, which numbers its events")
        return Frontier.from_bytes(row["frontier"]), row["signed_size"], row["signed_at"]

    def _store_tree(self, c: SQLiteCursor, frontier: Frontier, signed_size: int,
                    signed_at: float | None) -> None:
        signer = self.signer
        if signer is not None and signer.due(frontier.size, signed_size, signed_at):
            self._sign(c, signer, frontier)
            return
        c.execute(f"UPDATE {TREE} SET frontier = ? WHERE id = 0",  # noqa: S608
                  (frontier.to_bytes(),))

    def _sign(self, c: SQLiteCursor, signer: CheckpointSigner,
              frontier: Frontier) -> SignedCheckpoint:
        signed = signer.sign(frontier)
        now = signer.now()
        c.execute(f"INSERT INTO {CHECKPOINTS} (tree_size, signed_at, note) "  # noqa: S608
                  "VALUES (?, ?, ?)", (frontier.size, now, signed.encode()))
        c.execute(f"UPDATE {TREE} SET frontier = ?, signed_size = ?, signed_at = ? "  # noqa: S608
                  "WHERE id = 0", (frontier.to_bytes(), frontier.size, now))
        return signed

    # -- the one-time migration ----------------------------------------------------------

    def _number_unnumbered(self) -> None:
        """Numbers the events of a store from before the tree, once (see the module)."""
        with self.datastore.transaction(commit=True) as c:
            # A write first, so the lock is held before anything is read; a no-op when
            # the tree row exists.
            c.execute(f"INSERT INTO {TREE} (id, frontier, signed_size, signed_at) "  # noqa: S608
                      "VALUES (0, ?, 0, NULL) ON CONFLICT (id) DO NOTHING", (_UNNUMBERED,))
            c.execute(f"SELECT frontier FROM {TREE} WHERE id = 0")  # noqa: S608
            if c.fetchone()["frontier"] != _UNNUMBERED:
                return
            c.execute(f"SELECT COUNT(*) AS n FROM {LEAVES}")  # noqa: S608
            if c.fetchone()["n"]:
                raise AuditError("the event store's tree row is gone while its leaves are "
                                 "there: the store was tampered with (`ledger audit "
                                 "verify`); restore it from a backup")
            frontier = Frontier()
            after = 0
            while True:
                c.execute(f"SELECT rowid, originator_id, originator_version, topic, state "  # noqa: S608
                          f"FROM {self.events_table_name} WHERE rowid > ? ORDER BY rowid "
                          "LIMIT ?", (after, _MIGRATION_CHUNK))
                chunk = c.fetchall()
                if not chunk:
                    break
                rows = []
                for row in chunk:
                    sequence = frontier.size
                    leaf = event_leaf_hash(sequence, StoredEvent(
                        originator_id=_leaf_id(row["originator_id"]),
                        originator_version=row["originator_version"],
                        topic=row["topic"], state=row["state"]))
                    frontier.append(leaf)
                    rows.append((sequence, row["rowid"], row["originator_id"],
                                 row["originator_version"], leaf))
                c.executemany(f"INSERT INTO {LEAVES} VALUES (?, ?, ?, ?, ?)", rows)  # noqa: S608
                after = chunk[-1]["rowid"]
            c.execute(f"UPDATE {TREE} SET frontier = ? WHERE id = 0",  # noqa: S608
                      (frontier.to_bytes(),))


class Factory(library_sqlite.SQLiteFactory):
    """eventsourcing's SQLite factory, whose application recorder keeps the tree (the
    module holds no other factory class: eventsourcing finds this one by looking)."""

    application_recorder_class = AuditedSQLiteApplicationRecorder


# -- reading it back --------------------------------------------------------------------


class EmbeddedAuditLog:
    """The embedded log, read-only, in one snapshot: the events with their sequence
    numbers and recorded leaves, the writer's tree, the stored checkpoints.

    An event's sequence is found by its identity (originator id and version), so an
    event moved to another notification id keeps its number (and is named reordered);
    failing that by its notification id (an event whose identity was altered keeps the
    number of its place, and is named changed); an event found by neither was never
    appended by the ledger (inserted).
    """

    def __init__(self, path: Path) -> None:
        if not path.exists():
            raise ConfigurationError(f"no event store at {path} (check LEDGER_DATA_DIR)")
        self.path = path
        try:
            self._db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                                       isolation_level=None, timeout=10)
            self._db.row_factory = sqlite3.Row
            self._db.execute("BEGIN")  # one snapshot for every read below
            tables = {row[0] for row in self._db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.Error as error:
            raise ConfigurationError(f"cannot read the event store {path} "
                                     f"({type(error).__name__})") from error
        if TREE not in tables or LEAVES not in tables:
            self.close()
            raise ConfigurationError(f"the event store {path} has no tree yet: any "
                                     "`ledger` command numbers its events when it opens it")
        self._has_binding = "ledger_binding" in tables

    def shards(self) -> list[int]:
        return [0]

    def shard_of(self, subject_id: UUID) -> int:
        return 0

    def origin(self, shard: int) -> str:
        """The checkpoints' origin: the ledger id the store is bound to, shard 0."""
        row = None
        if self._has_binding:
            row = self._db.execute("SELECT value FROM ledger_binding WHERE name = ?",
                                   (META_LEDGER_ID,)).fetchone()
        if row is None:
            raise ConfigurationError(f"the event store {self.path} is bound to no ledger "
                                     "yet: open it through the ledger once")
        return shard_origin(str(row[0]), shard)

    def stored_tree(self, shard: int) -> StoredTree:
        """The writer's frontier and how many leaves its leaf table numbers, read in the
        snapshot the events are read in."""
        row = self._db.execute(f"SELECT frontier FROM {TREE} WHERE id = 0").fetchone()  # noqa: S608
        frontier = None
        if row is not None and row[0] != _UNNUMBERED:
            try:
                frontier = Frontier.from_bytes(row[0])
            except AuditError:
                frontier = None
        (top,) = self._db.execute(f"SELECT MAX(sequence) FROM {LEAVES}").fetchone()  # noqa: S608
        return StoredTree(frontier, 0 if top is None else top + 1, exact=True)

    def checkpoints(self, shard: int) -> list[str]:
        return [str(row[0]) for row in self._db.execute(
            f"SELECT note FROM {CHECKPOINTS} ORDER BY id")]  # noqa: S608

    def latest_checkpoint(self, shard: int) -> str | None:
        row = self._db.execute(
            f"SELECT note FROM {CHECKPOINTS} ORDER BY tree_size DESC, id DESC LIMIT 1"  # noqa: S608
        ).fetchone()
        return None if row is None else str(row[0])

    def size_hint(self, shard: int) -> int:
        (top,) = self._db.execute("SELECT MAX(rowid) FROM stored_events").fetchone()
        return int(top or 0)

    def records(self, shard: int) -> Iterator[LeafRecord]:
        """Every stored event in notification order, with its sequence if it has one."""
        cursor = self._db.execute(_SELECT_RECORDS)
        for row in cursor:
            by_identity = row["seq"] is not None
            yield LeafRecord(
                sequence=row["seq"] if by_identity else row["nseq"],
                originator_id=_leaf_id(row["originator_id"]),
                originator_version=row["originator_version"], topic=row["topic"],
                state=row["state"], where=f"notification id {row['nid']}",
                recorded_leaf=row["leaf"] if by_identity else row["nleaf"])

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> EmbeddedAuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def has_checkpoints(path: Path) -> bool:
    """Whether the event store at ``path`` holds a signed checkpoint (read-only)."""
    if not path.exists() or path.stat().st_size == 0:
        return False
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                                     timeout=10)) as db:
            found = db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND "
                               "name = ?", (CHECKPOINTS,)).fetchone()
            return found is not None and db.execute(
                f"SELECT 1 FROM {CHECKPOINTS} LIMIT 1").fetchone() is not None  # noqa: S608
    except sqlite3.Error:
        return False
