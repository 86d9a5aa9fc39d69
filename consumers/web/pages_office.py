"""The office's pages: an erasure (its plan, a confirmation, the result) and the other
acts a DSAR handler records, so a request can be finished without a shell."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from consumers.services.erasure_plan import erasure_plan
from consumers.services.office import erase
from consumers.services.office_acts import HANDLER_ACT_TYPES, record_office_act
from consumers.web.auth import PageGuard, PageUser
from consumers.web.forms import form_of, text, texts
from consumers.web.roles import Group
from consumers.web.templating import render

router = APIRouter()
Office = Annotated[PageUser, Depends(PageGuard(Group.OFFICE))]
# Form fields that are numbers or lists in the act.
_INTEGERS = frozenset({"extended_by_months"})
_LISTS = frozenset({"scopes"})


@router.get("/subjects/{subject_id}/erase")
async def erase_page(request: Request, subject_id: UUID, user: Office) -> Response:
    """What an erasure would shred and keep, and why; confirm to carry it out."""
    plan = await request.app.state.web.read(lambda reader: erasure_plan(reader, subject_id))
    return render(request, "erase.html", {"plan": plan, "subject_id": str(subject_id),
                                          "error": None})


@router.post("/subjects/{subject_id}/erase")
async def erase_confirmed(request: Request, subject_id: UUID, user: Office) -> Response:
    ctx = request.app.state.web
    form = await form_of(request)
    if text(form, "confirm") != "yes":
        return render(request, "erase.html", {
            "plan": await ctx.read(lambda reader: erasure_plan(reader, subject_id)),
            "subject_id": str(subject_id), "error": "Tick the confirmation to erase."},
            status_code=422)
    report = await ctx.worker.run(erase, ctx.backend, ctx.office, subject_id,
                                  request_ref=text(form, "request_ref"),
                                  channel=text(form, "channel", "email") or "email",
                                  at=datetime.now(UTC), wait_s=ctx.config.wait_s)
    status = 200 if report.status == "recorded" else 202 if report.status == "pending" else 422
    return render(request, "erased.html", {"report": report.as_dict()}, status_code=status)


@router.get("/subjects/{subject_id}/acts")
async def acts_page(request: Request, subject_id: UUID, user: Office) -> Response:
    context = await request.app.state.web.read(lambda reader: {
        "purposes": sorted(reader.policy.purposes), "categories": sorted(
            reader.policy.categories), "scopes": sorted(reader.policy.scopes)})
    return render(request, "acts.html", {"subject_id": str(subject_id), **context})


@router.post("/subjects/{subject_id}/acts")
async def record_act(request: Request, subject_id: UUID, user: Office) -> Response:
    ctx = request.app.state.web
    form = await form_of(request)
    act_type = text(form, "type")
    outcome = await ctx.worker.run(
        record_office_act, ctx.backend, ctx.office, subject_id, act_type, act_fields(form),
        actor=user.principal.name, wait_s=ctx.config.wait_s)
    status = {"recorded": 200, "duplicate": 200, "pending": 202}.get(outcome.status, 422)
    return render(request, "act_result.html", {
        "subject_id": str(subject_id), "type": act_type, "outcome": outcome,
        "known_type": act_type in HANDLER_ACT_TYPES}, status_code=status)


def act_fields(form: FormData) -> dict[str, Any]:
    """The act's fields from its form: empty ones left out, numbers and lists typed, a
    rectification's one category and value as its ``values``."""
    fields: dict[str, Any] = {}
    for name in form:
        if name in ("csrf", "type", "category", "value") or name in _LISTS:
            continue
        value = text(form, name)
        if not value:
            continue
        fields[name] = int(value) if name in _INTEGERS and value.isdigit() else value
    for name in _LISTS:
        if texts(form, name):
            fields[name] = texts(form, name)
    category, raw = text(form, "category"), form.get("value")
    if category and isinstance(raw, str) and raw:
        fields["values"] = {category: raw}
    return fields
