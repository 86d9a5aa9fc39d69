"""Who a request is from, and whether their role may use the route: on every route.

Machines send ``Authorization: Bearer TOKEN`` to ``/v1``; people sign in on the form
and carry a session cookie to the pages (never to ``/v1``: an API request carries no
cookie it could be tricked into sending, so it needs no CSRF token). The OpenAPI
document and its docs page take either. Each route declares its group with one of
the guards below; ``roles.MATRIX`` decides.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from consumers.web.problems import Problem
from consumers.web.roles import Group, allowed
from consumers.web.sessions import Session, same_secret
from consumers.web.tokens import MAX_TOKEN_LENGTH, TOKEN_PREFIX, Principal, token_hash

BEARER = "bearer"
DOCS_PAGE = "/docs"


class LoginRequired(Exception):
    """A page asked for without a live session: answered by a redirect to sign in."""


@dataclass(frozen=True)
class PageUser:
    principal: Principal
    session: Session


def context_of(request: Request) -> object:
    return request.app.state.web


async def bearer_principal(request: Request) -> Principal | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != BEARER or not token.strip():
        return None
    token = token.strip()
    if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_LENGTH:
        return None
    principal: Principal | None = await request.app.state.web.principal_of_hash(
        token_hash(token))
    return principal


async def session_user(request: Request) -> PageUser | None:
    ctx = request.app.state.web
    session: Session | None = ctx.sessions.get(request.cookies.get(ctx.config.session_cookie))
    if session is None:
        return None
    principal: Principal | None = await ctx.principal_of_hash(session.token_hash)
    if principal is None:  # the token was revoked: so is the session
        ctx.sessions.close(session.id)
        return None
    return PageUser(principal, session)


def _forbidden(principal: Principal) -> Problem:
    return Problem(403, "forbidden",
                   f"the role {principal.role} may not use this route")


class ApiGuard:
    """A ``/v1`` route's dependency: the bearer token's holder, if the role may."""

    def __init__(self, group: Group) -> None:
        self.group = group

    async def __call__(self, request: Request) -> Principal:
        principal = await bearer_principal(request)
        if principal is None:
            raise Problem(401, "unauthenticated", "send a valid token: Authorization: "
                          "Bearer TOKEN", headers={"WWW-Authenticate": 'Bearer realm="ledger"'})
        if not allowed(self.group, principal.role):
            raise _forbidden(principal)
        request.state.principal = principal
        return principal


class DocsGuard:
    """The OpenAPI document and docs page: a bearer token or a session, any role."""

    group = Group.DOCS

    async def __call__(self, request: Request) -> Principal:
        principal = await bearer_principal(request)
        if principal is None:
            user = await session_user(request)
            principal = user.principal if user else None
        if principal is None:
            if request.url.path == DOCS_PAGE:  # a page for people: sign in first
                raise LoginRequired()
            raise Problem(401, "unauthenticated", "sign in, or send a bearer token",
                          headers={"WWW-Authenticate": 'Bearer realm="ledger"'})
        return principal


class PageGuard:
    """A page's dependency: the signed-in person, if the role may; a POST must carry
    the session's CSRF token in its ``csrf`` form field."""

    def __init__(self, group: Group) -> None:
        self.group = group

    async def __call__(self, request: Request) -> PageUser:
        user = await session_user(request)
        if user is None:
            raise LoginRequired()
        if not allowed(self.group, user.principal.role):
            raise _forbidden(user.principal)
        if request.method == "POST":
            form = await request.form()
            given = form.get("csrf")
            if not same_secret(given if isinstance(given, str) else None, user.session.csrf):
                raise Problem(403, "csrf", "the form's CSRF token is missing or stale: "
                              "reload the page and send it again")
        request.state.principal = user.principal
        request.state.user = user
        return user


class PublicGuard:
    """Health, the sign-in page and static assets: no token needed."""

    group = Group.PUBLIC

    async def __call__(self) -> None:
        return None
