"""When each retention scope of a subject falls due, and what an erasure may destroy now.

The law (the policy's statutory scopes) and legal holds keep data past an erasure
request; everything else is destroyed at once. A scope falls due when every ground that
holds data in it has ended: its purposes' retention rules, a withdrawn consent (plus
the policy's grace period, art. 7(3), 17(1)(b)), or for a statutory scope the law's
period. Statutory moments are counted in the policy's jurisdiction zone: fiscal
records of 2025 are kept until 1 January 2033 00:00 in Amsterdam, whatever offset
the act that brought them carried. Pure functions over subject state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING

from ledger.domain.durations import END_OF_TIME, Duration
from ledger.domain.policy import FISCAL_YEAR_END, Policy, RetentionScope

if TYPE_CHECKING:
    from ledger.domain.state import SubjectState


@dataclass(frozen=True)
class KeptScope:
    legal_reason: str
    until: datetime | None  # None: kept by a legal hold with no end date


@dataclass(frozen=True)
class ErasurePlan:
    shred: frozenset[str]
    keep: dict[str, KeptScope] = field(default_factory=dict)


def statutory_due(scope: RetentionScope, collected_at: datetime, zone: tzinfo = UTC, *,
                  year: int | None = None) -> datetime:
    """When a statutory scope's data may go, counted as the law counts it, in ``zone``.

    Fiscal records are kept the scope's period from the end of the year they belong to
    (``year``, or the year of ``collected_at`` in ``zone``): "7 jaar" for a 2025 record
    is until 1 January 2033 00:00 in the zone, summer or winter."""
    if scope.period is None or scope.trigger is None:
        raise ValueError(f"retention scope {scope.key!r} is not statutory")
    try:
        start = collected_at.astimezone(zone)
    except (OverflowError, ValueError):  # next to the end of time: counted in UTC
        start = collected_at.astimezone(UTC)
    if scope.trigger == FISCAL_YEAR_END:
        # 1 January of the next year, counted as a duration so it saturates too.
        try:
            new_year = datetime(year or start.year, 1, 1, tzinfo=zone)
        except ValueError:
            return END_OF_TIME
        start = Duration(years=1).after(new_year)
    return scope.period.after(start)


def held_scopes(state: SubjectState) -> set[str]:
    """Scopes that hold a value not shredded: every scope a value was put in (a value
    replaced later is still there, under its own key), the held values' scopes too."""
    live = set(state.scope_purposes)
    for purpose, held in state.holdings.items():
        scopes = state.value_scopes.get(purpose, {})
        live.update(scopes.get(c) or state.category_scopes[c] for c in held
                    if c in scopes or c in state.category_scopes)
    return live - state.erased_scopes


def hold_refs(policy: Policy, state: SubjectState, scope: str) -> list[str]:
    """The legal holds that keep ``scope`` (one naming it, or the policy scope it was
    derived from)."""
    return [ref for ref, scopes in sorted(state.legal_holds.items())
            if any(policy.covers(named, scope) for named in scopes)]


def purposes_in(state: SubjectState, scope: str) -> set[str]:
    """The purposes that put data in ``scope``."""
    purposes = set(state.scope_purposes.get(scope, ()))
    for purpose, held in state.holdings.items():
        scopes = state.value_scopes.get(purpose, {})
        if any(scopes.get(c, state.category_scopes.get(c)) == scope for c in held):
            purposes.add(purpose)
    return purposes


def rests_on_consent(policy: Policy, state: SubjectState, purpose: str) -> bool:
    spec = policy.purposes.get(purpose)
    return state.legal_bases.get(purpose) == "consent" or (
        spec is not None and spec.requires_consent)


@dataclass(frozen=True)
class GroundEnd:
    """When the ground a purpose holds data on ended (or ends), and what ended it: the
    trigger of its retention rule, or ``consent-withdrawn``."""

    at: datetime
    by: str


