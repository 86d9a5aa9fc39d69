"""``/v1`` office acts: the erasure (with its dry-run plan first) and the other acts a
DSAR handler records. Acts that lift a protection are signed with the office key this
process holds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from consumers.services.erasure_plan import erasure_plan
from consumers.services.office import erase
from consumers.services.office_acts import record_office_act
from consumers.web.api_models import ErasureRequest, office_act_schema
from consumers.web.auth import ApiGuard
from consumers.web.problems import Problem, problem_responses
from consumers.web.roles import Group
from consumers.web.tokens import Principal
from ledger.outcomes import ActOutcome

router = APIRouter(prefix="/v1", tags=["office"])
Office = Annotated[Principal, Depends(ApiGuard(Group.OFFICE))]
_ERRORS = problem_responses(400, 401, 403, 404, 422)
_PENDING: dict[int | str, dict[str, Any]] = {202: {
    "description": "sent; `ledger serve` did not answer within the wait (Kafka): it "
    "records the act when it gets to it",
    "content": {"application/json": {"schema": {"type": "object"}}}}}


def answer(outcome_status: str, body: dict[str, Any], rule: str | None,
           reason: str | None) -> JSONResponse:
    """Recorded (or a duplicate): 200; pending: 202; refused: 422; failed: 503."""
    if outcome_status in ("recorded", "duplicate"):
        return JSONResponse(body)
    if outcome_status == "pending":
        return JSONResponse(body, status_code=202)
    if outcome_status == "rejected":
        raise Problem(422, "act-refused", str(reason), rule=rule, act=body)
    raise Problem(503, "act-failed", str(reason), rule=rule, act=body)


@router.get("/subjects/{subject_id}/erasure-plan", responses=_ERRORS)
async def plan(request: Request, subject_id: UUID, principal: Office) -> dict[str, Any]:
    """What an erasure would shred now and what it would keep, and why (no values)."""
    result: dict[str, Any] = await request.app.state.web.read(
        lambda reader: erasure_plan(reader, subject_id))
    return result


@router.post("/subjects/{subject_id}/erasure", responses={**_ERRORS, **_PENDING})
async def carry_out_erasure(request: Request, subject_id: UUID, body: ErasureRequest,
                            principal: Office) -> JSONResponse:
    """Records the erasure request (unless it already was) and carries it out, signed
    by the office: shreds what the law does not keep, reports what was kept and why."""
    ctx = request.app.state.web
    report = await ctx.worker.run(erase, ctx.backend, ctx.office, subject_id,
                                  request_ref=body.request_ref, channel=body.channel,
                                  at=datetime.now(UTC), wait_s=ctx.config.wait_s)
    return answer(report.status, report.as_dict(), report.rule, report.reason)


@router.post("/subjects/{subject_id}/acts", responses={**_ERRORS, **_PENDING},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": office_act_schema()}}}})
async def record_act(request: Request, subject_id: UUID, principal: Office) -> JSONResponse:
    """Records one act of a DSAR handler for the subject: the intake's fields for its
    ``type``; the act id, subject, actor (the token's name) and moment are the
    server's. Refused acts are answered 422 with the ledger's rule and reason."""
    try:
        fields = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise Problem(400, "invalid-json", "the body is not valid JSON") from None
    if not isinstance(fields, dict) or not isinstance(fields.get("type"), str):
        raise Problem(422, "invalid-act", "the body is one JSON object with a 'type'")
    ctx = request.app.state.web
    outcome: ActOutcome = await ctx.worker.run(
        record_office_act, ctx.backend, ctx.office, subject_id, fields["type"], fields,
        actor=principal.name, wait_s=ctx.config.wait_s)
    body = {"act_id": outcome.act_id, "type": fields["type"], "status": outcome.status,
            "rule": outcome.rule, "reason": outcome.reason}
    return answer(outcome.status, body, outcome.rule, outcome.reason)
