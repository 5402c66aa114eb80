"""The whole loop on one machine, as `make run` has it, on the real Kafka and Redis and the
stack's mail catcher: the example hazard's notices reach the SMS stand-in and show in the
inbox page with their receipts; in a real headless browser (Debian's chromium), an ack
link opens the acknowledgement page, which publishes nothing until 确认收到 is pressed,
and then the inbox shows 已确认; the SMS button makes the stand-in push a delivery report
and the inbox shows 已送达. Screenshots go to .stack/screenshots/."""

from __future__ import annotations

import json
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.fakes import FakeClock
from tests.integration.conftest import read_topic, wait_for
from tests.integration.deliverykit import notice, notice_publisher
from tests.integration.loopkit import Loop, publish_example, running_loop
from tests.stack import STACK_DIR
from tests.stack import LocalStack as StackInfo

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = STACK_DIR / "screenshots"
WAIT_MS = 30_000  # the page reloads itself within 2 s of a change


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("no /usr/bin/chromium: `bash deploy/local/stack.sh tools` installs it")
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.fixture
async def loop(
    settings: Any, clock: FakeClock, stack: StackInfo, tmp_path: Path, monkeypatch: Any
) -> AsyncIterator[Loop]:
    # Mail goes to the stack's catcher, whose folder the inbox reads, as under `make run`.
    for name, value in (("HOST", stack.smtp_host), ("PORT", str(stack.smtp_port))):
        monkeypatch.setenv(f"DUBAN_SMTP_{name}", value)
    monkeypatch.setenv("DUBAN_SMTP_TLS", "none")
    monkeypatch.setenv("DUBAN_SMTP_FROM", "duban@localhost")
    async with running_loop(settings, clock, tmp_path, monkeypatch, mail_dir=stack.mail_dir) as lp:
        yield lp


async def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"inbox-loop-{name}.png"), full_page=True)


async def test_the_inbox_shows_each_message_and_closes_the_loop_in_a_browser(
    loop: Loop,
    clock: FakeClock,
    browser: Browser,
    register_unit: Callable[[dict[str, Any]], Awaitable[None]],
    publish: Callable[[str, Any], Awaitable[None]],
) -> None:
    hazard_id = await publish_example(loop.settings, clock, register_unit, publish)
    # An official's notice by email, as the engine plans them (the report goes to the unit).
    n = random.randrange(10**6)
    letter = notice(n, "email", kind="escalation", action="letter", person="R1")
    address = letter.recipient.email
    async with notice_publisher(loop.settings) as send:
        await send(letter)
    await wait_for(
        lambda: any(m["channel"] == "aliyun_sms" for m in loop.spooled()),
        what="the hazard's report SMS in the spool",
    )
    await wait_for(
        lambda: any(hazard_id in key for key in loop.receipts.by_key),
        what="the inbox following the receipts of the hazard's notices",
    )

    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await page.goto(f"{loop.inbox_url}/?channel=email")
    mail = page.locator("article", has_text=str(address))
    await expect(mail).to_be_visible(timeout=WAIT_MS)
    await expect(mail.locator(".status", has_text="已受理")).to_be_visible(timeout=WAIT_MS)
    await shot(page, "1-mail")

    async with page.context.expect_page() as opened:
        await mail.get_by_role("link", name="打开确认页面").first.click()
    ack = await opened.value
    confirm = ack.get_by_role("button", name="确认收到")
    await expect(confirm).to_be_visible()
    await expect(ack.get_by_text("确认后仅停止本通知的重复提醒，整改期限不变。")).to_be_visible()
    await shot(ack, "2-ack-page")
    await confirm.click()
    await expect(ack.get_by_role("heading", name="已确认收到")).to_be_visible()
    await shot(ack, "3-acknowledged")
    await expect(mail.locator(".status", has_text="已确认")).to_contain_text(
        "经链接", timeout=WAIT_MS
    )
    await shot(page, "4-inbox-acknowledged")

    await page.goto(f"{loop.inbox_url}/?channel=aliyun_sms")
    first_sms = page.locator("article").first
    await expect(first_sms.locator(".status", has_text="已受理")).to_be_visible(timeout=WAIT_MS)
    await first_sms.get_by_role("button", name="推送回执：成功").click()
    await expect(page.get_by_role("status")).to_contain_text("短信模拟服务已推送成功")
    reached = page.locator("article .status", has_text="已送达")
    await expect(reached).to_have_count(1, timeout=WAIT_MS)
    assert "channel=aliyun_sms" in page.url  # the page as it was filtered
    await shot(page, "5-inbox-sms-reached")

    # The person answers the SMS with its code: acknowledged by reply.
    text = await first_sms.locator(".text").inner_text()
    code = re.search(r"回复(\d+)确认收到", text)
    assert code is not None, text
    await first_sms.get_by_placeholder("短信回复内容").fill(code.group(1))
    await first_sms.get_by_role("button", name="发送回复").click()
    replied = first_sms.locator(".status", has_text="已确认")
    await expect(replied).to_contain_text("经短信回复", timeout=WAIT_MS)
    await shot(page, "6-inbox-sms-replied")

    acks = await read_topic(loop.settings.kafka_bootstrap, loop.settings.topics.notice_acks, 2)
    events = [json.loads(r.value) for r in acks]
    # Opening the page (a GET) published nothing; pressing the button published once.
    by_link = [e for e in events if e["subject"] == letter.notice_id]
    assert [(e["data"]["person_id"], e["data"]["channel"]) for e in by_link] == [("R1", "link")]
    assert [e["data"].get("channel") for e in events if e not in by_link] == ["sms_reply"]
