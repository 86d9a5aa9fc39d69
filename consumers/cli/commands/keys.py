"""`ledger keys rotate-master`: every data key rewrapped under a new master key."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from consumers.cli.options import SubParsers, command, group, key_commands
from consumers.cli.output import write_json_line
from consumers.composition import open_existing_key_store, open_office_keyring
from consumers.exit_codes import COMMON, ExitCode
from consumers.services.keys import make_office_key, rotate_master
from ledger.config import Settings
from ledger.crypto.office_signing import OfficeKeyring


def register(commands: SubParsers) -> None:
    keys = group(commands, "keys", help="key management")
    rotate = command(
        keys, "rotate-master", run=run_rotate, codes=COMMON,
        help="rewrap every data key under a new master key",
    )
    rotate.add_argument("--new-key-file", type=Path,
                        help="where the new master key is (created if missing)")
    key_commands(
        keys, keygen="office-keygen", run_keygen=run_office_keygen,
        keygen_help="make the privacy office's signing key (Ed25519)",
        rotate_help="replace the current office key; its public key stays trusted until "
        "you remove its line from the public-keys file",
        public_key="office-public-key", run_public_key=run_office_public_key,
        public_key_help="print the trusted office public keys (copy them to the ledger's "
        "hosts)")


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


def run_office_keygen(args: argparse.Namespace, settings: Settings) -> int:
    """Make the key the privacy office signs its acts with (erasure carried out,
    retention expired, legal hold released, restriction lifted): the private key goes to
    LEDGER_OFFICE_KEY_FILE (0600), its public key is added to the trusted ones in
    LEDGER_OFFICE_PUBLIC_KEYS, which is all `ledger serve` needs.
    """
    change = make_office_key(settings, rotate=args.rotate)
    if args.json:
        write_json_line(sys.stdout, change.as_dict())
        return ExitCode.OK
    print(f"office key {change.key_id} written to {change.key_file}; trusted in "
          f"{change.public_keys_file}")
    if change.retired:
        print(f"replaced key {change.retired}: it stays trusted until you remove its line "
              f"from {change.public_keys_file}")
    return ExitCode.OK


def run_office_public_key(args: argparse.Namespace, settings: Settings) -> int:
    """The office public keys this ledger trusts, one `KEY_ID BASE64` line each."""
    keyring = open_office_keyring(settings)
    lines = [OfficeKeyring.line_for_public(key_id, public)
             for key_id, public in keyring.keys.items()]
    if args.json:
        write_json_line(sys.stdout, {"keys": [dict(zip(("key_id", "public_key"),
                                                       line.split(), strict=True))
                                              for line in lines]})
    else:
        print("\n".join(lines) if lines else "no trusted office keys")
    return ExitCode.OK
