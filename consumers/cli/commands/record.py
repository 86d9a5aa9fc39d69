"""`ledger record` (acts from JSON lines) and `ledger schema` (the intake format)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from dataclasses import asdict
from typing import IO

from consumers.cli.options import SubParsers, command, wait
from consumers.cli.output import write_json_line
from consumers.composition import open_backend, open_office_key
from consumers.exit_codes import ExitCode
from consumers.services.recording import Verdict, record_lines
from ledger.config import Settings
from ledger.intake.acts import act_schema
from ledger.intake.lines import bounded_lines

PROGRESS_EVERY = 1000


def register(commands: SubParsers) -> None:
    record = command(
        commands, "record", run=run_record,
        codes=(ExitCode.OK, ExitCode.REFUSED, ExitCode.USAGE, ExitCode.FAILED,
               ExitCode.INTEGRITY, ExitCode.PENDING),
        help="record acts from JSON lines (a file or - for stdin)",
    )
    wait(record, 60.0)
    record.add_argument("source", nargs="?", default="-", help="file of JSON lines, or - "
                        "(default) for standard input")
    record.add_argument("--office", action="store_true",
                        help="sign the acts that destroy data or lift a protection with the "
                        "office key (LEDGER_OFFICE_KEY_FILE): for the privacy office's own "
                        "files; other senders' such acts are refused")
    command(commands, "schema", run=run_schema, codes=(ExitCode.OK,), json=False,
            help="print the JSON Schema of intake acts")


def run_record(args: argparse.Namespace, settings: Settings) -> int:
    """Record acts, one JSON object per line. Each line is accepted or rejected on its own
    with a rule and a reason that never quotes a personal value; a summary follows.
    With LEDGER_BACKEND=kafka the valid lines are sent to the intake topic (keyed by
    subject) and the verdicts are the shard writers' answers.
    """
    source = sys.stdin.buffer if args.source == "-" else open(args.source, "rb")  # noqa: SIM115
    try:
        office = open_office_key(settings) if args.office else None
        with open_backend(settings) as backend:
            # Lines read with a bounded buffer: an endless line is refused, not held.
            return report(record_lines(backend, bounded_lines(source), wait_s=args.wait,
                                       office=office),
                          as_json=args.json, out=sys.stdout, err=sys.stderr)
    finally:
        if source is not sys.stdin.buffer:
            source.close()


def report(verdicts: Iterable[Verdict], *, as_json: bool, out: IO[str], err: IO[str]) -> int:
    counts = {"recorded": 0, "duplicate": 0, "rejected": 0, "failed": 0, "pending": 0}
    show_progress = err.isatty()
    for verdict in verdicts:
        counts[verdict.status] += 1
        if as_json:
            write_json_line(out, asdict(verdict))
        elif verdict.status not in ("recorded", "duplicate"):
            act = f" act {verdict.act_id}" if verdict.act_id else ""
            out.write(f"line {verdict.line}{act}: {verdict.status}: "
                      f"{verdict.rule}: {verdict.reason}\n")
        total = sum(counts.values())
        if show_progress and total % PROGRESS_EVERY == 0:
            err.write(f"\r{total} acts read ...")
    if as_json:
        write_json_line(out, {"summary": counts})
    else:
        err.write(f"{'' if not show_progress else chr(13)}recorded {counts['recorded']}, "
                  f"duplicate {counts['duplicate']}, rejected {counts['rejected']}, "
                  f"failed {counts['failed']}"
                  + (f", pending {counts['pending']}" if counts["pending"] else "") + "\n")
    out.flush()
    if counts["failed"]:
        return ExitCode.FAILED
    if counts["pending"]:
        return ExitCode.PENDING
    return ExitCode.REFUSED if counts["rejected"] else ExitCode.OK


def run_schema(args: argparse.Namespace, settings: Settings) -> int:
    print(json.dumps(act_schema(), indent=2))
    return ExitCode.OK
