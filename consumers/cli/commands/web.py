"""`ledger web`: the web console and HTTP API (see consumers/web)."""

from __future__ import annotations

import argparse
from pathlib import Path

from consumers.cli.options import SubParsers, command, wait
from consumers.exit_codes import COMMON, ExitCode
from consumers.web.context import DEFAULT_MAX_ACTS_BODY, WebConfig
from ledger.config import Settings


def register(commands: SubParsers) -> None:
    web = command(commands, "web", run=run_web, codes=COMMON, json=False,
                  help="serve the web console and HTTP API (tokens: `ledger tokens`)")
    web.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (default: %(default)s, this machine only)")
    web.add_argument("--port", type=int, default=8080, help="port (default: %(default)s)")
    web.add_argument("--tls-cert", type=Path, metavar="PEM",
                     help="serve HTTPS with this certificate (chain) file")
    web.add_argument("--tls-key", type=Path, metavar="PEM",
                     help="the certificate's private key file")
    web.add_argument("--session-idle-minutes", type=float, default=15.0,
                     help="a session without a request for this long ends (default: "
                     "%(default)s)")
    web.add_argument("--max-acts-bytes", type=int, default=DEFAULT_MAX_ACTS_BODY,
                     help="the largest body POST /v1/acts takes; larger ones get 413 "
                     "(default: %(default)s)")
    web.add_argument("--log-level", default="info",
                     choices=["critical", "error", "warning", "info", "debug"])
    wait(web, 30.0)


def run_web(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the console (pages for people, sign-in with a token) and the /v1 API
    (bearer tokens) until interrupted. Roles decide what each token may use; opening a
    subject's values needs a case and a purpose and is logged in the access log. The
    backend (embedded or Kafka) is opened once for the server's lifetime; office acts
    are signed with the office key (LEDGER_OFFICE_KEY_FILE), so run it on the privacy
    office's host. Without --tls-cert/--tls-key it serves plain HTTP: keep it on
    127.0.0.1 or behind a TLS-terminating proxy then.
    """
    from consumers.web.server import serve  # noqa: PLC0415 - uvicorn only for this command

    tls = args.tls_cert is not None
    serve(settings, host=args.host, port=args.port, tls_cert=args.tls_cert,
          tls_key=args.tls_key, log_level=args.log_level, config=WebConfig(
              tls=tls, idle_timeout_s=args.session_idle_minutes * 60.0,
              max_acts_body=args.max_acts_bytes, wait_s=args.wait))
    return ExitCode.OK
