"""Options several commands share, declared once: ``--json``, the moments, who, ``--wait``.

Moments (``--now``, ``--at``, ``--as-of``, ``--known-at``, ``--until``) all go through
``ledger.moments.parse_moment`` and accept the same forms; what a bare date means is
the option's own (its help says which).
"""

from __future__ import annotations

import argparse
import inspect
import sys
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias

from consumers.exit_codes import COMMON, ExitCode, describe
from ledger.errors import ConfigurationError
from ledger.moments import BareDate, parse_moment

if TYPE_CHECKING:
    # Generic only to the type checker: argparse names it privately.
    SubParsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    SubParsers = argparse._SubParsersAction
Runner = Callable[[argparse.Namespace, Any], int]

# The parent of every command that prints: machine-readable output for scripts.
JSON = argparse.ArgumentParser(add_help=False)
JSON.add_argument("--json", action="store_true",
                  help="machine-readable output (JSON) on stdout, for scripts")

_BARE_DATE_MEANS = {"start": "a bare date means its start, 00:00 UTC",
                    "end": "a bare date means its end, 23:59:59.999999 UTC"}


def command(commands: SubParsers, name: str, *, run: Runner, codes: tuple[ExitCode, ...],
            help: str, json: bool = True) -> argparse.ArgumentParser:
    """A sub-command: its description is ``run``'s docstring, and its ``--help`` lists
    the exit codes it can return."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name, parents=[JSON] if json else [], help=help,
        description=inspect.getdoc(run), epilog=describe(codes))
    parser.set_defaults(run=run)
    return parser


def key_commands(
    commands: SubParsers, *, keygen: str, run_keygen: Runner, keygen_help: str,
    rotate_help: str, public_key: str, run_public_key: Runner, public_key_help: str,
) -> None:
    """A command that makes a signing key (``--rotate`` replaces the current one), and
    one that prints the public keys to trust."""
    parser = command(commands, keygen, run=run_keygen, codes=COMMON, help=keygen_help)
    parser.add_argument("--rotate", action="store_true", help=rotate_help)
    command(commands, public_key, run=run_public_key, codes=COMMON, help=public_key_help)


def group(commands: SubParsers, name: str, *, help: str) -> SubParsers:
    """A command with sub-commands of its own (``ledger keys rotate-master``)."""
    return commands.add_parser(name, help=help).add_subparsers(
        dest=f"{name}_command", required=True, metavar="COMMAND")


def moment(parser: argparse.ArgumentParser, *flags: str, bare_date: BareDate,
           help: str) -> None:
    """An option that takes a moment: RFC 3339 with an offset, or a bare date."""
    def parse(text: str) -> datetime:
        try:
            return parse_moment(text, bare_date=bare_date)
        except ConfigurationError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parser.add_argument(*flags, type=parse, metavar="MOMENT",
                        help=f"{help} (RFC 3339 with offset, or a date: "
                        f"{_BARE_DATE_MEANS[bare_date]})")


def who(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("subject", nargs="?", help="the subject id (UUID)")
    group.add_argument("--email", type=identifier, metavar="EMAIL",
                       help="find the subject by business email; - reads it from stdin, "
                       "@FILE from a file (keeps it out of `ps` and shell history)")
    group.add_argument("--phone", type=identifier, metavar="PHONE",
                       help="find the subject by business phone; - or @FILE as for --email")


def identifier(text: str) -> str:
    """A look-up value given inline, or read from stdin (``-``) or a file (``@FILE``):
    an email address on a command line shows in `ps` and lands in shell history."""
    try:
        if text == "-":
            return sys.stdin.readline().strip()
        if text.startswith("@"):
            with open(text[1:], encoding="utf-8") as source:
                return source.readline().strip()
    except OSError as error:
        raise argparse.ArgumentTypeError(f"cannot read {text[1:]}: {error.strerror}") from None
    return text


def wait(parser: argparse.ArgumentParser, default: float) -> None:
    parser.add_argument("--wait", type=float, default=default, metavar="SECONDS",
                        help="on Kafka: how long to wait for `ledger serve` to answer "
                        "(default: %(default)s; exit 6 if it has not)")


def limit(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--limit", type=int, default=100,
                        help=f"at most this many {what} (default 100; 0 for all)")
