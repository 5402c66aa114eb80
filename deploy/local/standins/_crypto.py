"""Primitives the fakes use to re-check signatures, written from the specs and
deliberately NOT shared with (or modelled on) the adapters' code:

* HMAC straight from RFC 2104 on top of ``hashlib`` (no ``hmac`` module);
* percent-encoding straight from RFC 3986 section 2.3 (no ``urllib.parse.quote``).
"""

from __future__ import annotations

import hashlib

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def rfc2104_hmac(hash_name: str, key: bytes, message: bytes) -> bytes:
    """HMAC(K, m) = H((K' ^ opad) || H((K' ^ ipad) || m))."""
    block_size = hashlib.new(hash_name).block_size
    if len(key) > block_size:
        key = hashlib.new(hash_name, key).digest()
    key = key.ljust(block_size, b"\x00")
    inner_key = bytes(b ^ 0x36 for b in key)
    outer_key = bytes(b ^ 0x5C for b in key)
    inner = hashlib.new(hash_name, inner_key + message).digest()
    return hashlib.new(hash_name, outer_key + inner).digest()


def rfc3986_encode(text: str) -> str:
    """Every byte of the UTF-8 form outside the unreserved set becomes ``%XX``."""
    out = []
    for byte in text.encode("utf-8"):
        out.append(chr(byte) if byte in _UNRESERVED else f"%{byte:02X}")
    return "".join(out)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
