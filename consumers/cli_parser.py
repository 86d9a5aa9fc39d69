"""The `ledger` command line's arguments: every command, its help and its options."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

from consumers.cli_read import parse_moment
from ledger.errors import ConfigurationError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ledger",
        description="An event-sourced ledger of every act done with a person's data.",
        epilog="Settings come from LEDGER_* environment variables (see README); "
        "--data-dir overrides LEDGER_DATA_DIR.",
    )
    parser.add_argument("--data-dir", type=Path, help="where the embedded stores live "
                        "(default: $LEDGER_DATA_DIR or ./.ledger)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    record = commands.add_parser(
        "record", help="record acts from JSON lines (a file or - for stdin)",
        description="Record acts, one JSON object per line. Each line is accepted or "
        "rejected on its own with a reason that never quotes a personal value; "
        "a summary follows. Exit 1 if any line was rejected. With LEDGER_BACKEND=kafka "
        "the valid lines are sent to the intake topic (keyed by subject) and the "
        "verdicts are the shard writers' answers; exit 3 if some did not answer within "
        "--wait.",
    )
    add_wait(record, 60.0)
    record.add_argument("source", nargs="?", default="-", help="file of JSON lines, or - "
                        "(default) for standard input")
    record.add_argument("--json", action="store_true", help="one JSON verdict per line, "
                        "then a JSON summary, on stdout")

    demo = commands.add_parser(
        "demo", help="run a realistic scenario from the seed policy and show what happened",
        description="Record a day of acts (customer, demo request, webinar, contact form, "
        "consents, sharing, an unsubscribe, an access request and an erasure refused in "
        "part for fiscal retention) in DATA_DIR/demo, which is reset first.",
    )
    demo.add_argument("--json", action="store_true", help="one JSON outcome per line")

    schema = commands.add_parser("schema", help="print the JSON Schema of intake acts")
    schema.set_defaults(json=True)

    erase = commands.add_parser(
        "erase", help="carry out an erasure request (crypto-shredding)",
        description="Destroy the subject's keys for every retention scope the law does not "
        "keep, record ErasureCompleted, and record ErasureRefusedInPart with the legal "
        "reason and end date for each scope that is kept (restricted to storage). The "
        "request is recorded first if it was not yet. With LEDGER_BACKEND=kafka the "
        "erasure is sent as an act to the intake topic and carried out by `ledger serve` "
        "(the shard's only writer); this command waits for its answer.",
    )
    add_who(erase)
    add_wait(erase, 60.0)
    erase.add_argument("--request", required=True, dest="request_ref",
                       help="the request reference, e.g. DSAR-2025-002")
    erase.add_argument("--channel", default="email", help="how the request came in")
    erase.add_argument("--json", action="store_true", help="print the outcome as JSON")

    retention = commands.add_parser("retention", help="retention enforcement")
    retention_commands = retention.add_subparsers(dest="retention_command", required=True)
    enforce = retention_commands.add_parser(
        "enforce", help="shred every retention scope whose period has ended",
        description="Find scopes whose retention ended (contract end, purpose fulfilled, "
        "fiscal 7 years...), destroy their keys and record RetentionExpired. Scopes "
        "under a legal hold are reported and kept. With LEDGER_BACKEND=kafka the due "
        "scopes come from the projections' retention schedule and each is sent as a "
        "retention-expired act for `ledger serve` to carry out (exit 3 if some are "
        "not answered within --wait).",
    )
    add_wait(enforce, 120.0)
    enforce.add_argument("--now", type=datetime.fromisoformat,
                         help="evaluate as of this moment (ISO 8601 with offset; "
                         "default: now)")
    enforce.add_argument("--json", action="store_true", help="print the report as JSON")

    keys = commands.add_parser("keys", help="key management")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    rotate = key_commands.add_parser(
        "rotate-master", help="rewrap every data key under a new master key",
        description="Generate (or use) a new master key and rewrap every data key and the "
        "identity-lookup secret under it in one transaction. The log is not touched. "
        "Without --new-key-file the configured key file is replaced in place.",
    )
    rotate.add_argument("--new-key-file", type=Path,
                        help="where the new master key is (created if missing)")
    rotate.add_argument("--json", action="store_true", help="print the outcome as JSON")
    _add_read_commands(commands)
    _add_kafka_commands(commands)
    return parser


def _add_read_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Read commands: the projections catch up with the ledger first, then answer."""
    subject = commands.add_parser("subject", help="what is held about one subject")
    subject_commands = subject.add_subparsers(dest="subject_command", required=True)
    show = subject_commands.add_parser(
        "show", help="the subject view: data by purpose, consents, recipients, requests",
        description="Current personal data by purpose and category (opened on read; "
        "erased values shown as erased), consents with their proof, objections, "
        "restrictions, legal holds, recipients (and whom to notify under art. 19), "
        "retention deadlines and requests with their legal deadline.",
    )
    add_who(show)
    show.add_argument("--json", action="store_true", help="the view as one JSON document")

    dsar = commands.add_parser("dsar", help="data subject access requests")
    dsar_commands = dsar.add_subparsers(dest="dsar_command", required=True)
    export = dsar_commands.add_parser(
        "export", help="everything held about a subject: JSON export and HTML report",
        description="A complete machine-readable export (art. 15 access, art. 20 "
        "portability): the subject view, every value ever recorded (erased ones marked), "
        "and every act. Files are created 0600 and never overwrite.",
    )
    add_who(export)
    export.add_argument("--out", type=Path, help="write the JSON export to this file")
    export.add_argument("--html", type=Path, help="write the HTML report to this file")
    export.add_argument("--json", action="store_true", help="print the JSON export on stdout")

    audit = commands.add_parser("audit", help="the audit trail")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    trail = audit_commands.add_parser(
        "trail", help="every act, in order, without personal values",
        description="Acts with their policy version, actor, when they happened and when "
        "they were recorded; for one subject or the whole ledger. With a subject and "
        "--as-of, also what was held then and on what grounds (no values). A bare date "
        "means the end of that day (UTC).",
    )
    add_who(trail, required=False)
    trail.add_argument("--as-of", type=parse_cli_moment, help="acts that had happened by then")
    trail.add_argument("--known-at", type=parse_cli_moment,
                       help="only acts recorded by then (what the ledger knew)")
    trail.add_argument("--after", type=int, default=0, help="acts after this notification id")
    trail.add_argument("--limit", type=int, default=100, help="at most this many acts "
                       "(default 100; 0 for all)")
    trail.add_argument("--json", action="store_true", help="print the trail as JSON")

    registers = commands.add_parser(
        "registers", help="records of processing, disclosures, retention schedule, DSAR queue",
        description="The registers a privacy office keeps, derived from policy and acts.",
    )
    registers.add_argument("which", nargs="?", default="all",
                           choices=["all", "ropa", "disclosures", "retention", "dsar"])
    registers.add_argument("--recipient", help="disclosures to this recipient only")
    registers.add_argument("--until", type=parse_cli_moment, help="retention falling due by then")
    registers.add_argument("--now", type=parse_cli_moment, help="judge deadlines as of this moment")
    registers.add_argument("--limit", type=int, default=100, help="at most this many lines "
                           "per register (default 100; 0 for all)")
    registers.add_argument("--json", action="store_true", help="print the registers as JSON")

    rebuild = commands.add_parser(
        "rebuild", help="rebuild every projection from the start of the log",
        description="Empty the projections and project the whole log again, in batches "
        "each committed with its position (progress on stderr). Readers see the "
        "projections fill up again while it runs; an interrupted rebuild resumes with "
        "the next read command or rebuild.",
    )
    rebuild.add_argument("--batch-size", type=int, default=500, help="events per batch")
    rebuild.add_argument("--json", action="store_true", help="print the summary as JSON")


