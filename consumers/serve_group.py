"""`ledger serve --group`: shards assigned by Kafka's consumer group protocol.

Every `ledger serve --group` (on one machine or many) joins the intake consumer group
(``INTAKE_GROUP``, the group the intake offsets are committed to) with one consumer
subscribed to the intake topic, ``CooperativeStickyAssignor`` (a rebalance moves only
the shards that change hands; the others keep running), and optionally a static
``group.instance.id`` (a restart within the session timeout gets its shards back with
no rebalance at all). That consumer only holds the membership: its partitions are
paused, and each assigned shard is served as in plain `ledger serve`, by an
``IntakeWriter`` with its own reader and its own transactional producer, whose
``transactional.id`` names the shard and so fences any earlier owner (a process that
was killed, or cut off and given up on by the group).

Each batch commits its intake offsets with the member's group metadata
(``send_offsets_to_transaction(offsets, consumer.group_metadata())``, KIP-447): a
member of an old generation, or one the group dropped, cannot commit any more, even
before a new owner has fenced its producer.

Assignment changes reach us in the consumer's rebalance callbacks, which kafka-python
runs while the main thread waits in ``poll``, between batches: so no batch is ever open
when a shard is revoked or lost. The callbacks only note the change; the main thread
applies it right after ``poll`` returns and before any batch, which is also before the
next ``poll`` lets the cooperative protocol hand a revoked shard to its new owner:

- revoked: the shard's writer stops (no batch is open: nothing to finish or abort), its
  recorder signs what is unsigned and closes, its projections close;
- lost (the group gave up on us): the same, but without any commit (no closing
  checkpoint): the shard is someone else's already;
- assigned: the shard is claimed (``init_transactions`` fences the previous owner and
  waits out its open transaction), its recorder reads the shard, the writer resumes at
  the committed intake offset. The process's key cache is cleared first: while another
  process owned the shard it may have shredded keys this cache still holds.

Several processes need the same keys and projections, so group mode needs the shared
stores (``LEDGER_POSTGRES_DSN``) and refuses to start without them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import IO

import orjson

from consumers.composition import open_shard
from consumers.exit_codes import ExitCode
from consumers.intake_writer import IntakeWriter
from consumers.serve import BatchHandler, Serving
from ledger.application import LedgerApplication
from ledger.config import Settings
from ledger.errors import ConfigurationError
from ledger.kafka.admin import ensure_topics, required_topic_specs
from ledger.kafka.intake_group import GROUP_POLL_MS, IntakeGroup
from ledger.kafka.intake_progress import INTAKE_GROUP
from ledger.kafka.transactions import WriterFenced

NO_POSTGRES = (
    "`ledger serve --group` needs LEDGER_POSTGRES_DSN: in a group, shards move between "
    "processes, and each shard's data keys and projections must be where every process "
    "finds them (the embedded SQLite stores belong to one process's data directory). "
    "Without PostgreSQL, run one `ledger serve` (every shard, or --shard N each)")


class GroupServer:
    """The shards the group gave this process, opened and closed as it changes."""

    def __init__(self, serving: Serving, group: IntakeGroup, batch_size: int) -> None:
        self.serving = serving  # the key store, projections and trimmer the shards share
        self.group = group
        self.batch_size = batch_size
        self.shards: dict[int, tuple[LedgerApplication, IntakeWriter]] = {}
        self.writers: list[IntakeWriter] = []  # the same writers, for IdleExit and reports

    def run(self, should_stop: Callable[[], bool], on_batch: BatchHandler) -> None:
        while not should_stop():
            self.group.poll(timeout_ms=GROUP_POLL_MS if self.shards else 500)
            self.apply_changes()
            for shard, (_, writer) in list(self.shards.items()):
                try:
                    report = writer.run_once()
                except WriterFenced:
                    if not self._gone(shard):
                        raise  # fenced while still ours: crash-only, as in plain serve
                    continue
                if report.read > report.markers:
                    on_batch(shard, report)
                if should_stop():
                    return

    def apply_changes(self) -> None:
        lost, revoked, assigned = self.group.changes.take()
        for shard in sorted(lost):
            self.close_shard(shard, lost=True)
        for shard in sorted(revoked):
            self.close_shard(shard, lost=False)
        if lost or revoked:
            self._say("lost" if lost else "revoked", sorted(lost | revoked), None)
        opening = sorted(s for s in assigned if s not in self.shards)
        if opening:
            started = time.monotonic()
            for shard in opening:
                self.open_shard(shard)
            self._say("assigned", opening, time.monotonic() - started)

    def open_shard(self, shard: int) -> None:
        serving = self.serving
        clear = getattr(serving.key_store, "clear", None)
        if callable(clear):
            clear()  # another process may have shredded keys while it owned the shard
        app = open_shard(serving.settings, serving.key_store, shard, writer=True)
        try:
            writer = IntakeWriter(app, serving.settings.kafka, shard, batch_size=self.batch_size,
                                  trimmer=serving.trimmer, group_metadata=self.group.metadata)
            serving.projections.add(shard, app)
        except BaseException:
            app.close()
            raise
        self.shards[shard] = (app, writer)
        self.writers.append(writer)

    def close_shard(self, shard: int, *, lost: bool) -> None:
        served = self.shards.pop(shard, None)
        if served is None:
            return
        app, writer = served
        self.writers.remove(writer)
        try:
            writer.close()
            if lost:
                writer.recorder.signer = None  # no closing checkpoint: no commit at all
            app.close()
        finally:
            self.serving.projections.remove(shard)
            self.serving.trimmer.forget(shard)

    def close(self) -> None:
        for shard in sorted(self.shards):
            self.close_shard(shard, lost=False)

    def _gone(self, shard: int) -> bool:
        """After a fenced commit: whether the group took the shard from us meanwhile (it
        is closed then, and serving goes on)."""
        self.group.poll(timeout_ms=GROUP_POLL_MS)
        self.apply_changes()
        return shard not in self.shards

    def _say(self, what: str, shards: list[int], took_s: float | None) -> None:
        timing = f" (opened in {took_s:.2f} s)" if took_s is not None else ""
        out, err = self.serving.out, self.serving.err
        err.write(f"group: {what} shards {shards}{timing}; serving {sorted(self.shards)}\n")
        err.flush()
        if out is not None:
            line: dict[str, object] = {what: shards, "serving": sorted(self.shards)}
            if took_s is not None:
                line["opened_s"] = round(took_s, 3)
            out.write(orjson.dumps(line).decode() + "\n")
            out.flush()


def with_zombie_timeout(settings: Settings) -> Settings:
    """The settings with PostgreSQL sessions that end a transaction left idle for the
    group's session timeout (at least 10 s): a member frozen mid-batch (a pause, a cut
    network) loses its shards to another after that long, and its open transactions on
    the shared key store and projections must not hold their locks against the new
    owner for ever (found by the zombie test: the new owner's projections waited on
    them). A live writer never leaves a transaction idle that long."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo  # noqa: PLC0415 - optional extra

    dsn = settings.postgres_dsn or ""
    timeout_ms = max(10_000, settings.kafka.group_session_timeout_ms)
    options = conninfo_to_dict(dsn).get("options") or ""
    options = f"{options} -c idle_in_transaction_session_timeout={timeout_ms}".strip()
    return replace(settings, postgres_dsn=make_conninfo(dsn, options=options))


