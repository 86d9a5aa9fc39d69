"""``/v1`` reads: the subject view and export (values, logged), the audit trail, the
registers, the retention schedule, the DSAR queue and the access log (no values)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from consumers.services.consultations import Viewer, open_export, open_view
from consumers.services.consultations import Why as Reason
from consumers.services.exports import export_html
from consumers.services.subjects import resolve_subject
from consumers.web.api_models import ExportRequest, Lookup, Why
from consumers.web.auth import ApiGuard
from consumers.web.problems import problem_responses
from consumers.web.roles import Group
from consumers.web.tokens import Principal
from ledger.errors import UnknownSubject
from ledger.moments import BareDate, parse_moment
from projections.reader import LedgerReader

router = APIRouter(prefix="/v1", tags=["reads"])
Values = Annotated[Principal, Depends(ApiGuard(Group.VALUES))]
Oversight = Annotated[Principal, Depends(ApiGuard(Group.OVERSIGHT))]
Queue = Annotated[Principal, Depends(ApiGuard(Group.QUEUE))]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
MomentText = Annotated[str | None, Query(max_length=64, description=(
    "RFC 3339 with an offset, or a date (its end)"))]
_ERRORS = problem_responses(401, 403, 422)
_SUBJECT_ERRORS = problem_responses(401, 403, 404, 422)


def moment(text: str | None, *, bare_date: BareDate = "end") -> datetime | None:
    return None if text is None else parse_moment(text, bare_date=bare_date)


def page(items: list[dict[str, Any]], offset: int, limit: int) -> dict[str, Any]:
    return {"total": len(items), "offset": offset, "items": items[offset:offset + limit]}


def viewer_of(principal: Principal, channel: str = "api") -> Viewer:
    return Viewer(principal.name, str(principal.role), channel)


@router.post("/subjects/lookup", responses=_SUBJECT_ERRORS)
async def lookup_subject(request: Request, body: Lookup, principal: Values) -> dict[str, Any]:
    """The subject an email address or phone number belongs to (POST: a look-up value
    never goes in a URL). 404 ``unknown-subject`` when nobody is indexed under it."""
    ctx = request.app.state.web
    found: UUID = await ctx.worker.run(resolve_subject, ctx.backend, None, email=body.email,
                                       phone=body.phone)
    return {"subject_id": str(found)}


@router.post("/subjects/{subject_id}/view", responses=_SUBJECT_ERRORS)
async def subject_view(request: Request, subject_id: UUID, body: Why,
                       principal: Values) -> dict[str, Any]:
    """The subject view with values opened; the opening is logged first (who, when,
    which subject, which categories, the case and the purpose)."""
    ctx = request.app.state.web
    why = Reason(body.case_ref, body.purpose)
    view: dict[str, Any] = await ctx.read(lambda reader: open_view(
        reader, ctx.access_log, viewer_of(principal), why, subject_id))
    return view


@router.post("/subjects/{subject_id}/export", response_model=None, responses={
    200: {"content": {"application/json": {"schema": {"type": "object"}},
                      "text/html": {"schema": {"type": "string"}}},
          "description": "the export (art. 15/20), with the consultations of the data"},
    **_SUBJECT_ERRORS})
async def subject_export(request: Request, subject_id: UUID, body: ExportRequest,
                         principal: Values) -> Response:
    """The subject's export, JSON or the readable HTML report, with the dates and
    purposes of every consultation of their data (this one included)."""
    ctx = request.app.state.web
    why = Reason(body.case_ref, body.purpose)
    document: dict[str, Any] = await ctx.read(lambda reader: open_export(
        reader, ctx.access_log, viewer_of(principal), why, subject_id,
        shown=f"export-{body.format}"))
    name = f"dsar-export-{subject_id}.{body.format}"
    disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
    if body.format == "html":
        return HTMLResponse(export_html(document), headers=disposition)
    return JSONResponse(document, headers=disposition)


@router.get("/subjects/{subject_id}/audit-trail", responses=_SUBJECT_ERRORS)
async def subject_trail(request: Request, subject_id: UUID, *, principal: Oversight,
                        as_of: MomentText = None, known_at: MomentText = None,
                        after: Offset = 0, limit: Limit = 100) -> dict[str, Any]:
    """Every act about the subject in order, no values; with ``as_of``, also what was
    held then and on what grounds (``known_at``: as the ledger knew it then)."""
    as_of_at, known = moment(as_of), moment(known_at)

    def read(reader: LedgerReader) -> dict[str, Any]:
        held = None
        if as_of_at is not None:
            held = reader.held_as_of(subject_id, as_of_at, known_at=known)
        elif reader.store.subject_doc(subject_id) is None:
            raise UnknownSubject(f"no data subject {subject_id} in the projections")
        trail = reader.audit_trail(subject_id, as_of=as_of_at, known_at=known, after=after,
                                   limit=limit)
        return {"subject_id": str(subject_id), "as_of": as_of, "known_at": known_at,
                "position": reader.position(), "trail": trail, "held": held}

    result: dict[str, Any] = await request.app.state.web.read(read)
    return result


@router.get("/audit-trail", responses=_ERRORS)
async def ledger_trail(request: Request, *, principal: Oversight, as_of: MomentText = None,
                       known_at: MomentText = None, after: Offset = 0,
                       limit: Limit = 100) -> dict[str, Any]:
    """Every act of the ledger in order (page with ``after``), no values."""
    as_of_at, known = moment(as_of), moment(known_at)
    result: dict[str, Any] = await request.app.state.web.read(lambda reader: {
        "position": reader.position(),
        "trail": reader.audit_trail(None, as_of=as_of_at, known_at=known, after=after,
                                    limit=limit)})
    return result


@router.get("/registers/records-of-processing", responses=_ERRORS)
async def records_of_processing(request: Request, principal: Oversight) -> dict[str, Any]:
    """The record of processing activities (art. 30), from the policy and the acts."""
    result: dict[str, Any] = await request.app.state.web.read(lambda reader: {
        "position": reader.position(), "policy_version": reader.policy.version,
        "items": reader.records_of_processing()})
    return result


@router.get("/registers/disclosures", responses=_ERRORS)
async def disclosures(request: Request, principal: Oversight, offset: Offset = 0,
                      limit: Limit = 100) -> dict[str, Any]:
    """The disclosure register (art. 19): per recipient, which subjects and categories."""
    result: dict[str, Any] = await request.app.state.web.read(
        lambda reader: page(reader.disclosure_register(), offset, limit))
    return result


@router.get("/retention-schedule", responses=_ERRORS)
async def retention_schedule(request: Request, principal: Oversight,
                             until: MomentText = None, offset: Offset = 0,
                             limit: Limit = 100) -> dict[str, Any]:
    """What falls due when, per subject and scope."""
    until_at = moment(until)
    result: dict[str, Any] = await request.app.state.web.read(
        lambda reader: page(reader.retention_schedule(until=until_at), offset, limit))
    return result


@router.get("/dsar-queue", responses=_ERRORS)
async def dsar_queue(request: Request, principal: Queue, include_closed: bool = False,
                     offset: Offset = 0, limit: Limit = 100) -> dict[str, Any]:
    """Requests with their legal deadline, overdue first, then by deadline."""
    now = datetime.now(UTC)
    result: dict[str, Any] = await request.app.state.web.read(
        lambda reader: page(queue_order(reader.dsar_queue(now=now,
                                                          include_closed=include_closed)),
                            offset, limit))
    return result


def queue_order(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda r: (r["status"] != "open", not r["overdue"], r["due_at"]))


@router.get("/access-log", responses=_ERRORS)
async def access_log(request: Request, principal: Oversight, subject_id: UUID | None = None,
                     after: Offset = 0, limit: Limit = 100) -> dict[str, Any]:
    """Who opened whose values, when, what, for which case and purpose (no values)."""
    ctx = request.app.state.web
    entries = await ctx.worker.run(ctx.access_log.entries, subject_id=subject_id,
                                   after=after, limit=limit)
    return {"items": [entry.as_dict() for entry in entries]}


@router.get("/access-log/verification", responses=_ERRORS)
async def access_log_verification(request: Request, principal: Oversight) -> dict[str, Any]:
    """Walks the access log's digest chain: is every entry as it was written?"""
    ctx = request.app.state.web
    result = await ctx.worker.run(ctx.access_log.verify)
    return {"entries": result.entries, "intact": result.intact,
            "first_bad_seq": result.first_bad_seq, "head": result.head}
