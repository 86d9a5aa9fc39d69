"""Security headers on every response, and a bounded request body (413 past it).

- ``Content-Security-Policy`` without inline script (``script-src 'self'``), with
  ``frame-ancestors 'none'``; the docs page alone allows inline *styles*, which Swagger
  UI sets on its elements (still no inline script);
- ``Cache-Control: no-store`` on everything but the static assets: pages and API
  answers may hold personal data, and none should stay in a cache;
- ``nosniff``, no referrer, same-origin opener, HSTS under TLS.

A body is read here, before any route sees it, up to its limit (``POST /v1/acts`` has
its own, larger one); one longer is answered 413 at once, whether or not it announced
its length.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from consumers.web.problems import PROBLEM_MEDIA_TYPE, Problem

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

STRICT_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
              "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
              "base-uri 'none'")
DOCS_CSP = STRICT_CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
ACTS_PATH = "/v1/acts"
STATIC_PREFIX = "/static/"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class SecurityMiddleware:
    def __init__(self, app: ASGIApp, *, tls: bool, max_body: int, max_acts_body: int) -> None:
        self.app = app
        self.tls = tls
        self.max_body = max_body
        self.max_acts_body = max_acts_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        static = path.startswith(STATIC_PREFIX)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = self._headers(list(message.get("headers", [])), static)
            await send(message)

        if scope["method"] in _BODY_METHODS:
            limit = self.max_acts_body if path == ACTS_PATH else self.max_body
            body = None if _announced(scope) > limit else await _read_body(receive, limit)
            if body is None:
                await self._too_large(scope, send_with_headers, limit)
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send_with_headers)

    def _headers(self, headers: list[tuple[bytes, bytes]], static: bool
                 ) -> list[tuple[bytes, bytes]]:
        present = {name.lower() for name, _ in headers}
        wanted = [
            (b"content-security-policy", STRICT_CSP.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"cross-origin-resource-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
            (b"cache-control", b"public, max-age=3600" if static else b"no-store"),
        ]
        if self.tls:
            wanted.append((b"strict-transport-security", b"max-age=31536000"))
        if not static:
            wanted.append((b"pragma", b"no-cache"))
        return headers + [(name, value) for name, value in wanted if name not in present]

    async def _too_large(self, scope: Scope, send: Send, limit: int) -> None:
        problem = Problem(413, "body-too-large", f"the request body is larger than "
                          f"{limit} bytes; send fewer acts per request")
        body = orjson.dumps(problem.document(scope["path"]))
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def _announced(scope: Scope) -> int:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, original: Receive) -> Receive:
    """The body read, then the connection's own messages (a disconnect, when it comes)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await original()

    return receive
