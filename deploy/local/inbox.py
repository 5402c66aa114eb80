"""The local inbox: one web page with every message duban sent while `make run` runs.

    .venv/bin/python -m deploy.local.inbox --port 8030     # http://127.0.0.1:8030/

Like a mail catcher's web UI, for every channel: each message as its recipient sees it,
per person and channel, with its ack links (they open the running ack service), the
receipts duban published about it (已受理 / 已送达 / 已读 / 发送失败 / 已确认, read from
Kafka), and for SMS two buttons that make the SMS stand-in push a delivery report (成功 /
失败) and a box that makes it push the recipient's reply (POST <stand-in>/_control/report
and /_control/reply). Messages come from the stand-ins' spool and the mail catcher's folder.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import signal
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web
from aiohttp.web_request import FileField
from jinja2 import Environment, FileSystemLoader, select_autoescape
from multidict import MultiDictProxy

from deploy.local.inbox_data import (
    CHANNEL_NAMES,
    ROOT,
    MailFolder,
    Message,
    Spool,
    directory_names,
)
from deploy.local.inbox_receipts import Receipts, following

log = logging.getLogger("duban.inbox")
PAGES = Path(__file__).with_name("inbox_pages")
ZONE = ZoneInfo("Asia/Shanghai")
CONTROL_TIMEOUT_S = 10.0


@dataclass
class Inbox:
    """The page's sources: spool, mail folder, receipts and the directory's names."""

    spool: Spool
    mail: MailFolder
    receipts: Receipts = field(default_factory=Receipts)
    names: tuple[dict[str, str], dict[str, str]] = field(default_factory=lambda: ({}, {}))

    def messages(self) -> list[Message]:
        """Every message, newest first."""
        found = self.spool.messages() + self.mail.messages()
        return sorted(found, key=lambda m: m.time, reverse=True)

    def rows(self) -> list[dict[str, Any]]:
        """Each message with what the page shows next to it."""
        rows = []
        for message in self.messages():
            statuses = self.receipts.statuses(message)  # fills notice and person ids
            rows.append(
                {
                    "m": message,
                    "person": self.person_key(message),
                    "who": self.who(message),
                    "channel_name": CHANNEL_NAMES.get(message.channel, message.channel),
                    "when": message.time.astimezone(ZONE).strftime("%m-%d %H:%M:%S"),
                    "statuses": statuses,
                    "mentioned": [
                        self.name_of(str(m)) for m in message.recipient.get("mentioned", [])
                    ],
                }
            )
        return rows

    def name_of(self, address: str) -> str:
        """A mentioned userid, mobile or open_id as the directory names it."""
        by_id, by_address = self.names
        name = by_address.get(address) or by_id.get(address)
        return f"{name}（{address}）" if name else address

    def person_key(self, message: Message) -> str:
        return message.person_id or message.address

    def who(self, message: Message) -> str:
        by_id, by_address = self.names
        if "group" in message.recipient:
            return "群消息"
        name = by_id.get(message.person_id or "") or by_address.get(message.address)
        return f"{name}（{message.address}）" if name else message.address

    def find(self, message_id: str) -> Message | None:
        return next((m for m in self.messages() if m.id == message_id), None)


class Pages:
    def __init__(self) -> None:
        self.env = Environment(
            loader=FileSystemLoader(PAGES),
            autoescape=select_autoescape(["html", "html.j2"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(self, name: str, **context: Any) -> str:
        return self.env.get_template(name).render(**context)


INBOX = web.AppKey("inbox", Inbox)
PAGES_KEY = web.AppKey("pages", Pages)


async def index(request: web.Request) -> web.Response:
    """GET /?person=&channel=: the messages, filtered."""
    inbox = request.app[INBOX]
    rows = inbox.rows()
    person, channel = request.query.get("person", ""), request.query.get("channel", "")
    people = Counter((r["person"], r["who"]) for r in rows)
    channels = Counter((r["m"].channel, r["channel_name"]) for r in rows)
    shown = [
        r
        for r in rows
        if (not person or r["person"] == person) and (not channel or r["m"].channel == channel)
    ]
    page = request.app[PAGES_KEY].render(
        "index.html.j2",
        rows=shown,
        total=len(rows),
        version=version(rows),
        people=sorted(people.items(), key=lambda item: item[0][1]),
        channels=sorted(channels.items()),
        person=person,
        channel=channel,
        note=request.query.get("note", ""),
        query=lambda **kw: "?" + urlencode({k: v for k, v in kw.items() if v}),
    )
    return web.Response(text=page, content_type="text/html", charset="utf-8")


async def api_messages(request: web.Request) -> web.Response:
    """GET /api/messages: the same as JSON (for scripts and tests)."""
    rows = request.app[INBOX].rows()
    data = [
        {
            "id": r["m"].id,
            "time": r["m"].time.isoformat(),
            "channel": r["m"].channel,
            "person": r["person"],
            "who": r["who"],
            "text": r["m"].text,
            "ack_links": r["m"].ack_links,
            "notice_id": r["m"].notice_id,
            "statuses": [s.label for s in r["statuses"]],
        }
        for r in rows
    ]
    return web.json_response(data, dumps=lambda d: json.dumps(d, ensure_ascii=False))


async def api_version(request: web.Request) -> web.Response:
    """GET /api/version: changes whenever a message or a receipt arrives (the page polls it
    and reloads only then, so a click is never lost to a reload)."""
    return web.Response(text=version(request.app[INBOX].rows()))


def version(rows: list[dict[str, Any]]) -> str:
    """A short hash of the messages and their receipts."""
    seen = "|".join(f"{r['m'].id}:{','.join(s.label for s in r['statuses'])}" for r in rows)
    return hashlib.sha256(seen.encode()).hexdigest()[:16]


async def sms_report(request: web.Request) -> web.Response:
    """POST /messages/{id}/report (outcome=success|failure): the SMS stand-in pushes a
    delivery report for this message to duban's callback."""
    form = await request.post()
    success = form.get("outcome") != "failure"
    what = "成功回执" if success else "失败回执"
    return await _control(request, form, "report", {"success": success}, what)


