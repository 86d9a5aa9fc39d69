"""The rebuild's progress on stderr: a bar on a terminal, plain counts in a log."""

from __future__ import annotations

import io

from consumers.cli.progress import ProgressReporter
from consumers.projection_runner import CatchUp


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def report(position: int, events: int) -> CatchUp:
    return CatchUp(start_position=0, position=position, last_id=200, events=events,
                   batches=1, started=0.0)


def test_a_terminal_gets_one_redrawn_bar() -> None:
    stream = Terminal()
    progress = ProgressReporter(stream, "rebuild", interval=0)
    progress(report(50, 50))
    progress(report(200, 200))
    progress.finish(report(200, 200))
    text = stream.getvalue()
    assert text.count("\r") == 2
    assert "[#######" in text
    assert " 25% " in text
    assert "100% 200 events, position 200/200" in text
    assert text.endswith("\n")


def test_a_log_gets_plain_lines_and_no_duplicate_last_line() -> None:
    stream = io.StringIO()
    progress = ProgressReporter(stream, "rebuild", interval=0)
    progress(report(100, 100))
    progress(report(200, 200))
    progress.finish(report(200, 200))
    lines = stream.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == ["rebuild: 100 events",
                                                      "rebuild: 200 events"]
    assert "\r" not in stream.getvalue()


def test_nothing_to_do_prints_nothing() -> None:
    stream = Terminal()
    ProgressReporter(stream, "catching up").finish(report(0, 0))
    assert stream.getvalue() == ""
