"""The composition root: the one place settings become adapters, an application and a
backend. Nothing else asks which backend is configured."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from uuid import UUID

from consumers.access.log import AccessLog
from consumers.access.log_sqlite import SQLiteAccessLog
from consumers.backends.embedded import EmbeddedBackend
from consumers.backends.kafka import KafkaBackend
from consumers.services.audit_keys import bootstrap_audit_key, checkpoint_signer
from consumers.services.audit_log import AuditedLog, subject_log_proofs
from consumers.services.keys import add_office_key
from consumers.services.ports import Backend
from consumers.web.tokens import SQLiteTokenStore, TokenStore
from ledger.application import LedgerApplication
from ledger.audit.checkpoint import ledger_key_name, shard_origin
from ledger.config import Settings
from ledger.crypto.binding import StoreSide
from ledger.crypto.key_cache import CachingKeyStore
from ledger.crypto.key_store_sql import SQLKeyStore
from ledger.crypto.key_store_sqlite import SQLiteKeyStore, require_for
from ledger.crypto.keys import KeyStore
from ledger.crypto.master_key import master_key_from_settings
from ledger.crypto.office_signing import OfficeKey, OfficeKeyring
from ledger.errors import ConfigurationError
from ledger.kafka.admin import check_topics, required_topic_specs
from ledger.kafka.audit_log import KafkaAuditLog, holds_records
from ledger.kafka.binding import bind_kafka_ledger, read_kafka_ledger
from ledger.kafka.recorder import KafkaApplicationRecorder
from ledger.persistence.event_store_binding import bind_event_store, read_event_store
from ledger.persistence.sqlite_audited import (
    AuditedSQLiteApplicationRecorder,
    EmbeddedAuditLog,
    has_checkpoints,
)
from ledger.policy import SYSTEM_ACTOR, load_policy, seed_policy_text
from projections.sqlite_store import SQLiteProjectionStore
from projections.store import ProjectionStore

KEY_CACHE_MAX_AGE_SECONDS = 30.0


@contextmanager
def open_backend(settings: Settings) -> Iterator[Backend]:
    """The configured backend, open; everything it opened is closed on exit."""
    if settings.backend == "kafka":
        prepare_data_dir(settings)
        bootstrap_office_keys(settings)
        key_store = open_key_store(settings)
        try:
            yield KafkaBackend(settings.kafka, key_store, load_policy(),
                               partial(open_projection_store, settings),
                               log_proofs=partial(kafka_log_proofs, settings))
        finally:
            key_store.close()
        return
    with open_embedded(settings) as backend:
        yield backend


@contextmanager
def open_embedded(settings: Settings) -> Iterator[EmbeddedBackend]:
    """The embedded backend whatever the settings say (the demo runs on it)."""
    with open_ledger(settings) as app:
        yield EmbeddedBackend(app, partial(open_projection_store, settings, None),
                              log_proofs=partial(embedded_log_proofs, settings, app))


def event_store_env(settings: Settings) -> dict[str, str]:
    return {
        # eventsourcing's SQLite module, whose recorder also keeps the verifiable log.
        "PERSISTENCE_MODULE": "ledger.persistence.sqlite_audited",
        "SQLITE_DBNAME": str(settings.event_store_path),
        # Every act is committed before it is acknowledged; losing one is not an option.
        "SQLITE_LOCK_TIMEOUT": "10",
    }


def kafka_env(settings: Settings, shard: int, *, writer: bool) -> dict[str, str]:
    """The Kafka persistence module's settings for one shard of the ledger topic."""
    env = {
        "PERSISTENCE_MODULE": "ledger.kafka.factory",
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "KAFKA_LEDGER_TOPIC": settings.kafka.ledger_topic,
        "KAFKA_SHARD": str(shard),
    }
    if writer:
        # The id names the shard, not the process: a restarted or duplicate writer of
        # the same shard fences the one before it.
        env["KAFKA_TRANSACTIONAL_ID"] = f"{settings.kafka.ledger_topic}-writer-{shard}"
        # A writer always keeps the shard's verifiable log.
        env["KAFKA_TREE_TOPIC"] = settings.kafka.tree_topic
        env["KAFKA_CHECKPOINTS_TOPIC"] = settings.kafka.checkpoints_topic
        # Its shard index, so a takeover reads only the partition's tail: beside the
        # keys (PostgreSQL: any machine's writer finds it), else a file per shard.
        if settings.postgres_dsn:
            env["KAFKA_SHARD_INDEX_DSN"] = settings.postgres_dsn
        else:
            env["KAFKA_SHARD_INDEX_PATH"] = str(settings.shard_index_path(shard))
    return env


