"""The ack service's HTTP logs: the access log has method, path, status, size and time,
and never the query string of /ack (its token acknowledges for the recipient) or of a
provider callback; a request aiohttp cannot parse is logged without its request line."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from services.ack.accesslog import TokenlessAccessLogger
from services.ack.server import ack_runner

TOKEN = "WyJIMSIsIlIxIiwxNzkwMDAwMDAwXQ.c2lnbmF0dXJlLW9mLXRoZS1saW5r"
ACCESS, SERVER = "aiohttp.access", "duban.ack.http"


async def _answer(_: web.Request) -> web.Response:
    return web.Response(text="ok")


@pytest.fixture
async def port() -> AsyncIterator[int]:
    """A server built like the real one (ack_runner) with routes shaped like its own."""
    app = web.Application()
    app.router.add_get("/ack", _answer)
    app.router.add_get("/callbacks/{provider}", _answer)
    app.router.add_get("/healthz", _answer)
    runner = ack_runner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield runner.addresses[0][1]
    await runner.cleanup()


async def send(port: int, target: bytes) -> bytes:
    """Send one raw GET (no client-side normalisation) and return the status line."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET " + target + b" HTTP/1.1\r\nHost: duban\r\nConnection: close\r\n\r\n")
    await writer.drain()
    status_line = await reader.readline()
    await reader.read()
    writer.close()
    await writer.wait_closed()
    return status_line


def lines(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger]


@pytest.mark.parametrize(
    ("target", "logged"),
    [
        (f"/ack?t={TOKEN}", "/ack"),
        (f"/callbacks/wecom?token={TOKEN}&state=1", "/callbacks/wecom"),
    ],
)
async def test_a_served_request_is_logged_without_its_token(
    port: int, caplog: pytest.LogCaptureFixture, target: str, logged: str
) -> None:
    with caplog.at_level(logging.INFO, logger=ACCESS):
        assert b" 200 " in await send(port, target.encode())
    [line] = lines(caplog, ACCESS)
    assert re.fullmatch(rf'"GET {logged}" 200 \d+ \d+\.\d{{3}}s', line)  # size, time
    assert "t=" not in line and TOKEN.split(".")[0] not in line and TOKEN.split(".")[1] not in line


async def test_other_paths_keep_their_query(port: int, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=ACCESS):
        await send(port, b"/healthz?probe=lb")
    [line] = lines(caplog, ACCESS)
    assert line.startswith('"GET /healthz?probe=lb" 200 ')


@pytest.mark.parametrize(
    "path",
    ["/ACK", "//ack", "/ack/", "/./ack", "/x/../ack", "/%61ck", "/ack;x", "//callbacks//x"],
)
async def test_misspelt_private_paths_hide_their_query_too(
    port: int, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    with caplog.at_level(logging.INFO, logger=ACCESS):
        await send(port, f"{path}?t={TOKEN}".encode())  # a 404 that still carries the token
    [line] = lines(caplog, ACCESS)
    assert line.startswith(f'"GET {path}" ') and TOKEN.split(".")[1] not in line


@pytest.mark.parametrize("junk", [b"\x01", b" x"], ids=["control-character", "space"])
async def test_an_unparsable_request_is_logged_without_its_request_line(
    port: int, caplog: pytest.LogCaptureFixture, junk: bytes
) -> None:
    with caplog.at_level(logging.DEBUG):
        assert b" 400 " in await send(port, f"/ack?t={TOKEN}".encode() + junk)
    [record] = [r for r in caplog.records if r.name == SERVER]
    assert record.levelname == "WARNING" and "unparsable request" in record.getMessage()
    assert record.exc_info is None and TOKEN.split(".")[1] not in caplog.text


def test_the_access_logger_is_off_when_its_logger_does_not_write_info() -> None:
    quiet = logging.getLogger("duban.test.quiet-access")
    quiet.setLevel(logging.WARNING)
    assert not TokenlessAccessLogger(quiet, "").enabled
