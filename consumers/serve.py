"""`ledger serve`: the intake writers of the served shards, and their projections.

Each shard's projections are caught up from its writer right after each batch the
writer commits, in the same loop: a batch is visible to DSAR handlers as soon as it is
recorded, and after a crash the projector resumes at the last batch it committed (its
position is committed with its rows), so nothing is projected twice or skipped.
"""

from __future__ import annotations

import gc
import signal
import time
import traceback
from collections.abc import Callable, Sequence
from functools import partial
from types import FrameType
from typing import IO

import orjson

from consumers.composition import (
    bootstrap_office_keys,
    open_key_store,
    open_projection_store,
    open_shard,
    prepare_data_dir,
)
from consumers.exit_codes import ExitCode
from consumers.intake_writer import BatchReport, IntakeWriter, run_until
from consumers.projection_runner import catch_up, projector_for
from ledger.application import LedgerApplication
from ledger.config import Settings
from ledger.errors import BrokerError, ConfigurationError, LedgerError
from ledger.kafka.admin import ensure_topics, required_topic_specs
from ledger.kafka.intake_trim import IntakeTrimmer
from ledger.kafka.transactions import WriterFenced
from ledger.refusals import refusal_of
from projections.errors import ProjectionError
from projections.projector import Projector
from projections.store import ProjectionStore

# What a serving loop calls after each batch a writer commits: its shard and report.
BatchHandler = Callable[[int, BatchReport], None]

# A writer keeps up to ``LIVE_AGGREGATES`` subjects live, each some two dozen containers;
# at the interpreter's default (a young collection every 700 allocations, an older one
# every 10 of those) the collector walks them again and again. These took 4% off ingest
# on mixed and 5-10% on new-subjects (bench_kafka.py, A/B in one sitting); a young
# generation of 50,000 objects is a few MB between collections.
WRITER_GC_THRESHOLDS = (50_000, 20, 20)


def tune_collector_for_writers() -> None:
    """The garbage collector's thresholds for a process that runs intake writers."""
    gc.set_threshold(*WRITER_GC_THRESHOLDS)


class ShardProjections:
    """Each served shard's projector and store, fed from the shard's writer."""

    def __init__(self, settings: Settings, err: IO[str]) -> None:
        self.settings = settings
        self.err = err
        self._shards: dict[int, tuple[LedgerApplication, Projector, ProjectionStore]] = {}

    def add(self, shard: int, app: LedgerApplication) -> None:
        store = open_projection_store(self.settings, shard)
        self._shards[shard] = (app, projector_for(app), store)
        self.catch_up(shard)

    def catch_up(self, shard: int) -> int:
        """The shard's projected position after projecting what its writer committed."""
        app, projector, store = self._shards[shard]
        try:
            return catch_up(app.recorder, projector, store).position
        except ProjectionError as error:
            # Intake goes on: the acts are recorded, and the projector resumes at the
            # failing event once it is fixed (the message names no value).
            position = store.position()
            self.err.write(f"shard {shard}: projections stopped at {position}: {error}\n")
            return position

    def remove(self, shard: int) -> None:
        """Closes a shard's projection store (its shard went to another process)."""
        served = self._shards.pop(shard, None)
        if served is not None:
            served[2].close()

    def close(self) -> None:
        for _, _, store in self._shards.values():
            store.close()


class IdleExit:
    """``--exit-when-idle``: quiet for ``max_idle_s`` *and* every served partition read to
    its end. A quiet period alone is not enough: under load a shard's first fetch can
    come back after it, and its acts would be left for the next run."""

    CHECK_EVERY_S = 1.0

    def __init__(self, max_idle_s: float | None, writers: Sequence[IntakeWriter]) -> None:
        self.max_idle_s = max_idle_s
        self.writers = writers
        self._checked_at = float("-inf")

    def reached(self, last_work_at: float) -> bool:
        now = time.monotonic()
        if self.max_idle_s is None or now - last_work_at <= self.max_idle_s:
            return False
        if now - self._checked_at < self.CHECK_EVERY_S:
            return False  # asked the broker a moment ago
        self._checked_at = now
        return all(writer.caught_up() for writer in self.writers)


