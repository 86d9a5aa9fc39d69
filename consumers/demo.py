"""The demo scenario: a day in the life of the privacy office, built from the seed policy.

Every act goes through the same intake path as real ones (schema, policy, encryption),
so what the demo prints is what the ledger does. The people are fictional.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from consumers.services.ports import Backend
from ledger.crypto.office_signing import OfficeKey
from ledger.errors import InvalidAct
from ledger.intake.acts import act_from_document

START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
# What the scenario's people give the systems that collect their data.
CUSTOMER = {
    "name": "Sanne de Vries", "business-email": "sanne@bakkerij-devries.nl",
    "business-phone": "+31 20 555 0101", "organisation-name": "Bakkerij De Vries B.V.",
    "invoice-details": "INV-2025-0042, EUR 4.800,00", "payment-details": "NL91 ABNA 0417 1643 00",
}
PROSPECT = {
    "name": "Pieter Jansen", "job-title": "IT-manager",
    "business-email": "p.jansen@gemeente-voorbeeld.nl", "business-phone": "+31 30 555 0199",
    "organisation-name": "Gemeente Voorbeeld",
}
ATTENDEE = {
    "name": "Fatima El Amrani", "job-title": "Servicedesk lead",
    "organisation-name": "Zorggroep Noord", "business-email": "f.elamrani@zorggroep-noord.nl",
    "business-phone": "+31 50 555 0123", "business-address": "Stationsweg 1, Groningen",
    "invoice-details": "INV-2025-0107, EUR 150,00",
}
VISITOR = {
    "name": "Kees Bakker", "business-email": "kees@bakker-ict.nl",
    "business-phone": "+31 10 555 0177", "message-content": "Werkt jullie SaaS ook met SSO?",
}


@dataclass(frozen=True)
class Step:
    story: str
    act: dict[str, Any] | None = None  # an intake act
    erase: tuple[UUID, str] | None = None  # (subject, request) carried out by the office


@dataclass(frozen=True)
class Outcome:
    story: str
    act_type: str
    status: str
    detail: str


class Scenario:
    """Builds the acts; ids and times are fresh each run so runs never collide."""

    def __init__(self) -> None:
        self.clock = START
        self.count = 0
        self.customer, self.prospect = uuid4(), uuid4()
        self.attendee, self.visitor = uuid4(), uuid4()

    def collected(self, subject: UUID, source: str, purpose: str, legal_basis: str, *,
                  values: dict[str, str]) -> dict[str, Any]:
        """Data collected by ``source``, which records it itself."""
        return self.act(subject, "data-collected", source, purpose=purpose,
                        source_system=source, legal_basis=legal_basis, values=values)

    def act(self, subject: UUID, act_type: str, actor: str, **body: Any) -> dict[str, Any]:
        self.count += 1
        self.clock += timedelta(hours=6)
        return {
            "act_id": f"demo-{uuid4().hex[:12]}-{self.count}", "type": act_type,
            "subject_id": str(subject), "actor": actor,
            "occurred_at": self.clock.isoformat(), **body,
        }

    def steps(self) -> Iterator[Step]:
        c, p, w, v = self.customer, self.prospect, self.attendee, self.visitor
        yield Step("Customer signs a contract (purpose I)", self.collected(
            c, "crm", "service-delivery", "contract", values=CUSTOMER))
        yield Step("Invoicing sends the first invoice", self.act(
            c, "data-processed", "invoicing", purpose="service-delivery",
            operation="invoice", categories=["invoice-details", "payment-details"]))
        yield Step("A mailing processor sends the welcome pack", self.act(
            c, "data-shared", "crm", purpose="service-delivery", recipient="Mailhouse B.V.",
            recipient_kind="it-supplier", ground="processor",
            categories=["name", "business-email"]))
        yield Step("CRM tries to store her job title (not listed for purpose I)", self.collected(
            c, "crm", "service-delivery", "contract", values={"job-title": "Directeur"}))
        yield Step("Demo form submitted before consent was recorded (purpose II)", self.collected(
            p, "website", "demo-request", "consent", values=PROSPECT))
        yield Step("The prospect ticks the consent box (notice 2021-12-24)", self.act(
            p, "consent-given", "website", purpose="demo-request", channel="web-form",
            notice_version="2021-12-24", proof_ref="form-submission/88231"))
        yield Step("Demo form submitted again, now with consent", self.collected(
            p, "website", "demo-request", "consent", values=PROSPECT))
        yield Step("Webinar registration with invoice details (purpose III)", self.collected(
            w, "webinar-tool", "webinar-event", "contract", values=ATTENDEE))
        yield Step("Attendee list goes to the venue", self.act(
            w, "data-shared", "webinar-tool", purpose="webinar-event",
            recipient="Congrescentrum Groningen", recipient_kind="event-organiser",
            ground="service-delivery", categories=["name", "organisation-name"]))
        yield Step("Marketing wants to hand webinar data to a cookie provider", self.act(
            w, "data-shared", "marketing", purpose="webinar-event", recipient="AdTrack Ltd",
            recipient_kind="cookie-provider", ground="legitimate-interest",
            categories=["business-email"]))
        yield Step("A visitor asks a question through the contact form (purpose VI)",
                   self.collected(v, "website", "contact", "legitimate-interest",
                                  values=VISITOR))
        yield Step("Support answers; the purpose is fulfilled", self.act(
            v, "purpose-fulfilled", "support-desk", purpose="contact"))
        yield Step("The attendee clicks 'unsubscribe' in a newsletter", self.act(
            w, "objection-raised", "mailer", ground="direct-marketing",
            channel="email-unsubscribe-link"))
        yield Step("Marketing tries to send her the next campaign", self.act(
            w, "data-processed", "marketing", purpose="webinar-event",
            operation="direct-marketing", categories=["business-email"]))
        yield Step("The prospect withdraws consent", self.act(
            p, "consent-withdrawn", "privacy-office", purpose="demo-request",
            channel="email", proof_ref="ticket/PRIV-311"))
        yield Step("Sales tries to call the prospect anyway", self.act(
            p, "data-processed", "crm", purpose="demo-request", operation="contact",
            categories=["business-phone"]))
        yield Step("The customer asks for a copy of her data", self.act(
            c, "access-requested", "privacy-office", request_ref="DSAR-2025-001",
            channel="email"))
        yield Step("The privacy office sends the export", self.act(
            c, "access-fulfilled", "privacy-office", request_ref="DSAR-2025-001",
            export_ref="export/DSAR-2025-001.json"))
        yield Step("An acquirer would use customer data for a new purpose", self.act(
            c, "controller-transferred", "legal", new_controller="Acme Holding B.V.",
            transfer_kind="acquisition", purposes=["service-delivery", "demo-request"]))
        yield Step("The customer's contract ends", self.act(
            c, "contract-ended", "crm", purpose="service-delivery"))
        yield Step("She asks to be forgotten", self.act(
            c, "erasure-requested", "privacy-office", request_ref="DSAR-2025-002",
            channel="email"))
        yield Step("The privacy office carries out the erasure",
                   erase=(c, "DSAR-2025-002"))
        yield Step("Invoicing tries to reuse the kept invoice data", self.act(
            c, "data-processed", "invoicing", purpose="service-delivery", operation="use",
            categories=["invoice-details"]))
        yield Step("The kept invoice data stays stored for the tax office", self.act(
            c, "data-processed", "invoicing", purpose="service-delivery", operation="store",
            categories=["invoice-details", "payment-details"]))


def run_scenario(backend: Backend, scenario: Scenario, office: OfficeKey) -> list[Outcome]:
    """Each step as an act through the backend, as an upstream system's would go; the
    erasure signed by the office, as `ledger erase` signs it."""
    outcomes = []
    for step in scenario.steps():
        document = step.act if step.act is not None else office.sign(_erasure(scenario, step))
        try:
            act = act_from_document(document)
        except InvalidAct as invalid:
            outcomes.append(Outcome(step.story, document["type"], "refused", str(invalid)))
            continue
        [outcome] = backend.submit([act], wait_s=0.0, with_events=step.erase is not None)
        if outcome.status != "recorded":
            outcomes.append(Outcome(step.story, act.type, "refused",
                                    f"{outcome.rule}: {outcome.reason}"))
        elif step.erase is not None:
            outcomes.append(Outcome(step.story, "erasure-completed", "recorded",
                                    _erased(outcome.events)))
        else:
            outcomes.append(Outcome(step.story, act.type, "recorded", ""))
    return outcomes


def _erasure(scenario: Scenario, step: Step) -> dict[str, Any]:
    assert step.erase is not None  # noqa: S101 - a step is an act or an erasure
    subject, request = step.erase
    scenario.clock += timedelta(hours=6)
    return {"act_id": f"demo-erase-{uuid4().hex[:12]}", "type": "erasure-carried-out",
            "subject_id": str(subject), "actor": "privacy-office",
            "occurred_at": scenario.clock.isoformat(), "request_ref": request,
            "channel": "email"}


def _erased(events: list[dict[str, Any]]) -> str:
    shredded = [scope for e in events if e["type"] == "ErasureCompleted"
                for scope in e["scopes"]]
    kept = "; ".join(
        f"kept {e['kept_scope']} until {e['kept_until'][:10]}" if e.get("kept_until")
        else f"kept {e['kept_scope']}"
        for e in sorted((e for e in events if e["type"] == "ErasureRefusedInPart"),
                        key=lambda e: str(e["kept_scope"])))
    return f"shredded {', '.join(sorted(shredded)) or 'nothing'}" + (
        f"; {kept} (fiscal law)" if kept else "")
