"""Signing in with a token (a session cookie), signing out, the home page."""

from __future__ import annotations

import asyncio
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from consumers.web.auth import PageGuard, PageUser, PublicGuard
from consumers.web.forms import form_of, text
from consumers.web.problems import Problem
from consumers.web.roles import Group
from consumers.web.sessions import same_secret
from consumers.web.templating import render
from consumers.web.tokens import token_hash

router = APIRouter()
LOGIN_CSRF_COOKIE = "ledger_login_csrf"
Anyone = Annotated[PageUser, Depends(PageGuard(Group.DOCS))]


@router.get("/login", dependencies=[Depends(PublicGuard())])
async def login_page(request: Request) -> Response:
    return _login_form(request)


def _login_form(request: Request, *, error: str | None = None,
                status_code: int = 200) -> Response:
    ctx = request.app.state.web
    nonce = secrets.token_urlsafe(32)
    response = render(request, "login.html", {"login_csrf": nonce, "error": error},
                      status_code=status_code)
    response.set_cookie(LOGIN_CSRF_COOKIE, nonce, httponly=True, samesite="strict",
                        secure=ctx.config.tls, path="/login")
    return response


@router.post("/login", dependencies=[Depends(PublicGuard())])
async def sign_in(request: Request) -> Response:
    ctx = request.app.state.web
    address = request.client.host if request.client else "unknown"
    wait = ctx.throttle.locked_for(address)
    if wait:
        raise Problem(429, "too-many-attempts", "too many failed sign-ins from here; "
                      f"try again in {int(wait) + 1} s",
                      headers={"Retry-After": str(int(wait) + 1)})
    form = await form_of(request)
    if not same_secret(text(form, "login_csrf"), request.cookies.get(LOGIN_CSRF_COOKIE, "")
                       ) or not request.cookies.get(LOGIN_CSRF_COOKIE):
        return _login_form(request, error="The form expired; sign in again.",
                           status_code=403)
    token = text(form, "token")
    principal = await ctx.worker.run(ctx.tokens.verify, token) if token else None
    if principal is None:
        await asyncio.sleep(ctx.throttle.failed(address))
        return _login_form(request, error="That token is not valid (or was revoked).",
                           status_code=401)
    ctx.throttle.succeeded(address)
    session = ctx.sessions.open(token_hash(token))
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(ctx.config.session_cookie, session.id, httponly=True,
                        samesite="strict", secure=ctx.config.tls, path="/")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
async def sign_out(request: Request, user: Anyone) -> Response:
    ctx = request.app.state.web
    ctx.sessions.close(user.session.id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(ctx.config.session_cookie, path="/")
    return response


@router.get("/")
async def home(request: Request, user: Anyone) -> Response:
    return render(request, "home.html", {})
