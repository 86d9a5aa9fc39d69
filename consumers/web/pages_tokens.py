"""Tokens for admins: list, make (shown once), revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from consumers.web.auth import PageGuard, PageUser
from consumers.web.forms import form_of, text
from consumers.web.problems import Problem
from consumers.web.roles import Group, Role
from consumers.web.tables import table
from consumers.web.templating import render
from ledger.errors import ConfigurationError

router = APIRouter()
Admin = Annotated[PageUser, Depends(PageGuard(Group.TOKENS))]


@router.get("/tokens")
async def tokens_page(request: Request, user: Admin) -> Response:
    ctx = request.app.state.web
    tokens = [info.as_dict() for info in await ctx.worker.run(ctx.tokens.list)]
    return render(request, "tokens.html", {"roles": [str(r) for r in Role], "tokens": table(
        "tok", (("name", "name"), ("role", "role"), ("created_at", "made"),
                ("revoked_at", "revoked")), tokens, dict(request.query_params),
        default_sort="name")})


@router.post("/tokens")
async def create_token(request: Request, user: Admin) -> Response:
    ctx = request.app.state.web
    form = await form_of(request)
    try:
        token, info = await ctx.worker.run(ctx.tokens.create, text(form, "name"),
                                           text(form, "role"))
    except ConfigurationError as error:
        raise Problem(422, "invalid-request", str(error)) from None
    return render(request, "token_made.html", {"token": token, "info": info.as_dict()})


@router.post("/tokens/{name}/revoke")
async def revoke_token(request: Request, name: str, user: Admin) -> Response:
    if name == user.principal.name:
        raise Problem(409, "own-token", "you cannot revoke the token you are signed in with")
    ctx = request.app.state.web
    if not await ctx.worker.run(ctx.tokens.revoke, name):
        raise Problem(404, "no-such-token", "no live token of that name")
    ctx.forget_tokens()
    return RedirectResponse("/tokens", status_code=303)
