"""Log lines leave the process masked: message, exception text, traceback and stack."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator

import pytest

from services.logs import FORMAT, MaskingFormatter, setup_logging
from services.masking import forget_secrets, register_secrets
from services.settings import read_environment

SECRET = "hunter2-smtp-Passw0rd"
RAW = ("13912345678", "wang@unit.example", SECRET)
MASKED = ("139****5678", "w***@unit.example", "******")


@pytest.fixture
def secret() -> Iterator[str]:
    register_secrets([SECRET])
    yield SECRET
    forget_secrets()


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """A logger whose only handler writes through the masking formatter to a string."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(MaskingFormatter(FORMAT))
    logger = logging.getLogger("duban.test.logs")
    logger.addHandler(handler)
    logger.propagate = False
    yield out
    logger.removeHandler(handler)
    logger.propagate = True


def send_to(mobile: str, email: str, password: str) -> None:
    raise RuntimeError("535 5.7.8 auth failed for password hunter2-smtp-Passw0rd")


def deliver(mobile: str, email: str, password: str) -> None:
    try:
        send_to(mobile, email, password)
    except RuntimeError as e:  # the traceback's source line shows the raw values
        raise ValueError("cannot reach 13912345678 / wang@unit.example") from e


def logged_failure() -> logging.LogRecord:
    try:
        deliver(*RAW)
    except ValueError:
        return logging.LogRecord(
            "duban.test.logs",
            logging.ERROR,
            __file__,
            1,
            "delivery to %s (%s) failed",
            ("13912345678", "wang@unit.example"),
            sys.exc_info(),
            sinfo="Stack (most recent call last):\n  password = 'hunter2-smtp-Passw0rd'",
        )
    raise AssertionError("deliver did not raise")


def assert_masked(text: str) -> None:
    for raw in RAW:
        assert raw not in text
    for masked in MASKED:
        assert masked in text


def test_message_exception_traceback_and_stack_are_masked(secret: str, stream: io.StringIO) -> None:
    log = logging.getLogger("duban.test.logs")
    try:
        deliver(*RAW)
    except ValueError:
        log.exception("delivery to %s (%s) failed", *RAW[:2], stack_info=True)
    text = stream.getvalue()
    assert_masked(text)
    assert "Traceback (most recent call last)" in text and "Stack (most recent" in text
    assert "The above exception was the direct cause" in text
    assert 'raise RuntimeError("535 5.7.8 auth failed for password ******")' in text


def test_the_cached_exception_text_is_masked_for_every_later_handler(secret: str) -> None:
    record = logged_failure()
    assert_masked(MaskingFormatter(FORMAT).format(record))
    plain = logging.Formatter("%(levelname)s").format(record)
    assert record.exc_text and record.exc_text in plain  # reused, not formatted again
    assert_masked(record.exc_text)


def test_an_exception_text_cached_unmasked_by_another_handler_is_masked(secret: str) -> None:
    record = logged_failure()
    logging.Formatter(FORMAT).format(record)  # another handler ran first: raw exc_text
    assert SECRET in (record.exc_text or "")
    assert_masked(MaskingFormatter(FORMAT).format(record))
    assert_masked(record.exc_text or "")


def test_a_message_stays_on_one_line_and_no_control_character_is_logged(
    stream: io.StringIO,
) -> None:
    log = logging.getLogger("duban.test.logs")
    log.warning("name: %s", "x\nERROR forged: line\r\x1b[2J")
    assert stream.getvalue().endswith("name: x ERROR forged: line [2J\n")
    try:
        raise ValueError("answer \x1b[2J\x07")
    except ValueError:
        log.exception("failed")
    text = stream.getvalue()
    assert not any(c in text for c in "\x1b\x07\r")
    assert "ValueError: answer  [2J \n" in text


@pytest.fixture
def root_restored() -> Iterator[None]:
    root, own = logging.getLogger(), logging.getLogger("faststream")
    saved = (root.handlers[:], root.level, own.handlers[:], own.propagate)
    yield
    root.handlers[:], own.handlers[:] = saved[0], saved[2]
    root.setLevel(saved[1])
    own.propagate = saved[3]
    forget_secrets()


def test_setup_logging_masks_the_environments_secrets_and_faststreams_lines(
    root_restored: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    monkeypatch.setenv("DUBAN_SMTP_PASSWORD", SECRET)
    setup_logging(read_environment())
    logging.getLogger("faststream").warning("login with %s failed", SECRET)
    logging.getLogger("aiohttp.access").info('"GET /x?m=13912345678" 200')
    text = out.getvalue()
    assert "login with ****** failed" in text and SECRET not in text
    assert '"GET /x?m=139****5678" 200' in text
