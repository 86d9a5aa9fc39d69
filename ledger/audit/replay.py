"""Recompute a shard's tree from its stored events and hold it against the signed roots.

Memory stays bounded however long the log: the tree is a ``Frontier`` (log2(n) hashes),
the signed roots are looked up as their sizes come by, and out-of-place sequence numbers
are remembered only in a window of open gaps.

The roots are the proof: any change to what was signed makes the root at the next
signed size differ. The leaves' own sequence numbers only *name* what happened:

- ``truncated``: the log starts past sequence 0 (Kafka's DeleteRecords), or ends before
  the size a checkpoint signed;
- ``missing``: a sequence number never seen;
- ``reordered``: a sequence number seen after a later one;
- ``inserted``: a sequence number seen twice (a forged or copied event);
- ``changed``: a root differs with every sequence in place: some event between the last
  matching signed size and this one was altered (a root cannot say which one).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from ledger.audit.errors import LogTampered
from ledger.audit.frontier import Frontier

MAX_OPEN_GAPS = 1024  # gaps still waiting for a late (reordered) event
MAX_FINDINGS = 100  # kept in full; the rest are only counted


class FindingKind(StrEnum):
    CHANGED = "changed"
    MISSING = "missing"
    INSERTED = "inserted"
    REORDERED = "reordered"
    TRUNCATED = "truncated"


@dataclass(frozen=True)
class Finding:
    """What is wrong, where: sequences ``first..last`` (inclusive), seen at ``position``
    (the count of events read before it)."""

    kind: FindingKind
    first: int
    last: int
    position: int
    detail: str

    def __str__(self) -> str:
        where = f"sequence {self.first}" if self.first == self.last else (
            f"sequences {self.first}-{self.last}")
        return f"{self.kind}: {where}: {self.detail}"


@dataclass(frozen=True)
class RootMismatch:
    """The first signed size whose recomputed root differs."""

    size: int
    expected: bytes
    computed: bytes
    last_matching_size: int  # the largest signed size below it that matched (or 0)


@dataclass(frozen=True)
class ReplayReport:
    origin: str
    size: int
    root: bytes
    matched_sizes: tuple[int, ...]  # signed sizes whose roots the replay reproduced
    root_mismatch: RootMismatch | None
    findings: tuple[Finding, ...]
    unlisted_findings: int  # beyond MAX_FINDINGS

    @property
    def intact(self) -> bool:
        return self.root_mismatch is None and not self.findings

    def raise_if_tampered(self) -> None:
        if self.intact:
            return
        total = len(self.findings) + self.unlisted_findings
        if not self.findings and self.root_mismatch is not None:
            raise LogTampered(f"{self.origin}: the root signed at size "
                              f"{self.root_mismatch.size} is not the log's")
        raise LogTampered(f"{self.origin}: {self.findings[0]}"
                          + (f" (and {total - 1} more)" if total > 1 else ""))


class LogReplay:
    """Feed a shard's leaves in stored order (``add``), then ``finish``."""

    def __init__(self, origin: str, signed_roots: Mapping[int, bytes],
                 start: Frontier | None = None) -> None:
        self.origin = origin
        self._expected = dict(signed_roots)
        self._frontier = start.copy() if start is not None else Frontier()
        self._next_sequence = self._frontier.size
        self._max_sequence = self._frontier.size - 1
        # open gaps (first, last, position seen), oldest first
        self._gaps: list[tuple[int, int, int]] = []
        self._findings: list[Finding] = []
        self._unlisted = 0
        self._matched: list[int] = []
        self._mismatch: RootMismatch | None = None
        self._first_anomaly: int | None = None  # position of the first event out of place
        if self._frontier.size in self._expected:
            self._check_root()

    def add(self, leaf: bytes, sequence: int | None = None) -> None:
        """One stored event's leaf hash; ``sequence`` as it was stored, if known."""
        position = self._frontier.size
        if sequence is not None:
            self._place(sequence, position)
        self._frontier.append(leaf)
        if self._frontier.size in self._expected:
            self._check_root()

    def finish(self) -> ReplayReport:
        for first, last, position in self._gaps:
            self._report(FindingKind.MISSING, first, last, position, "never seen in the log")
        self._gaps.clear()
        signed = max(self._expected, default=0)
        reached = max(self._max_sequence + 1, self._frontier.size)
        if reached < signed:
            self._report(FindingKind.TRUNCATED, reached, signed - 1, self._frontier.size,
                         f"the log ends at {reached} events; a checkpoint signed {signed}")
        return ReplayReport(self.origin, self._frontier.size, self._frontier.root(),
                            tuple(self._matched), self._mismatch,
                            tuple(sorted(self._findings, key=lambda f: (f.position, f.first))),
                            self._unlisted)

    def _place(self, sequence: int, position: int) -> None:
        expected = self._next_sequence
        if sequence == expected:
            self._next_sequence += 1
            self._max_sequence = max(self._max_sequence, sequence)
            return
        if self._first_anomaly is None:
            self._first_anomaly = position
        if sequence > expected:
            if position == 0:
                self._report(FindingKind.TRUNCATED, 0, sequence - 1, position,
                             f"the log starts at sequence {sequence}")
            else:
                self._open_gap(expected, sequence - 1, position)
            self._next_sequence = sequence + 1
        elif self._close_gap(sequence):
            self._report(FindingKind.REORDERED, sequence, sequence, position,
                         f"seen after sequence {expected - 1}")
        else:
            self._report(FindingKind.INSERTED, sequence, sequence, position,
                         f"a second event with this sequence, at position {position}")
        self._max_sequence = max(self._max_sequence, sequence)

    def _open_gap(self, first: int, last: int, position: int) -> None:
        self._gaps.append((first, last, position))
        if len(self._gaps) > MAX_OPEN_GAPS:  # too old to be a reordering we can still see
            old_first, old_last, old_position = self._gaps.pop(0)
            self._report(FindingKind.MISSING, old_first, old_last, old_position,
                         "not seen within the reordering window")

    def _close_gap(self, sequence: int) -> bool:
        for index, (first, last, position) in enumerate(self._gaps):
            if first <= sequence <= last:
                rest = [(f, t, position) for f, t in ((first, sequence - 1),
                                                      (sequence + 1, last)) if f <= t]
                self._gaps[index:index + 1] = rest
                return True
        return False

    def _check_root(self) -> None:
        size = self._frontier.size
        expected, computed = self._expected[size], self._frontier.root()
        if hmac.compare_digest(expected, computed):
            if self._mismatch is None:
                self._matched.append(size)
            return
        if self._mismatch is not None:
            return  # once a prefix differs every later root does: only the first counts
        last_good = self._matched[-1] if self._matched else 0
        self._mismatch = RootMismatch(size, expected, computed, last_good)
        unexplained = self._first_anomaly is None or self._first_anomaly >= size
        if unexplained and size > 0:  # (a wrong root at size 0 is a bad checkpoint)
            self._report(FindingKind.CHANGED, last_good, size - 1, size,
                         f"the root at signed size {size} differs (it matched at "
                         f"{last_good}): an event in between was altered")

    def _report(self, kind: FindingKind, first: int, last: int, position: int,
                detail: str) -> None:
        if len(self._findings) < MAX_FINDINGS:
            self._findings.append(Finding(kind, first, last, position, detail))
        else:
            self._unlisted += 1


def replay(origin: str, leaves: Iterable[tuple[int | None, bytes]],
           signed_roots: Mapping[int, bytes]) -> ReplayReport:
    """``LogReplay`` over ``(sequence, leaf hash)`` pairs in stored order."""
    run = LogReplay(origin, signed_roots)
    for sequence, leaf in leaves:
        run.add(leaf, sequence)
    return run.finish()