def serve_group(settings: Settings, batch_size: int, out: IO[str], err: IO[str], *,
                as_json: bool, instance_id: str | None = None,
                max_idle_s: float | None = None) -> int:
    """Serves the shards the intake group assigns to this process until SIGTERM/SIGINT
    (or ``max_idle_s`` idle with every assigned shard read to its end)."""
    if not settings.postgres_dsn:
        raise ConfigurationError(NO_POSTGRES)
    settings = with_zombie_timeout(settings)
    ensure_topics(settings.kafka.bootstrap_servers, required_topic_specs(settings.kafka))
    serving = Serving(settings, out if as_json else None, err)
    server: GroupServer | None = None
    try:
        kafka = settings.kafka
        group = IntakeGroup(kafka.bootstrap_servers, kafka.intake_topic, INTAKE_GROUP,
                            client_id=f"{kafka.client_id}-group", instance_id=instance_id,
                            session_timeout_ms=kafka.group_session_timeout_ms)
        server = GroupServer(serving, group, batch_size)
        err.write(f"joining the intake group {INTAKE_GROUP} on "
                  f"{settings.kafka.intake_topic}"
                  + (f" as {instance_id}" if instance_id else "") + "\n")
        err.flush()
        stopped = serving.run(server.run, server.writers, max_idle_s)
        if stopped is not None:
            return stopped
    finally:
        if server is not None:
            server.close()
            server.group.close()
        serving.close()
    err.write("stopped cleanly\n")
    return ExitCode.OK
