"""A local SMTP catcher: accepts every message and stores it as a .eml file.

Used by deploy/local/stack.sh so that `make run` and the integration tests can
send real mail without a real mail server. Nothing is relayed anywhere.

Every accepted message is written once per envelope recipient to

    <dir>/<UTC timestamp>_<recipient>.eml      e.g. 20250301T081502.123456Z_li.lei@example.com.eml

with a `Return-Path:` and `Delivered-To:` header prepended (as a delivering MTA
would), so Bcc recipients are visible too. Files are written under a temporary
name and then renamed, so anyone polling the directory never sees half a message.
One line per message goes to stdout.

    .venv/bin/python deploy/local/mailcatcher.py --host 127.0.0.1 --port 1025 --dir .stack/mail
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import os
import re
import signal
import sys
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

_UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]")


class SaveToDir:
    """aiosmtpd handler that stores messages in a directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._seq = itertools.count()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        subject = _subject(raw)
        mail_from = envelope.mail_from or ""
        saved = []
        for rcpt in envelope.rcpt_tos:
            name = f"{stamp}_{_UNSAFE.sub('_', rcpt)[:120]}.eml"
            target = self.directory / name
            if target.exists():  # same microsecond and recipient: keep both
                target = target.with_name(f"{target.stem}-{next(self._seq)}.eml")
            head = f"Return-Path: <{mail_from}>\r\nDelivered-To: {rcpt}\r\n".encode()
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.write_bytes(head + raw)
            os.replace(tmp, target)
            saved.append(target.name)
        print(
            f"{stamp} from={mail_from} to={','.join(envelope.rcpt_tos)} "
            f"subject={subject!r} saved={','.join(saved)}",
            flush=True,
        )
        return "250 Message accepted for delivery"


def _subject(raw: bytes) -> str:
    try:
        headers: Any = BytesHeaderParser(policy=default_policy).parsebytes(raw)
        return str(headers.get("Subject", ""))
    except Exception:  # a broken header must not lose the message
        return "?"


async def serve(host: str, port: int, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    handler = SaveToDir(directory)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        # A fixed hostname: the default (socket.getfqdn()) can stall on a DNS lookup.
        lambda: SMTP(handler, hostname="duban-mailcatcher", enable_SMTPUTF8=True),
        host=host,
        port=port,
        reuse_address=True,
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"mailcatcher listening on {host}:{port}, saving to {directory}", flush=True)
    async with server:
        await stop.wait()
    print("mailcatcher stopped", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--dir", type=Path, default=Path(".stack/mail"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(serve(args.host, args.port, args.dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
