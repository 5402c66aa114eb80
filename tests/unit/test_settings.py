"""Settings from the environment: a bad value names its variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.settings import Settings, SettingsError


def test_a_bad_setting_names_its_variable() -> None:
    with pytest.raises(SettingsError, match="DUBAN_POISON_ATTEMPTS='three'"):
        Settings.from_env(Path("."), {"DUBAN_POISON_ATTEMPTS": "three"})
    with pytest.raises(SettingsError, match="DUBAN_EARLIEST_DATE"):
        Settings.from_env(Path("."), {"DUBAN_EARLIEST_DATE": "2000/01/01"})
    settings = Settings.from_env(Path("."), {"DUBAN_DEADLINE_TOLERANCE_DAYS": "0"})
    assert settings.input_limits.plausibility.deadline_tolerance.days == 0
