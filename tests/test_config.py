"""The settings table in docs/OPERATIONS.md names every setting the service reads, and nothing else."""

from __future__ import annotations

import re
from dataclasses import fields

import pytest

from service.config import ConfigError, Settings
from tests.conftest import ROOT


def documented() -> set[str]:
    text = (ROOT / "docs" / "OPERATIONS.md").read_text(encoding="utf-8")
    table = text[text.index("| variable"):]
    table = table[:table.index("\n\n")]
    return set(re.findall(r"`KB_([A-Z_]+)`", table))


def test_every_setting_is_documented_and_every_documented_one_exists():
    read = {f.name.upper() for f in fields(Settings)}
    assert read == documented()


def test_settings_are_read_from_the_environment_and_checked(monkeypatch):
    monkeypatch.setenv("KB_MAX_QUERY_CHARS", "123")
    assert Settings().max_query_chars == 123
    monkeypatch.setenv("KB_MAX_QUERY_CHARS", "many")
    with pytest.raises(ConfigError, match="KB_MAX_QUERY_CHARS"):
        Settings()