def _report_batch(out: IO[str] | None, err: IO[str], shard: int, report: BatchReport, *,
                  projected: int, parked_topic: str) -> None:
    """A --json line on ``out`` if given, else a line on ``err``; and a warning on
    ``err`` for each act parked."""
    if out is not None:
        line: dict[str, object] = {
            "shard": shard, "read": report.read, "recorded": report.recorded,
            "duplicate": report.duplicate, "rejected": report.rejected,
            "parked": report.parked, "forwarded": report.forwarded,
            "offset": report.last_offset, "projected": projected}
        if report.parked:
            line["parked_offsets"] = report.parked_offsets
        out.write(orjson.dumps(line).decode() + "\n")
        out.flush()
    else:
        err.write(f"shard {shard}: {report.recorded} recorded, {report.duplicate} "
                  f"duplicate, {report.rejected} rejected, {report.parked} parked, "
                  f"{report.forwarded} forwarded (offset {report.last_offset}; "
                  f"projected to {projected})\n")
    for offset in report.parked_offsets:
        err.write(f"shard {shard}: parked the act at intake offset {offset}, which failed "
                  f"every try, on {parked_topic}; re-drive it from the "
                  "intake topic once its cause is fixed\n")
    err.flush()


def open_intake_trimmer(settings: Settings) -> IntakeTrimmer:
    """One admin connection per process moves its shards' intake log starts."""
    return IntakeTrimmer(settings.kafka.bootstrap_servers, settings.kafka.intake_topic,
                         client_id=f"{settings.kafka.client_id}-intake-trim")


def _warn_trim_failure(err: IO[str], trimmer: IntakeTrimmer) -> None:
    """Says so (once per failure in a row) when recorded acts could not be cut off the
    intake topic; the next batch tries again."""
    error = trimmer.new_error()
    if error is not None:
        err.write(f"could not move the intake topic's start past recorded acts ({error}); "
                  "retrying after the next batch\n")
        err.flush()


def run_writers(run: Callable[[], None], err: IO[str],
                writers: Sequence[IntakeWriter]) -> int | None:
    """Runs the writers' loop; None when it ended as asked, else the exit code of the
    failure that ended it (the batch in flight was aborted; crash-only)."""
    try:
        run()
    except WriterFenced as fenced:
        err.write(f"stopping: {fenced} (a newer `ledger serve` took over)\n")
        return ExitCode.FENCED
    except BrokerError as error:
        err.write(f"stopping: {error}; the batch in flight was aborted. Restart "
                  "`ledger serve` (under a supervisor): it resumes at the last commit\n")
        return ExitCode.FAILED
    except Exception as error:
        # An act failed other than by a refusal, or a store did: the batch was aborted
        # and is read again at the restart. The ledger's own errors go on to the
        # command line (their messages name no value; key loss exits 5); of an
        # unexpected one, never its message (it may quote an act), but where it was.
        _report_act_failure(err, writers)
        if isinstance(error, LedgerError):
            raise
        err.write("".join(traceback.format_tb(error.__traceback__)))
        err.write(f"stopping: {refusal_of(error).rule}: {type(error).__name__}; the "
                  "batch in flight was aborted. Restart `ledger serve` (under a "
                  "supervisor): it reads the batch again\n")
        return ExitCode.FAILED
    return None


def _close_trimmer(err: IO[str], trimmer: IntakeTrimmer) -> None:
    _warn_trim_failure(err, trimmer)
    trimmer.close()


