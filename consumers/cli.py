"""The `ledger` command line: parses arguments, builds settings once, runs one command.

Exit codes: 0 success; 1 some acts were rejected; 2 usage or configuration error;
3 an act failed unexpectedly (see the log) or the ledger could not run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from uuid import UUID

from consumers.cli_demo import Scenario, print_outcomes, run_scenario
from consumers.cli_dsar import export_subject
from consumers.cli_erasure import (
    enforce_retention,
    enforce_retention_on_kafka,
    erase,
    erase_on_kafka,
    resolve_subject,
    rotate_master,
)
from consumers.cli_parser import build_parser
from consumers.cli_progress import ProgressReporter
from consumers.cli_read import (
    run_rebuild,
    show_audit_trail,
    show_registers,
    show_subject,
    write_rebuilt,
)
from consumers.cli_record import open_source, record_lines, run_record, send_lines
from consumers.cli_serve import ensure, serve
from consumers.composition import (
    KeyStoreFinder,
    SubjectFinder,
    open_kafka_projections,
    open_kafka_reading,
    open_key_store,
    open_ledger,
)
from consumers.projector import open_projection_store, open_reader, projector_for
from ledger.config import Settings
from ledger.errors import ConfigurationError, LedgerError
from ledger.intake.acts import act_schema
from projections.reader import LedgerReader

EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_FAILED = 0, 1, 2, 3


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        if args.data_dir is not None:
            settings = settings.with_data_dir(args.data_dir)
        return _dispatch(args, settings)
    except ConfigurationError as error:
        print(f"ledger: configuration error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader went away (`ledger ... | head`): nothing is wrong, stop quietly.
        sys.stderr.close()
        return EXIT_OK
    except OSError as error:
        where = f": {error.filename}" if error.filename else ""
        print(f"ledger: {error.strerror}{where}", file=sys.stderr)
        return EXIT_FAILED
    except LedgerError as error:
        print(f"ledger: {error}", file=sys.stderr)
        return EXIT_FAILED


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    handlers = {
        "serve": _serve, "topics": _topics,
        "schema": _schema, "record": _record, "demo": _demo, "erase": _erase,
        "retention": _retention, "keys": _keys, "subject": _subject, "dsar": _dsar,
        "audit": _audit, "registers": _registers, "rebuild": _rebuild,
    }
    return handlers[args.command](args, settings)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    return serve(settings, args.shards, args.batch_size, sys.stdout, sys.stderr,
                 as_json=args.json, max_idle_s=args.exit_when_idle)


def _topics(args: argparse.Namespace, settings: Settings) -> int:
    return ensure(settings, sys.stdout, as_json=args.json)


def _schema(args: argparse.Namespace, settings: Settings) -> int:
    print(json.dumps(act_schema(), indent=2))
    return EXIT_OK


def _record(args: argparse.Namespace, settings: Settings) -> int:
    source = open_source(args.source)
    try:
        if settings.backend == "kafka":
            return run_record(send_lines(settings, source, wait_s=args.wait),
                              as_json=args.json, out=sys.stdout, err=sys.stderr)
        with open_ledger(settings) as app:
            return run_record(record_lines(app, source), as_json=args.json, out=sys.stdout,
                              err=sys.stderr)
    finally:
        if source is not sys.stdin.buffer:
            source.close()


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    demo_settings = settings.with_data_dir(settings.data_dir / "demo")
    shutil.rmtree(demo_settings.data_dir, ignore_errors=True)
    with open_ledger(demo_settings) as app:
        outcomes = run_scenario(app, Scenario())
    print_outcomes(outcomes, sys.stdout, as_json=args.json)
    if not args.json:
        print(f"Stores are in {demo_settings.data_dir}/ ; try "
              f"`ledger --data-dir {demo_settings.data_dir} record` with acts of your own.")
    return EXIT_OK


def _erase(args: argparse.Namespace, settings: Settings) -> int:
    if settings.backend == "kafka":
        key_store = open_key_store(settings)
        try:
            subject_id = resolve_subject(KeyStoreFinder(key_store), args.subject,
                                         args.email, args.phone)
        finally:
            key_store.close()
        return erase_on_kafka(settings, subject_id, args.request_ref, args.channel,
                              sys.stdout, wait_s=args.wait, as_json=args.json)
    with open_ledger(settings) as app:
        subject_id = resolve_subject(app, args.subject, args.email, args.phone)
        return erase(app, subject_id, args.request_ref, args.channel, sys.stdout,
                     as_json=args.json)


def _retention(args: argparse.Namespace, settings: Settings) -> int:
    now = args.now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ConfigurationError("--now needs a UTC offset, e.g. 2033-01-01T00:00:00+00:00")
    if settings.backend == "kafka":
        with _reading(settings) as (_, reader):
            report = enforce_retention_on_kafka(settings, reader, now, wait_s=args.wait)
    else:
        with open_ledger(settings) as app:
            report = enforce_retention(app, now, progress=sys.stderr)
    if args.json:
        print(json.dumps({"expired": report.expired, "held": report.held,
                          "pending": report.pending}))
        return EXIT_FAILED if report.pending else EXIT_OK
    for item in report.expired:
        print(f"expired {item['scope']} of {item['subject_id']} (due {item['due_at']})")
    for item in report.held:
        print(f"kept {item['scope']} of {item['subject_id']}: {item['rule']}")
    for item in report.pending:
        print(f"sent, not answered yet: {item['scope']} of {item['subject_id']} "
              "(is `ledger serve` running?)")
    print(f"{len(report.expired)} scopes shredded, {len(report.held)} kept"
          + (f", {len(report.pending)} pending" if report.pending else ""))
    return EXIT_FAILED if report.pending else EXIT_OK


def _keys(args: argparse.Namespace, settings: Settings) -> int:
    # Only the key store is touched, on either backend. A `ledger serve` still holding
    # the retired master stops at its next batch (MasterKeyMismatch) and, restarted,
    # goes on under the new one.
    if not settings.key_store_path.exists() and not settings.postgres_dsn:
        raise ConfigurationError(f"no key store at {settings.key_store_path}: nothing to "
                                 "rotate (check LEDGER_DATA_DIR)")
    key_store = open_key_store(settings)
    try:
        return rotate_master(settings, key_store, args.new_key_file, sys.stdout,
                             as_json=args.json)
    finally:
        key_store.close()


@contextmanager
def _reading(settings: Settings) -> Iterator[tuple[SubjectFinder, LedgerReader]]:
    """The ledger and a reader over projections caught up with it."""
    progress = ProgressReporter(sys.stderr, "catching up") if sys.stderr.isatty() else None
    if settings.backend == "kafka":
        with open_kafka_reading(settings, progress) as (app, reader):
            yield app, reader
        return
    with open_ledger(settings) as app, open_reader(settings, app, progress) as reader:
        yield app, reader


def _who(app: SubjectFinder, args: argparse.Namespace) -> UUID:
    return resolve_subject(app, args.subject, args.email, args.phone)


def _subject(args: argparse.Namespace, settings: Settings) -> int:
    with _reading(settings) as (app, reader):
        return show_subject(reader, _who(app, args), sys.stdout, as_json=args.json)


def _dsar(args: argparse.Namespace, settings: Settings) -> int:
    with _reading(settings) as (app, reader):
        return export_subject(reader, _who(app, args), sys.stdout, json_file=args.out,
                              html_file=args.html, as_json=args.json)


def _audit(args: argparse.Namespace, settings: Settings) -> int:
    with _reading(settings) as (app, reader):
        named = args.subject or args.email or args.phone
        subject_id = _who(app, args) if named else None
        return show_audit_trail(reader, subject_id, sys.stdout, as_of=args.as_of,
                                known_at=args.known_at, after=args.after, limit=args.limit,
                                as_json=args.json)


def _registers(args: argparse.Namespace, settings: Settings) -> int:
    with _reading(settings) as (_, reader):
        return show_registers(reader, args.which, sys.stdout,
                              now=args.now or datetime.now(UTC), recipient=args.recipient,
                              until=args.until, limit=args.limit, as_json=args.json)


def _rebuild(args: argparse.Namespace, settings: Settings) -> int:
    if args.batch_size < 1:
        raise ConfigurationError("--batch-size must be at least 1")
    if settings.backend == "kafka":
        with open_kafka_projections(settings) as parts:
            summaries = [run_rebuild(part.source, parts.projector, part.store, sys.stderr,
                                     batch_size=args.batch_size, shard=part.shard)
                         for part in parts.shards]
    else:
        with open_ledger(settings) as app:
            store = open_projection_store(settings)
            try:
                summaries = [run_rebuild(app.recorder, projector_for(app), store, sys.stderr,
                                         batch_size=args.batch_size)]
            finally:
                store.close()
    write_rebuilt(sys.stdout, summaries, as_json=args.json)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
