"""The privacy office's commands: `ledger erase` and `ledger retention enforce`."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from consumers.cli.options import SubParsers, command, group, moment, wait, who
from consumers.cli.output import write_json_line
from consumers.cli.progress import catch_up_progress
from consumers.composition import open_backend, open_office_key
from consumers.exit_codes import ExitCode
from consumers.services.office import enforce_retention, erase
from consumers.services.subjects import resolve_subject
from ledger.config import Settings
from ledger.errors import ConfigurationError

OFFICE_CODES = (ExitCode.OK, ExitCode.REFUSED, ExitCode.USAGE, ExitCode.FAILED,
                ExitCode.INTEGRITY, ExitCode.PENDING)


def register(commands: SubParsers) -> None:
    erase_cmd = command(commands, "erase", run=run_erase, codes=OFFICE_CODES,
                        help="carry out an erasure request (crypto-shredding)")
    who(erase_cmd)
    wait(erase_cmd, 60.0)
    erase_cmd.add_argument("--request", required=True, dest="request_ref",
                           help="the request reference, e.g. DSAR-2025-002")
    erase_cmd.add_argument("--channel", default="email", help="how the request came in")
    moment(erase_cmd, "--at", bare_date="start",
           help="when the erasure is carried out (default: now)")

    retention = group(commands, "retention", help="retention enforcement")
    enforce = command(retention, "enforce", run=run_enforce, codes=OFFICE_CODES,
                      help="shred every retention scope whose period has ended")
    wait(enforce, 120.0)
    moment(enforce, "--at", "--now", bare_date="start",
           help="judge and record the expiries as of this moment (default: now); a moment "
           "past the clock (beyond LEDGER_MAX_CLOCK_SKEW_SECONDS) only plans")
    enforce.add_argument("--dry-run", action="store_true",
                         help="show what is due and would be shredded; destroy nothing")


def run_erase(args: argparse.Namespace, settings: Settings) -> int:
    """Destroy the subject's keys for every retention scope the law does not keep, record
    ErasureCompleted, and record ErasureRefusedInPart with the legal reason and end
    date for each scope that is kept (restricted to storage). The request is
    recorded first (an erasure-requested act) if it was not yet; the erasure is
    signed with the office key. With LEDGER_BACKEND=kafka the erasure is sent
    as an act to the intake topic and carried out by `ledger serve` (the shard's
    only writer); this command waits for its answer.
    """
    now = datetime.now(UTC)
    if args.at is not None and args.at > now + settings.max_clock_skew:
        raise ConfigurationError(
            "--at lies in the future: an erasure is carried out now or was in the past "
            "(a future moment would judge retention by a date that has not come)")
    with open_backend(settings) as backend:
        subject_id = resolve_subject(backend, args.subject, email=args.email,
                                     phone=args.phone)
        report = erase(backend, open_office_key(settings), subject_id, request_ref=args.request_ref,
                       channel=args.channel, at=args.at or now,
                       wait_s=args.wait)
    if args.json:
        write_json_line(sys.stdout, report.as_dict())
    elif report.status == "recorded":
        print(f"erased subject {subject_id} (request {args.request_ref})")
        print(f"  shredded: {', '.join(report.shredded_scopes) or 'nothing'}")
        for scope, kept in report.kept.items():
            until = f" until {kept['until']}" if kept["until"] else ""
            print(f"  kept {scope}{until}, restricted to storage: {kept['legal_reason']}")
    elif report.status == "pending":
        print(f"sent as act {report.act_id}, but no answer within {args.wait:g} s: is "
              "`ledger serve` running? It carries the act out when it next runs; "
              "check with `ledger subject show`")
    else:
        print(f"refused ({report.rule}): {report.reason}")
    return {"recorded": ExitCode.OK, "pending": ExitCode.PENDING,
            "failed": ExitCode.FAILED}.get(report.status, ExitCode.REFUSED)


def run_enforce(args: argparse.Namespace, settings: Settings) -> int:
    """Find scopes whose retention ended (contract end, purpose fulfilled, fiscal 7
    years...) in the projections' retention schedule, and record a retention-expired
    act for each, which destroys its keys; the ledger checks each against the
    subject's own state first. Scopes under a legal hold are reported and kept. With
    LEDGER_BACKEND=kafka the acts are carried out by `ledger serve`.
    """
    now = datetime.now(UTC)
    at = args.at or now
    # Nothing is shredded before its due date as the wall clock sees it: a future moment
    # may plan, never destroy.
    dry_run = args.dry_run or at > now + settings.max_clock_skew
    with open_backend(settings) as backend:
        report = enforce_retention(backend, None if dry_run else open_office_key(settings),
                                   at, wait_s=args.wait, progress=catch_up_progress(),
                                   dry_run=dry_run)
    code = ExitCode.PENDING if report.pending else ExitCode.OK
    if args.json:
        write_json_line(sys.stdout, report.as_dict())
        return code
    for item in report.expired:
        print(f"expired {item['scope']} of {item['subject_id']} (due {item['due_at']})")
    for item in report.held:
        print(f"kept {item['scope']} of {item['subject_id']}: {item['rule']}")
    for item in report.planned:
        print(f"due by then (dry run, nothing shredded): {item['scope']} of "
              f"{item['subject_id']} (due {item['due_at']})")
    for item in report.pending:
        print(f"sent, not answered yet: {item['scope']} of {item['subject_id']} "
              "(is `ledger serve` running?)")
    print(f"{len(report.expired)} scopes shredded, {len(report.held)} kept"
          + (f", {len(report.pending)} pending" if report.pending else "")
          + (f"; dry run: {len(report.planned)} due by {at.isoformat()}"
             if report.dry_run else ""))
    return code
