"""Reused SMTP connections for one email channel.

Opening a connection costs a TCP (and maybe TLS) handshake, EHLO and AUTH: several
round trips per message when every message opens its own. The pool keeps at most
``size`` connections open, hands an idle one out most-recently-used first, and closes
a connection when it failed in transport, carried ``uses`` messages or sat idle for
``idle_s`` seconds. A refused message (an SMTP reply code) leaves the connection usable:
the sender resets the envelope (RSET) before raising. The caller's deadline covers the
wait for a free connection too: a connection opened or closed under it is never left
half open.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import aiosmtplib


@dataclass
class _Pooled:
    smtp: aiosmtplib.SMTP
    uses: int = 0
    idle_since: float = 0.0


class SmtpPool:
    def __init__(
        self,
        make: Callable[[], aiosmtplib.SMTP],
        *,
        size: int,
        uses: int,
        idle_s: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if size < 1 or uses < 1:
            raise ValueError("an SMTP pool needs size and uses of at least 1")
        self._make = make
        self._slots = asyncio.Semaphore(size)
        self._uses = uses
        self._idle_s = idle_s
        self._monotonic = monotonic
        self._idle: list[_Pooled] = []
        self._closed = False

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[aiosmtplib.SMTP]:
        """A connected client for one message; returned to the pool unless it broke."""
        async with self._slots:
            pooled = await self._take_idle() or await self._open()
            try:
                yield pooled.smtp
            except aiosmtplib.SMTPResponseException:
                await self._put_back(pooled)  # the server answered: the connection is fine
                raise
            except BaseException:
                pooled.smtp.close()  # a transport failure or cancellation mid-dialogue
                raise
            await self._put_back(pooled)

    async def aclose(self) -> None:
        """Quit every idle connection; connections in use close when they come back."""
        self._closed = True
        idle, self._idle = self._idle, []
        for pooled in idle:
            await _quit_quietly(pooled.smtp)

    @property
    def idle_clients(self) -> list[aiosmtplib.SMTP]:
        """The idle connections' clients (the server may have closed some of them)."""
        return [pooled.smtp for pooled in self._idle]

    async def _take_idle(self) -> _Pooled | None:
        while self._idle:
            pooled = self._idle.pop()
            fresh = self._monotonic() - pooled.idle_since < self._idle_s
            if fresh and pooled.smtp.is_connected:
                return pooled
            await _quit_quietly(pooled.smtp)
        return None

    async def _open(self) -> _Pooled:
        smtp = self._make()
        try:
            await smtp.connect()
        except BaseException:  # refused, or the send's deadline passed while connecting
            smtp.close()
            raise
        return _Pooled(smtp)

    async def _put_back(self, pooled: _Pooled) -> None:
        pooled.uses += 1
        if self._closed or pooled.uses >= self._uses or not pooled.smtp.is_connected:
            await _quit_quietly(pooled.smtp)
            return
        pooled.idle_since = self._monotonic()
        self._idle.append(pooled)


async def _quit_quietly(smtp: aiosmtplib.SMTP) -> None:
    if not smtp.is_connected:
        return
    try:
        with contextlib.suppress(Exception):
            await smtp.quit()
    finally:
        smtp.close()  # a refused or interrupted QUIT leaves nothing open either
