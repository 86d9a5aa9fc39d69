"""The DSAR queue, the audit trail, the registers, the retention schedule and the access
log: no personal value on any of them. Tables sort and page by link."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from consumers.web.api_reads import queue_order
from consumers.web.auth import PageGuard, PageUser
from consumers.web.problems import Problem
from consumers.web.roles import Group
from consumers.web.tables import table
from consumers.web.templating import render
from ledger.errors import ConfigurationError, UnknownSubject
from ledger.moments import parse_moment
from projections.reader import LedgerReader

router = APIRouter()
Oversight = Annotated[PageUser, Depends(PageGuard(Group.OVERSIGHT))]
Queue = Annotated[PageUser, Depends(PageGuard(Group.QUEUE))]
QUEUE_COLUMNS = (("due_at", "due"), ("overdue", "overdue"), ("days_left", "days left"),
                 ("request_ref", "request"), ("kind", "kind"), ("subject_id", "subject"),
                 ("requested_at", "received"), ("extended_months", "extended (months)"),
                 ("status", "status"))
TRAIL_COLUMNS = (("notification_id", "no"), ("subject_id", "subject"), ("type", "act"),
                 ("act_id", "act id"), ("actor", "actor"), ("policy_version", "policy"),
                 ("occurred_at", "occurred"), ("recorded_at", "recorded"),
                 ("details", "details"))


def _query(request: Request) -> dict[str, str]:
    return dict(request.query_params)


@router.get("/queue")
async def queue(request: Request, user: Queue) -> Response:
    now = datetime.now(UTC)
    items = await request.app.state.web.read(
        lambda reader: queue_order(reader.dsar_queue(now=now, include_closed=True)))
    open_items = [i for i in items if i["status"] == "open"]
    closed = [i for i in items if i["status"] != "open"]
    query = _query(request)
    return render(request, "queue.html", {
        "open": table("open", QUEUE_COLUMNS, open_items, query),
        "closed": table("closed", (*QUEUE_COLUMNS, ("closed_at", "closed")), closed, query,
                        default_sort="closed_at")})


def _moment(text: str) -> datetime | None:
    """A picker's ``YYYY-MM-DDTHH:MM`` (read as UTC), RFC 3339, or a date (its end)."""
    if not text:
        return None
    if len(text) == 16 and text[10] == "T":
        text += ":00+00:00"
    try:
        return parse_moment(text, bare_date="end")
    except ConfigurationError as error:
        raise Problem(422, "invalid-request", str(error)) from None


@router.get("/audit")
async def audit(request: Request, user: Oversight) -> Response:
    query = _query(request)
    subject_text = query.get("subject_id", "").strip()
    try:
        subject_id = UUID(subject_text) if subject_text else None
    except ValueError:
        raise Problem(422, "invalid-request", "subject_id: a subject id (UUID)") from None
    as_of, known_at = _moment(query.get("as_of", "")), _moment(query.get("known_at", ""))

    def read(reader: LedgerReader) -> dict[str, Any]:
        if subject_id is not None and reader.store.subject_doc(subject_id) is None:
            raise UnknownSubject(f"no data subject {subject_id} in the projections")
        trail = reader.audit_trail(subject_id, as_of=as_of, known_at=known_at)
        held = (reader.held_as_of(subject_id, as_of, known_at=known_at)
                if subject_id is not None and as_of is not None else None)
        return {"trail": trail, "held": held, "position": reader.position()}

    found = await request.app.state.web.read(read)
    for act in found["trail"]:
        act["details"] = "; ".join(f"{k}: {_plain(v)}" for k, v in act["details"].items()
                                   if v not in (None, [], {}))
    return render(request, "trail.html", {
        "acts": table("acts", TRAIL_COLUMNS, found["trail"], query,
                      default_sort="notification_id"),
        "held": found["held"], "position": found["position"],
        "subject_id": subject_text, "as_of": query.get("as_of", ""),
        "known_at": query.get("known_at", "")})


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_plain(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_plain(v) for v in value)
    return str(value)


@router.get("/registers")
async def registers(request: Request, user: Oversight) -> Response:
    found = await request.app.state.web.read(lambda reader: {
        "ropa": reader.records_of_processing(), "disclosures": reader.disclosure_register(),
        "policy_version": reader.policy.version})
    lines = [{"recipient": r["recipient"], "kinds": ", ".join(r["recipient_kinds"]),
              "subject_id": s["subject_id"], "categories": ", ".join(s["categories"]),
              "purposes": ", ".join(s["purposes"]), "acts": s["acts"],
              "last_shared_at": s["last_shared_at"]}
             for r in found["disclosures"] for s in r["subjects"]]
    ropa = [{"purpose": p["purpose"], "role": p["role"], "title": p["title_nl"],
             "bases": ", ".join(p["legal_bases"]["allowed"]),
             "categories": ", ".join(c["category"] for c in p["categories"] if c["acts"]),
             "recipients": ", ".join(r["recipient"] for r in p["recipients"]["used"]),
             "retention": (f"{p['retention']['rule']['trigger']} + "
                           f"{p['retention']['rule']['period']}"
                           if p["retention"]["rule"] else "")}
            for p in found["ropa"]]
    query = _query(request)
    return render(request, "registers.html", {
        "policy_version": found["policy_version"],
        "ropa": table("ropa", (("purpose", "purpose"), ("title", "title"), ("role", "role"),
                               ("bases", "legal bases"), ("categories", "categories used"),
                               ("recipients", "recipients"), ("retention", "retention")),
                      ropa, query, default_sort="purpose"),
        "disclosures": table("disc", (("recipient", "recipient"), ("kinds", "kinds"),
                                      ("subject_id", "subject"),
                                      ("categories", "categories"),
                                      ("purposes", "purposes"), ("acts", "acts"),
                                      ("last_shared_at", "last shared")), lines, query,
                             default_sort="recipient")})


@router.get("/retention")
async def retention(request: Request, user: Oversight) -> Response:
    items = await request.app.state.web.read(lambda reader: reader.retention_schedule())
    for item in items:
        item["on_hold"] = ", ".join(item["on_hold"])
    return render(request, "retention.html", {"schedule": table(
        "ret", (("due_at", "due"), ("status", "status"), ("subject_id", "subject"),
                ("scope", "scope"), ("statutory", "statutory"), ("on_hold", "on hold")),
        items, _query(request), default_sort="due_at")})


@router.get("/access-log")
async def access_log(request: Request, user: Oversight) -> Response:
    ctx = request.app.state.web
    entries = await ctx.worker.run(ctx.access_log.entries)
    verification = await ctx.worker.run(ctx.access_log.verify)
    rows = [{**e.as_dict(), "categories": ", ".join(e.categories)} for e in entries]
    return render(request, "access_log.html", {"verification": verification, "log": table(
        "log", (("seq", "no"), ("at", "when"), ("viewer", "who"), ("role", "role"),
                ("channel", "via"), ("subject_id", "subject"), ("shown", "shown"),
                ("categories", "categories"), ("case_ref", "case"),
                ("purpose", "purpose")), rows, _query(request), default_sort="seq")})
