"""`ledger serve --exit-when-idle`: quiet for the given time *and* caught up, never quiet alone."""

from __future__ import annotations

import time
from types import SimpleNamespace

from consumers.serve import IdleExit


class Writer(SimpleNamespace):
    def __init__(self, answers: list[bool]) -> None:
        super().__init__(answers=answers, asked=0)

    def caught_up(self) -> bool:
        self.asked += 1
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def test_without_the_option_it_never_stops() -> None:
    assert not IdleExit(None, [Writer([True])]).reached(time.monotonic() - 3600)  # type: ignore[list-item]


def test_a_quiet_period_alone_does_not_stop_a_writer_that_has_not_read_to_the_end() -> None:
    behind, done = Writer([False, True]), Writer([True])
    idle = IdleExit(0.0, [done, behind])  # type: ignore[list-item]
    idle.CHECK_EVERY_S = 0.0
    long_ago = time.monotonic() - 60

    assert not idle.reached(long_ago)  # quiet, but one shard is not at its end yet
    assert idle.reached(long_ago)  # now it is
    assert behind.asked == 2


def test_within_the_quiet_period_the_broker_is_not_asked() -> None:
    writer = Writer([True])
    assert not IdleExit(30.0, [writer]).reached(time.monotonic())  # type: ignore[list-item]
    assert writer.asked == 0


def test_the_broker_is_asked_at_most_once_a_second() -> None:
    writer = Writer([False])
    idle = IdleExit(0.0, [writer])  # type: ignore[list-item]
    long_ago = time.monotonic() - 60
    assert not idle.reached(long_ago)
    assert not idle.reached(long_ago)
    assert writer.asked == 1