def open_shard(settings: Settings, key_store: KeyStore, shard: int, *, writer: bool
               ) -> LedgerApplication:
    """The application on one shard of the Kafka ledger topic (its writer's, in serve,
    which signs its checkpoints)."""
    if writer:
        bootstrap_audit_keys(settings)
    app = LedgerApplication(load_policy(), env=kafka_env(settings, shard, writer=writer),
                            key_store=key_store, office_keyring=open_office_keyring(settings),
                            max_future_skew=settings.max_clock_skew, sole_writer=writer)
    if writer and isinstance(app.recorder, KafkaApplicationRecorder):
        try:
            app.recorder.signer = checkpoint_signer(
                settings, shard_origin(settings.kafka.ledger_topic, shard))
        except BaseException:
            app.close()
            raise
    return app


def open_office_keyring(settings: Settings) -> OfficeKeyring:
    """The office public keys the ledger trusts for acts that destroy data."""
    bootstrap_office_keys(settings)
    return OfficeKeyring.load(settings.office_public_keys_path)


def open_office_key(settings: Settings) -> OfficeKey:
    """The office's signing key, for the commands the privacy office runs."""
    bootstrap_office_keys(settings)
    return OfficeKey.load(settings.office_key_path)


def prepare_data_dir(settings: Settings) -> None:
    """The data directory, private to its owner (0700) however it came to exist: it
    holds the stores and, by default, the keys."""
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if settings.data_dir.stat().st_mode & 0o077:
        settings.data_dir.chmod(0o700)


def bootstrap_office_keys(settings: Settings) -> None:
    """A new ledger's office key pair, in its data directory, made on first use.

    Only for a ledger that has no stores yet and no office key configured: next to an
    existing ledger, a missing key is an operator's matter (restore it, or make one with
    `ledger keys office-keygen`), never something to replace silently. On Kafka the
    ledger lives on the broker: a new host's empty data directory is no new ledger, and
    a pair made there would be trusted by that host alone.
    """
    if settings.office_key_file or settings.office_public_keys_file:
        return
    paths = (settings.office_key_path, settings.office_public_keys_path,
             settings.key_store_path, settings.event_store_path)
    if any(path.exists() for path in paths) or _kafka_ledger_exists(settings):
        return
    try:
        add_office_key(settings)
    except ConfigurationError:
        if not settings.office_key_path.exists():  # not another process's first use
            raise


def _kafka_ledger_exists(settings: Settings) -> bool:
    """Whether the configured Kafka ledger is bound or holds acts (False: not on Kafka,
    or its topics are not made yet)."""
    if settings.backend != "kafka":
        return False
    try:
        return read_kafka_ledger(settings.kafka).needs_its_pair
    except ConfigurationError:
        return False  # its topics are not made yet: a new ledger


def audit_log_name(settings: Settings) -> str:
    """What the verifiable log's signing key is named after: the Kafka ledger topic, or
    the embedded backend (whose checkpoints' origin names its ledger id)."""
    return settings.kafka.ledger_topic if settings.backend == "kafka" else "embedded"


def bootstrap_audit_keys(settings: Settings) -> None:
    """A new ledger's checkpoint signing key (or one from before the verifiable log's),
    made on first use; a lost one next to a signed log is refused, never replaced."""
    if settings.backend == "kafka":
        kafka = settings.kafka
        signed = (not settings.audit_key_path.exists()
                  and holds_records(kafka.bootstrap_servers, kafka.checkpoints_topic,
                                    kafka.partitions))
    else:
        signed = has_checkpoints(settings.event_store_path)
    bootstrap_audit_key(settings, ledger_key_name(audit_log_name(settings)),
                        ledger_signed=signed)


