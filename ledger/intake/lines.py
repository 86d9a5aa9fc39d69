"""Reading JSON lines with a bounded buffer.

``for line in file`` reads a whole line however long it is: one 200 MB line without a
newline would be held in memory whole before it could be refused. ``bounded_lines``
reads at most ``limit + 1`` bytes of a line; a longer one is skipped to its newline in
chunks and given as an ``OversizedLine``, so its line number still gets a verdict and
the lines after it go on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from ledger.intake.acts import MAX_ACT_BYTES

SKIP_CHUNK = 1024 * 1024


class LineSource(Protocol):
    def readline(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class OversizedLine:
    """A line longer than the limit, read no further than needed to find its end."""

    limit: int


def bounded_lines(source: LineSource, limit: int = MAX_ACT_BYTES
                  ) -> Iterator[bytes | OversizedLine]:
    """Each line of ``source`` (without its newline), or an ``OversizedLine`` for one of
    more than ``limit`` bytes; memory stays within ``limit + SKIP_CHUNK`` bytes."""
    while True:
        line = source.readline(limit + 1)
        if not line:
            return
        if line.endswith(b"\n"):
            yield line[:-1]
        elif len(line) <= limit:
            yield line  # the last line, without a newline
        else:
            del line
            while True:  # skip to the end of this line, a chunk at a time
                rest = source.readline(SKIP_CHUNK)
                if not rest or rest.endswith(b"\n"):
                    break
            yield OversizedLine(limit)
