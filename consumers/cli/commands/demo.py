"""`ledger demo`: a day of acts from the seed policy, what was recorded and refused."""

from __future__ import annotations

import argparse
import shutil
import sys
from typing import IO

from consumers.cli.options import SubParsers, command
from consumers.cli.output import write_json_line
from consumers.composition import open_embedded, open_office_key
from consumers.demo import Outcome, Scenario, run_scenario
from consumers.exit_codes import COMMON, ExitCode
from ledger.config import Settings


def register(commands: SubParsers) -> None:
    command(
        commands, "demo", run=run_demo, codes=COMMON,
        help="run a realistic scenario from the seed policy and show what happened",
    )


def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Record a day of acts (customer, demo request, webinar, contact form, consents,
    sharing, an unsubscribe, an access request and an erasure refused in part for
    fiscal retention) in DATA_DIR/demo, which is reset first. Always on the embedded
    store. --json: one outcome per line.
    """
    demo_settings = settings.with_data_dir(settings.data_dir / "demo")
    shutil.rmtree(demo_settings.data_dir, ignore_errors=True)
    with open_embedded(demo_settings) as backend:
        outcomes = run_scenario(backend, Scenario(), open_office_key(demo_settings))
    print_outcomes(outcomes, sys.stdout, as_json=args.json)
    if not args.json:
        print(f"Stores are in {demo_settings.data_dir}/ ; try "
              f"`ledger --data-dir {demo_settings.data_dir} record` with acts of your own.")
    return ExitCode.OK


def print_outcomes(outcomes: list[Outcome], out: IO[str], *, as_json: bool) -> None:
    if as_json:
        for o in outcomes:
            write_json_line(out, o.__dict__)
        return
    for o in outcomes:
        mark = "✓ recorded" if o.status == "recorded" else "✗ refused "
        out.write(f"{mark}  {o.act_type:<24} {o.story}\n")
        if o.detail:
            out.write(f"{'':14}{o.detail}\n")
    recorded = sum(o.status == "recorded" for o in outcomes)
    out.write(f"\n{recorded} acts recorded, {len(outcomes) - recorded} refused by policy.\n")
