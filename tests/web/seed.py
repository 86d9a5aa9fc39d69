"""A small ledger for the web console's tests: two subjects with canary values, open
requests (one overdue), a disclosure and a legal hold, and a token per role."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import orjson

from consumers.composition import open_backend, open_token_store
from consumers.services.recording import record_lines
from consumers.web.roles import Role
from ledger.config import Settings
from tests.cli_helpers import canaries

TOKEN_NAMES = {Role.UPSTREAM: "crm-sync", Role.AUDITOR: "audrey-auditor",
               Role.DSAR_HANDLER: "hanna-handler", Role.ADMIN: "ada-admin"}


@dataclass
class Seeded:
    settings: Settings
    subject_a: str
    subject_b: str
    email_a: str
    canaries: list[str]
    tokens: dict[Role, str] = field(default_factory=dict)


def _act(n: int, subject: str, when: str, **body: Any) -> bytes:
    return orjson.dumps({"act_id": f"seed-{n}", "subject_id": subject, "actor": "crm",
                         "occurred_at": when, **body})


def seed_ledger(data_dir: Path, tag: str = "WEB") -> Seeded:
    settings = Settings().with_data_dir(data_dir)
    a, b = str(uuid4()), str(uuid4())
    values_a = canaries(tag, "name", "business-email", "business-phone", "invoice-details",
                        "message-content")
    values_b = canaries(tag + "B", "name", "business-email", "message-content")
    # The shared canary phone carries hex; a phone is digits.
    values_a["business-phone"] = f"+31 6 {secrets.randbelow(10**8):08d}"
    values_b["business-phone"] = f"+31 20 {secrets.randbelow(10**7):07d}"
    recent = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    acts = [
        _act(1, a, "2025-02-20T10:00:00+01:00", type="data-collected",
             purpose="service-delivery", source_system="crm", legal_basis="contract",
             values={**values_a, "organisation-name": "Bakkerij Test",
                     "payment-details": "NL91 ABNA 0417 1643 00"}),
        _act(2, a, "2025-03-02T10:00:00+01:00", type="data-shared",
             purpose="service-delivery", recipient="PostNL", recipient_kind="postal-service",
             ground="service-delivery", categories=["name"]),
        _act(3, a, "2025-03-05T10:00:00+01:00", type="access-requested",
             request_ref="DSAR-A1", channel="email"),
        _act(4, a, recent, type="erasure-requested", request_ref="DSAR-E1", channel="email"),
        _act(5, b, "2025-04-01T09:00:00Z", type="data-collected", purpose="contact",
             source_system="website", legal_basis="legitimate-interest", values=values_b),
        _act(6, b, recent, type="access-requested", request_ref="DSAR-B1", channel="web-form"),
        _act(7, b, "2025-04-02T09:00:00Z", type="legal-hold-placed", hold_ref="HOLD-1",
             reason="litigation", scopes=["general"]),
    ]
    with open_backend(settings) as backend:
        verdicts = list(record_lines(backend, acts, wait_s=0))
    assert [v.status for v in verdicts] == ["recorded"] * len(acts), verdicts
    seeded = Seeded(settings, a, b, values_a["business-email"],
                    [*values_a.values(), *values_b.values()])
    store = open_token_store(settings)
    try:
        for role, name in TOKEN_NAMES.items():
            seeded.tokens[role], _ = store.create(name, role)
    finally:
        store.close()
    return seeded
