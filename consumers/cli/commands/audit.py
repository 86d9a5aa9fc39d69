"""`ledger audit trail`: every act, in order, without personal values."""

from __future__ import annotations

import argparse
import sys
from typing import IO, Any

from consumers.cli.options import SubParsers, command, group, limit, moment, who
from consumers.cli.output import write_json
from consumers.cli.progress import catch_up_progress
from consumers.cli.tables import section, table
from consumers.composition import open_backend
from consumers.exit_codes import COMMON, ExitCode
from consumers.services.subjects import resolve_subject
from ledger.config import Settings


def register(commands: SubParsers) -> None:
    audit = group(commands, "audit", help="the audit trail")
    trail = command(
        audit, "trail", run=run_trail, codes=COMMON,
        help="every act, in order, without personal values",
    )
    who(trail, required=False)
    moment(trail, "--as-of", bare_date="end", help="acts that had happened by then")
    moment(trail, "--known-at", bare_date="end",
           help="only acts recorded by then (what the ledger knew)")
    trail.add_argument("--after", type=int, default=0, help="acts after this notification id")
    limit(trail, "acts")


def run_trail(args: argparse.Namespace, settings: Settings) -> int:
    """Acts with their policy version, actor, when they happened and when they were
    recorded; for one subject or the whole ledger. With a subject and --as-of, also
    what was held then and on what grounds (no values).
    """
    with open_backend(settings) as backend, backend.reading(catch_up_progress()) as reader:
        named = args.subject or args.email or args.phone
        subject_id = resolve_subject(backend, args.subject, email=args.email,
                                     phone=args.phone) if named else None
        trail = reader.audit_trail(subject_id, as_of=args.as_of, known_at=args.known_at,
                                   after=args.after, limit=args.limit or None)
        held = None
        if subject_id is not None and args.as_of is not None:
            held = reader.held_as_of(subject_id, args.as_of, known_at=args.known_at)
        position = reader.position()
    out = sys.stdout
    if args.json:
        write_json(out, {"subject_id": str(subject_id) if subject_id else None,
                         "as_of": args.as_of.isoformat() if args.as_of else None,
                         "known_at": args.known_at.isoformat() if args.known_at else None,
                         "position": position, "trail": trail, "held": held})
        return ExitCode.OK
    out.write(table(
        ["no", "subject", "act", "act id", "actor", "policy", "occurred", "recorded",
         "details"],
        ([a["notification_id"], a["subject_id"] or "(ledger)", a["type"], a["act_id"],
          a["actor"], a["policy_version"], a["occurred_at"], a["recorded_at"],
          _details(a["details"])] for a in trail)))
    if args.limit and len(trail) == args.limit:
        out.write(f"(first {args.limit} acts; --after {trail[-1]['notification_id']} for "
                  "more, --limit 0 for all)\n")
    if held is not None:
        _write_held(held, out)
    return ExitCode.OK


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
