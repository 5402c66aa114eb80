"""Test-session isolation: no DUBAN_* setting leaks in from the shell or the Makefile."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _clean_duban_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests configure what they need; the stack's own port overrides are kept."""
    for name in list(os.environ):
        if name.startswith("DUBAN_") and not name.startswith("DUBAN_STACK_"):
            monkeypatch.delenv(name)
