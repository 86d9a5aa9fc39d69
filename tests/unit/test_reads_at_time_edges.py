"""No act the time gate lets through can stop a projection: acts dated at the edges of
the accepted range (just inside both ends, in several time zones) and typical ones are
recorded on the embedded backend, then every view, export, register and a rebuild read.

Before the gate, an act in year 9999 (or invoice data whose fiscal deadline passed it)
stopped every read for good: ``projection-failed: projection stopped at notification 4
(DataCollected): ValueError``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from consumers.backends.embedded import EmbeddedBackend
from consumers.composition import open_embedded
from ledger.application import LedgerApplication
from ledger.config import Settings
from ledger.domain.acts import ActContext
from ledger.domain.durations import END_OF_TIME
from ledger.errors import PolicyViolation, UnknownSubject
from ledger.moments import EARLIEST, LATEST
from ledger.policy import parse_policy, seed_policy_text
from projections.html_report import render_report

LAST = LATEST - timedelta(microseconds=1)
EDGES = (EARLIEST, EARLIEST + timedelta(microseconds=1), EARLIEST + timedelta(days=1),
         datetime(2025, 3, 3, 9, tzinfo=UTC), LATEST - timedelta(days=1), LAST)
# Offsets that put an instant near the edges in another calendar year or day.
OFFSETS_MINUTES = (0, 60, -300, 14 * 60, -12 * 60, 5 * 60 + 30)
# The wall clock is not under test here: the range is, so any accepted moment may come.
LENIENT = Settings(max_clock_skew=LATEST - EARLIEST)

instants = st.one_of(
    st.sampled_from(EDGES),
    st.datetimes(min_value=EARLIEST.replace(tzinfo=None), max_value=LAST.replace(tzinfo=None),
                 timezones=st.just(UTC)),
)
moments = st.builds(lambda instant, minutes: instant.astimezone(timezone(timedelta(
    minutes=minutes))), instants, st.sampled_from(OFFSETS_MINUTES))
KINDS = ("collect", "collect-webinar", "consent", "collect-website", "access", "extend",
         "contract-ended", "purpose-fulfilled", "hold", "release", "erase", "expire")
Step = tuple[int, str, datetime]
steps = st.lists(st.tuples(st.integers(0, 1), st.sampled_from(KINDS), moments),
                 min_size=4, max_size=14)


@dataclass
class Acts:
    """Two subjects and the acts recorded about them, by the application's commands."""

    app: LedgerApplication
    subjects: list[UUID] = field(default_factory=lambda: [uuid4(), uuid4()])
    moments: list[datetime] = field(default_factory=list)
    kinds: set[str] = field(default_factory=set)
    n: int = 0

    def context(self, at: datetime) -> ActContext:
        self.n += 1
        return ActContext(f"edge-{self.n}", "crm", at)

    def apply(self, step: Step) -> None:
        index, kind, at = step
        subject = self.subjects[index]
        try:
            COMMANDS[kind](self.app, subject, self.context(at), index)
        except (PolicyViolation, UnknownSubject):
            return  # refused by the rules (a deadline passed, nothing held...): fine
        self.moments.append(at)
        self.kinds.add(kind)


def _values(index: int, *categories: str) -> dict[str, str]:
    made = {"name": f"Edge Person {index}", "business-email": f"edge-{index}@example.nl",
            "invoice-details": f"INV-EDGE-{index}", "cookie-data": f"cookie-{index}"}
    return {c: made[c] for c in categories}


def _erase(app: LedgerApplication, subject: UUID, act: ActContext, index: int) -> None:
    ref = f"E-{act.act_id}"
    app.request_erasure(subject, act, request_ref=ref, channel="email")
    app.carry_out_erasure(subject, ActContext(act.act_id + ".done", "privacy-office",
                                              act.occurred_at), request_ref=ref)


Command = Callable[[LedgerApplication, UUID, ActContext, int], None]
COMMANDS: dict[str, Command] = {
    "collect": lambda app, s, act, i: app.collect_data(
        s, act, purpose="service-delivery", source_system="crm", legal_basis="contract",
        values=_values(i, "name", "business-email", "invoice-details")),
    "collect-webinar": lambda app, s, act, i: app.collect_data(
        s, act, purpose="webinar-event", source_system="events", legal_basis="contract",
        values=_values(i, "name", "business-email", "invoice-details")),
    "consent": lambda app, s, act, i: app.give_consent(
        s, act, purpose="website", channel="web-form", notice_version="2021-12-24",
        proof_ref=f"form/{act.act_id}"),
    "collect-website": lambda app, s, act, i: app.collect_data(
        s, act, purpose="website", source_system="web", legal_basis="consent",
        values=_values(i, "cookie-data")),
    "access": lambda app, s, act, i: app.request_access(
        s, act, request_ref="A-1", channel="email"),
    "extend": lambda app, s, act, i: app.extend_request_deadline(
        s, act, request_ref="A-1", extended_by_months=2, reason_code="complexity"),
    "contract-ended": lambda app, s, act, i: app.end_contract(
        s, act, purpose="service-delivery"),
    "purpose-fulfilled": lambda app, s, act, i: app.fulfil_purpose(
        s, act, purpose="webinar-event"),
    "hold": lambda app, s, act, i: app.place_legal_hold(
        s, act, hold_ref="H-1", reason="litigation", scopes=["fiscal"] if i else []),
    "release": lambda app, s, act, i: app.release_legal_hold(s, act, hold_ref="H-1"),
    "erase": _erase,
    "expire": lambda app, s, act, i: app.expire_retention(
        s, act, scope="fiscal" if act.occurred_at.microsecond % 2 else "general"),
}


