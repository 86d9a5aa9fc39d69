"""`ledger subject show`, `ledger audit trail`, `ledger registers` and `ledger rebuild`.

Each reads through ``LedgerReader`` after the projections caught up with the ledger;
tables for people, ``--json`` (one JSON document on stdout) for scripts.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import IO, Any
from uuid import UUID

import orjson

from consumers.cli_progress import ProgressReporter
from consumers.cli_tables import section, table
from consumers.projector import BATCH_SIZE, NotificationSource, rebuild
from ledger.errors import ConfigurationError
from projections.projector import Projector
from projections.reader import LedgerReader
from projections.store import ProjectionStore

REGISTERS = ("ropa", "disclosures", "retention", "dsar")


def parse_moment(text: str) -> datetime:
    """An ISO 8601 moment with offset; a bare date means the end of that day (UTC)."""
    try:
        if len(text) == 10:
            return datetime.combine(datetime.fromisoformat(text).date(), time.max, UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigurationError(f"not an ISO 8601 date or moment: {text!r}") from None
    if moment.tzinfo is None:
        raise ConfigurationError(f"{text!r} needs a UTC offset, e.g. {text}+00:00")
    return moment


def write_json(out: IO[str], document: object) -> None:
    out.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")


# -- subject show ----------------------------------------------------------------------

def show_subject(reader: LedgerReader, subject_id: UUID, out: IO[str], *,
                 as_json: bool) -> int:
    view = reader.subject_view(subject_id)
    if as_json:
        write_json(out, view)
        return 0
    out.write(f"subject {view['subject_id']} (version {view['version']}, registered "
              f"{view['registered_at']}; projections at notification {view['position']})\n")
    out.write(section("Personal data", table(
        ["purpose", "category", "value", "since", "restricted"],
        ([v["purpose"], f"{v['label_en']} ({v['category']})",
          "<erased>" if v["status"] == "erased" else v["value"], v["since"], v["restricted"]]
         for v in view["personal_data"]))))
    out.write(section("Purposes", table(
        ["purpose", "legal basis", "role", "controller", "source", "consent", "objected"],
        ([p["purpose"], p["legal_basis"], p["role"], p["controller"], p["source_system"],
          p["consent"], p["objected"]] for p in view["purposes"]))))
    out.write(section("Consents", table(
        ["purpose", "live", "channel", "notice", "proof", "since"],
        ([c["purpose"], c["live"], c["channel"], c["notice_version"], c["proof_ref"],
          c["changed_at"]] for c in view["consents"]))))
    objections = view["objections"]
    out.write(f"\nObjections\n  direct marketing: "
              f"{'yes' if objections['direct_marketing'] else 'no'}; purposes: "
              f"{', '.join(objections['purposes']) or 'none'}\n")
    out.write(section("Restrictions", table(
        ["request", "scope", "reason", "since", "until"],
        ([r["request_ref"], r["scope"] or "everything", r["reason"], r["since"], r["until"]]
         for r in view["restrictions"]))))
    out.write(section("Legal holds", table(
        ["hold", "reason", "scopes", "since"],
        ([h["hold_ref"], h["reason"], h["scopes"], h["since"]]
         for h in view["legal_holds"]))))
    out.write(section("Recipients", table(
        ["recipient", "kind", "purpose", "ground", "categories", "at"],
        ([r["recipient"], r["recipient_kind"], r["purpose"], r["ground"], r["categories"],
          r["occurred_at"]] for r in view["recipients"]))))
    if view["notify_recipients"]:
        out.write(section("Recipients to notify (art. 19)", table(
            ["recipient", "categories", "because"],
            ([n["recipient"], n["categories"],
              ", ".join(f"{b['act']} {b['at']}" for b in n["because"])]
             for n in view["notify_recipients"]))))
    out.write(section("Retention", table(
        ["scope", "due", "statutory", "on hold"],
        ([r["scope"], r["due_at"] or "when its purposes end", r["statutory"], r["on_hold"]]
         for r in view["retention"]))))
    out.write(section("Requests", table(
        ["request", "kind", "received", "due", "extended", "status", "overdue"],
        ([r["request_ref"], r["kind"], r["requested_at"], r["due_at"],
          f"{r['extended_months']} mo", r["status"], r["overdue"]]
         for r in view["requests"]))))
    return 0


# -- audit trail -----------------------------------------------------------------------

def show_audit_trail(reader: LedgerReader, subject_id: UUID | None, out: IO[str], *,
                     as_of: datetime | None, known_at: datetime | None, after: int,
                     limit: int, as_json: bool) -> int:
    trail = reader.audit_trail(subject_id, as_of=as_of, known_at=known_at, after=after,
                               limit=limit or None)
    held = None
    if subject_id is not None and as_of is not None:
        held = reader.held_as_of(subject_id, as_of, known_at=known_at)
    if as_json:
        write_json(out, {"subject_id": str(subject_id) if subject_id else None,
                         "as_of": as_of.isoformat() if as_of else None,
                         "known_at": known_at.isoformat() if known_at else None,
                         "position": reader.position(), "trail": trail, "held": held})
        return 0
    out.write(table(
        ["no", "subject", "act", "act id", "actor", "policy", "occurred", "recorded",
         "details"],
        ([a["notification_id"], a["subject_id"] or "(ledger)", a["type"], a["act_id"],
          a["actor"], a["policy_version"], a["occurred_at"], a["recorded_at"],
          _details(a["details"])] for a in trail)))
    if limit and len(trail) == limit:
        out.write(f"(first {limit} acts; --after {trail[-1]['notification_id']} for more, "
                  "--limit 0 for all)\n")
    if held is not None:
        _write_held(held, out)
    return 0


def _details(details: dict[str, Any]) -> str:
    return " ".join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}"
                    for k, v in details.items() if v not in (None, [], {}))


def _write_held(held: dict[str, Any], out: IO[str]) -> None:
    out.write(f"\nHeld as of {held['as_of']}"
              + (f" (as recorded by {held['known_at']})" if held["known_at"] else "")
              + f": {held['acts_counted']} acts counted, policy "
              f"{', '.join(held['policy_versions']) or '-'}\n")
    if not held["registered"]:
        out.write("  nothing: the subject was not registered yet\n")
        return
    out.write(section("Categories held (values withheld)", table(
        ["purpose", "category", "status", "since", "restricted"],
        ([v["purpose"], v["category"], v["status"], v["since"], v["restricted"]]
         for v in held["personal_data"]))))
    out.write(section("Grounds", table(
        ["purpose", "legal basis", "role", "controller", "consent", "objected"],
        ([p["purpose"], p["legal_basis"], p["role"], p["controller"], p["consent"],
          p["objected"]] for p in held["purposes"]))))
    out.write(section("Restrictions and holds then", table(
        ["kind", "reference", "scope", "reason"],
        [*(["restriction", r["request_ref"], r["scope"] or "everything", r["reason"]]
           for r in held["restrictions"]),
         *(["legal hold", h["hold_ref"], h["scopes"], h["reason"]]
           for h in held["legal_holds"])])))


# -- registers -------------------------------------------------------------------------

def show_registers(reader: LedgerReader, which: str, out: IO[str], *, now: datetime,
                   recipient: str | None, until: datetime | None, limit: int,
                   as_json: bool) -> int:
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
    if as_json:
        write_json(out, document)
        return 0
    if "ropa" in wanted:
        out.write(section("Record of processing activities (art. 30)", table(
            ["purpose", "role", "categories used", "recipients", "legal bases",
             "retention"],
            ([p["purpose"], p["role"],
              [c["category"] for c in p["categories"] if c["acts"]],
              [f"{r['recipient']} ({r['recipient_kind']})" for r in p["recipients"]["used"]],
              [b["item"] for b in p["legal_bases"]["used"]], _retention(p["retention"])]
             for p in document["records_of_processing"]))))
    if "disclosures" in wanted:
        out.write(section("Disclosure register (art. 19)", table(
            ["recipient", "subject", "categories", "purposes", "last shared"],
            ([r["recipient"], s["subject_id"], s["categories"], s["purposes"],
              s["last_shared_at"]]
             for r in document["disclosures"]["items"] for s in r["subjects"]))))
        _more(document["disclosures"], out)
    if "retention" in wanted:
        out.write(section("Retention schedule", table(
            ["due", "subject", "scope", "status", "on hold"],
            ([r["due_at"] or "when its purposes end", r["subject_id"], r["scope"],
              r["status"], r["on_hold"]] for r in document["retention_schedule"]["items"]))))
        _more(document["retention_schedule"], out)
    if "dsar" in wanted:
        out.write(section("DSAR queue", table(
            ["due", "subject", "request", "kind", "received", "extended", "days left",
             "overdue"],
            ([r["due_at"], r["subject_id"], r["request_ref"], r["kind"], r["requested_at"],
              f"{r['extended_months']} mo {','.join(r['extension_reasons'])}".strip(),
              r["days_left"], "OVERDUE" if r["overdue"] else "no"]
             for r in document["dsar_queue"]["items"]))))
        _more(document["dsar_queue"], out)
    return 0


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


# -- rebuild ---------------------------------------------------------------------------

def run_rebuild(source: NotificationSource, projector: Projector, store: ProjectionStore,
                err: IO[str], *, batch_size: int = BATCH_SIZE,
                shard: int | None = None) -> dict[str, Any]:
    """Rebuilds one store from the start of its log (one shard's, on Kafka)."""
    progress = ProgressReporter(err, "rebuild" if shard is None else f"rebuild shard {shard}")
    report = rebuild(source, projector, store, batch_size=batch_size, progress=progress)
    progress.finish(report)
    seconds = report.elapsed
    summary = {"events": report.events, "batches": report.batches,
               "position": report.position, "subjects": store.subject_count(),
               "seconds": round(seconds, 3),
               "events_per_second": round(report.events / seconds) if seconds else None}
    return summary if shard is None else {"shard": shard, **summary}


def write_rebuilt(out: IO[str], summaries: list[dict[str, Any]], *, as_json: bool) -> None:
    """One summary for the embedded log; on Kafka ``{"shards": [...]}``, one per shard."""
    if as_json:
        sharded = "shard" in summaries[0]
        write_json(out, {"shards": summaries} if sharded else summaries[0])
        return
    for summary in summaries:
        where = f"shard {summary['shard']}" if "shard" in summary else "the log"
        out.write(f"rebuilt the projections from the start of {where}: "
                  f"{summary['events']:,} events in {summary['seconds']:.1f} s "
                  f"({summary['events_per_second'] or 0:,} events/s), "
                  f"{summary['subjects']:,} subjects, position {summary['position']:,}\n")
