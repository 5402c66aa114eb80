"""One message's SMTP transaction on a connection from the pool: MAIL, RCPT and DATA.

aiosmtplib's ``sendmail`` would parse the addresses and normalise the message's line
endings for every message; a composed message (:mod:`.mime`) is already in canonical
form, so this sends the same commands and bytes with less work.
"""

from __future__ import annotations

import contextlib
import functools

import aiosmtplib
from aiosmtplib import SMTPStatus
from aiosmtplib.email import quote_address
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings


async def transaction(smtp: aiosmtplib.SMTP, sender: str, recipient: str, raw: bytes) -> str:
    """MAIL, RCPT and DATA for one message already in canonical CRLF form; the server's
    answer to DATA. aiosmtplib's ``sendmail`` would normalise the line endings once more
    just to announce the SIZE, which we know. A refused command resets the envelope
    (RSET), so the connection can carry the next message."""
    if smtp.is_ehlo_or_helo_needed:
        try:
            await smtp.ehlo(timeout=None)
        except aiosmtplib.SMTPHeloError:
            await smtp.helo(timeout=None)
    options = [f"SIZE={len(raw)}".encode("ascii")] if smtp.supports_extension("size") else []
    try:
        # MAIL and RCPT as aiosmtplib's mail() and rcpt() send them, with the addresses
        # quoted once per address rather than parsed again for every message.
        mail_from = b"FROM:" + _quoted(sender)
        answer = await smtp.execute_command(b"MAIL", mail_from, *options, timeout=None)
        if answer.code != SMTPStatus.completed:
            raise aiosmtplib.SMTPSenderRefused(answer.code, answer.message, sender)
        answer = await smtp.execute_command(b"RCPT", b"TO:" + _quoted(recipient), timeout=None)
        if answer.code not in (SMTPStatus.completed, SMTPStatus.will_forward):
            raise aiosmtplib.SMTPRecipientRefused(answer.code, answer.message, recipient)
        response = await _data(smtp, raw)
    except aiosmtplib.SMTPResponseException:
        with contextlib.suppress(ConnectionError, aiosmtplib.SMTPResponseException):
            await smtp.rset(timeout=None)
        raise
    return response.message


async def _data(smtp: aiosmtplib.SMTP, raw: bytes) -> aiosmtplib.SMTPResponse:
    """DATA and the message, as aiosmtplib's ``data`` sends them, without running its two
    regular expressions over every message (about 0.1 ms of CPU): a composed message is
    already in canonical form and rarely has a line to dot-stuff (:func:`as_data`)."""
    answer = await smtp.execute_command(b"DATA", timeout=None)
    if answer.code != SMTPStatus.start_input:
        raise aiosmtplib.SMTPDataError(answer.code, answer.message)
    protocol = smtp.protocol
    if protocol is None:  # lost between the answer and here
        raise aiosmtplib.SMTPServerDisconnected("Connection lost")
    protocol.write(as_data(raw))
    response = await protocol.read_response(timeout=None)
    if response.code != SMTPStatus.completed:
        raise aiosmtplib.SMTPDataError(response.code, response.message)
    return response


def as_data(raw: bytes) -> bytes:
    """``raw`` as sent after DATA: CRLF line ends, lines starting with "." doubled, then
    the closing ".". Each step runs only when needed (what aiosmtplib does, cheaper)."""
    crlf = raw.count(b"\r\n")
    if raw.count(b"\n") != crlf or raw.count(b"\r") != crlf or not raw.endswith(b"\r\n"):
        raw = normalize_message_line_endings(raw)
    if raw.startswith(b".") or b"\n." in raw:
        raw = PERIOD_REGEX.sub(b"..", raw)
    return raw + b".\r\n"


@functools.lru_cache(maxsize=4096)
def _quoted(address: str) -> bytes:
    """``<address>`` for MAIL and RCPT, as aiosmtplib quotes it (ValueError if unsafe)."""
    return quote_address(address).encode("ascii")
