"""Lines read with a bounded buffer: an endless line is refused by its number, not held.

Before: ``ledger record`` read ``for raw in file``, which holds a whole line in memory;
a 200 MB line without a newline grew the process by ~410 MiB (ru_maxrss 54 MiB -> 459
MiB) before it was refused as too large.
"""

from __future__ import annotations

import io
import tracemalloc
from uuid import uuid4

import orjson

from ledger.intake.acts import MAX_ACT_BYTES
from ledger.intake.lines import SKIP_CHUNK, OversizedLine, bounded_lines

MIB = 1024 * 1024


class Endless(io.RawIOBase):
    """``size`` bytes of ``fill`` without a newline, then ``tail``: never in memory whole."""

    def __init__(self, size: int, tail: bytes, fill: bytes = b"x") -> None:
        self.left, self.tail, self.fill = size, tail, fill

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.left > 0:
            n = min(len(buffer), self.left)
            buffer[:n] = self.fill * n
            self.left -= n
            return n
        n = min(len(buffer), len(self.tail))
        buffer[:n], self.tail = self.tail[:n], self.tail[n:]
        return n


def test_lines_come_without_their_newline_and_the_last_one_may_lack_it() -> None:
    source = io.BytesIO(b'{"a": 1}\n\n{"b": 2}\r\n{"c": 3}')
    assert list(bounded_lines(source)) == [b'{"a": 1}', b"", b'{"b": 2}\r', b'{"c": 3}']


def test_the_limit_is_exact() -> None:
    at_limit = b"x" * 10
    over = b"y" * 11
    source = io.BytesIO(at_limit + b"\n" + over + b"\n" + at_limit)
    assert list(bounded_lines(source, limit=10)) == [at_limit, OversizedLine(10), at_limit]
    assert list(bounded_lines(io.BytesIO(over), limit=10)) == [OversizedLine(10)]


def test_a_200_mb_line_is_refused_with_bounded_memory_and_the_next_line_goes_on() -> None:
    after = orjson.dumps({"act_id": "t-3", "subject_id": str(uuid4())})
    stream = io.BufferedReader(Endless(200 * MIB, b"\n" + after + b"\n"), SKIP_CHUNK)
    tracemalloc.start()
    try:
        lines = list(bounded_lines(stream))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert lines == [OversizedLine(MAX_ACT_BYTES), after]
    # The limit, a skipped chunk, the reader's buffer and this test's fill: ~3 MiB here.
    assert peak < 16 * MIB, f"peak {peak / MIB:.1f} MiB"
