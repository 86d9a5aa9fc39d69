"""Jinja2 templates, autoescaped: every value is data, never markup.

``render`` gives each template the signed-in person (``user``), the CSRF token of
their session for forms (``csrf``), and which parts of the console their role may use
(``may``) for the navigation; the server enforces the roles whatever the page shows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from consumers.access.purposes import ACCESS_PURPOSES
from consumers.web.roles import Group, allowed

TEMPLATES = Path(__file__).parent / "templates"
_ENV = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(
    default=True, default_for_string=True), undefined=StrictUndefined, trim_blocks=True,
    lstrip_blocks=True)
_ENV.globals["purposes"] = ACCESS_PURPOSES


def render(request: Request, name: str, context: dict[str, Any], *, status_code: int = 200,
           headers: dict[str, str] | None = None) -> HTMLResponse:
    user = getattr(request.state, "user", None)
    role = user.principal.role if user else None
    page = {"request": request, "user": user, "csrf": user.session.csrf if user else "",
            "may": {group.value: allowed(group, role) for group in Group} if user else {},
            **context}
    html = _ENV.get_template(name).render(page)
    return HTMLResponse(html, status_code=status_code, headers=headers)
