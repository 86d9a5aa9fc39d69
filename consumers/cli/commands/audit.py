"""`ledger audit trail`: every act, in order, without personal values; and the
verifiable log: `audit verify`, `audit checkpoint`, `audit verify-export`, `audit keygen`,
`audit public-key`."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import IO, Any

import orjson

from consumers.cli.options import (
    SubParsers,
    command,
    group,
    key_commands,
    limit,
    moment,
    who,
)
from consumers.cli.output import write_json
from consumers.cli.progress import ProgressReporter, catch_up_progress
from consumers.cli.tables import section, table
from consumers.composition import (
    audit_log_name,
    open_audit_log,
    open_backend,
    sign_checkpoints_now,
)
from consumers.exit_codes import COMMON, ExitCode
from consumers.projection_runner import CatchUp
from consumers.services.audit_keys import load_audit_key, make_audit_key, trusted_audit_keys
from consumers.services.audit_log import (
    Verification,
    checkpoints_document,
    latest_checkpoints,
    read_checkpoint_file,
    verify_log,
)
from consumers.services.subjects import resolve_subject
from ledger.audit.checkpoint import SignedCheckpoint, ledger_key_name
from ledger.audit.evidence import check_export
from ledger.audit.signing_keys import RETIRED_PREFIX, TrustedKeys
from ledger.config import Settings
from ledger.errors import ConfigurationError

# `audit verify` and `audit verify-export`: 0 intact, 1 anything failed, 2 usage.
VERIFY_CODES = (ExitCode.OK, ExitCode.REFUSED, ExitCode.USAGE, ExitCode.FAILED)


def register(commands: SubParsers) -> None:
    audit = group(commands, "audit", help="the audit trail and the verifiable log")
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

    verify = command(audit, "verify", run=run_verify, codes=VERIFY_CODES,
                     help="recompute every shard's tree from the raw store and check "
                     "every signed checkpoint")
    verify.add_argument("--checkpoint", type=Path, metavar="FILE",
                        help="checkpoints kept earlier (`audit checkpoint --out`, or an "
                        "export): prove today's log extends them")
    verify.add_argument("--public-key", type=Path, metavar="FILE",
                        help="the verifier keys to trust (`audit public-key`; default: "
                        "LEDGER_AUDIT_PUBLIC_KEYS)")
    checkpoint = command(audit, "checkpoint", run=run_checkpoint, codes=COMMON,
                         help="the latest signed checkpoint of every shard, to keep")
    checkpoint.add_argument("--out", type=Path, metavar="FILE",
                            help="write them to this file (never over an existing one)")
    verify_export = command(audit, "verify-export", run=run_verify_export,
                            codes=VERIFY_CODES,
                            help="check an export's proofs offline, with nothing but the "
                            "file and a verifier key")
    verify_export.add_argument("file", type=Path, help="the JSON export (`dsar export --out`)")
    verify_export.add_argument("--public-key", type=Path, metavar="FILE",
                               help="the verifier keys to trust (`audit public-key`)")
    key_commands(
        audit, keygen="keygen", run_keygen=run_keygen,
        keygen_help="make the checkpoint signing key (Ed25519), apart from the master key",
        rotate_help="replace the current key; its verifier key stays trusted, so what it "
        "signed still verifies",
        public_key="public-key", run_public_key=run_public_key,
        public_key_help="print the verifier keys to give auditors (C2SP note verifier keys)")


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


# -- the verifiable log ------------------------------------------------------------------


def run_verify(args: argparse.Namespace, settings: Settings) -> int:
    """Recompute every shard's RFC 9162 tree from the raw store (the embedded event
    store, or each Kafka ledger partition), check every stored checkpoint's signature
    and root against it, and, with --checkpoint, prove with a consistency proof that
    today's log extends the checkpoints given. Reads only; needs no data key. Each
    problem names the shard, the sequence numbers and what failed: changed, missing,
    inserted, reordered, truncated, forked, bad-signature.
    """
    keys = trusted_audit_keys(settings, args.public_key)
    earlier = read_checkpoint_file(args.checkpoint) if args.checkpoint else []
    progress = _VerifyProgress(sys.stderr)
    log = open_audit_log(settings)
    try:
        verification = verify_log(log, keys, earlier=earlier, progress=progress)
    finally:
        log.close()
        progress.finish()
    if args.json:
        write_json(sys.stdout, verification.to_json())
    else:
        _write_verification(verification, sys.stdout)
    return ExitCode.OK if verification.intact else ExitCode.REFUSED


def _write_verification(verification: Verification, out: IO[str]) -> None:
    for report in verification.shards:
        signed = (f"{report.checkpoints:,} checkpoints verified, the latest at size "
                  f"{report.latest_signed:,}" if report.latest_signed is not None
                  else "no checkpoint signed yet")
        state = "intact" if report.intact else (
            f"{len(report.problems) + report.unlisted} problem(s)")
        out.write(f"shard {report.shard} ({report.origin}): {state}: {report.size:,} "
                  f"events, root {report.root.hex()[:16]}, {signed}\n")
        for problem in report.problems:
            out.write(f"  shard {report.shard}: {problem}\n")
        if report.unlisted:
            out.write(f"  shard {report.shard}: ... and {report.unlisted} more\n")
        for aside in report.set_aside:
            out.write(f"  set aside: {aside}\n")
        for result in report.consistency:
            out.write(f"  today's log {result.describe()}\n")
    for refused in verification.refused:
        out.write(f"refused: {refused}\n")
    verdict = "intact" if verification.intact else "NOT intact"
    out.write(f"verified {verification.events:,} events in {verification.seconds:.1f} s "
              f"({verification.events_per_second:,.0f} events/s): {verdict}\n")


class _VerifyProgress:
    """A bar (on a terminal) or a line every few seconds, once a shard is long."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self._reporters: dict[int, tuple[ProgressReporter, float]] = {}

    def __call__(self, shard: int, done: int, total: int, rate: float) -> None:
        if shard not in self._reporters:
            self._reporters[shard] = (ProgressReporter(self.stream, f"verifying shard "
                                                       f"{shard}"), time.monotonic())
        reporter, started = self._reporters[shard]
        reporter(CatchUp(0, done, max(total, done), events=done, started=started))

    def finish(self) -> None:
        for reporter, _ in self._reporters.values():
            if reporter.tty:
                self.stream.write("\n")
        self.stream.flush()


