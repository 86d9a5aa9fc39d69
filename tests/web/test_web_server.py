"""`ledger web` as a user starts it: plain HTTP on loopback, and HTTPS with a key pair."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.cli_helpers import ledger

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    cert, key = _self_signed(tmp_path)
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "consumers.cli", "--data-dir", str(tmp_path / "data"), "web",
         "--port", str(port), "--tls-cert", str(cert), "--tls-key", str(key),
         "--log-level", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield f"https://127.0.0.1:{port}", cert
    finally:
        process.terminate()
        process.wait(timeout=20)


def _get(url: str, cert: Path, deadline: float = 30) -> tuple[int, dict[str, str], bytes]:
    context = ssl.create_default_context(cafile=str(cert))
    until = time.monotonic() + deadline
    while True:
        try:
            with urllib.request.urlopen(url, context=context, timeout=3) as answer:  # noqa: S310
                return answer.status, dict(answer.headers), answer.read()
        except (OSError, ssl.SSLError):
            if time.monotonic() > until:
                raise
            time.sleep(0.3)


def test_it_serves_https_with_the_key_pair_given(https_server: tuple[str, Path]) -> None:
    base, cert = https_server
    status, headers, body = _get(base + "/health", cert)
    assert status == 200
    assert b'"status":"ok"' in body
    assert "max-age" in headers["strict-transport-security"]
    assert headers["cache-control"] == "no-store"


def test_half_a_key_pair_is_a_usage_error(tmp_path: Path) -> None:
    cert, _ = _self_signed(tmp_path)
    answer = ledger("web", "--tls-cert", str(cert), data_dir=tmp_path / "data", timeout=60)
    assert answer.returncode == 2
    assert "--tls-key" in answer.stderr
