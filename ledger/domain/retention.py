"""When each retention scope of a subject falls due, and what an erasure may destroy now.

The law (the policy's statutory scopes) and legal holds keep data past an erasure
request; everything else is destroyed at once. Pure functions over subject state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ledger.domain.durations import Duration
from ledger.domain.policy import Policy, RetentionScope

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


def statutory_due(scope: RetentionScope, collected_at: datetime) -> datetime:
    """When a statutory scope's data may go, counted as the law counts it."""
    if scope.period is None or scope.trigger is None:
        raise ValueError(f"retention scope {scope.key!r} is not statutory")
    start = collected_at
    if scope.trigger == "fiscal-year-end":
        # Fiscal records are kept seven years from the end of the year they belong to:
        # 1 January of the next year, counted as a duration so it saturates too.
        new_year = datetime(collected_at.year, 1, 1, tzinfo=collected_at.tzinfo or UTC)
        start = Duration(years=1).after(new_year)
    return scope.period.after(start)


def held_scopes(state: SubjectState) -> set[str]:
    live = {
        state.category_scopes[category]
        for held in state.holdings.values()
        for category in held
        if category in state.category_scopes
    }
    return live - state.erased_scopes


def plan_erasure(policy: Policy, state: SubjectState, now: datetime) -> ErasurePlan:
    holds = {
        scope: ref for ref, scopes in sorted(state.legal_holds.items()) for scope in scopes
    }
    shred: set[str] = set()
    keep: dict[str, KeptScope] = {}
    for scope_key in sorted(held_scopes(state)):
        scope = policy.scopes[scope_key]
        if scope_key in holds:
            keep[scope_key] = KeptScope(f"legal hold {holds[scope_key]}", None)
            continue
        if scope.is_statutory and scope.legal_reason:
            due = statutory_due(scope, state.scope_collected_at[scope_key])
            if due > now:
                keep[scope_key] = KeptScope(scope.legal_reason, due)
                continue
        shred.add(scope_key)
    return ErasurePlan(frozenset(shred), keep)


def retention_due(policy: Policy, state: SubjectState) -> dict[str, datetime | None]:
    """Per held scope, when its retention ends; None while no trigger has fired yet."""
    due: dict[str, datetime | None] = {}
    for scope_key in sorted(held_scopes(state)):
        scope = policy.scopes[scope_key]
        if scope.is_statutory:
            due[scope_key] = statutory_due(scope, state.scope_collected_at[scope_key])
            continue
        moments: list[datetime | None] = []
        for purpose_key, held in state.holdings.items():
            if not any(state.category_scopes.get(c) == scope_key for c in held):
                continue
            rule = policy.purpose(purpose_key).retention
            start = {
                "contract-ended": state.contract_ended_at.get(purpose_key),
                "purpose-fulfilled": state.fulfilled_at.get(purpose_key),
                "collected": state.collected_at.get(purpose_key),
            }.get(rule.trigger)
            moments.append(rule.period.after(start) if start else None)
        # A scope falls due only when every purpose holding data in it has ended.
        due[scope_key] = None if None in moments or not moments else max(
            m for m in moments if m is not None
        )
    return due
