"""`ledger registers` (art. 30, art. 19, retention, DSAR queue) and `ledger rebuild`."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import IO, Any

from consumers.cli.options import SubParsers, command, limit, moment
from consumers.cli.output import write_json
from consumers.cli.progress import ProgressReporter, catch_up_progress
from consumers.cli.tables import section, table
from consumers.composition import open_backend
from consumers.exit_codes import COMMON, ExitCode
from consumers.services.ports import Rebuilt
from ledger.config import Settings
from ledger.errors import ConfigurationError
from projections.reader import LedgerReader

REGISTERS = ("ropa", "disclosures", "retention", "dsar")


def register(commands: SubParsers) -> None:
    registers = command(
        commands, "registers", run=run_registers,
        codes=COMMON,
        help="records of processing, disclosures, retention schedule, DSAR queue",
    )
    registers.add_argument("which", nargs="?", default="all", choices=["all", *REGISTERS])
    registers.add_argument("--recipient", help="disclosures to this recipient only")
    moment(registers, "--until", bare_date="end", help="retention falling due by then")
    moment(registers, "--now", bare_date="start",
           help="judge deadlines as of this moment (default: now)")
    limit(registers, "lines per register")

    rebuild = command(
        commands, "rebuild", run=run_rebuild,
        codes=COMMON,
        help="rebuild every projection from the start of the log",
    )
    rebuild.add_argument("--batch-size", type=int, default=500, help="events per batch")


def run_registers(args: argparse.Namespace, settings: Settings) -> int:
    """The registers a privacy office keeps, derived from policy and acts."""
    now = args.now or datetime.now(UTC)
    with open_backend(settings) as backend, backend.reading(catch_up_progress()) as reader:
        document = _registers(reader, args.which, now=now, recipient=args.recipient,
                              until=args.until, limit=args.limit)
    if args.json:
        write_json(sys.stdout, document)
    else:
        _write_registers(document, sys.stdout)
    return ExitCode.OK


def _registers(reader: LedgerReader, which: str, *, now: datetime, recipient: str | None,
               until: datetime | None, limit: int) -> dict[str, Any]:
    wanted = REGISTERS if which == "all" else (which,)
    document: dict[str, Any] = {"position": reader.position(), "generated_at": now.isoformat(),
                                "policy_version": reader.policy.version}
    if "ropa" in wanted:
        document["records_of_processing"] = reader.records_of_processing()
    if "disclosures" in wanted:
        document["disclosures"] = _limited(reader.disclosure_register(recipient), limit)
    if "retention" in wanted:
        document["retention_schedule"] = _limited(
            reader.retention_schedule(until=until, now=now), limit)
    if "dsar" in wanted:
        document["dsar_queue"] = _limited(reader.dsar_queue(now=now), limit)
    return document


def _write_registers(document: dict[str, Any], out: IO[str]) -> None:
    if "records_of_processing" in document:
        out.write(section("Record of processing activities (art. 30)", table(
            ["purpose", "role", "categories used", "recipients", "legal bases",
             "retention"],
            ([p["purpose"], p["role"],
              [c["category"] for c in p["categories"] if c["acts"]],
              [f"{r['recipient']} ({r['recipient_kind']})" for r in p["recipients"]["used"]],
              [b["item"] for b in p["legal_bases"]["used"]], _retention(p["retention"])]
             for p in document["records_of_processing"]))))
    if "disclosures" in document:
        out.write(section("Disclosure register (art. 19)", table(
            ["recipient", "subject", "categories", "purposes", "last shared"],
            ([r["recipient"], s["subject_id"], s["categories"], s["purposes"],
              s["last_shared_at"]]
             for r in document["disclosures"]["items"] for s in r["subjects"]))))
        _more(document["disclosures"], out)
    if "retention_schedule" in document:
        out.write(section("Retention schedule", table(
            ["due", "subject", "scope", "status", "on hold"],
            ([r["due_at"] or "when its purposes end", r["subject_id"], r["scope"],
              r["status"], r["on_hold"]] for r in document["retention_schedule"]["items"]))))
        _more(document["retention_schedule"], out)
    if "dsar_queue" in document:
        out.write(section("DSAR queue", table(
            ["due", "subject", "request", "kind", "received", "extended", "days left",
             "overdue"],
            ([r["due_at"], r["subject_id"], r["request_ref"], r["kind"], r["requested_at"],
              f"{r['extended_months']} mo {','.join(r['extension_reasons'])}".strip(),
              r["days_left"], "OVERDUE" if r["overdue"] else "no"]
             for r in document["dsar_queue"]["items"]))))
        _more(document["dsar_queue"], out)


def _limited(items: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    shown = items[:limit] if limit else items
    return {"total": len(items), "items": shown}


def _more(listing: dict[str, Any], out: IO[str]) -> None:
    if listing["total"] > len(listing["items"]):
        out.write(f"  ... {listing['total'] - len(listing['items'])} more "
                  "(--limit 0 shows all)\n")


def _retention(retention: dict[str, Any]) -> str:
    rule = retention["rule"]
    text = f"{rule['trigger']} + {rule['period']}" if rule else "-"
    for name in ("expired", "erased"):
        if retention[name]:
            text += f"; {name}: " + ", ".join(f"{e['item']} x{e['acts']}"
                                              for e in retention[name])
    if retention["kept_by_law"]:
        text += "; kept by law: " + ", ".join(k["scope"] for k in retention["kept_by_law"])
    return text


def run_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    """Empty the projections and project the whole log again, in batches each committed
    with its position (progress on stderr). Readers see the projections fill up
    again while it runs; an interrupted rebuild resumes with the next read command
    or rebuild. On Kafka every shard's store is rebuilt.
    """
    if args.batch_size < 1:
        raise ConfigurationError("--batch-size must be at least 1")
    reporters: list[ProgressReporter] = []

    def progress_for(shard: int | None) -> ProgressReporter:
        label = "rebuild" if shard is None else f"rebuild shard {shard}"
        reporters.append(ProgressReporter(sys.stderr, label))
        return reporters[-1]

    with open_backend(settings) as backend:
        rebuilt = backend.rebuild(batch_size=args.batch_size, progress_for=progress_for)
    for reporter, one in zip(reporters, rebuilt, strict=True):
        reporter.finish(one.report)
    summaries = [_summary(one) for one in rebuilt]
    if args.json:
        sharded = rebuilt[0].shard is not None
        write_json(sys.stdout, {"shards": summaries} if sharded else summaries[0])
        return ExitCode.OK
    for summary in summaries:
        where = f"shard {summary['shard']}" if "shard" in summary else "the log"
        print(f"rebuilt the projections from the start of {where}: "
              f"{summary['events']:,} events in {summary['seconds']:.1f} s "
              f"({summary['events_per_second'] or 0:,} events/s), "
              f"{summary['subjects']:,} subjects, position {summary['position']:,}")
    return ExitCode.OK


def _summary(one: Rebuilt) -> dict[str, Any]:
    report, seconds = one.report, one.seconds
    summary = {"events": report.events, "batches": report.batches,
               "position": report.position, "subjects": one.subjects,
               "seconds": round(seconds, 3),
               "events_per_second": round(report.events / seconds) if seconds else None}
    return summary if one.shard is None else {"shard": one.shard, **summary}