def run_checkpoint(args: argparse.Namespace, settings: Settings) -> int:
    """The latest signed checkpoint of every shard (C2SP signed notes), for an auditor
    to keep and give to `audit verify --checkpoint` later. On the embedded store the
    tree is signed first, so the checkpoint covers every act.
    """
    sign_checkpoints_now(settings)
    log = open_audit_log(settings)
    try:
        notes = latest_checkpoints(log)
    finally:
        log.close()
    if not notes:
        raise ConfigurationError("nothing is signed yet: the ledger signs its tree while it "
                                 "records, and when it closes")
    document = checkpoints_document(notes)
    if args.out is not None:
        _write_new(args.out, orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    if args.json:
        write_json(sys.stdout, document)
    elif args.out is not None:
        sizes = ", ".join(f"{c.origin} at size {c.size:,}" for c in
                          (SignedCheckpoint.parse(n).checkpoint for n in notes))
        print(f"wrote {len(notes)} checkpoint(s) to {args.out}: {sizes}")
    else:
        sys.stdout.write("\n".join(notes))
    return ExitCode.OK


def run_verify_export(args: argparse.Namespace, settings: Settings) -> int:
    """Check a DSAR export offline: every checkpoint it carries is signed by a trusted
    key, every listed event's inclusion proof leads to its checkpoint's root, and every
    act the export lists is among them. Proves each listed act is in the signed log,
    unaltered; not that none is missing (`audit verify` over the whole log shows that).
    """
    keys = trusted_audit_keys(settings, args.public_key)
    try:
        document = orjson.loads(args.file.read_bytes())
    except FileNotFoundError:
        raise ConfigurationError(f"no export at {args.file}") from None
    except orjson.JSONDecodeError:
        raise ConfigurationError(f"{args.file} is not a JSON export") from None
    result = check_export(document, keys)
    if args.json:
        write_json(sys.stdout, result.to_json())
        return ExitCode.OK if result.ok else ExitCode.REFUSED
    opened = [c for c in result.verification.checkpoints if c is not None]
    against = "; ".join(
        f"{c.origin} at size {c.size:,}" + (f" (signed {c.timestamp:%Y-%m-%dT%H:%M:%SZ})"
                                            if c.timestamp else "") for c in opened)
    print(f"{len(result.verification.verified)} event(s) of subject {result.subject_id} "
          f"proven against the signed checkpoint of {against or '-'}")
    for failure in result.failures:
        print(f"failed: {failure}")
    print("each listed act is in the signed log, unaltered" if result.ok
          else "the export does NOT verify")
    return ExitCode.OK if result.ok else ExitCode.REFUSED


def run_keygen(args: argparse.Namespace, settings: Settings) -> int:
    """Make the key the ledger signs its checkpoints with (Ed25519, C2SP signed notes),
    in LEDGER_AUDIT_KEY_FILE (0600; kept apart from the master key), and trust its
    verifier key in LEDGER_AUDIT_PUBLIC_KEYS. With --rotate the new key replaces the
    current one, whose verifier key stays trusted: what it signed still verifies.
    """
    change = make_audit_key(settings, ledger_key_name(audit_log_name(settings)),
                            rotate=args.rotate)
    if args.json:
        write_json(sys.stdout, change.as_dict())
        return ExitCode.OK
    print(f"checkpoint signing key {change.key} written to {change.key_file}; trusted in "
          f"{change.public_keys_file} (give that file to your auditors)")
    if change.replaced:
        print(f"replaced key {change.replaced}: it stays trusted, so what it signed still "
              f"verifies; if it was compromised, retire it: prefix its line in "
              f"{change.public_keys_file} with '{RETIRED_PREFIX}'")
    return ExitCode.OK


def run_public_key(args: argparse.Namespace, settings: Settings) -> int:
    """The verifier keys of the ledger's checkpoints, one a line (retired ones marked),
    in the form `audit verify --public-key` and Go's note package read."""
    keys = TrustedKeys.load(settings.audit_public_keys_path)
    current = None
    if settings.audit_key_text or settings.audit_key_path.exists():
        current = load_audit_key(settings).verifier
        if current not in keys.trusted and current not in keys.retired:
            keys = keys.trust(current)
    if args.json:
        write_json(sys.stdout, {"signing_key": current.label if current else None,
                                "trusted": [k.encode() for k in keys.trusted],
                                "retired": [k.encode() for k in keys.retired]})
        return ExitCode.OK
    lines = [k.encode() for k in keys.trusted] + [
        f"{RETIRED_PREFIX}{k.encode()}" for k in keys.retired]
    print("\n".join(lines) if lines else "no checkpoint keys (`ledger audit keygen`)")
    return ExitCode.OK


def _write_new(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigurationError(f"{path} exists; it is never overwritten") from None
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
