"""Progress of a catch-up or rebuild on stderr: a bar on a terminal, counts otherwise."""

from __future__ import annotations

import sys
import time
from typing import IO

from consumers.projection_runner import CatchUp

BAR_WIDTH = 30


class ProgressReporter:
    """Callable per committed batch; redraws at most every ``interval`` seconds."""

    def __init__(self, stream: IO[str], label: str, *, interval: float | None = None) -> None:
        self.stream = stream
        self.label = label
        self.tty = stream.isatty()
        self.interval = interval if interval is not None else (0.1 if self.tty else 5.0)
        self._last = 0.0
        self._drawn_at: int | None = None  # the position last shown

    def __call__(self, report: CatchUp) -> None:
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        self._draw(report)

    def finish(self, report: CatchUp) -> None:
        if report.events and self._drawn_at != report.position:
            self._draw(report)
        if self.tty and self._drawn_at is not None:
            self.stream.write("\n")
        self.stream.flush()

    def _draw(self, report: CatchUp) -> None:
        rate = report.events / report.elapsed if report.elapsed > 0 else 0.0
        counts = (f"{report.events:,} events, position {report.position:,}/"
                  f"{report.last_id:,}, {rate:,.0f} events/s")
        if self.tty:
            filled = int(report.fraction * BAR_WIDTH)
            bar = "#" * filled + "." * (BAR_WIDTH - filled)
            self.stream.write(f"\r{self.label} [{bar}] {report.fraction:4.0%} {counts}")
        else:
            self.stream.write(f"{self.label}: {counts}\n")
        self._drawn_at = report.position
        self.stream.flush()


def catch_up_progress(stream: IO[str] | None = None) -> ProgressReporter | None:
    """A bar while read commands catch the projections up, on a terminal only."""
    stream = sys.stderr if stream is None else stream
    return ProgressReporter(stream, "catching up") if stream.isatty() else None