def open_audit_log(settings: Settings) -> AuditedLog:
    """The configured ledger's shards, read back raw for verification (read-only)."""
    if settings.backend == "kafka":
        kafka = settings.kafka
        check_topics(kafka.bootstrap_servers, required_topic_specs(kafka))
        return KafkaAuditLog(kafka.bootstrap_servers, kafka.ledger_topic, kafka.tree_topic,
                             kafka.checkpoints_topic, kafka.partitions)
    return EmbeddedAuditLog(settings.event_store_path)


def sign_checkpoints_now(settings: Settings) -> None:
    """On the embedded store, signs what is unsigned (opening the ledger and closing it
    does); on Kafka `ledger serve` signs, every few seconds while it records."""
    if settings.backend == "kafka":
        return
    if not settings.event_store_path.exists():
        raise ConfigurationError(f"no ledger at {settings.data_dir} (check LEDGER_DATA_DIR)")
    with open_ledger(settings):
        pass


def embedded_log_proofs(settings: Settings, app: LedgerApplication,
                        subject_id: UUID) -> dict[str, Any]:
    """An export's proofs on the embedded store: signed now, so they cover every act."""
    if isinstance(app.recorder, AuditedSQLiteApplicationRecorder):
        app.recorder.checkpoint_now()
    log = EmbeddedAuditLog(settings.event_store_path)
    try:
        return subject_log_proofs(log, subject_id)
    finally:
        log.close()


def kafka_log_proofs(settings: Settings, subject_id: UUID) -> dict[str, Any]:
    """An export's proofs on Kafka: against the shard's latest checkpoint (`ledger
    serve` signs every few seconds while it records)."""
    return subject_log_proofs(open_audit_log(settings), subject_id)


def open_key_store(settings: Settings, *, event_store: StoreSide | None = None) -> KeyStore:
    """The configured key store; with ``event_store``, only as that event store's
    (``ledger.crypto.binding``: a missing, empty or foreign one is ``KeyStoreMismatch``).
    On Kafka always as the Kafka ledger's (``ledger.kafka.binding``), read here."""
    on_kafka = settings.backend == "kafka" and event_store is None
    if on_kafka:
        event_store = read_kafka_ledger(settings.kafka)
    elsewhere = None  # a ledger outside the data directory: never a new master key then
    if event_store is not None:
        if not settings.postgres_dsn:
            require_for(settings.key_store_path, event_store)  # before a master key is made
        if on_kafka and event_store.needs_its_pair:
            elsewhere = event_store.where
    master = master_key_from_settings(settings, ledger_elsewhere=elsewhere)
    inner: SQLKeyStore
    if settings.postgres_dsn:
        from ledger.crypto.key_store_postgres import PostgresKeyStore  # noqa: PLC0415 - optional extra

        inner = PostgresKeyStore(settings.postgres_dsn, master, event_store=event_store)
    else:
        inner = SQLiteKeyStore(settings.key_store_path, master, event_store=event_store)
    bound = inner.ledger_id  # with event_store, always set: settled by the open
    if event_store is not None and bound is not None and bound != event_store.ledger_id:
        try:  # the key store is bound already: now the event store, before any act
            if on_kafka:
                bind_kafka_ledger(settings.kafka, bound)
            else:
                bind_event_store(settings.event_store_path, bound)
        except BaseException:
            inner.close()
            raise
    # Bounded in age as well as size: another process (`ledger erase`, the retention
    # enforcer) may shred a key, and a stale cached key must not outlive that for long.
    return CachingKeyStore(inner, max_age=KEY_CACHE_MAX_AGE_SECONDS)


@contextmanager
def open_existing_key_store(settings: Settings) -> Iterator[KeyStore]:
    """The key store for commands that only touch keys; refused if there is none yet."""
    if not settings.key_store_path.exists() and not settings.postgres_dsn:
        raise ConfigurationError(f"no key store at {settings.key_store_path}: nothing to "
                                 "rotate (check LEDGER_DATA_DIR)")
    key_store = open_key_store(settings)
    try:
        yield key_store
    finally:
        key_store.close()


