"""The bytes of one notice email: 7-bit clean, text part and optional HTML alternative.

The message always has the same shape, so it is written directly rather than through
``email.message.EmailMessage``, whose header registry costs about a millisecond per
message: headers use RFC 2047 encoded words, display names ``email.utils.formataddr``,
and non-ASCII bodies base64 (canonical CRLF line ends).
Addresses are checked by the standard library's RFC 5322 parser, once per address.
"""

from __future__ import annotations

import base64
import functools
import re
import secrets
from collections.abc import Sequence
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.utils import formataddr, formatdate

CRLF = "\r\n"
_MAX_7BIT_LINE = 998
_BASE64_LINE = 76  # characters per line of a base64 body (RFC 2045)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_MAX_PLAIN_HEADER = 900  # longer ASCII values are folded as encoded words (998 is the limit)
_WORD_OVERHEAD = len("=?utf-8?b??=")
_WORD_BYTES = (78 - 1 - _WORD_OVERHEAD) // 4 * 3  # UTF-8 bytes per continuation word


class BadAddress(ValueError):
    """An address that is not a plain ASCII ``local@domain``."""


@functools.lru_cache(maxsize=4096)
def checked_address(addr: str) -> str:
    """``addr`` if it is a single ASCII addr-spec; BadAddress otherwise."""
    if not addr.isascii():
        raise BadAddress("internationalised addresses are not supported")
    try:
        parsed = Address(addr_spec=addr)
    except (ValueError, IndexError, HeaderParseError) as e:  # all seen on malformed input
        raise BadAddress(f"malformed address ({type(e).__name__})") from None
    if not parsed.username or not parsed.domain or parsed.addr_spec != addr:
        raise BadAddress("malformed address")
    return addr


@functools.lru_cache(maxsize=4096)
def mailbox(addr: str, display_name: str | None = None) -> str:
    """A From/To/Reply-To value: ``Name <addr>`` (name encoded when not ASCII)."""
    return formataddr((display_name or "", checked_address(addr)), charset="utf-8")


def header_value(name: str, value: str) -> str:
    """An unstructured header's value on one logical line (line breaks become spaces):
    as is when printable ASCII, else RFC 2047 encoded words (base64 of whole UTF-8
    characters), folded so that no line passes 78 columns."""
    value = " ".join(_lines(value))
    if value.isascii() and value.isprintable() and len(value) <= _MAX_PLAIN_HEADER:
        return value
    # "Name: " then "=?utf-8?b?" + base64 + "?=" on the first line; " " + word after.
    first = max(3, (78 - len(name) - 2 - _WORD_OVERHEAD) // 4 * 3)
    return (CRLF + " ").join(
        f"=?utf-8?b?{base64.b64encode(word).decode('ascii')}?=" for word in _words(value, first)
    )


def _words(value: str, first: int) -> list[bytes]:
    """``value``'s UTF-8 in pieces of whole characters, as many as fit: at most ``first``
    bytes, then at most _WORD_BYTES each (an empty first piece when the first character
    is longer than ``first``)."""
    data = value.encode("utf-8")
    words, start, budget = [], 0, first
    while len(data) - start > budget:
        end = start + budget
        while end > start and data[end] & 0xC0 == 0x80:  # not inside a character
            end -= 1
        words.append(data[start:end])
        start, budget = end, _WORD_BYTES
    words.append(data[start:])
    return words


def compose(
    headers: Sequence[tuple[str, str]],
    text: str,
    html: str | None,
    *,
    now: float,
) -> bytes:
    """The message: ``headers`` (already encoded values), Date, MIME-Version, body."""
    lines = [f"{name}: {value}" for name, value in headers]
    lines += [f"Date: {formatdate(now, usegmt=True)}", "MIME-Version: 1.0", ""]
    head = CRLF.join(lines)
    if html is None:
        return (head + _part("plain", text)).encode("ascii")
    boundary = "=_duban_" + secrets.token_hex(12)
    # The CRLF before each delimiter belongs to the delimiter (RFC 2046 5.1.1).
    alternatives = (("plain", text), ("html", html))
    parts = "".join(f"--{boundary}{CRLF}{_part(sub, body)}{CRLF}" for sub, body in alternatives)
    multipart = f'Content-Type: multipart/alternative; boundary="{boundary}"{CRLF}{CRLF}'
    return (head + multipart + parts + f"--{boundary}--{CRLF}").encode("ascii")


def _part(subtype: str, body: str) -> str:
    """A text part: its headers, a blank line and its content in canonical form."""
    lines = _lines(body)
    canonical = CRLF.join(lines) + CRLF
    head = f"Content-Type: text/{subtype}; charset=utf-8{CRLF}Content-Transfer-Encoding: "
    if _is_7bit(canonical) and all(len(line) <= _MAX_7BIT_LINE for line in lines):
        return f"{head}7bit{CRLF}{CRLF}{canonical}"
    encoded = base64.b64encode(canonical.encode("utf-8")).decode("ascii")
    wrapped = [encoded[i : i + _BASE64_LINE] for i in range(0, len(encoded), _BASE64_LINE)]
    return f"{head}base64{CRLF}{CRLF}{CRLF.join(wrapped)}{CRLF}"


def _lines(text: str) -> list[str]:
    """``text`` split at its line breaks (CRLF, CR or LF); without a CR, the plain split
    finds the same lines several times faster than the regular expression."""
    return _LINE_BREAK.split(text) if "\r" in text else text.split("\n")


def _is_7bit(text: str) -> bool:
    """Printable ASCII, tabs and line breaks only (no NUL or other controls)."""
    return text.isascii() and text.replace("\t", "").replace(CRLF, "").isprintable()
