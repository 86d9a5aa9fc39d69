"""Random but plausible act sequences for projection tests (hypothesis and benchmarks).

A step names a subject, a kind of act and a seed for its details; ``apply_step`` turns
it into one command on the application. The rules refuse what does not fit the
subject's state, and a refused act records nothing, so the log only ever holds valid
acts. Values are unique per subject (identities are unique), and carry a tag so scans
can look for them.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple
from uuid import UUID, uuid4

from hypothesis import strategies as st

from ledger.application import LedgerApplication
from ledger.domain.acts import ActContext
from ledger.errors import PolicyViolation, UnknownSubject

# Far enough back that the longest sequence (126 steps of up to 40 days) stays in the
# past: the application refuses an act dated ahead of the wall clock (occurred-in-future).
T0 = datetime(2010, 1, 4, 9, 0, tzinfo=UTC)
# Weighted by repetition: collections first, and what undoes a block (lift, release,
# fulfil, erase) as often as what sets it up, so sequences stay lively.
ACT_KINDS = (
    "collect", "collect", "collect", "collect", "process", "process", "share", "share",
    "consent", "consent", "withdraw", "object", "restrict", "lift", "lift", "rectify",
    "rectify", "access", "fulfil", "extend", "erasure-request", "erase", "erase",
    "end-contract", "fulfil-purpose", "hold", "release", "release", "expire", "expire",
    "transfer",
)
REFS = ("R-1", "R-2")
HOLDS = ("H-1", "H-2")


Step = tuple[int, str, int, int]


def steps(subjects: int, max_size: int, min_size: int = 10) -> st.SearchStrategy[list[Step]]:
    """(subject index, act kind, seed, hours since the previous act); every subject's
    history opens with a collection, so the acts after it have something to act on."""
    step = st.tuples(st.integers(0, subjects - 1), st.sampled_from(ACT_KINDS),
                     st.integers(0, 2**32), st.integers(0, 24 * 40))
    openings = st.lists(st.integers(0, 2**32), min_size=subjects, max_size=subjects)
    return st.builds(
        lambda seeds, rest: [(i, "collect", seed, 1) for i, seed in enumerate(seeds)] + rest,
        openings, st.lists(step, min_size=min_size, max_size=max_size),
    )


@dataclass
class Scenario:
    """The subjects, the clock, and what was recorded (to check exports against)."""

    subjects: list[UUID]
    tag: str = field(default_factory=lambda: uuid4().hex[:8])
    now: datetime = T0
    recorded: list[tuple[UUID, str, str]] = field(default_factory=list)  # subject, act, kind
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @classmethod
    def of(cls, count: int) -> Scenario:
        return cls([uuid4() for _ in range(count)])

    def act(self, actor: str = "crm") -> ActContext:
        return ActContext(f"{self.tag}-{next(self._ids)}", actor, self.now)

    def value(self, subject: int, category: str) -> str:
        return f"V{self.tag}-{subject}-{category}-{next(self._ids)}-é€"


def apply_step(app: LedgerApplication, scenario: Scenario, step: Step) -> bool:
    """Applies one step; False if the rules refused it (nothing recorded then)."""
    index, kind, seed, hours = step
    scenario.now += timedelta(hours=hours)
    rng = random.Random(seed)
    subject_id = scenario.subjects[index]
    act = scenario.act("privacy-office" if kind in ("erase", "extend", "expire") else "crm")
    command = _COMMANDS[kind]
    try:
        command(Call(app, scenario, index, subject_id, act, rng))
    except (PolicyViolation, UnknownSubject):
        return False
    scenario.recorded.append((subject_id, act.act_id, kind))
    return True


class Call(NamedTuple):
    app: LedgerApplication
    scenario: Scenario
    index: int
    subject_id: UUID
    act: ActContext
    rng: random.Random


Command = Callable[[Call], None]


def _collect(c: Call) -> None:
    purpose = c.rng.choice(sorted(c.app.policy.purposes))
    spec = c.app.policy.purposes[purpose]
    categories = [k for k, need in sorted(spec.categories.items())
                  if need == "required" or c.rng.random() < 0.5]
    c.app.collect_data(c.subject_id, c.act, purpose=purpose,
                       values={k: c.scenario.value(c.index, k) for k in categories},
                       source_system=c.rng.choice(["crm", "web", "events"]),
                       legal_basis=c.rng.choice(sorted(spec.legal_bases)),
                       controller="Customer BV" if spec.role == "processor" else None)


def _held_purpose(c: Call) -> str:
    held = sorted(c.app.subject(c.subject_id).state.holdings)
    return c.rng.choice(held) if held else c.rng.choice(sorted(c.app.policy.purposes))


def _categories(c: Call, purpose: str) -> list[str]:
    held = sorted(c.app.subject(c.subject_id).state.holdings.get(purpose, {}))
    return c.rng.sample(held, k=c.rng.randint(1, len(held))) if held else ["name"]


def _process(c: Call) -> None:
    purpose = _held_purpose(c)
    c.app.record_processing(c.subject_id, c.act, purpose=purpose,
                            operation=c.rng.choice(["use", "store", "contact", "invoice"]),
                            categories=_categories(c, purpose))


def _share(c: Call) -> None:
    purpose = _held_purpose(c)
    kinds = sorted(c.app.policy.purposes[purpose].recipient_kinds) or ["it-supplier"]
    c.app.record_sharing(
        c.subject_id, c.act, purpose=purpose,
        recipient=c.rng.choice(["Mailhouse BV", "PostNL", "Belastingdienst"]),
        recipient_kind=c.rng.choice(kinds),
        ground=c.rng.choice(["processor", "service-delivery", "legal-obligation", "consent"]),
        categories=_categories(c, purpose))


def _consent(c: Call) -> None:
    c.app.give_consent(c.subject_id, c.act, purpose=c.rng.choice(["demo-request", "website"]),
                       channel="web-form", notice_version="2021-12-24",
                       proof_ref=f"form/{c.rng.randint(1, 999)}")


def _withdraw(c: Call) -> None:
    c.app.withdraw_consent(c.subject_id, c.act,
                           purpose=c.rng.choice(["demo-request", "website"]),
                           channel="email", proof_ref=f"mail/{c.rng.randint(1, 999)}")


def _object(c: Call) -> None:
    if c.rng.random() < 0.5:
        c.app.object_to_processing(c.subject_id, c.act, ground="direct-marketing",
                                   purpose=None, channel="email-unsubscribe-link")
    else:
        c.app.object_to_processing(c.subject_id, c.act, ground="particular-situation",
                                   purpose=_held_purpose(c), channel="email")


def _restrict(c: Call) -> None:
    c.app.restrict_processing(c.subject_id, c.act, request_ref=c.rng.choice(REFS),
                              reason="accuracy-contested",
                              scope=c.rng.choice([None, "general", "fiscal"]))


def _lift(c: Call) -> None:
    c.app.lift_restriction(c.subject_id, c.act, request_ref=c.rng.choice(REFS))


def _rectify(c: Call) -> None:
    purpose = _held_purpose(c)
    c.app.rectify_data(
        c.subject_id, c.act, purpose=purpose,
        values={k: c.scenario.value(c.index, k) for k in _categories(c, purpose)},
        request_ref=c.rng.choice(REFS))


def _access(c: Call) -> None:
    c.app.request_access(c.subject_id, c.act, request_ref=c.rng.choice(REFS), channel="email")


def _fulfil(c: Call) -> None:
    c.app.fulfil_access(c.subject_id, c.act, request_ref=c.rng.choice(REFS),
                        export_ref="export-1")


def _extend(c: Call) -> None:
    c.app.extend_request_deadline(
        c.subject_id, c.act, request_ref=c.rng.choice(REFS),
        extended_by_months=c.rng.choice([1, 2]),
        reason_code=c.rng.choice(["complexity", "number-of-requests"]))


def _erasure_request(c: Call) -> None:
    c.app.request_erasure(c.subject_id, c.act, request_ref=c.rng.choice(REFS),
                          channel="email")


def _erase(c: Call) -> None:
    open_requests = c.app.subject(c.subject_id).state.open_requests
    erasures = sorted(ref for ref, kind in open_requests.items() if kind == "erasure")
    if not erasures:
        raise PolicyViolation("no-such-request", "no open erasure request")
    c.app.carry_out_erasure(c.subject_id, c.act, request_ref=erasures[0])


def _end_contract(c: Call) -> None:
    c.app.end_contract(c.subject_id, c.act, purpose=_held_purpose(c))


def _fulfil_purpose(c: Call) -> None:
    c.app.fulfil_purpose(c.subject_id, c.act, purpose=_held_purpose(c))


def _hold(c: Call) -> None:
    c.app.place_legal_hold(c.subject_id, c.act, hold_ref=c.rng.choice(HOLDS),
                           reason="litigation",
                           scopes=c.rng.choice([[], ["general"], ["fiscal"]]))


def _release(c: Call) -> None:
    c.app.release_legal_hold(c.subject_id, c.act, hold_ref=c.rng.choice(HOLDS))


def _expire(c: Call) -> None:
    c.app.expire_retention(c.subject_id, c.act, scope=c.rng.choice(["general", "fiscal"]))


def _transfer(c: Call) -> None:
    c.app.transfer_controller(
        c.subject_id, c.act, new_controller="Acquirer BV", transfer_kind="merger",
        purposes=sorted(c.app.subject(c.subject_id).state.holdings))


_COMMANDS: dict[str, Command] = {
    "collect": _collect, "process": _process, "share": _share, "consent": _consent,
    "withdraw": _withdraw, "object": _object, "restrict": _restrict, "lift": _lift,
    "rectify": _rectify, "access": _access, "fulfil": _fulfil, "extend": _extend,
    "erasure-request": _erasure_request, "erase": _erase, "end-contract": _end_contract,
    "fulfil-purpose": _fulfil_purpose, "hold": _hold, "release": _release,
    "expire": _expire, "transfer": _transfer,
}
