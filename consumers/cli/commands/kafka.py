"""`ledger serve` (the intake writers and projections) and `ledger topics ensure`."""

from __future__ import annotations

import argparse
import sys

from consumers.cli.options import SubParsers, command, group
from consumers.cli.output import write_json_line
from consumers.exit_codes import COMMON, ExitCode
from consumers.serve import serve
from consumers.serve_group import serve_group
from ledger.config import Settings
from ledger.errors import ConfigurationError
from ledger.kafka.admin import ensure_topics, required_topic_specs


def register(commands: SubParsers) -> None:
    serve_cmd = command(
        commands, "serve", run=run_serve,
        codes=(*COMMON, ExitCode.FENCED),
        help="run the intake writers on Kafka (LEDGER_KAFKA_* settings)",
    )
    serve_cmd.add_argument("--shard", type=int, action="append", dest="shards",
                           help="serve this partition only (repeatable; default: all)")
    serve_cmd.add_argument("--batch-size", type=int, default=500, help="acts per transaction")
    serve_cmd.add_argument("--exit-when-idle", type=float, metavar="SECONDS",
                           help="stop after this long without acts, once every served "
                           "shard is read to its end (for batch jobs and tests)")
    serve_cmd.add_argument("--group", action="store_true",
                           help="take the shards Kafka's consumer group protocol assigns "
                           "to this process (one or many instances; needs "
                           "LEDGER_POSTGRES_DSN)")
    serve_cmd.add_argument("--instance-id", metavar="ID",
                           help="with --group: a static member id (group.instance.id), so a "
                           "restart within the session timeout keeps its shards")

    topics = group(commands, "topics", help="Kafka topic administration")
    command(
        topics, "ensure", run=run_ensure, codes=COMMON,
        help="create the ledger, intake, rejected, parked, binding, checkpoints and tree "
        "topics; verify their configs",
    )


def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Consume acts from the intake topic and record them exactly once in the ledger topic:
    one writer per shard (partition), each batch of acts, its rejections and its
    intake offsets in one Kafka transaction. Creates the topics if missing and
    refuses to run on topics with the wrong configuration. Stops cleanly on SIGTERM
    or Ctrl-C after the batch in flight. An act that fails other than by a refusal
    (a store gone, a bug) aborts its batch and stops serve (exit 3): run it under a
    supervisor, which restarts it; an act that failed 3 times is parked (the parked
    topic, by its intake offset) and the shard goes on. --json: one line per batch.
    --group: serve the shards the intake consumer group assigns (any number of
    instances, which take over each other's shards; PostgreSQL stores needed).
    """
    if args.group:
        if args.shards:
            raise ConfigurationError("--group takes the shards the group assigns; "
                                     "--shard is for static use")
        return serve_group(settings, args.batch_size, sys.stdout, sys.stderr,
                           as_json=args.json, instance_id=args.instance_id,
                           max_idle_s=args.exit_when_idle)
    if args.instance_id:
        raise ConfigurationError("--instance-id needs --group")
    return serve(settings, args.shards, args.batch_size, sys.stdout, sys.stderr,
                 as_json=args.json, max_idle_s=args.exit_when_idle)


def run_ensure(args: argparse.Namespace, settings: Settings) -> int:
    """Create missing topics with explicit configs (the ledger topic with infinite
    retention and the delete policy) and refuse, naming topic and setting, when an
    existing topic contradicts them.
    """
    report = ensure_topics(settings.kafka.bootstrap_servers,
                           required_topic_specs(settings.kafka))
    if args.json:
        write_json_line(sys.stdout, report.as_dict())
    else:
        print(f"created: {', '.join(report.created) or 'none'}; already there and as "
              f"required: {', '.join(report.already_existed) or 'none'}")
    return ExitCode.OK
