"""Recorded acts leave the intake topic: each partition's log start follows its writer.

The intake topic holds acts as upstream sent them, personal values in plaintext. Once a
batch's transaction has committed, its acts are events (encrypted) or rejections (no
value), and nothing needs their plaintext any more. ``IntakeTrimmer`` moves each intake
partition's log start offset up to what its writer committed (``DeleteRecords``), so the
acts can no longer be read; their bytes leave the broker's disk with their segment (see
``ledger.kafka.admin.intake_topic_spec`` and README, "On Kafka").

Batched: one request for every partition that is due, at most every ``every_s`` seconds
per partition (and at once when asked to ``flush``, e.g. when a writer stops).
Safe against a zombie: an offset a writer committed never moves back, so whatever a
fenced writer trims, the rightful one committed too. A failed request is retried at the
next chance; the failure is kept for the caller to report, and never stops a writer.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from kafka import TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError

TRIM_EVERY_S = 5.0
_TIMEOUT_MS = 10_000


class IntakeTrimmer:
    """The log start offsets one process advances, over one admin connection."""

    def __init__(self, bootstrap_servers: str, topic: str, *, every_s: float = TRIM_EVERY_S,
                 client_id: str = "personal-data-ledger-intake-trim",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.every_s = every_s
        self.client_id = client_id
        self._clock = clock
        self._admin: KafkaAdminClient | None = None
        self._wanted: dict[int, int] = {}
        self._trimmed: dict[int, int] = {}
        self._at: dict[int, float] = {}
        self.trims = 0  # DeleteRecords requests that succeeded
        self.last_error: str | None = None  # of the last request, if it failed
        self._told: str | None = None

    def advance(self, partition: int, offset: int) -> None:
        """Records that ``partition`` may start at ``offset`` (never moves back)."""
        if offset > self._wanted.get(partition, -1):
            self._wanted[partition] = offset

    def new_error(self) -> str | None:
        """The last request's failure, once per failure in a row (None: it passed)."""
        error = self.last_error
        told, self._told = self._told, error
        return error if error is not None and error != told else None

    def trimmed(self, partition: int) -> int | None:
        """Where this trimmer last moved ``partition``'s log start (None: not yet)."""
        return self._trimmed.get(partition)

    def forget(self, partition: int) -> None:
        """Stops trimming ``partition`` (its shard went to another process)."""
        for known in (self._wanted, self._trimmed, self._at):
            known.pop(partition, None)

    def trim_due(self, *, flush: bool = False) -> dict[int, int]:
        """Trims every partition whose wanted start is ahead of its trimmed one, if its
        last trim is ``every_s`` ago (or ``flush``); returns the new log starts."""
        now = self._clock()
        due = {p: offset for p, offset in self._wanted.items()
               if offset > self._trimmed.get(p, -1)
               and (flush or now - self._at.get(p, float("-inf")) >= self.every_s)}
        if not due:
            return {}
        for partition in due:
            self._at[partition] = now  # a failure waits its turn too
        try:
            self._connect().delete_records(
                {TopicPartition(self.topic, p): offset for p, offset in due.items()},
                timeout_ms=_TIMEOUT_MS)
        except KafkaError as error:
            self.last_error = f"{type(error).__name__}"
            self._close_admin()  # a fresh connection next time
            return {}
        self.last_error = None
        self.trims += 1
        self._trimmed.update(due)
        return due

    def close(self) -> None:
        self._close_admin()

    def _connect(self) -> KafkaAdminClient:
        if self._admin is None:
            self._admin = KafkaAdminClient(
                bootstrap_servers=self.bootstrap_servers, client_id=self.client_id,
                request_timeout_ms=_TIMEOUT_MS, bootstrap_timeout_ms=_TIMEOUT_MS)
        return self._admin

    def _close_admin(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            # A broken connection has nothing left to close cleanly.
            with contextlib.suppress(KafkaError):
                admin.close()
