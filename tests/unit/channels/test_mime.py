"""The email composer: what it writes must read back, through the standard library's
parser, as exactly what was meant — and stay 7-bit clean."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest

from services.notifier.channels.mime import (
    BadAddress,
    checked_address,
    compose,
    header_value,
    mailbox,
)

LONG_SUBJECT = "【督办】重大事故隐患整改逾期：某某化工有限公司储罐区未设置可燃气体报警装置" * 2


def parse(raw: bytes) -> EmailMessage:
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(parsed, EmailMessage)
    return parsed


def message(text: str, html: str | None = None, subject: str = LONG_SUBJECT) -> bytes:
    headers = [
        ("From", mailbox("duban@example.com", "安全督办平台")),
        ("To", mailbox("zhangsan@example.com")),
        ("Subject", header_value("Subject", subject)),
    ]
    return compose(headers, text, html, now=1_700_000_000)


def test_headers_read_back_and_lines_stay_short() -> None:
    raw = message("正文")
    assert max(raw) < 128
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    parsed = parse(raw)
    assert parsed["Subject"] == LONG_SUBJECT
    assert parsed["From"].addresses[0].display_name == "安全督办平台"
    assert parsed["To"] == "zhangsan@example.com"
    assert parsed["Date"].datetime.timestamp() == 1_700_000_000
    assert parsed["MIME-Version"] == "1.0"
    assert parsed.defects == []


@pytest.mark.parametrize(
    "text",
    [
        "整改通知\n第二行",
        "ascii only\nline two",
        "trailing blank lines\n\n\n",
        "",
        "a" * 1200,  # too long for a 7-bit line: base64
        "bell \x07 and nul \x00",  # controls are not 7-bit text: base64
        "line\u2028separator stays a character",
        "crlf\r\nand lone\rcr",
    ],
)
def test_text_reads_back_in_canonical_form(text: str) -> None:
    parsed = parse(message(text))
    assert parsed.get_content_type() == "text/plain"
    expected = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n") + "\r\n"
    assert parsed.get_content() == expected


def test_text_and_html_alternatives() -> None:
    parsed = parse(message("文本\n两行", "<p>网页</p>"))
    assert parsed.get_content_type() == "multipart/alternative"
    text_part, html_part = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert text_part is not None and html_part is not None
    assert text_part.get_content() == "文本\r\n两行\r\n"
    assert html_part.get_content() == "<p>网页</p>\r\n"
    assert [p.get_content_charset() for p in parsed.iter_parts()] == ["utf-8", "utf-8"]


def test_a_boundary_is_fresh_per_message() -> None:
    first, second = parse(message("a", "<p>a</p>")), parse(message("a", "<p>a</p>"))
    assert first.get_boundary() != second.get_boundary()


@pytest.mark.parametrize(
    ("value", "read_back"),
    [
        ("plain ascii", "plain ascii"),
        ("中文", "中文"),
        ("tab\there", "tab\there"),
        ("new\nline", "new line"),  # a header is one line: no header injection
        ("中文\r\nBcc: x@evil.example", "中文 Bcc: x@evil.example"),
        ("⚠️隐患😀" * 25, "⚠️隐患😀" * 25),  # 4-byte characters are never split
        ("整改" * 200, "整改" * 200),
        ("long ascii " * 100, "long ascii " * 100),  # folded: no line passes 998
    ],
)
def test_header_values_read_back_on_one_line(value: str, read_back: str) -> None:
    raw = message("x", subject=value)
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    parsed = parse(raw)
    assert parsed["Subject"] == read_back and parsed["Bcc"] is None


@pytest.mark.parametrize("bad", ["not an address", "a@b@c", "张三 <>", "a@", "@b", "中文@例子.cn"])
def test_bad_addresses_are_refused(bad: str) -> None:
    with pytest.raises(BadAddress):
        checked_address(bad)


def test_good_addresses_pass() -> None:
    assert checked_address("zhang.san+hazard@safety.gov.cn") == "zhang.san+hazard@safety.gov.cn"
    assert mailbox("a@example.com") == "a@example.com"
    assert mailbox("a@example.com", "Ops") == "Ops <a@example.com>"


def test_a_long_header_name_still_fits_78_columns() -> None:
    value = header_value("X-Duban-Delivery", "通知:" * 40)
    assert len("X-Duban-Delivery: " + value.split("\r\n")[0]) <= 78
