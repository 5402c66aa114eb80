"""The keep-alive HTTP/1.1 client (services.notifier.channels.h1) against a raw server
that records every request byte for byte and answers with scripted bytes."""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit

import pytest
import uvloop

from services.notifier.channels.h1 import AnswerError, H1Client
from tests.providers.tls import CertFiles
from tests.unit.channels._support import until_connection_lost

OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'


@dataclass
class Reply:
    data: bytes = OK
    close: bool = False  # hang up after writing
    hold: bool = False  # never answer
    trickle: bool = False  # one byte per write


@dataclass
class RawServer:
    """Reads whole requests (Content-Length bodies), answers each with the next Reply."""

    replies: deque[Reply] = field(default_factory=deque)
    requests: list[tuple[int, bytes]] = field(default_factory=list)  # (connection, bytes)
    connections: int = 0
    port: int = 0
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    def url(self, path: str = "/hook?key=k1", scheme: str = "http") -> SplitResult:
        return urlsplit(f"{scheme}://127.0.0.1:{self.port}{path}")

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number, self.connections = self.connections, self.connections + 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                self.requests.append((number, head + await reader.readexactly(length)))
                reply = self.replies.popleft() if self.replies else Reply()
                if reply.hold:
                    await asyncio.Event().wait()  # until the test ends
                for piece in _pieces(reply):
                    writer.write(piece)
                    await writer.drain()
                if reply.close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def hang_up_all(self) -> None:
        for writer in self.writers:
            writer.close()


def _pieces(reply: Reply) -> list[bytes]:
    data = reply.data
    return [data[i : i + 1] for i in range(len(data))] if reply.trickle else [data]


@pytest.fixture
async def server() -> AsyncIterator[RawServer]:
    raw = RawServer()
    listening = await asyncio.start_server(raw.serve, "127.0.0.1", 0)
    raw.port = listening.sockets[0].getsockname()[1]
    async with listening:
        yield raw
        raw.hang_up_all()


async def test_request_bytes_and_keep_alive(server: RawServer) -> None:
    client = H1Client(per_origin=4)
    headers = {"Content-Type": "application/json", "X-Sign": "abc", "Content-Length": "999"}
    first = await client.post(server.url(), b'{"a":1}', headers)
    second = await client.post(server.url("/other"), b"{}", {})
    client.close()
    assert second.status == 200
    assert first.status == 200 and first.body == b'{"ok":true}'
    assert first.headers["content-type"] == first.headers.get("Content-Type") == "application/json"
    assert "CONTENT-LENGTH" in first.headers and first.headers.get("Retry-After") is None
    assert (
        server.requests[0]
        == (
            0,
            b"POST /hook?key=k1 HTTP/1.1\r\n"
            b"Host: 127.0.0.1:" + str(server.port).encode() + b"\r\n"
            b"Content-Length: 7\r\n"  # ours, not the caller's
            b"Content-Type: application/json\r\n"
            b"X-Sign: abc\r\n"
            b'\r\n{"a":1}',
        )
    )
    assert server.requests[1][0] == 0  # the same connection again
    assert server.requests[1][1].startswith(b"POST /other HTTP/1.1\r\n")


