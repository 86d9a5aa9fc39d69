"""The pages for people, assembled: sign-in, the subject, office acts, oversight,
tokens. Server-side HTML (``templates/``), no script but what ``static/`` holds."""

from __future__ import annotations

from fastapi import APIRouter

from consumers.web import pages_login, pages_office, pages_oversight, pages_subject, pages_tokens

router = APIRouter(include_in_schema=False)
for _module in (pages_login, pages_subject, pages_office, pages_oversight, pages_tokens):
    router.include_router(_module.router)
