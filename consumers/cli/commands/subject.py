"""`ledger subject show` (the subject view) and `ledger dsar export` (art. 15/20)."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import IO, Any

from consumers.access.purposes import (
    ALL_PURPOSES,
    OPERATOR_CASE,
    OPERATOR_PURPOSE,
    check_case_ref,
)
from consumers.cli.options import SubParsers, command, group, who
from consumers.cli.output import write_json
from consumers.cli.progress import catch_up_progress
from consumers.cli.tables import section, table
from consumers.composition import open_access_log, open_backend
from consumers.exit_codes import COMMON, ExitCode
from consumers.services.consultations import Viewer, Why, open_export, open_view
from consumers.services.exports import export_subject
from consumers.services.subjects import resolve_subject
from ledger.config import Settings
from ledger.errors import ConfigurationError

READ_CODES = COMMON


def register(commands: SubParsers) -> None:
    subject = group(commands, "subject", help="what is held about one subject")
    show = command(subject, "show", run=run_show, codes=READ_CODES,
                   help="the subject view: data by purpose, consents, recipients, requests")
    who(show)
    consultation(show)

    dsar = group(commands, "dsar", help="data subject access requests")
    export = command(dsar, "export", run=run_export, codes=READ_CODES,
                     help="everything held about a subject: JSON export and HTML report")
    who(export)
    consultation(export)
    export.add_argument("--out", type=Path, help="write the JSON export to this file")
    export.add_argument("--html", type=Path, help="write the HTML report to this file")
    export.add_argument("--lang", choices=["nl", "en"], default=None,
                        help="the HTML report in Dutch or English only (default: both, "
                        "side by side)")


def consultation(parser: argparse.ArgumentParser) -> None:
    """Who opens the values and why: each opening is a line in the access log."""
    parser.add_argument("--case", type=_case_ref, default=OPERATOR_CASE, metavar="REF",
                        help="the case this look is for (an identifier; default: "
                        f"{OPERATOR_CASE}); recorded in the access log")
    parser.add_argument("--purpose", choices=list(ALL_PURPOSES), default=OPERATOR_PURPOSE,
                        help="why the values are opened (default: %(default)s, which says "
                        "no purpose was given); recorded in the access log")
    parser.add_argument("--as-user", type=_case_ref, metavar="NAME",
                        help="who is looking, for the access log (default: the OS user)")


def _case_ref(text: str) -> str:
    try:
        return check_case_ref(text)
    except ConfigurationError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _viewer(args: argparse.Namespace) -> Viewer:
    if args.as_user:
        return Viewer(args.as_user, "operator", "cli")
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no login name: a container's numeric uid
        name = f"uid-{os.getuid()}"
    return Viewer(name, "operator", "cli")


def run_show(args: argparse.Namespace, settings: Settings) -> int:
    """Current personal data by purpose and category (opened on read; erased values shown
    as erased), consents with their proof, objections, restrictions, legal holds,
    recipients (and whom to notify under art. 19), retention deadlines and requests
    with their legal deadline.
    """
    with open_backend(settings) as backend, backend.reading(catch_up_progress()) as reader:
        subject_id = resolve_subject(backend, args.subject, email=args.email,
                                     phone=args.phone)
        access_log = open_access_log(settings)
        try:
            view = open_view(reader, access_log, _viewer(args), Why(args.case, args.purpose),
                             subject_id)
        finally:
            access_log.close()
    if args.json:
        write_json(sys.stdout, view)
    else:
        write_view(view, sys.stdout)
    return ExitCode.OK


def run_export(args: argparse.Namespace, settings: Settings) -> int:
    """A complete machine-readable export (art. 15 access, art. 20 portability): the
    subject view, every value ever recorded (erased ones marked), and every act.
    Files are created 0600 and never overwrite. --json prints the export on stdout.
    """
    if not (args.json or args.out or args.html):
        raise ConfigurationError(
            "say where the export goes: --out FILE (JSON), --html FILE, or --json (stdout)")
    with open_backend(settings) as backend, backend.reading(catch_up_progress()) as reader:
        subject_id = resolve_subject(backend, args.subject, email=args.email,
                                     phone=args.phone)
        for target in (args.out, args.html):
            if target is not None and target.exists():
                raise ConfigurationError(f"{target} exists; an export never overwrites a file")
        shown = "+".join(kind for kind, wanted in (("json", args.json or args.out),
                                                   ("html", args.html)) if wanted)
        access_log = open_access_log(settings)
        try:
            document = open_export(reader, access_log, _viewer(args),
                                   Why(args.case, args.purpose), subject_id,
                                   shown=f"export-{shown}")
        finally:
            access_log.close()
        export = export_subject(reader, subject_id, json_file=args.out, html_file=args.html,
                                lang=args.lang or "both",
                                document=document)
    if args.json:
        write_json(sys.stdout, export.document)
    else:
        written = ", ".join(str(path) for path in export.written)
        print(export.summary() + (f"; written to {written}" if written else ""))
    return ExitCode.OK


def write_view(view: dict[str, Any], out: IO[str]) -> None:
    out.write(f"subject {view['subject_id']} (version {view['version']}, registered "
              f"{view['registered_at']}; projections at notification {view['position']})\n")
    out.write(section("Personal data", table(
        ["purpose", "category", "value", "since", "restricted", "ground ended", "kept by"],
        ([v["purpose"], f"{v['label_en']} ({v['category']})",
          "<erased>" if v["status"] == "erased" else v["value"], v["since"], v["restricted"],
          _ended(v.get("ground")), _kept_by(v.get("kept_by", []))]
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
        ["scope", "due (jurisdiction's zone)", "due (UTC)", "statutory", "on hold"],
        ([r["scope"], r["due_at"] or "when its purposes end", r.get("due_at_utc") or "-",
          r["statutory"], r["on_hold"]]
         for r in view["retention"]))))
    out.write(section("Requests", table(
        ["request", "kind", "received", "due", "extended", "status", "overdue"],
        ([r["request_ref"], r["kind"], r["requested_at"], r["due_at"],
          f"{r['extended_months']} mo", r["status"], r["overdue"]]
         for r in view["requests"]))))


def _ended(ground: dict[str, Any] | None) -> str:
    """When and by what the ground of a value ended (or ends), or "-" while it runs."""
    if not ground or not ground.get("ends_at"):
        return "-"
    return f"{ground['ended_by']} {ground['ends_at']}"


def _kept_by(grounds: list[dict[str, Any]]) -> str:
    """The live grounds that keep the category besides this value's own."""
    names = [g.get("purpose") or g.get("hold_ref") or "the law" for g in grounds]
    return ", ".join(str(n) for n in names) or "-"
