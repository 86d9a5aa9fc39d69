"""What `ledger serve` says about a batch with a parked act, and about an act that failed."""

from __future__ import annotations

import io
from types import SimpleNamespace

import orjson

from consumers.intake_writer import BatchReport, Failure
from consumers.serve import _report_act_failure, _report_batch


def test_a_parked_act_is_in_the_json_line_and_warned_about_on_stderr() -> None:
    out, err = io.StringIO(), io.StringIO()
    report = BatchReport(read=3, recorded=2, parked=1, last_offset=9, parked_offsets=[8])

    _report_batch(out, err, 0, report, projected=12, parked_topic="ledger.parked")

    line = orjson.loads(out.getvalue())
    assert (line["parked"], line["parked_offsets"], line["recorded"]) == (1, [8], 2)
    assert "parked the act at intake offset 8" in err.getvalue()
    assert "ledger.parked" in err.getvalue()


def test_without_json_the_batch_line_counts_parked_acts() -> None:
    err = io.StringIO()
    _report_batch(None, err, 1, BatchReport(read=1, recorded=1, last_offset=0),
                  projected=1, parked_topic="ledger.parked")
    assert "0 parked" in err.getvalue()
    assert "parked the act" not in err.getvalue()


def test_the_failing_act_is_named_by_its_offset_and_count_only() -> None:
    err = io.StringIO()
    writer = SimpleNamespace(shard=2, park_after=3,
                             last_failure=Failure(41, 2, "internal-error", "RuntimeError"))
    idle = SimpleNamespace(shard=3, park_after=3, last_failure=None)

    _report_act_failure(err, [writer, idle])  # type: ignore[list-item]

    assert err.getvalue() == ("shard 2: the act at intake offset 41 failed (RuntimeError), "
                              "2 time(s) so far; it is parked after 3\n")
