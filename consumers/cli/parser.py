"""The `ledger` command line's parser, assembled from one module per command group."""

from __future__ import annotations

import argparse
from pathlib import Path

from consumers.cli.commands import (
    audit,
    demo,
    kafka,
    keys,
    office,
    record,
    registers,
    subject,
    tokens,
    web,
)
from consumers.exit_codes import ExitCode, describe

COMMAND_GROUPS = (demo, record, subject, audit, registers, office, keys, kafka, web, tokens)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ledger",
        description="An event-sourced ledger of every act done with a person's data.",
        epilog="Settings come from LEDGER_* environment variables (see README); "
        "--data-dir overrides LEDGER_DATA_DIR. Every command's --help lists its exit "
        "codes; all of them: " + describe(tuple(ExitCode)).removeprefix("exit codes: "),
    )
    parser.add_argument("--data-dir", type=Path, help="where the embedded stores live "
                        "(default: $LEDGER_DATA_DIR or ./.ledger)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(commands)
    return parser
