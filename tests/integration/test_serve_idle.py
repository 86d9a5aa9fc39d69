"""`ledger serve --exit-when-idle` stops only once every shard is read to its end.

The e2e test of serve's projections once failed at random under load: serve had been
quiet for its idle seconds before some shards' first fetch came back, and left their
acts unread. With no quiet period at all (`--exit-when-idle 0`) a quiet-period-only exit
stops before the first fetch of any shard; this one must still record every act.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_intake_exactly_once import (
    assert_exactly_once,
    make_ledger,
    produce_acts,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def test_an_idle_exit_waits_for_every_shard_to_reach_its_end(
    kafka_bootstrap: str, tmp_path: Path,
) -> None:
    ledger = make_ledger(kafka_bootstrap, tmp_path)
    workload = produce_acts(ledger, 600, seed=5)

    served = subprocess.run(
        [sys.executable, "-m", "consumers.cli", "serve", "--exit-when-idle", "0", "--json"],
        env=ledger.env, capture_output=True, text=True, timeout=300, check=False)

    assert served.returncode == 0, served.stderr[-2000:]
    assert_exactly_once(ledger, workload)
