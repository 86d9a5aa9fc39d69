"""`ledger web`: uvicorn serving the console on one process, TLS when given a key pair.

One process, one event loop, one ledger thread (``worker``): the backend is opened once
for the server's lifetime. The office key is loaded by the process, so the console is
an office tool: guard its host as the privacy office's machine.
"""

from __future__ import annotations

import logging
from pathlib import Path

import uvicorn

from consumers.web.app import create_app
from consumers.web.context import WebConfig
from ledger.config import Settings
from ledger.errors import ConfigurationError


def serve(settings: Settings, *, host: str, port: int, config: WebConfig,
          tls_cert: Path | None = None, tls_key: Path | None = None,
          log_level: str = "info") -> None:
    if (tls_cert is None) != (tls_key is None):
        raise ConfigurationError("TLS needs both --tls-cert and --tls-key")
    for path in (tls_cert, tls_key):
        if path is not None and not path.is_file():
            raise ConfigurationError(f"no TLS file at {path}")
    app = create_app(settings, config)
    server = uvicorn.Server(uvicorn.Config(
        app, host=host, port=port, log_level=log_level, access_log=False,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None, server_header=False,
        proxy_headers=False, lifespan="on", timeout_graceful_shutdown=10))
    logging.getLogger("uvicorn.error").info(
        "ledger web on %s://%s:%d (backend %s)", "https" if tls_cert else "http", host, port,
        settings.backend)
    server.run()
