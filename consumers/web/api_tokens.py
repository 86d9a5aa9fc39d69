"""``/v1/tokens``: admins make, list and revoke tokens (only hashes are kept)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from consumers.web.api_models import TokenRequest
from consumers.web.auth import ApiGuard
from consumers.web.problems import Problem, problem_responses
from consumers.web.roles import Group
from consumers.web.tokens import Principal
from ledger.errors import ConfigurationError

router = APIRouter(prefix="/v1", tags=["tokens"])
Admin = Annotated[Principal, Depends(ApiGuard(Group.TOKENS))]


@router.get("/tokens", responses=problem_responses(401, 403))
async def list_tokens(request: Request, principal: Admin) -> dict[str, Any]:
    """Every token's name, role and dates; never a secret, never a hash."""
    ctx = request.app.state.web
    tokens = await ctx.worker.run(ctx.tokens.list)
    return {"items": [info.as_dict() for info in tokens]}


@router.post("/tokens", status_code=201, responses=problem_responses(401, 403, 409, 422))
async def create_token(request: Request, body: TokenRequest, principal: Admin
                       ) -> dict[str, Any]:
    """Makes a token; the answer is the only time it is shown."""
    ctx = request.app.state.web
    try:
        token, info = await ctx.worker.run(ctx.tokens.create, body.name, body.role)
    except ConfigurationError as error:  # the name is taken (names are never reused)
        raise Problem(409, "name-taken", str(error)) from None
    return {"token": token, **info.as_dict()}


@router.delete("/tokens/{name}", responses=problem_responses(401, 403, 404, 409))
async def revoke_token(request: Request, name: str, principal: Admin) -> dict[str, Any]:
    """Revokes a token (its sessions end too); the name stays taken. Your own token
    cannot be revoked with itself."""
    if name == principal.name:
        raise Problem(409, "own-token", "a token cannot revoke itself; use another "
                      "admin's token or `ledger tokens revoke`")
    ctx = request.app.state.web
    if not await ctx.worker.run(ctx.tokens.revoke, name):
        raise Problem(404, "no-such-token", "no live token of that name")
    ctx.forget_tokens()
    return {"revoked": name}
