"""Membership of the intake consumer group (`ledger serve --group`).

One consumer per process joins the group, subscribed to the intake topic with
``CooperativeStickyAssignor`` (and a static ``group.instance.id`` if given). It only
holds the membership: its partitions are paused as soon as they are assigned, and the
process serves each assigned shard with a writer of its own (``consumers.serve_group``).
Its rebalance callbacks only note what changed, for the main thread to apply between
batches (kafka-python runs them while the main thread waits in ``poll``).
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from kafka import KafkaConsumer
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
from kafka.errors import KafkaError

from ledger.errors import BrokerError

# Opening a shard (claiming it and reading its partition into the writer's index) runs
# between two polls of the group consumer; heartbeats go on meanwhile, but a member that
# does not poll within this long is taken out of the group.
MAX_POLL_INTERVAL_MS = 600_000
# How long each round of batches gives the group consumer (paused: it reads nothing, so
# poll waits this long every round). Not 0: kafka-python drives a join or rebalance only
# while a poll waits for it.
GROUP_POLL_MS = 10
# While a rebalance is under way: polls this long, until it is done or for this long.
REBALANCE_POLL_MS = 1000
MAX_REBALANCE_WAIT_S = 60.0


class AssignmentChanges(ConsumerRebalanceListener):  # type: ignore[misc]
    """What the group changed, noted by kafka-python's callbacks for the main thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._assigned: set[int] = set()
        self._revoked: set[int] = set()
        self._lost: set[int] = set()
        self.consumer: KafkaConsumer | None = None

    def on_partitions_revoked(self, revoked: Any) -> None:
        with self._lock:
            parts = {tp.partition for tp in revoked}
            self._revoked |= parts
            self._assigned -= parts

    def on_partitions_assigned(self, assigned: Any) -> None:
        if self.consumer is not None and assigned:
            self.consumer.pause(*assigned)  # membership only: the writers read
        with self._lock:
            self._assigned |= {tp.partition for tp in assigned}

    def on_partitions_lost(self, lost: Any) -> None:
        with self._lock:
            parts = {tp.partition for tp in lost}
            self._lost |= parts
            self._assigned -= parts

    def take(self) -> tuple[set[int], set[int], set[int]]:
        """The shards lost, revoked and assigned since last asked."""
        with self._lock:
            taken = self._lost, self._revoked - self._lost, set(self._assigned)
            self._lost, self._revoked, self._assigned = set(), set(), set()
        return taken


class IntakeGroup:
    """This process's membership of the intake consumer group."""

    def __init__(self, bootstrap_servers: str, topic: str, group_id: str, *, client_id: str,
                 instance_id: str | None, session_timeout_ms: int) -> None:
        self.changes = AssignmentChanges()
        session_ms = session_timeout_ms
        try:
            self.consumer = KafkaConsumer(
                bootstrap_servers=bootstrap_servers, client_id=client_id,
                group_id=group_id, group_instance_id=instance_id,
                enable_auto_commit=False, isolation_level="read_committed",
                partition_assignment_strategy=(CooperativeStickyAssignor,),
                session_timeout_ms=session_ms, heartbeat_interval_ms=max(500, session_ms // 4),
                max_poll_interval_ms=MAX_POLL_INTERVAL_MS,
                max_poll_records=1, fetch_max_bytes=1024, max_partition_fetch_bytes=1024,
            )
            self.changes.consumer = self.consumer
            self.consumer.subscribe([topic], listener=self.changes)
        except KafkaError as error:
            raise BrokerError(f"cannot join the intake group: {type(error).__name__}"
                              ) from error

    def poll(self, timeout_ms: int) -> None:
        """Takes part in the group (joins, rebalances); reads nothing the writers need.
        While a rebalance is under way, polls until it is done (within a bound)."""
        self._poll(timeout_ms)
        deadline = time.monotonic() + MAX_REBALANCE_WAIT_S
        while self.rebalancing() and time.monotonic() < deadline:
            self._poll(REBALANCE_POLL_MS)

    def rebalancing(self) -> bool:
        """Whether this member has to (re)join the group.

        kafka-python drives a join only while a poll waits for it, and a join that
        completes between two polls is thrown away and sent again (a leader's new
        JoinGroup starts yet another rebalance), so short polls never let a group
        settle. While this is true, polls are long enough for the join to finish inside
        one. kafka-python has no public call for it: its coordinator's ``need_rejoin``."""
        coordinator = getattr(self.consumer, "_coordinator", None)
        need_rejoin = getattr(coordinator, "need_rejoin", None)
        return bool(need_rejoin()) if callable(need_rejoin) else False

    def _poll(self, timeout_ms: int) -> None:
        try:
            self.consumer.poll(timeout_ms=timeout_ms, max_records=1)
        except KafkaError as error:
            raise BrokerError(f"the intake group failed: {type(error).__name__}") from error

    def metadata(self) -> Any:
        """The member's group metadata, for a batch's offsets (KIP-447)."""
        return self.consumer.group_metadata()

    def close(self) -> None:
        # Leaves the group (a static member stays till its session times out); if that
        # fails, the group drops us after the session timeout all the same.
        with contextlib.suppress(KafkaError):
            self.consumer.close()