def _add_kafka_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    serve = commands.add_parser(
        "serve", help="run the intake writers on Kafka (LEDGER_BACKEND=kafka settings)",
        description="Consume acts from the intake topic and record them exactly once in "
        "the ledger topic: one writer per shard (partition), each batch of acts, its "
        "rejections and its intake offsets in one Kafka transaction. Creates the topics "
        "if missing and refuses to run on topics with the wrong configuration. Stops "
        "cleanly on SIGTERM or Ctrl-C after the batch in flight.",
    )
    serve.add_argument("--shard", type=int, action="append", dest="shards",
                       help="serve this partition only (repeatable; default: all)")
    serve.add_argument("--batch-size", type=int, default=500, help="acts per transaction")
    serve.add_argument("--exit-when-idle", type=float, metavar="SECONDS",
                       help="stop after this long without acts (for batch jobs and tests)")
    serve.add_argument("--json", action="store_true", help="one JSON line per batch")

    topics = commands.add_parser("topics", help="Kafka topic administration")
    topic_commands = topics.add_subparsers(dest="topics_command", required=True)
    ensure_cmd = topic_commands.add_parser(
        "ensure", help="create the ledger, intake and rejected topics; verify their configs",
        description="Create missing topics with explicit configs (the ledger topic with "
        "infinite retention and the delete policy) and refuse, naming topic and setting, "
        "when an existing topic contradicts them.",
    )
    ensure_cmd.add_argument("--json", action="store_true", help="print the report as JSON")



def add_who(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    who = parser.add_mutually_exclusive_group(required=required)
    who.add_argument("subject", nargs="?", help="the subject id (UUID)")
    who.add_argument("--email", help="find the subject by business email")
    who.add_argument("--phone", help="find the subject by business phone")


def add_wait(parser: argparse.ArgumentParser, default: float) -> None:
    parser.add_argument("--wait", type=float, default=default, metavar="SECONDS",
                        help="on Kafka: how long to wait for `ledger serve` to answer "
                        "(default: %(default)s)")


def parse_cli_moment(text: str) -> datetime:
    try:
        return parse_moment(text)
    except ConfigurationError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