async def test_connection_close_answer_is_not_reused(server: RawServer) -> None:
    client = H1Client(per_origin=4)
    server.replies.append(Reply(OK.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")))
    await client.post(server.url(), b"1", {})
    await client.post(server.url(), b"2", {})
    client.close()
    assert [n for n, _ in server.requests] == [0, 1]


async def test_chunked_answer(server: RawServer) -> None:
    client = H1Client(per_origin=4)
    server.replies.append(
        Reply(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b'4\r\n{"a"\r\n3\r\n:1}\r\n0\r\n\r\n'
        )
    )
    answer = await client.post(server.url(), b"x", {})
    client.close()
    assert answer.body == b'{"a":1}'


async def test_an_answer_arriving_byte_by_byte(server: RawServer) -> None:
    client = H1Client(per_origin=4)
    server.replies.append(
        Reply(OK.replace(b"\r\n\r\n", b"\r\nRetry-After: 7\r\n\r\n"), trickle=True)
    )
    answer = await client.post(server.url(), b"x", {})
    await client.post(server.url(), b"y", {})
    client.close()
    assert answer.body == b'{"ok":true}' and answer.headers.get("Retry-After") == "7"
    assert answer.headers["content-type"] == "application/json"
    assert [n for n, _ in server.requests] == [0, 0]


async def test_answer_delimited_by_close(server: RawServer) -> None:
    client = H1Client(per_origin=4)
    server.replies.append(Reply(b"HTTP/1.1 503 Busy\r\n\r\nback later", close=True))
    answer = await client.post(server.url(), b"x", {})
    await client.post(server.url(), b"y", {})
    client.close()
    assert (answer.status, answer.body) == (503, b"back later")
    assert [n for n, _ in server.requests] == [0, 1]


async def test_interim_answer_is_skipped(server: RawServer) -> None:
    client = H1Client(per_origin=4)
    server.replies.append(Reply(b"HTTP/1.1 100 Continue\r\n\r\n" + OK))
    answer = await client.post(server.url(), b"x", {})
    client.close()
    assert answer.status == 200 and answer.body == b'{"ok":true}'


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (Reply(b"", close=True), "connection closed before an answer"),
        (
            Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{", close=True),
            "connection closed in the middle of the answer",
        ),
        (Reply(b"HTTX/9 what\r\n\r\n"), "malformed answer"),
    ],
)
async def test_broken_answers(server: RawServer, reply: Reply, message: str) -> None:
    client = H1Client(per_origin=4)
    server.replies.append(reply)
    with pytest.raises(AnswerError, match=message):
        await client.post(server.url(), b"x", {})
    await client.post(server.url(), b"y", {})  # on a new connection
    client.close()
    assert [n for n, _ in server.requests] == [0, 1]


async def test_oversized_answer(server: RawServer) -> None:
    client = H1Client(per_origin=4, max_answer_bytes=10)
    server.replies.append(Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n" + b"x" * 20))
    with pytest.raises(AnswerError, match="larger than 10 bytes"):
        await client.post(server.url(), b"x", {})
    client.close()


async def test_a_timed_out_exchange_closes_its_connection(server: RawServer) -> None:
    client = H1Client(per_origin=4)
    server.replies.append(Reply(hold=True))
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await client.post(server.url(), b"x", {})
    await client.post(server.url(), b"y", {})
    client.close()
    assert [n for n, _ in server.requests] == [0, 1]


async def test_an_idle_connection_the_server_closed_is_not_reused(server: RawServer) -> None:
    client = H1Client(per_origin=4)
    server.replies.append(Reply(close=True))  # answered with keep-alive, then hung up
    await client.post(server.url(), b"x", {})
    [idle] = [c for origin in client._origins.values() for c in origin.idle]
    await until_connection_lost(idle, idle.closed)  # the client has seen the close
    await client.post(server.url(), b"y", {})
    client.close()
    assert [n for n, _ in server.requests] == [0, 1]


async def test_connections_per_origin_are_limited(server: RawServer) -> None:
    client = H1Client(per_origin=2)
    await asyncio.gather(*(client.post(server.url(), str(n).encode(), {}) for n in range(10)))
    client.close()
    assert len(server.requests) == 10 and server.connections == 2


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        ("ftp://127.0.0.1/x", {}),
        ("http:///nohost", {}),
        ("http://127.0.0.1:99999/x", {}),
        ("http://127.0.0.1/x", {"X-Evil": "a\r\nInjected: 1"}),
        ("http://127.0.0.1/x", {"X-Evil:": "a"}),
    ],
)
async def test_what_cannot_be_sent_is_refused(url: str, headers: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        await H1Client(per_origin=1).post(urlsplit(url), b"x", headers)


async def test_a_target_with_spaces_or_non_ascii_is_percent_encoded(server: RawServer) -> None:
    client = H1Client(per_origin=1)
    await client.post(server.url("/a b/群?q=1&r=%20"), b"x", {})
    client.close()
    assert server.requests[0][1].startswith(b"POST /a%20b/%E7%BE%A4?q=1&r=%20 HTTP/1.1\r\n")


def test_runs_on_uvloop() -> None:
    """The services run on uvloop, whose transports are not asyncio.Transport."""

    async def exchange() -> bytes:
        raw = RawServer()
        listening = await asyncio.start_server(raw.serve, "127.0.0.1", 0)
        raw.port = listening.sockets[0].getsockname()[1]
        async with listening:
            client = H1Client(per_origin=1)
            answer = await client.post(raw.url(), b"x", {})
            client.close()
            raw.hang_up_all()
        return answer.body

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(exchange()) == b'{"ok":true}'


async def test_https_checks_the_certificate(server: RawServer, smtp_cert: CertFiles) -> None:
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(smtp_cert.cert, smtp_cert.key)
    tls_server = await asyncio.start_server(server.serve, "127.0.0.1", 0, ssl=served)
    port = tls_server.sockets[0].getsockname()[1]
    trusting = ssl.create_default_context(cafile=str(smtp_cert.cert))
    async with tls_server:
        client = H1Client(per_origin=1, tls=trusting)
        answer = await client.post(urlsplit(f"https://localhost:{port}/hook"), b"x", {})
        client.close()
        with pytest.raises(ssl.SSLCertVerificationError):  # the system store: not trusted
            await H1Client(per_origin=1).post(urlsplit(f"https://localhost:{port}/hook"), b"x", {})
        server.hang_up_all()
    assert answer.status == 200
    assert server.requests[0][1].startswith(b"POST /hook HTTP/1.1\r\nHost: localhost:")
