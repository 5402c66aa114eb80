from __future__ import annotations

import pytest

from services.notifier.channels.masking import mask_email, mask_mobile, redact


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("13800138000", "138****8000"),
        (" 13800138000 ", "138****8000"),
        ("+8613800138000", "+86138****8000"),
        ("8613800138000", "86138****8000"),
        ("0086-13800138000", "0086138****8000"),
        ("010-12345678", "010****5678"),
        ("1234567", "*****67"),
        ("12", "**"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_mobile(raw: str | None, masked: str) -> None:
    assert mask_mobile(raw) == masked


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("zhangsan@example.com", "z***@example.com"),
        ("z@example.com", "z***@example.com"),
        ("张三@例子.中国", "张***@例子.中国"),
        ("not-an-address", "***"),
        ("@example.com", "***@example.com"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_email(raw: str | None, masked: str) -> None:
    assert mask_email(raw) == masked


def test_redact_masks_mobiles_and_emails_in_free_text() -> None:
    text = (
        "550 5.1.1 <zhangsan@example.com>: Recipient address rejected; "
        "PhoneNumbers%3D13800138000%26 tel +8613912345678, order 123456789012345"
    )
    out = redact(text)
    assert "zhangsan@" not in out and "z***@example.com" in out
    assert "13800138000" not in out and "138****8000" in out
    assert "13912345678" not in out and "+86139****5678" in out
    assert "123456789012345" in out  # not a mobile: longer run of digits


def test_redact_bounds_length_and_flattens_lines() -> None:
    out = redact("第一行\n第二行\t" + "x" * 1000, limit=50)
    assert len(out) == 50 and out.endswith("…") and "\n" not in out


def test_the_old_import_path_is_the_shared_masking_module() -> None:
    import services.masking

    assert (mask_email, mask_mobile, redact) == (
        services.masking.mask_email,
        services.masking.mask_mobile,
        services.masking.redact,
    )
