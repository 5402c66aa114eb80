"""A throw-away self-signed certificate for the TLS fakes.

``cryptography`` is not in the venv, so the certificate is made with the ``openssl``
command line tool; :func:`make_self_signed_cert` raises :class:`TlsUnavailable` if it
is missing (fixtures turn that into a skip).
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path


class TlsUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class CertFiles:
    cert: Path
    key: Path


def make_self_signed_cert(directory: Path, *, common_name: str = "localhost") -> CertFiles:
    """RSA-2048 self-signed certificate valid for ``localhost`` and ``127.0.0.1``."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise TlsUnavailable("the openssl command is not installed")
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    result = subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-sha256",
            "-days",
            "2",
            "-subj",
            f"/CN={common_name}",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if result.returncode != 0:
        raise TlsUnavailable(f"openssl failed: {result.stderr.strip()[:300]}")
    return CertFiles(cert=cert, key=key)


def server_context(files: CertFiles) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(files.cert), str(files.key))
    return ctx
