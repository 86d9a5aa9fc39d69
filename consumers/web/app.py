"""The FastAPI application: routers, guards, problem documents, headers, lifespan.

``create_app`` opens nothing itself: its lifespan opens the backend (one for the
server's lifetime), the access log and the token store on the ledger thread
(``worker``), and loads the office key the console signs office acts with.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from consumers.composition import (
    open_access_log,
    open_backend,
    open_office_key,
    open_token_store,
)
from consumers.web import api_acts, api_office, api_reads, api_tokens, pages
from consumers.web.auth import DocsGuard, LoginRequired, PublicGuard
from consumers.web.context import WebConfig, WebContext
from consumers.web.problems import Problem, ProblemDocument
from consumers.web.security import DOCS_CSP, SecurityMiddleware
from consumers.web.templating import render
from consumers.web.worker import LedgerWorker
from ledger.config import Settings
from ledger.errors import ConfigurationError, LedgerError, UnknownSubject
from ledger.refusals import refusal_of

STATIC = Path(__file__).parent / "static"
API_PREFIXES = ("/v1/", "/openapi.json", "/health")


def create_app(settings: Settings, config: WebConfig | None = None) -> FastAPI:
    config = config or WebConfig()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = LedgerWorker()
        try:
            backend = worker.enter(open_backend(settings))
            access_log = worker.call(open_access_log, settings)
            worker.call(worker.defer, access_log.close)
            tokens = worker.call(open_token_store, settings)
            worker.call(worker.defer, tokens.close)
            office = worker.call(open_office_key, settings)
            app.state.web = WebContext(config, worker, backend, access_log, tokens, office)
            yield
        finally:
            worker.close()

    app = FastAPI(title="personal-data-ledger", version="1",
                  summary="The ledger's HTTP API: reads for DSAR handlers and auditors, "
                  "acts from upstream systems, office acts; errors as RFC 9457 problems.",
                  docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    for router in (api_acts.router, api_reads.router, api_office.router, api_tokens.router,
                   pages.router):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _documents(app)
    _errors(app)
    app.add_middleware(SecurityMiddleware, tls=config.tls, max_body=config.max_body,
                       max_acts_body=config.max_acts_body)
    return app


def _documents(app: FastAPI) -> None:
    @app.get("/health", tags=["health"], dependencies=[Depends(PublicGuard())])
    async def health(request: Request) -> dict[str, Any]:
        """Up, and on which backend (no token needed)."""
        return {"status": "ok", "backend": request.app.state.web.backend.name}

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(DocsGuard())])
    async def openapi() -> JSONResponse:
        document = app.openapi()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas["ProblemDocument"] = ProblemDocument.model_json_schema()
        document["components"]["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer"}}
        document["security"] = [{"bearer": []}]
        return JSONResponse(document)

    @app.get("/docs", include_in_schema=False, dependencies=[Depends(DocsGuard())])
    async def docs(request: Request) -> Response:
        response = render(request, "docs.html", {})
        response.headers["Content-Security-Policy"] = DOCS_CSP
        return response


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIXES)


def _errors(app: FastAPI) -> None:
    async def problem(request: Request, error: Exception) -> Response:
        assert isinstance(error, Problem)  # noqa: S101 - registered for Problem only
        if _is_api(request):
            return error.response(request.url.path)
        return render(request, "error.html", {"problem": error.document()},
                      status_code=error.status, headers=error.headers)

    async def login(request: Request, error: Exception) -> Response:
        return RedirectResponse("/login", status_code=303)

    async def invalid(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)  # noqa: S101
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
                  for e in error.errors()]  # never the input: it may be a personal value
        return await problem(request, Problem(422, "invalid-request",
                                              "the request does not have the form this "
                                              "route takes", errors=errors))

    async def http(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)  # noqa: S101
        kind = {404: "not-found", 405: "method-not-allowed"}.get(error.status_code, "http")
        return await problem(request, Problem(error.status_code, kind, str(error.detail),
                                              headers=dict(error.headers or {})))

    async def ledger_error(request: Request, error: Exception) -> Response:
        refusal = refusal_of(error)
        if isinstance(error, UnknownSubject):
            found = Problem(404, "unknown-subject", refusal.reason, rule=refusal.rule)
        elif isinstance(error, ConfigurationError):
            found = Problem(422, "invalid-request", refusal.reason, rule=refusal.rule)
        else:
            found = Problem(503, "ledger-unavailable", refusal.reason, rule=refusal.rule)
        return await problem(request, found)

    async def unexpected(request: Request, error: Exception) -> Response:
        # Only the type: an unexpected error's message may quote input.
        return await problem(request, Problem(500, "internal-error", type(error).__name__))

    app.add_exception_handler(Problem, problem)
    app.add_exception_handler(LoginRequired, login)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http)
    app.add_exception_handler(LedgerError, ledger_error)
    app.add_exception_handler(Exception, unexpected)