def _report_act_failure(err: IO[str], writers: Sequence[IntakeWriter]) -> None:
    """Which act made the batch fail, if one did, and how often it has so far."""
    for writer in writers:
        failure = writer.last_failure
        if failure is not None:
            then = ("it is parked when next read" if failure.failures >= writer.park_after
                    else f"it is parked after {writer.park_after}")
            err.write(f"shard {writer.shard}: the act at intake offset {failure.offset} "
                      f"failed ({failure.error}), {failure.failures} time(s) so far; {then}\n")
    err.flush()


class Serving:
    """What `ledger serve` and `ledger serve --group` share around their writers:
    SIGTERM and SIGINT ask them to stop (the batch in flight commits or aborts first),
    the key store, projections and intake trimmer every served shard uses, and what
    follows each batch a writer commits."""

    def __init__(self, settings: Settings, out: IO[str] | None, err: IO[str]) -> None:
        self.settings = settings
        self.out = out  # the --json lines; None: a line for people on ``err``
        self.err = err
        self.stop_requested = False
        tune_collector_for_writers()
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, self._request_stop)
        prepare_data_dir(settings)
        bootstrap_office_keys(settings)  # a new ledger's office keys, before its key store
        self.key_store = open_key_store(settings)
        self.projections = ShardProjections(settings, err)
        self.trimmer = open_intake_trimmer(settings)
        self._last_work_at = time.monotonic()

    def _request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop_requested = True  # the current batch commits or aborts, then we leave

    def run(self, loop: Callable[[Callable[[], bool], BatchHandler], None],
            writers: Sequence[IntakeWriter], max_idle_s: float | None) -> int | None:
        """Runs ``loop(should_stop, on_batch)`` until a stop is asked for (or
        ``max_idle_s`` idle); None when it stopped as asked, else the exit code of the
        failure that ended it (``run_writers``)."""
        idle = IdleExit(max_idle_s, writers)
        self._last_work_at = time.monotonic()

        def should_stop() -> bool:
            return self.stop_requested or idle.reached(self._last_work_at)

        return run_writers(lambda: loop(should_stop, self._on_batch), self.err, writers)

    def _on_batch(self, shard: int, report: BatchReport) -> None:
        self._last_work_at = time.monotonic()
        _warn_trim_failure(self.err, self.trimmer)
        projected = self.projections.catch_up(shard)
        _report_batch(self.out, self.err, shard, report, projected=projected,
                      parked_topic=self.settings.kafka.parked_topic)

    def close(self) -> None:
        _close_trimmer(self.err, self.trimmer)
        self.projections.close()
        self.key_store.close()


def serve(settings: Settings, shards: Sequence[int] | None, batch_size: int,
          out: IO[str], err: IO[str], *, as_json: bool, max_idle_s: float | None = None) -> int:
    """Runs one intake writer per shard until SIGTERM/SIGINT (or ``max_idle_s`` idle)."""
    ensure_topics(settings.kafka.bootstrap_servers, required_topic_specs(settings.kafka))
    chosen = list(shards) if shards else list(range(settings.kafka.partitions))
    if any(not 0 <= s < settings.kafka.partitions for s in chosen):
        raise ConfigurationError(
            f"shards are partitions 0..{settings.kafka.partitions - 1}, got {chosen}")
    serving = Serving(settings, out if as_json else None, err)
    apps, writers = [], []
    try:
        for shard in chosen:
            app = open_shard(settings, serving.key_store, shard, writer=True)
            apps.append(app)
            writers.append(IntakeWriter(app, settings.kafka, shard, batch_size=batch_size,
                                        trimmer=serving.trimmer))
            serving.projections.add(shard, app)  # catches up what earlier runs did not project
        err.write(f"serving shards {chosen} of {settings.kafka.ledger_topic} "
                  f"from {settings.kafka.intake_topic}\n")
        err.flush()
        stopped = serving.run(partial(run_until, writers), writers, max_idle_s)
        if stopped is not None:
            return stopped
    finally:
        for writer in writers:
            writer.close()
        for app in apps:
            app.close()
        serving.close()
    err.write("stopped cleanly\n")
    return ExitCode.OK