def purpose_end(policy: Policy, state: SubjectState, purpose: str) -> GroundEnd | None:
    """When ``purpose`` stops holding its data: its retention rule's period after its
    trigger (in the jurisdiction's zone), or a withdrawal of the consent it rests on plus
    the policy's grace period (art. 7(3), 17(1)(b)), whichever comes first; None while
    neither happened."""
    ends: list[GroundEnd] = []
    spec = policy.purposes.get(purpose)
    if spec is not None:
        rule = spec.retention
        start = {
            "contract-ended": state.contract_ended_at.get(purpose),
            "purpose-fulfilled": state.fulfilled_at.get(purpose),
            "collected": state.collected_at.get(purpose),
        }.get(rule.trigger)
        if start is not None:
            ends.append(GroundEnd(rule.period.after(policy.local(start)), rule.trigger))
    consent = state.consents.get(purpose)
    if consent is not None and not consent.live and rests_on_consent(policy, state, purpose):
        grace = policy.withdrawal_grace(purpose)
        ends.append(GroundEnd(grace.after(policy.local(consent.changed_at)),
                              "consent-withdrawn"))
    return min(ends, key=lambda end: end.at) if ends else None


def scope_due(policy: Policy, state: SubjectState, scope_key: str) -> datetime | None:
    """When ``scope_key``'s retention ends; None while a ground holding it runs on."""
    scope = policy.base_scope(scope_key)
    if scope is None:
        return None  # a scope this policy does not know is never due by it
    if scope.is_statutory:
        year = policy.scope_year(scope_key)
        collected = state.scope_collected_at.get(scope_key)
        if collected is None and year is None:
            return None
        return statutory_due(scope, collected or datetime(year or 1970, 7, 1, tzinfo=UTC),
                             policy.zone, year=year)
    ends = [purpose_end(policy, state, p) for p in sorted(purposes_in(state, scope_key))]
    # A scope falls due only when every purpose holding data in it has ended: data of
    # before the split into per-purpose scopes goes when its last ground ends.
    if not ends or any(end is None for end in ends):
        return None
    return max(end.at for end in ends if end is not None)


def plan_erasure(policy: Policy, state: SubjectState, now: datetime) -> ErasurePlan:
    shred: set[str] = set()
    keep: dict[str, KeptScope] = {}
    for scope_key in sorted(held_scopes(state)):
        scope = policy.base_scope(scope_key)
        holds = hold_refs(policy, state, scope_key)
        if holds:
            keep[scope_key] = KeptScope(f"legal hold {holds[0]}", None)
            continue
        if scope is not None and scope.is_statutory and scope.legal_reason:
            due = scope_due(policy, state, scope_key)
            if due is not None and due > now:
                keep[scope_key] = KeptScope(scope.legal_reason, due)
                continue
        shred.add(scope_key)
    return ErasurePlan(frozenset(shred), keep)


def retention_due(policy: Policy, state: SubjectState) -> dict[str, datetime | None]:
    """Per held scope, when its retention ends; None while no trigger has fired yet."""
    return {scope: scope_due(policy, state, scope) for scope in sorted(held_scopes(state))}


def retention_ended(policy: Policy, state: SubjectState, purpose: str,
                    scopes: Iterable[str], now: datetime) -> str | None:
    """Why data of ``purpose`` in ``scopes`` may only be stored at ``now``: its purpose's
    ground ended, or its scope's retention did while the law or a legal hold keeps it
    ("apart opgeslagen zodat er geen gebruik meer van gemaakt kan worden"); None if not."""
    end = purpose_end(policy, state, purpose)
    if end is not None and end.at <= now:
        return (f"the retention of {purpose!r} ended {end.at.isoformat()} ({end.by}); "
                "what is kept is stored only")
    for scope in sorted(set(scopes)):
        due = scope_due(policy, state, scope)
        if due is not None and due <= now:
            kept_by = hold_refs(policy, state, scope)
            why = f"legal hold {kept_by[0]}" if kept_by else "its shredding"
            return (f"the retention of scope {scope!r} ended {due.isoformat()}; kept "
                    f"until {why}, it is stored only")
    return None
