"""Reading the fields of a submitted form (``request.form()``, cached by Starlette)."""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import FormData


async def form_of(request: Request) -> FormData:
    return await request.form()


def text(form: FormData, name: str, default: str = "") -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else default


def texts(form: FormData, name: str) -> list[str]:
    return [v.strip() for v in form.getlist(name) if isinstance(v, str) and v.strip()]
