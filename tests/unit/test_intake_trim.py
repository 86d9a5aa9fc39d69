"""What the intake writer asks the broker to cut off the intake topic, and when."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from kafka import TopicPartition
from kafka.errors import KafkaTimeoutError

from consumers.intake_writer import HEADER_SEGMENT_ROLL, IntakeTrim, is_segment_roll
from ledger.kafka.intake_trim import IntakeTrimmer


class Admin:
    def __init__(self, fail: bool = False) -> None:
        self.requests: list[dict[Any, int]] = []
        self.fail = fail

    def delete_records(self, records: dict[Any, int], timeout_ms: int) -> None:
        if self.fail:
            raise KafkaTimeoutError("no answer")
        self.requests.append(dict(records))

    def close(self) -> None:
        pass


def trimmer(admin: Admin, clock: list[float]) -> IntakeTrimmer:
    trim = IntakeTrimmer("b:9092", "intake", every_s=5.0, clock=lambda: clock[0])
    trim._connect = lambda: admin  # type: ignore[method-assign]
    return trim


def test_one_request_for_every_partition_due_and_at_most_every_few_seconds() -> None:
    admin, clock = Admin(), [100.0]
    trim = trimmer(admin, clock)
    trim.advance(0, 10)
    trim.advance(1, 7)
    assert trim.trim_due() == {0: 10, 1: 7}
    assert admin.requests == [{TopicPartition("intake", 0): 10, TopicPartition("intake", 1): 7}]

    trim.advance(0, 20)
    clock[0] += 1.0
    assert trim.trim_due() == {}  # partition 0 was trimmed a second ago
    clock[0] += 4.0
    assert trim.trim_due() == {0: 20}  # partition 1 has nothing new
    trim.advance(1, 9)
    assert trim.trim_due(flush=True) == {1: 9}  # a stopping writer does not wait
    assert trim.trimmed(0) == 20


def test_the_log_start_never_moves_back() -> None:
    admin, clock = Admin(), [0.0]
    trim = trimmer(admin, clock)
    trim.advance(0, 10)
    trim.advance(0, 4)
    assert trim.trim_due() == {0: 10}


def test_a_failed_request_is_reported_once_and_tried_again_later() -> None:
    admin, clock = Admin(fail=True), [0.0]
    trim = trimmer(admin, clock)
    trim.advance(0, 10)
    assert trim.trim_due() == {}
    assert trim.new_error() == "KafkaTimeoutError"
    assert trim.new_error() is None  # told already
    admin.fail = False
    assert trim.trim_due() == {}  # not before its turn
    clock[0] += 5.0
    assert trim.trim_due() == {0: 10}
    assert trim.last_error is None


def test_a_parked_act_holds_the_log_start_at_its_offset() -> None:
    trim = IntakeTrim()
    assert trim.target(50) == 50
    trim.hold(30)
    trim.hold(12)
    assert trim.target(50) == 12
    assert trim.target(5) == 5


def test_only_an_empty_record_with_the_header_is_a_segment_roll_marker() -> None:
    marker = SimpleNamespace(value=b"", headers=[(HEADER_SEGMENT_ROLL, b"")])
    act_with_header = SimpleNamespace(value=b"{}", headers=[(HEADER_SEGMENT_ROLL, b"")])
    empty = SimpleNamespace(value=b"", headers=[])
    assert is_segment_roll(marker)
    assert not is_segment_roll(act_with_header)
    assert not is_segment_roll(empty)
