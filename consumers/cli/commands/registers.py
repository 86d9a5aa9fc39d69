"""`ledger registers` (art. 30, art. 19, retention, DSAR queue) and `ledger rebuild`."""

from __future__ import annotations

import argparse
import sys
import textwrap
from datetime import UTC, datetime
from typing import IO, Any

from consumers.cli.options import SubParsers, command, limit, moment
from consumers.cli.output import write_json
from consumers.cli.progress import ProgressReporter, catch_up_progress
from consumers.cli.tables import cell, section, table
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
        # Art. 30: the per-purpose records under their old key, the rest beside them.
        document.update(reader.record_of_processing())
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
        _write_ropa(document, out)
    if "disclosures" in document:
        out.write(section("Disclosure register (art. 19)", table(
            ["recipient", "subject", "categories", "purposes", "last shared"],
            ([r["recipient"], s["subject_id"], s["categories"], s["purposes"],
              s["last_shared_at"]]
             for r in document["disclosures"]["items"] for s in r["subjects"]))))
        _more(document["disclosures"], out)
    if "retention_schedule" in document:
        out.write(section("Retention schedule", table(
            ["due (jurisdiction's zone)", "subject", "scope", "status", "on hold"],
            ([r.get("due_at_local") or r["due_at"] or "when its purposes end",
              r["subject_id"], r["scope"],
              r["status"], r["on_hold"]] for r in document["retention_schedule"]["items"]))))
        _more(document["retention_schedule"], out)
    if "dsar_queue" in document:
        out.write(section("DSAR queue", table(
            ["due (jurisdiction's zone)", "subject", "request", "kind", "received",
             "extended", "days left", "overdue"],
            ([r.get("due_at_local") or r["due_at"], r["subject_id"], r["request_ref"],
              r["kind"], r["requested_at"],
              f"{r['extended_months']} mo {','.join(r['extension_reasons'])}".strip(),
              r["days_left"], "OVERDUE" if r["overdue"] else "no"]
             if r["status"] != "forwarded" else
             ["-", r["subject_id"], r["request_ref"], r["kind"], r["requested_at"],
              f"forwarded to {r['forwarded_to']}", "-", "no"]
             for r in document["dsar_queue"]["items"]))))
        _more(document["dsar_queue"], out)


def _write_ropa(document: dict[str, Any], out: IO[str]) -> None:
    """Art. 30(1) per purpose: what the policy allows beside what the acts used; then
    the processor record of art. 30(2)."""
    policy = document["policy"]
    controller, officer = document["controller"], document["data_protection_officer"]
    out.write(section(
        f"Record of processing activities (art. 30(1)), policy revision {policy['version']}",
        _aspects([
            ("controller", controller["name"], None),
            ("contact", controller["contact_en"] or _not_stated(policy), None),
            ("data protection officer", _officer(officer, policy), None),
            ("security measures", [m["en"] for m in document["security_measures"]]
             or _not_stated(policy), None),
            ("policy revisions published",
             [f"{e['item']} on {e['first_at'][:10]}" for e in policy["published"]], None),
            ("acts judged under", _times(policy["judged_under"]), None),
        ], ("", "", ""))))
    for p in document["records_of_processing"]:
        title = p["title_en"] or p["title_nl"] or "not in the policy"
        out.write(f"\n{p['purpose']} ({p['section'] or '-'}, {p['role'] or '-'}): {title}\n")
        out.write(_aspects(_activity(p, policy), (
            "", f"policy {policy['version']} allows", "acts recorded")))
    record = document["processor_record"]
    out.write(section("Processor record (art. 30(2)): processing on behalf of customers", table(
        ["controller (customer)", "purposes", "processing", "categories", "first", "last"],
        ([c["controller"], c["purposes"], _times(c["categories_of_processing"]),
          _times(c["categories_of_personal_data"]), c["first_at"], c["last_at"]]
         for c in record["controllers"]))))
    for p in record["purposes"]:
        out.write(f"  processor purpose {p['purpose']}: categories "
                  f"{', '.join(p['categories_allowed'])}; third countries: "
                  f"{_transfer_text(p['third_country_transfers'], policy)}\n")


