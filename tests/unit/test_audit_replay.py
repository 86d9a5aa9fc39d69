"""Replaying a shard's stored events against its signed roots: every tampering is
detected by the roots and named by the sequence numbers; an untouched log verifies."""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

import pytest

from ledger.audit.errors import LogTampered
from ledger.audit.frontier import Frontier
from ledger.audit.leaves import EventLeaf
from ledger.audit.merkle import tree_root
from ledger.audit.replay import MAX_FINDINGS, FindingKind, LogReplay, replay

ORIGIN = "personal-data-ledger/test/shard-0"
SIZE, EVERY = 100, 10


def make_log(size: int = SIZE, tag: bytes = b"") -> list[EventLeaf]:
    return [EventLeaf(i, str(UUID(int=i % 7)), i // 7 + 1, "t:Event",
                      b'{"ct": "%d%s"}' % (i, tag)) for i in range(size)]


LOG = make_log()
SIGNED = {n: tree_root([e.leaf_hash() for e in LOG[:n]]) for n in range(0, SIZE + 1, EVERY)}


def run(events: list[EventLeaf], *, with_sequences: bool = True,
        signed: dict[int, bytes] = SIGNED):
    return replay(ORIGIN, ((e.sequence if with_sequences else None, e.leaf_hash())
                           for e in events), signed)


def kinds(report) -> list[tuple[FindingKind, int, int]]:  # type: ignore[no-untyped-def]
    return [(f.kind, f.first, f.last) for f in report.findings]


def test_an_untouched_log_verifies() -> None:
    """The positive control of every test below."""
    report = run(LOG)
    assert report.intact
    assert report.matched_sizes == tuple(range(0, SIZE + 1, EVERY))
    assert report.root == SIGNED[SIZE]
    report.raise_if_tampered()


def test_a_flipped_byte_is_named_changed_within_the_signed_range() -> None:
    events = list(LOG)
    state = bytearray(events[37].state)
    state[3] ^= 0x01
    events[37] = replace(events[37], state=bytes(state))
    report = run(events)
    assert kinds(report) == [(FindingKind.CHANGED, 30, 39)]
    assert report.root_mismatch is not None
    assert (report.root_mismatch.size, report.root_mismatch.last_matching_size) == (40, 30)
    assert report.matched_sizes == (0, 10, 20, 30)
    with pytest.raises(LogTampered, match=r"shard-0: changed: sequences 30-39") as caught:
        report.raise_if_tampered()
    assert caught.value.rule == "log-tampered"
    assert '"ct"' not in str(caught.value)  # the message names places, never content


def test_a_dropped_event_is_named_missing() -> None:
    report = run(LOG[:37] + LOG[38:])
    assert kinds(report) == [(FindingKind.MISSING, 37, 37)]
    assert report.root_mismatch is not None
    assert report.root_mismatch.size == 40


def test_an_inserted_forged_event_is_named_inserted() -> None:
    forged = replace(LOG[37], state=b'{"ct": "forged"}')
    report = run([*LOG[:38], forged, *LOG[38:]])
    assert kinds(report) == [(FindingKind.INSERTED, 37, 37)]
    assert not report.intact


def test_a_forged_event_renumbering_those_after_it_is_still_caught_by_the_roots() -> None:
    forged = EventLeaf(37, str(UUID(int=99)), 1, "t:Event", b'{"ct": "forged"}')
    shifted = [replace(e, sequence=e.sequence + 1) for e in LOG[37:]]
    report = run([*LOG[:37], forged, *shifted])
    assert kinds(report) == [(FindingKind.CHANGED, 30, 39)]


def test_swapped_events_are_named_reordered() -> None:
    events = list(LOG)
    events[37], events[38] = events[38], events[37]
    report = run(events)
    assert kinds(report) == [(FindingKind.REORDERED, 37, 37)]
    assert report.findings[0].detail == "seen after sequence 38"


def test_an_event_moved_far_back_is_named_reordered() -> None:
    report = run([*LOG[:5], *LOG[6:60], LOG[5], *LOG[60:]])
    assert kinds(report) == [(FindingKind.REORDERED, 5, 5)]


def test_a_truncated_tail_is_named_truncated() -> None:
    report = run(LOG[:95])
    assert kinds(report) == [(FindingKind.TRUNCATED, 95, 99)]
    assert "the log ends at 95 events; a checkpoint signed 100" in str(report.findings[0])


def test_a_log_whose_start_was_deleted_is_named_truncated() -> None:
    """What Kafka's DeleteRecords does to a partition."""
    report = run(LOG[20:])
    assert kinds(report) == [(FindingKind.TRUNCATED, 0, 19)]
    assert report.root_mismatch is not None


def test_a_rewritten_history_differs_from_the_first_signed_size_after_the_fork() -> None:
    rewritten = LOG[:50] + make_log(SIZE, tag=b"rewritten")[50:]
    report = run(rewritten)
    assert kinds(report) == [(FindingKind.CHANGED, 50, 59)]
    assert report.matched_sizes == (0, 10, 20, 30, 40, 50)


def test_without_sequences_the_roots_alone_still_detect_and_locate() -> None:
    events = list(LOG)
    events[37], events[38] = events[38], events[37]
    assert kinds(run(events, with_sequences=False)) == [(FindingKind.CHANGED, 30, 39)]
    assert kinds(run(LOG[:95], with_sequences=False)) == [(FindingKind.TRUNCATED, 95, 99)]
    assert run(LOG, with_sequences=False).intact


def test_findings_are_bounded() -> None:
    tripled = [e for event in LOG for e in (event, event, event)]
    report = run(tripled)
    assert len(report.findings) == MAX_FINDINGS
    assert report.unlisted_findings == 2 * SIZE - MAX_FINDINGS
    assert {f.kind for f in report.findings} == {FindingKind.INSERTED}
    with pytest.raises(LogTampered, match=r"inserted: sequence 0: .* \(and 199 more\)"):
        report.raise_if_tampered()


def test_a_replay_can_start_from_a_trusted_frontier() -> None:
    start = Frontier.of(e.leaf_hash() for e in LOG[:40])
    run_ = LogReplay(ORIGIN, SIGNED, start=start)
    for event in LOG[40:]:
        run_.add(event.leaf_hash(), event.sequence)
    report = run_.finish()
    assert report.intact
    assert report.matched_sizes == (40, 50, 60, 70, 80, 90, 100)
    assert start.size == 40  # the caller's frontier is not advanced


def test_a_wrong_signed_root_at_size_zero_is_reported() -> None:
    report = run(LOG, signed={0: b"\x01" * 32, SIZE: SIGNED[SIZE]})
    assert report.root_mismatch is not None
    assert report.root_mismatch.size == 0
    assert report.findings == ()
    with pytest.raises(LogTampered, match="the root signed at size 0 is not the log's"):
        report.raise_if_tampered()
