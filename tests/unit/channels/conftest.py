"""Fixtures for the channel adapter tests: the fake providers."""

from __future__ import annotations

import socket

import pytest

from tests.providers.fixtures import *  # noqa: F403


@pytest.fixture
def closed_port() -> int:
    """A localhost port nothing listens on (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The HTTP adapters honour *_PROXY variables; the fakes are local."""
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
