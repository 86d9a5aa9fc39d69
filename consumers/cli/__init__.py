"""The `ledger` command line: parse, build the settings once, run one command, exit.

A command parses its arguments, calls one use case (``consumers.services``) on the
backend the composition root picked, and prints; the exit codes are
``consumers.exit_codes``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from consumers.cli.output import TerminalSafe, escape_controls
from consumers.cli.parser import build_parser
from consumers.exit_codes import ExitCode
from ledger.config import Settings
from ledger.errors import (
    ConfigurationError,
    KeyMissing,
    KeyStoreMismatch,
    LedgerError,
    UnknownSubject,
)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Whatever the caller's umask, what the ledger writes is its owner's alone: stores,
    # keys and exports hold ciphertext, wrapped keys or (exports) personal data.
    os.umask(0o077)
    stdout = sys.stdout
    if not getattr(args, "json", False):
        sys.stdout = TerminalSafe(stdout)
    try:
        return _run(args)
    finally:
        sys.stdout = stdout


def _run(args: argparse.Namespace) -> int:
    try:
        settings = Settings.from_env()
        if args.data_dir is not None:
            settings = settings.with_data_dir(args.data_dir)
        return int(args.run(args, settings))
    except ConfigurationError as error:
        _complain(f"configuration error: {error}")
        return ExitCode.USAGE
    except UnknownSubject as error:
        # A look-up that finds nobody is a mistake in the call, not a refused act.
        _complain(f"{error.rule}: {error}")
        return ExitCode.USAGE
    except BrokenPipeError:
        # The reader went away (`ledger ... | head`): nothing is wrong, stop quietly.
        sys.stderr.close()
        return ExitCode.OK
    except OSError as error:
        where = f": {error.filename}" if error.filename else ""
        _complain(f"{error.strerror}{where}")
        return ExitCode.FAILED
    except LedgerError as error:
        _complain(f"{error.rule}: {error}")
        # Key loss, never erasure: the stores do not verify (the message says what to
        # restore).
        integrity = isinstance(error, KeyMissing | KeyStoreMismatch)
        return ExitCode.INTEGRITY if integrity else ExitCode.FAILED


def _complain(message: str) -> None:
    print(f"ledger: {escape_controls(message)}", file=sys.stderr)
