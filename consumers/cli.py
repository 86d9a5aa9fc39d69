"""The `ledger` command line: parses arguments, builds settings once, runs one command.

Exit codes: 0 success; 1 some acts were rejected; 2 usage or configuration error;
3 an act failed unexpectedly (see the log) or the ledger could not run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from consumers.cli_demo import Scenario, print_outcomes, run_scenario
from consumers.cli_record import open_source, run_record
from consumers.composition import open_ledger
from ledger.config import Settings
from ledger.errors import ConfigurationError, LedgerError
from ledger.intake.acts import act_schema

EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_FAILED = 0, 1, 2, 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ledger",
        description="An event-sourced ledger of every act done with a person's data.",
        epilog="Settings come from LEDGER_* environment variables (see README); "
        "--data-dir overrides LEDGER_DATA_DIR.",
    )
    parser.add_argument("--data-dir", type=Path, help="where the embedded stores live "
                        "(default: $LEDGER_DATA_DIR or ./.ledger)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    record = commands.add_parser(
        "record", help="record acts from JSON lines (a file or - for stdin)",
        description="Record acts, one JSON object per line. Each line is accepted or "
        "rejected on its own with a reason that never quotes a personal value; "
        "a summary follows. Exit 1 if any line was rejected.",
    )
    record.add_argument("source", nargs="?", default="-", help="file of JSON lines, or - "
                        "(default) for standard input")
    record.add_argument("--json", action="store_true", help="one JSON verdict per line, "
                        "then a JSON summary, on stdout")

    demo = commands.add_parser(
        "demo", help="run a realistic scenario from the seed policy and show what happened",
        description="Record a day of acts (customer, demo request, webinar, contact form, "
        "consents, sharing, an unsubscribe, an access request and an erasure refused in "
        "part for fiscal retention) in DATA_DIR/demo, which is reset first.",
    )
    demo.add_argument("--json", action="store_true", help="one JSON outcome per line")

    schema = commands.add_parser("schema", help="print the JSON Schema of intake acts")
    schema.set_defaults(json=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        if args.data_dir is not None:
            settings = settings.with_data_dir(args.data_dir)
        return _dispatch(args, settings)
    except ConfigurationError as error:
        print(f"ledger: configuration error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:
        print(f"ledger: {error.strerror}: {error.filename}", file=sys.stderr)
        return EXIT_FAILED
    except LedgerError as error:
        print(f"ledger: {error}", file=sys.stderr)
        return EXIT_FAILED


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "schema":
        print(json.dumps(act_schema(), indent=2))
        return EXIT_OK
    if args.command == "record":
        source = open_source(args.source)
        try:
            with open_ledger(settings) as app:
                return run_record(app, source, as_json=args.json, out=sys.stdout,
                                  err=sys.stderr)
        finally:
            if source is not sys.stdin.buffer:
                source.close()
    if args.command == "demo":
        demo_settings = settings.with_data_dir(settings.data_dir / "demo")
        shutil.rmtree(demo_settings.data_dir, ignore_errors=True)
        with open_ledger(demo_settings) as app:
            outcomes = run_scenario(app, Scenario())
        print_outcomes(outcomes, sys.stdout, as_json=args.json)
        if not args.json:
            print(f"Stores are in {demo_settings.data_dir}/ ; try "
                  f"`ledger --data-dir {demo_settings.data_dir} record` with acts of your own.")
        return EXIT_OK
    raise AssertionError(f"unhandled command {args.command}")  # argparse guarantees this


if __name__ == "__main__":
    sys.exit(main())
