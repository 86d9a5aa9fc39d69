"""The `ledger` command line: parse, build the settings once, run one command, exit.

A command parses its arguments, calls one use case (``consumers.services``) on the
backend the composition root picked, and prints; the exit codes are
``consumers.exit_codes``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from consumers.cli.parser import build_parser
from consumers.exit_codes import ExitCode
from ledger.config import Settings
from ledger.errors import ConfigurationError, LedgerError, UnknownSubject


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        if args.data_dir is not None:
            settings = settings.with_data_dir(args.data_dir)
        return int(args.run(args, settings))
    except ConfigurationError as error:
        print(f"ledger: configuration error: {error}", file=sys.stderr)
        return ExitCode.USAGE
    except UnknownSubject as error:
        # A look-up that finds nobody is a mistake in the call, not a refused act.
        print(f"ledger: {error.rule}: {error}", file=sys.stderr)
        return ExitCode.USAGE
    except BrokenPipeError:
        # The reader went away (`ledger ... | head`): nothing is wrong, stop quietly.
        sys.stderr.close()
        return ExitCode.OK
    except OSError as error:
        where = f": {error.filename}" if error.filename else ""
        print(f"ledger: {error.strerror}{where}", file=sys.stderr)
        return ExitCode.FAILED
    except LedgerError as error:
        print(f"ledger: {error.rule}: {error}", file=sys.stderr)
        return ExitCode.FAILED