def _activity(p: dict[str, Any], policy: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    categories = p["categories"]
    recipients = p["recipients"]
    rows: list[tuple[str, Any, Any]] = [
        ("data subjects", [s["label_en"] for s in p["data_subjects"]] or _not_stated(policy),
         None),
        ("categories", [c["category"] + (" (optional)" if c["listed"] == "optional" else "")
                        for c in categories if c["listed"]],
         [f"{c['category']} x{c['acts']}" for c in categories if c["acts"]]),
        ("legal bases", p["legal_bases"]["allowed"], _times(p["legal_bases"]["used"])),
        ("recipients", recipients["kinds_allowed"],
         [f"{r['recipient']} ({r['recipient_kind']}) x{r['acts']}" for r in recipients["used"]]),
        ("sharing grounds", None, _times(recipients["grounds_used"])),
        ("operations", None, _times(p["operations"])),
        ("sources", None, _times(p["sources"])),
        ("third countries", _transfer_text(p["third_country_transfers"], policy), None),
        ("retention", _rule(p["retention"]), _retention(p["retention"])),
    ]
    if p.get("controller_transfers"):
        rows.append(("transferred to", None, [
            f"{t['new_controller']} ({t['transfer_kind']}) on {t['first_at'][:10]}"
            for t in p["controller_transfers"]]))
    if p["role"] == "processor":
        rows.append(("for controllers", "customer organisations (art. 30(2))",
                     _times(p["controllers"])))
    rows.append(("judged under", None, _times(p["judged_under"])))
    return rows


def _aspects(rows: list[tuple[str, Any, Any]], headers: tuple[str, str, str]) -> str:
    """A three-column table whose long cells wrap instead of being cut off."""
    width = 44
    name_width = max(len(h) for h in (headers[0], *(r[0] for r in rows)))
    lines = []
    if any(headers):
        lines.append("  " + "  ".join([headers[0].upper().ljust(name_width),
                                       headers[1].upper().ljust(width), headers[2].upper()]))
    for name, allowed, used in rows:
        if not any(headers):  # facts, not allowed-beside-used: one item a line
            items = allowed if isinstance(allowed, list) else [allowed]
            bullet = len(items) > 1
            left = [("- " if bullet and n == 0 else "  " if bullet else "") + line
                    for item in items
                    for n, line in enumerate(textwrap.wrap(
                        _full(item), width + 28, break_on_hyphens=False))] or ["-"]
            right = [""]
        else:
            left = textwrap.wrap(_full(allowed), width, break_on_hyphens=False) or ["-"]
            right = textwrap.wrap(_full(used), width, break_on_hyphens=False) or ["-"]
        for n in range(max(len(left), len(right))):
            lines.append("  " + "  ".join([
                (name if n == 0 else "").ljust(name_width),
                (left[n] if n < len(left) else "").ljust(width),
                right[n] if n < len(right) else ""]).rstrip())
    return "\n".join(lines) + "\n"


def _full(value: Any) -> str:
    """A cell's text without the table's cut-off (the wrapping keeps it readable)."""
    if isinstance(value, str):
        return " ".join(value.split())
    if value is None or value == []:
        return "-"
    return cell(value) if not isinstance(value, list) else ", ".join(str(v) for v in value)


def _times(entries: list[dict[str, Any]]) -> list[str]:
    return [f"{e['item']} x{e['acts']}" if "acts" in e else str(e["item"]) for e in entries]


def _not_stated(policy: dict[str, Any]) -> str:
    return f"not stated in policy revision {policy['version']}"


def _officer(officer: dict[str, Any] | None, policy: dict[str, Any]) -> str:
    if officer is None:
        return _not_stated(policy)
    if not officer["named"]:
        return f"none named ({officer['note_en']})"
    return f"{officer['name']}: {officer['contact_en']}"


def _transfer_text(transfers: dict[str, Any], policy: dict[str, Any]) -> str:
    if not transfers["stated"]:
        return _not_stated(policy)
    if transfers["none"]:
        return "none"
    return "; ".join(f"{t['country']} ({t['recipient_kind']}; {t['safeguard']})"
                     for t in transfers["transfers"])


def _rule(retention: dict[str, Any]) -> str:
    rule = retention["rule"]
    if rule is None:
        return "-"
    text = f"{rule['words_en']} ({rule['trigger']} + {rule['period']})"
    for law in retention.get("statutory", []):
        text += (f"; {', '.join(law['categories'])}: {law['words_en']} by law "
                 f"({law['legal_reason']})")
    return text


def _limited(items: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    shown = items[:limit] if limit else items
    return {"total": len(items), "items": shown}


def _more(listing: dict[str, Any], out: IO[str]) -> None:
    if listing["total"] > len(listing["items"]):
        out.write(f"  ... {listing['total'] - len(listing['items'])} more "
                  "(--limit 0 shows all)\n")


def _retention(retention: dict[str, Any]) -> list[str]:
    """What the acts did about retention: triggers recorded, scopes expired or erased,
    scopes kept by law past an erasure."""
    done = [f"{name} {e['item']} x{e['acts']}"
            for name, key in (("triggered", "triggers_recorded"), ("expired", "expired"),
                              ("erased", "erased"))
            for e in retention[key]]
    done += [f"kept by law: {k['scope']} x{k['acts']}" for k in retention["kept_by_law"]]
    return done


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
