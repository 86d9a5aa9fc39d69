"""`ledger tokens create|list|revoke`: the web console's tokens (only hashes are stored)."""

from __future__ import annotations

import argparse
import sys

from consumers.cli.options import SubParsers, command, group
from consumers.cli.output import write_json, write_json_line
from consumers.cli.tables import table
from consumers.composition import open_token_store
from consumers.exit_codes import COMMON, ExitCode
from consumers.web.roles import Role
from ledger.config import Settings
from ledger.errors import ConfigurationError


def register(commands: SubParsers) -> None:
    tokens = group(commands, "tokens", help="tokens for the web console and HTTP API")
    create = command(tokens, "create", run=run_create, codes=COMMON,
                     help="make a token for a role; it is printed once, only its hash kept")
    create.add_argument("--role", required=True, choices=[str(r) for r in Role])
    create.add_argument("--name", required=True,
                        help="who or what holds it (lower-case, digits, '-'): the actor of "
                        "the acts it sends and the viewer in the access log")
    command(tokens, "list", run=run_list, codes=COMMON, help="every token, without secrets")
    revoke = command(tokens, "revoke", run=run_revoke, codes=COMMON,
                     help="revoke a token by its name (at once, for every request after)")
    revoke.add_argument("name")


def run_create(args: argparse.Namespace, settings: Settings) -> int:
    """Make a token: 32 random bytes, printed once; the ledger keeps only its SHA-256.
    People paste it into the console's sign-in form, machines send it as a bearer token.
    """
    store = open_token_store(settings)
    try:
        token, info = store.create(args.name, args.role)
    finally:
        store.close()
    if args.json:
        write_json_line(sys.stdout, {"token": token, **info.as_dict()})
    else:
        print(token)
        print(f"token {info.name} ({info.role}) made; this is the only time it is shown",
              file=sys.stderr)
    return ExitCode.OK


def run_list(args: argparse.Namespace, settings: Settings) -> int:
    """Every token's name, role, when it was made and when revoked (never a secret)."""
    store = open_token_store(settings)
    try:
        tokens = [info.as_dict() for info in store.list()]
    finally:
        store.close()
    if args.json:
        write_json(sys.stdout, tokens)
    else:
        sys.stdout.write(table(["name", "role", "created", "revoked"],
                               ([t["name"], t["role"], t["created_at"], t["revoked_at"]]
                                for t in tokens)))
    return ExitCode.OK


def run_revoke(args: argparse.Namespace, settings: Settings) -> int:
    """Revoke a token: every request after it is refused (sessions signed in with it
    too). Its name stays taken."""
    store = open_token_store(settings)
    try:
        revoked = store.revoke(args.name)
    finally:
        store.close()
    if not revoked:
        raise ConfigurationError(f"no live token named {args.name!r}")
    if args.json:
        write_json_line(sys.stdout, {"revoked": args.name})
    else:
        print(f"revoked token {args.name}")
    return ExitCode.OK