def open_projection_store(settings: Settings, shard: int | None = None) -> ProjectionStore:
    """The projections of the embedded log, or of one shard of the Kafka ledger topic."""
    # One switch for scale: LEDGER_POSTGRES_DSN moves keys and projections together.
    if settings.postgres_dsn:
        from projections.postgres_store import PostgresProjectionStore  # noqa: PLC0415 - optional extra

        if shard is None:
            return PostgresProjectionStore(settings.postgres_dsn)
        return PostgresProjectionStore(settings.postgres_dsn,
                                       schema=f"ledger_projections_shard_{shard}")
    if shard is None:
        return SQLiteProjectionStore(settings.projection_store_path)
    return SQLiteProjectionStore(settings.shard_projection_store_path(shard))


@contextmanager
def open_ledger(settings: Settings) -> Iterator[LedgerApplication]:
    """The embedded application, with the seed policy published."""
    prepare_data_dir(settings)
    keyring = open_office_keyring(settings)  # before the stores: a new ledger's keys
    # Bound to each other: key loss must never read as erasure (ledger.crypto.binding).
    key_store = open_key_store(settings,
                               event_store=read_event_store(settings.event_store_path))
    try:
        ledger_id = read_event_store(settings.event_store_path).ledger_id  # bound by now
        bootstrap_audit_keys(settings)
        signer = checkpoint_signer(settings, shard_origin(str(ledger_id), 0))
        app = LedgerApplication(load_policy(), env=event_store_env(settings),
                                key_store=key_store, office_keyring=keyring,
                                max_future_skew=settings.max_clock_skew)
        recorder = app.recorder
        if isinstance(recorder, AuditedSQLiteApplicationRecorder):
            recorder.signer = signer
        failed = True
        try:
            app.publish_policy(app.policy, seed_policy_text(), SYSTEM_ACTOR,
                               datetime.now(UTC))
            yield app
            failed = False
        finally:
            try:
                if isinstance(recorder, AuditedSQLiteApplicationRecorder):
                    # What this process appended is signed before it lets go.
                    recorder.checkpoint_now()
            except Exception:
                if not failed:  # never mask the error that ended the work
                    raise
            finally:
                app.close()
    finally:
        key_store.close()


# A host's own access log, in its data directory (without LEDGER_POSTGRES_DSN).
ACCESS_LOG_FILE = "access-log.sqlite"


def open_access_log(settings: Settings) -> AccessLog:
    """Who looked at whose values: in PostgreSQL when LEDGER_POSTGRES_DSN is set (one
    log for every console host), else its own file, apart from the values (0600)."""
    local = settings.data_dir / ACCESS_LOG_FILE
    if settings.postgres_dsn:
        from consumers.access.log_postgres import PostgresAccessLog  # noqa: PLC0415 - optional extra

        shared = PostgresAccessLog(settings.postgres_dsn)
        if local.exists():
            try:
                _move_into(shared, local)
            except BaseException:
                shared.close()
                raise
        return shared
    prepare_data_dir(settings)
    return SQLiteAccessLog(local)


def _move_into(shared: AccessLog, path: Path) -> None:
    """A host's own access log from before LEDGER_POSTGRES_DSN, imported into the shared
    one (once: the file is renamed after), so no consultation drops out of its answers.
    The renamed file stays, as evidence; a log that does not verify is not imported."""
    source = SQLiteAccessLog(path)
    try:
        shared.import_log(source)
    finally:
        source.close()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    # Another process of this host (the console, a command) may have moved it already:
    # its import recorded the file's head, so ours added nothing.
    with suppress(FileNotFoundError):
        path.rename(path.with_name(f"{path.stem}.imported-{stamp}{path.suffix}"))


def open_token_store(settings: Settings) -> TokenStore:
    """The web console's tokens (hashes only): in PostgreSQL when LEDGER_POSTGRES_DSN is
    set (shared by every console host), else a SQLite file in the data directory."""
    if settings.postgres_dsn:
        from consumers.web.token_store_postgres import PostgresTokenStore  # noqa: PLC0415 - optional extra

        return PostgresTokenStore(settings.postgres_dsn)
    prepare_data_dir(settings)
    return SQLiteTokenStore(settings.data_dir / "tokens.sqlite")
