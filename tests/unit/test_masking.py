"""The one masking function: secrets known to the process, mobiles and email addresses."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from typer.testing import CliRunner

from services.cli import app
from services.masking import (
    forget_secrets,
    mask,
    redact,
    register_secrets,
    secrets_from_env,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "example"
SECRET = "s3cr3t/Pa ss+w0rd"
WEBHOOK = "https://qyapi.example/cgi-bin/webhook/send?key=693a91f6-7xxx"


@pytest.fixture(autouse=True)
def no_secrets() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


def test_a_registered_secret_is_replaced_as_typed_and_url_encoded() -> None:
    register_secrets([SECRET])
    text = f"535 auth failed for password {SECRET}; retried with {quote(SECRET, safe='')}"
    for out in (redact(text), mask(text)):
        assert SECRET not in out and quote(SECRET, safe="") not in out
        assert out == "535 auth failed for password ******; retried with ******"


def test_nothing_is_replaced_before_registration_and_short_values_never() -> None:
    assert redact(f"password {SECRET}") == f"password {SECRET}"
    register_secrets(["abc12", ""])
    assert redact("abc12 and abc123") == "abc12 and abc123"


def test_a_secret_containing_another_is_replaced_whole() -> None:
    register_secrets(["693a91f6-7xxx", WEBHOOK])
    assert redact(f"POST {WEBHOOK} failed") == "POST ****** failed"
    assert redact("key=693a91f6-7xxx") == "key=******"


def test_mask_keeps_line_breaks_and_length_and_masks_people() -> None:
    register_secrets([SECRET])
    text = f"line 1: 13912345678\n  line 2: wang@unit.example {SECRET}\n" + "x" * 1000
    out = mask(text)
    assert out.splitlines()[:2] == ["line 1: 139****5678", "  line 2: w***@unit.example ******"]
    assert out.endswith("x" * 1000)


def test_redact_masks_secrets_before_cutting_to_length() -> None:
    register_secrets([SECRET])
    out = redact("y" * 295 + SECRET, limit=300)
    assert len(out) == 300 and "s3cr" not in out and out.endswith(" ****…".strip())


def test_redact_leaves_no_control_characters() -> None:
    out = redact("550 \x1b[31mrefused\x1b[0m\x00 by\x85 \u2028server\x7f")
    assert out == "550 [31mrefused [0m by server"


def test_masking_twice_changes_nothing() -> None:
    register_secrets([SECRET])
    once = mask(f"{SECRET} 13912345678 wang@unit.example")
    assert mask(once) == once == "****** 139****5678 w***@unit.example"


def test_secrets_from_env_takes_duban_secrets_only() -> None:
    env = {
        "DUBAN_SMTP_PASSWORD": "p1",
        "DUBAN_ACK_SECRET": "p2",
        "DUBAN_SMS_GATEWAY_TOKEN": "p3",
        "DUBAN_ALIYUN_ACCESS_KEY_ID": "p4",
        "DUBAN_WECOM_WEBHOOK_URL": "p5",
        "DUBAN_SMTP_HOST": "smtp.example",
        "SMTP_PASSWORD": "not ours",
    }
    assert sorted(secrets_from_env(env)) == ["p1", "p2", "p3", "p4", "p5"]


def test_duban_commands_mask_the_environments_secrets_in_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "config"
    shutil.copytree(EXAMPLE, folder)
    directory = folder / "directory.yaml"
    text = directory.read_text(encoding="utf-8")
    directory.write_text(text.replace("head: housing-head", f"head: {SECRET}", 1), "utf-8")
    monkeypatch.setenv("DUBAN_SMS_GATEWAY_TOKEN", SECRET)
    result = CliRunner().invoke(app, ["config", "check", "--config", str(folder)])
    assert result.exit_code == 1
    assert "names unknown person '******'" in result.stderr and SECRET not in result.output
