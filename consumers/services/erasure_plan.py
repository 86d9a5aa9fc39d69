"""What an erasure would do now, before it is done: the dry run behind a confirmation.

The domain's own ``plan_erasure`` over the subject's state as the projections hold it:
which retention scopes would be shredded, which kept and why (a statutory period and
its end, or a legal hold), with the categories each scope holds. No value is opened.
The ledger plans again when it carries the erasure out, against the subject's state
in the log, so a projection that lags can make this preview stale but never make the
erasure shred what the law keeps.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from ledger.domain.retention import plan_erasure
from ledger.errors import UnknownSubject
from projections.reader import LedgerReader
from projections.subject_read_model import decode_doc


def erasure_plan(reader: LedgerReader, subject_id: UUID, *,
                 now: datetime | None = None) -> dict[str, Any]:
    data = reader.store.subject_doc(subject_id)
    if data is None:
        raise UnknownSubject(f"no data subject {subject_id} in the projections")
    doc = decode_doc(subject_id, data)
    moment = now or datetime.now(UTC)
    plan = plan_erasure(reader.policy, doc.state, moment)
    by_scope: dict[str, set[str]] = {}
    for purpose, purpose_holdings in doc.state.holdings.items():
        scopes = doc.state.value_scopes.get(purpose, {})
        for category in purpose_holdings:
            scope = scopes.get(category, doc.state.category_scopes.get(category))
            if scope is not None:
                by_scope.setdefault(scope, set()).add(category)

    def categories(scope: str) -> list[dict[str, str]]:
        listed = []
        for category in sorted(by_scope.get(scope, ())):
            label = reader.policy.categories.get(category)
            listed.append({"category": category,
                           "label_en": label.label_en if label else category,
                           "label_nl": label.label_nl if label else category})
        return listed

    return {
        "subject_id": str(subject_id), "planned_at": moment.isoformat(),
        "position": reader.position(),
        "shred": [{"scope": scope, "categories": categories(scope)}
                  for scope in sorted(plan.shred)],
        "keep": [{"scope": scope, "legal_reason": kept.legal_reason,
                  "until": kept.until.isoformat() if kept.until else None,
                  "categories": categories(scope)}
                 for scope, kept in sorted(plan.keep.items())],
        "already_erased": sorted(doc.state.erased_scopes),
        "open_requests": [{"request_ref": ref, "kind": kind}
                          for ref, kind in sorted(doc.state.open_requests.items())],
    }
