"""``POST /v1/acts``: upstream systems send acts over HTTP (see ``intake``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from consumers.web.auth import ApiGuard
from consumers.web.intake import BodyNotActs, record_body
from consumers.web.problems import Problem, problem_responses
from consumers.web.roles import Group
from consumers.web.tokens import Principal

router = APIRouter(prefix="/v1", tags=["intake"])
Sender = Annotated[Principal, Depends(ApiGuard(Group.ACTS))]
_ACT = {"type": "object", "description": "an act as `ledger schema` describes it"}


@router.post("/acts", responses=problem_responses(400, 401, 403, 413, 415), openapi_extra={
    "requestBody": {"required": True, "content": {
        "application/x-ndjson": {"schema": {"type": "string",
                                            "description": "one act per line"}},
        "application/json": {"schema": {"type": "array", "items": _ACT}}}}})
async def record_acts(request: Request, principal: Sender) -> dict[str, Any]:
    """Records acts, one verdict each (line or element number, act id, rule, reason) and
    a summary, as `ledger record --json`. The actor is the token's name; an upstream
    token's office acts are refused, a DSAR handler's or admin's are signed. The body
    is limited in size (413 past it); on Kafka the acts go through the intake topic."""
    ctx = request.app.state.web
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    try:
        result: dict[str, Any] = await ctx.worker.run(
            record_body, ctx.backend, principal, ctx.office, body, content_type,
            wait_s=ctx.config.wait_s)
    except BodyNotActs as error:
        status = 415 if "send application" in str(error) else 400
        raise Problem(status, "body-not-acts", str(error)) from None
    return result