async def sms_reply(request: web.Request) -> web.Response:
    """POST /messages/{id}/reply (text): the SMS stand-in pushes the recipient's reply."""
    form = await request.post()
    text = str(form.get("text", "")).strip()
    if not text:
        raise web.HTTPSeeOther(_back(form, "回复内容为空，未发送。"))
    return await _control(request, form, "reply", {"text": text}, f"回复“{text}”")


async def _control(
    request: web.Request,
    form: MultiDictProxy[str | bytes | FileField],
    action: str,
    extra: dict[str, Any],
    what: str,
) -> web.Response:
    message = request.app[INBOX].find(request.match_info["id"])
    if message is None or not message.is_sms or not message.standin:
        raise web.HTTPNotFound(text="没有这条短信")
    body = {
        "message_id": message.provider_message_id,
        "mobile": message.recipient.get("mobile"),
        **extra,
    }
    note = await _post_control(f"{message.standin}/_control/{action}", body, what)
    raise web.HTTPSeeOther(_back(form, note) + f"#m-{message.id}")


def _back(form: MultiDictProxy[str | bytes | FileField], note: str) -> str:
    """The page the form was on (its filters), with a note."""
    kept = {k: str(form.get(k, "")) for k in ("person", "channel")}
    return "/?" + urlencode({**{k: v for k, v in kept.items() if v}, "note": note})


async def _post_control(url: str, body: dict[str, Any], what: str) -> str:
    """Ask the stand-in; a Chinese note of the outcome for the page."""
    timeout = aiohttp.ClientTimeout(total=CONTROL_TIMEOUT_S)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(url, json=body) as answer,
        ):
            text = (await answer.text())[:200]
            if answer.status < 300:
                return f"短信模拟服务已推送{what}。"
            return f"短信模拟服务未能推送{what}（HTTP {answer.status}：{text}）"
    except (aiohttp.ClientError, TimeoutError) as e:
        return f"连不上短信模拟服务（{type(e).__name__}），未推送{what}。"


async def healthz(_: web.Request) -> web.Response:
    return web.Response(text="ok")


def create_inbox_app(inbox: Inbox) -> web.Application:
    app = web.Application()
    app[INBOX] = inbox
    app[PAGES_KEY] = Pages()
    app.router.add_get("/", index)
    app.router.add_get("/api/messages", api_messages)
    app.router.add_get("/api/version", api_version)
    app.router.add_post("/messages/{id}/report", sms_report)
    app.router.add_post("/messages/{id}/reply", sms_reply)
    app.router.add_get("/healthz", healthz)
    return app


# -- command line -------------------------------------------------------------------------


async def serve(host: str, port: int, inbox: Inbox, bootstrap: str, topics: list[str]) -> None:
    runner = web.AppRunner(create_inbox_app(inbox), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    print(f"inbox on http://{host}:{port}/", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with following(inbox.receipts, bootstrap, topics):
            await stop.wait()
    finally:
        await runner.cleanup()
    print("inbox stopped", flush=True)


def main() -> int:
    from services.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8030)
    parser.add_argument("--spool", type=Path, default=ROOT / ".stack/inbox/messages.jsonl")
    parser.add_argument("--mail-dir", type=Path, default=ROOT / ".stack/mail")
    parser.add_argument("--bootstrap", help="Kafka (default: DUBAN_KAFKA_BOOTSTRAP's)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    settings = Settings.from_env()
    inbox = Inbox(Spool(args.spool), MailFolder(args.mail_dir), names=directory_names())
    topics = [settings.topics.notice_receipts, settings.topics.notice_acks]
    bootstrap = args.bootstrap or settings.kafka_bootstrap
    asyncio.run(serve(args.host, args.port, inbox, bootstrap, topics))
    return 0


if __name__ == "__main__":
    sys.exit(main())
