"""The ops console and `duban simulate --html`, driven in real headless chromium
(Debian's, launched by Playwright); screenshots land in .stack/screenshots/."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from playwright.async_api import async_playwright
from playwright.sync_api import sync_playwright
from pydantic import SecretStr
from typer.testing import CliRunner

from services.audit.service import running_audit
from services.cli import app
from services.engine.app import create_engine
from services.notifier.app import create_notifier
from services.runner import running
from services.settings import Settings
from tests.fakes import FakeClock
from tests.helpers import at, reported, unit_upserted
from tests.integration.auditkit import (
    CHROMIUM,
    CHROMIUM_ARGS,
    audit_dsn,
    audit_settings,
    count,
    screenshot_path,
    trail,
)
from tests.integration.conftest import wait_for

__all__ = ["audit_dsn", "audit_settings", "trail"]  # fixtures used here
LATE = "H-LATE"
TOKEN = "console-test-token-1"
SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "example.jsonl"


async def _escalated(conn) -> bool:  # type: ignore[no-untyped-def]
    """The late hazard's report and at least one escalation were delivered."""
    escalations = "root = %s AND type = 'notice.requested' AND body LIKE %s"
    delivered = "root = %s AND type = 'notice.delivered'"
    return (
        await count(conn, escalations, LATE, '%"kind":"escalation"%') >= 1
        and await count(conn, delivered, LATE) >= 3
    )


async def test_the_console_lists_an_overdue_hazard_and_shows_its_timeline(
    audit_settings: Settings, clock: FakeClock, smtp, publish, register_unit, trail
) -> None:
    s = audit_settings.model_copy(update={"console_token": SecretStr(TOKEN)})
    # Found in August with a deadline of 20 August: overdue on the clock's 1 September.
    late = reported(LATE, at("2026-08-01 09:00"), date(2026, 8, 20))
    base = f"http://127.0.0.1:{s.console_port}"
    engine, notifier = create_engine(s, clock=clock), create_notifier(s, clock=clock)
    async with running(engine.app), running(notifier.app), running_audit(s, clock=clock):
        await register_unit(unit_upserted("U1", at("2026-07-01 08:00")))
        await publish(s.topics.hazard_events, late)
        await wait_for(lambda: _escalated(trail), what="the late hazard's notices delivered")
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = await browser.new_page()
            refused = await page.goto(base + "/")
            assert refused is not None and refused.status == 401
            await page.goto(f"{base}/?token={TOKEN}")
            row = page.locator("#overdue tr", has_text=LATE)
            assert await row.count() == 1
            assert "12" in await row.locator("td.overdue").inner_text()  # days overdue
            await page.screenshot(path=screenshot_path("console.png"), full_page=True)
            await row.get_by_role("link").click()  # the cookie carries the token on
            await page.wait_for_selector(f".timeline[data-subject='{LATE}']")
            sent = await page.locator("tr.step-notice").all_inner_texts()
            assert any("上报通知" in t for t in sent) and any("督办" in t for t in sent)
            assert await page.locator("tr.step-receipt", has_text="已发出").count() >= 2
            assert await page.locator(".strip .m-notice").count() >= 1
            assert await page.locator(".strip .day.rest").count() >= 1  # weekends shaded
            await page.screenshot(path=screenshot_path("console-timeline.png"), full_page=True)
            await browser.close()


def test_simulate_html_draws_every_subject_s_timeline(tmp_path: Path) -> None:
    out = tmp_path / "simulation.html"
    result = CliRunner().invoke(
        app, ["simulate", "--events", str(SCENARIO), "--html", str(out)], env={}
    )
    assert result.exit_code == 0, result.output
    notices = [line for line in result.stdout.splitlines() if line.startswith("{")]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(out.as_uri())
        assert "督办时间线（模拟）" in page.locator("h1").inner_text()
        subjects = page.locator(".timeline")
        assert subjects.count() >= 1
        assert page.locator("tr.step-notice").count() == len(notices)
        assert page.locator(".timeline[data-subject='HZ-1'] .strip .m-notice").count() >= 1
        page.screenshot(path=str(screenshot_path("simulate.png")), full_page=True)
        browser.close()
