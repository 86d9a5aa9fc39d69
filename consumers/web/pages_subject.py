"""Finding a subject (by POST), opening the subject view, downloading the exports.

Values appear only in answers to POSTs that name a case and a purpose, and each such
answer is logged before it is sent (``consumers.services.consultations``).
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from consumers.access.purposes import ACCESS_PURPOSES
from consumers.services.consultations import Viewer, Why, open_export, open_view
from consumers.services.exports import export_html
from consumers.services.subjects import resolve_subject
from consumers.web.auth import PageGuard, PageUser
from consumers.web.forms import form_of, text
from consumers.web.problems import Problem
from consumers.web.roles import Group
from consumers.web.templating import render
from ledger.errors import ConfigurationError, UnknownSubject

router = APIRouter()
Handler = Annotated[PageUser, Depends(PageGuard(Group.VALUES))]


def _viewer(user: PageUser) -> Viewer:
    return Viewer(user.principal.name, str(user.principal.role), "web")


def _why(form: Any) -> Why:
    try:
        return Why(text(form, "case_ref"), text(form, "purpose"))
    except ConfigurationError as error:
        raise Problem(422, "invalid-request", str(error)) from None


@router.get("/find")
async def find_page(request: Request, user: Handler) -> Response:
    return render(request, "find.html", {"error": None})


@router.post("/find")
async def find(request: Request, user: Handler) -> Response:
    """Finds the subject and opens the view at once (the look-up value stays in the
    body of this POST; the view's URL holds the subject's random id only)."""
    ctx = request.app.state.web
    form = await form_of(request)
    why = _why(form)
    subject = text(form, "subject_id") or None
    email, phone = text(form, "email") or None, text(form, "phone") or None
    if sum(x is not None for x in (subject, email, phone)) != 1:
        return render(request, "find.html", {"error": "Give exactly one of: subject id, "
                                             "email, phone."}, status_code=422)
    try:
        subject_id: UUID = await ctx.worker.run(resolve_subject, ctx.backend, subject,
                                                email=email, phone=phone)
    except UnknownSubject as error:
        return render(request, "find.html", {"error": str(error)}, status_code=404)
    return await _view(request, user, why, subject_id)


@router.get("/subjects/{subject_id}")
async def subject_page(request: Request, subject_id: UUID, user: Handler) -> Response:
    """The subject's page before any value is opened: why, then the view."""
    return render(request, "subject.html", {"subject_id": str(subject_id)})


@router.post("/subjects/{subject_id}/view")
async def view(request: Request, subject_id: UUID, user: Handler) -> Response:
    return await _view(request, user, _why(await form_of(request)), subject_id)


async def _view(request: Request, user: PageUser, why: Why, subject_id: UUID) -> Response:
    ctx = request.app.state.web
    shown = await ctx.read(lambda reader: open_view(reader, ctx.access_log, _viewer(user),
                                                    why, subject_id))
    return render(request, "view.html", {"view": shown, "why": why,
                                         "purpose_text": ACCESS_PURPOSES[why.purpose]})


@router.post("/subjects/{subject_id}/export")
async def export(request: Request, subject_id: UUID, user: Handler) -> Response:
    ctx = request.app.state.web
    form = await form_of(request)
    why = _why(form)
    kind = text(form, "format")
    if kind not in ("json", "html"):
        raise Problem(422, "invalid-request", "format: json or html")
    document = await ctx.read(lambda reader: open_export(
        reader, ctx.access_log, _viewer(user), why, subject_id, shown=f"export-{kind}"))
    disposition = {"Content-Disposition":
                   f'attachment; filename="dsar-export-{subject_id}.{kind}"'}
    if kind == "html":
        return HTMLResponse(export_html(document), headers=disposition)
    return JSONResponse(document, headers=disposition)
