"""`ledger serve` (the intake writers and projections) and `ledger topics ensure`."""

from __future__ import annotations

import argparse
import sys

from consumers.cli.options import SubParsers, command
from consumers.cli.output import write_json_line
from consumers.exit_codes import ExitCode
from consumers.serve import serve
from ledger.config import Settings
from ledger.kafka.admin import ensure_topics, required_topic_specs


def register(commands: SubParsers) -> None:
    serve_cmd = command(
        commands, "serve", run=run_serve,
        codes=(ExitCode.OK, ExitCode.USAGE, ExitCode.FAILED, ExitCode.FENCED),
        help="run the intake writers on Kafka (LEDGER_KAFKA_* settings)",
        description="Consume acts from the intake topic and record them exactly once in "
        "the ledger topic: one writer per shard (partition), each batch of acts, its "
        "rejections and its intake offsets in one Kafka transaction. Creates the topics "
        "if missing and refuses to run on topics with the wrong configuration. Stops "
        "cleanly on SIGTERM or Ctrl-C after the batch in flight. --json: one line per "
        "batch.",
    )
    serve_cmd.add_argument("--shard", type=int, action="append", dest="shards",
                           help="serve this partition only (repeatable; default: all)")
    serve_cmd.add_argument("--batch-size", type=int, default=500, help="acts per transaction")
    serve_cmd.add_argument("--exit-when-idle", type=float, metavar="SECONDS",
                           help="stop after this long without acts (for batch jobs and "
                           "tests)")

    topics = commands.add_parser("topics", help="Kafka topic administration")
    command(
        topics.add_subparsers(dest="topics_command", required=True, metavar="COMMAND"),
        "ensure", run=run_ensure, codes=(ExitCode.OK, ExitCode.USAGE, ExitCode.FAILED),
        help="create the ledger, intake and rejected topics; verify their configs",
        description="Create missing topics with explicit configs (the ledger topic with "
        "infinite retention and the delete policy) and refuse, naming topic and setting, "
        "when an existing topic contradicts them.",
    )


def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    return serve(settings, args.shards, args.batch_size, sys.stdout, sys.stderr,
                 as_json=args.json, max_idle_s=args.exit_when_idle)


def run_ensure(args: argparse.Namespace, settings: Settings) -> int:
    report = ensure_topics(settings.kafka.bootstrap_servers,
                           required_topic_specs(settings.kafka))
    if args.json:
        write_json_line(sys.stdout, report.as_dict())
    else:
        print(f"created: {', '.join(report.created) or 'none'}; already there and as "
              f"required: {', '.join(report.already_existed) or 'none'}")
    return ExitCode.OK
