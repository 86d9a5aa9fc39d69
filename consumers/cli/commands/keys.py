"""`ledger keys rotate-master`: every data key rewrapped under a new master key."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from consumers.cli.options import SubParsers, command, group
from consumers.cli.output import write_json_line
from consumers.composition import open_existing_key_store
from consumers.exit_codes import COMMON, ExitCode
from consumers.services.keys import rotate_master
from ledger.config import Settings


def register(commands: SubParsers) -> None:
    keys = group(commands, "keys", help="key management")
    rotate = command(
        keys, "rotate-master", run=run_rotate, codes=COMMON,
        help="rewrap every data key under a new master key",
    )
    rotate.add_argument("--new-key-file", type=Path,
                        help="where the new master key is (created if missing)")


def run_rotate(args: argparse.Namespace, settings: Settings) -> int:
    """Generate (or use) a new master key and rewrap every data key and the identity-lookup
    secret under it in one transaction. The log is not touched. Without --new-key-
    file the configured key file is replaced in place.
    """
    with open_existing_key_store(settings) as key_store:
        rotation = rotate_master(settings, key_store, args.new_key_file)
    if args.json:
        write_json_line(sys.stdout, rotation.as_dict())
        return ExitCode.OK
    print(f"rewrapped {rotation.rewrapped_keys} data keys under master key "
          f"{rotation.new_fingerprint} (was {rotation.old_fingerprint}); "
          f"key file: {rotation.key_file}")
    if rotation.moved:
        print(f"set LEDGER_MASTER_KEY_FILE={rotation.key_file} from now on")
    return ExitCode.OK