@contextmanager
def embedded(base: Settings = LENIENT) -> Iterator[EmbeddedBackend]:
    with tempfile.TemporaryDirectory() as directory, open_embedded(
            base.with_data_dir(Path(directory) / "data")) as backend:
        yield backend


def read_everything(backend: EmbeddedBackend, subjects: list[UUID],
                    moments: list[datetime]) -> dict[UUID, Any]:
    """Every view, export, register and a rebuild; the views (at a fixed now) must come
    out of the rebuild the same."""
    nows = [EARLIEST, LAST, *moments[:4]]
    recorded = [s for s in subjects if _recorded(backend.app, s)]
    with backend.reading() as reader:
        assert reader.position() == backend.app.recorder.max_notification_id()
        views = {s: reader.subject_view(s, now=LAST) for s in recorded}
        for now in nows:
            for subject in recorded:
                reader.subject_view(subject, now=now)
                export = reader.export(subject, now=now)
                assert render_report(export).startswith("<!DOCTYPE html>")
                reader.held_as_of(subject, now)
                reader.held_as_of(subject, now, known_at=datetime.now(UTC))
                reader.audit_trail(subject, as_of=now, known_at=LAST)
            reader.registers(now=now)
            reader.retention_schedule(until=now, include_untriggered=False, now=now)
            reader.dsar_queue(now=now, include_closed=True)
        reader.records_of_processing()
        reader.disclosure_register()
        reader.audit_trail(limit=None)
        for item in reader.retention_schedule(now=LAST):
            assert item["due_at"] is None or (
                datetime.fromisoformat(item["due_at"]) <= END_OF_TIME)
    (rebuilt,) = backend.rebuild(batch_size=3, progress_for=lambda _: None)
    assert rebuilt.report.position == backend.app.recorder.max_notification_id()
    with backend.reading() as reader:
        assert {s: reader.subject_view(s, now=LAST) for s in recorded} == views
    return views


def _recorded(app: LedgerApplication, subject: UUID) -> bool:
    try:
        app.history(subject)
    except UnknownSubject:
        return False
    return True


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=st.tuples(moments, moments), rest=steps)
def test_acts_at_the_edges_of_the_range_never_stop_a_read(
    first: tuple[datetime, datetime], rest: list[Step],
) -> None:
    with embedded() as backend:
        acts = Acts(backend.app)
        # Every subject opens with a collection of invoice data, so later acts find one.
        for index, at in enumerate(first):
            acts.apply((index, "collect", at))
        for step in rest:
            acts.apply(step)
        event(f"acts recorded: {len(acts.moments) // 4 * 4}+")
        event(f"kinds recorded: {len(acts.kinds) // 3 * 3}+")
        read_everything(backend, acts.subjects, acts.moments)


def test_invoice_data_collected_on_the_last_day_of_the_range_reads_everywhere() -> None:
    with embedded() as backend:
        acts = Acts(backend.app)
        at = datetime(2199, 12, 31, 23, 0, tzinfo=UTC)
        for kind in ("collect", "access", "extend", "contract-ended"):
            acts.apply((0, kind, at))
        acts.apply((1, "collect", datetime(2199, 12, 31, 23, 30, tzinfo=timezone(
            timedelta(hours=14)))))  # local year 2199, a day earlier in UTC
        acts.apply((1, "erase", datetime(2199, 12, 31, 23, 59, 59, tzinfo=UTC)))
        assert len(acts.moments) == 6
        views = read_everything(backend, acts.subjects, acts.moments)
        # 2199-12-31 23:00 UTC is 1 January 2200 in Amsterdam: a record of 2200.
        fiscal = {r["scope"]: r["due_at"] for r in views[acts.subjects[0]]["retention"]}
        assert fiscal["fiscal-2200"] == "2208-01-01T00:00:00+01:00"
        (request,) = views[acts.subjects[0]]["requests"]
        assert request["due_at"] == "2200-04-01T00:00:00+02:00"
        assert request["due_at_utc"] == "2200-03-31T22:00:00+00:00"
        kept = backend.app.subject(acts.subjects[1]).state
        assert "general-service-delivery" in kept.erased_scopes
        # Kept: a record of 2199 in Amsterdam, its fiscal period runs to 2207.
        assert "fiscal-2199" not in kept.erased_scopes


def test_a_derived_date_past_year_9999_reads_as_the_end_of_time() -> None:
    """Only a policy period (or an event from before the gate) can reach past 9999: the
    date saturates, every read still works and shows it."""
    endless = parse_policy(seed_policy_text().replace('period = "P7Y"', 'period = "P9000Y"'))
    with embedded() as backend:
        backend.app.policy = endless
        acts = Acts(backend.app)
        acts.apply((0, "collect", datetime(2025, 3, 3, tzinfo=UTC)))
        acts.apply((0, "erase", datetime(2025, 3, 4, tzinfo=UTC)))
        views = read_everything(backend, acts.subjects, acts.moments)
        (fiscal,) = [r for r in views[acts.subjects[0]]["retention"]
                     if r["scope"] == "fiscal-2025"]
        assert fiscal["due_at"] == END_OF_TIME.isoformat()
        with backend.reading() as reader:
            (scheduled,) = reader.retention_schedule(now=LAST)
            assert (scheduled["due_at"], scheduled["status"]) == (
                END_OF_TIME.isoformat(), "scheduled")
