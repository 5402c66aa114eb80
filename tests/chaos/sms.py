"""The chaos run's Aliyun SMS stand-in (deploy/local/standins' FakeAliyunSms, which checks
every request as Aliyun documents it), failing at random, and its delivery reports.

Each SMS it accepts is one message on the person's phone (Aliyun keeps no key: every
accepted SendSms is sent), noted in the inbox with its OutId, our delivery key. A SendSms
fails with probability ``failure_rate``, in one of these ways: HTTP 500/503 from the
gateway; ``isp.SYSTEM_ERROR`` with HTTP 200 (an error
code in a success status); the ``Throttling.User`` rate limit; a request held past the
client's timeout, then answered 504 (``timeout``) or never answered (``hang``), neither
taken. QuerySendDetails (the notifier asking about a delivery in doubt) always answers,
from what it took.

Every SMS taken gets its SmsReport pushed to the ack service, as the console's batch push
does: after a second or two, or late (10–30 s), sometimes twice; a push the ack service
does not take (down, or its Kafka or Redis down: 503) is pushed again after 3, 10 and
30 s (Aliyun: 1, 5 and 10 minutes), then given up.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import deque
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web

from deploy.local.standins import FakeAliyunSms
from deploy.local.standins.example import sms_texts
from tests.chaos.inbox import Inbox, Received

HOLD_S = 8.0  # longer than the chaos channels' timeout_s (5)
LATE_REPORTS = 0.2  # share of reports pushed 10–30 s after the SMS
TWICE = 0.15  # share of reports pushed twice
PUSH_AGAIN_S = (3.0, 10.0, 30.0)
KINDS = ("500", "503", "timeout", "hang", "isp.SYSTEM_ERROR", "Throttling.User")


class ChaosAliyunSms(FakeAliyunSms):
    """Aliyun SMS; sometimes held, refused or throttled; reports late and twice."""

    def __init__(
        self, inbox: Inbox, rng: random.Random, report_url: str, failure_rate: float
    ) -> None:
        templates = {code: t.text for code, t in sms_texts()["aliyun_sms"].items()}
        super().__init__(templates=templates, report_url=report_url)
        self.inbox, self.rng, self.failure_rate = inbox, rng, failure_rate
        self.holds: deque[str] = deque()
        self._reports: set[asyncio.Task[None]] = set()

    def fail(self, kind: str) -> None:
        """Make this SendSms fail as ``kind`` (one of KINDS) says."""
        self.inbox.failures[f"aliyun_sms: {kind}"] += 1
        if kind in ("timeout", "hang"):
            self.holds.append(kind)
        elif kind.isdigit():
            self.fail_next(status=int(kind))
        else:
            self.fail_next(code=kind)

    def success(self, record: dict[str, Any]) -> web.StreamResponse:
        response = super().success(record)
        self.inbox.received.append(Received(record["params"]["OutId"], "aliyun_sms", time.time()))
        task = asyncio.get_running_loop().create_task(self._report(record))
        self._reports.add(task)
        task.add_done_callback(self._reports.discard)
        return response

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if request.path != "/" or await _is_query(request):
            return await super()._dispatch(request)  # the controls, or a QuerySendDetails
        if self.rng.random() < self.failure_rate:
            self.fail(self.rng.choice(KINDS))
        if self.holds:
            kind = self.holds.popleft()  # held, then not taken
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), HOLD_S if kind == "timeout" else None)
            return self.http_error(504)
        return await super()._dispatch(request)

    async def _report(self, record: dict[str, Any]) -> None:
        """Push the SMS's delivery report (delivered), late or twice at times."""
        late = self.rng.random() < LATE_REPORTS
        times = 2 if self.rng.random() < TWICE else 1
        if late:
            self.inbox.failures["aliyun_sms: report late"] += 1
        if times == 2:
            self.inbox.failures["aliyun_sms: report pushed twice"] += 1
        await asyncio.sleep(self.rng.uniform(10, 30) if late else self.rng.uniform(0.5, 2))
        for again in (*PUSH_AGAIN_S, None):
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                pushes = await self.push_report(record, times=times)
                if all(p.accepted for p in pushes):
                    return
            if again is None:
                self.inbox.failures["aliyun_sms: report given up (ack service not taking it)"] += 1
                return
            await asyncio.sleep(again)

    async def stop(self) -> None:
        for task in list(self._reports):
            task.cancel()
        await asyncio.gather(*self._reports, return_exceptions=True)
        await super().stop()


async def _is_query(request: web.Request) -> bool:
    """Whether the request is a QuerySendDetails (never held: it is not a send)."""
    body = await request.read()
    action = dict(parse_qsl(body.decode("ascii", "replace"))).get("Action")
    return (action or request.query.get("Action")) == "QuerySendDetails"
