"""The [adapters.csvdrop] section and its part of config.example.toml."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pmsbridge.adapters.csvdrop.config import CsvDropSettings
from pmsbridge.config import ConfigError
from tests.adapters.csvdrop.conftest import settings_for

EXAMPLE = Path(__file__).parents[3] / "config.example.toml"


def problems(**csvdrop) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        settings_for(Path("/srv/drop"), **csvdrop)
    return caught.value.problems


def test_defaults_put_processing_and_archive_inside_the_folder():
    config = settings_for(Path("/srv/drop")).adapter_settings["csvdrop"]
    assert config.processing_folder == Path("/srv/drop/processing")
    assert config.archive_folder == Path("/srv/drop/archive")
    assert config.kind_of("InHouse-2026.CSV") == "snapshot" and config.kind_of("delta.csv") == "delta"
    assert config.kind_of("delta.csv.part") is None and config.kind_of("notes.txt") is None


def test_mistakes_are_named_with_their_key():
    found = problems(encodings=["utf-8", "klingon"], delimiter="a", columns={"rooom": ["x"]},
                     actions={"arrive": "teleport"}, snapshot_trailer="END {rows}", snapshot_checkout_guard=2,
                     date_formats=["dd.mm.yyyy"])
    assert any(p.startswith("adapters.csvdrop.encodings: unknown encoding 'klingon'") for p in found)
    assert any(p.startswith("adapters.csvdrop.delimiter: 'a' cannot separate columns") for p in found)
    assert any(p.startswith("adapters.csvdrop.columns.rooom.[key]:") for p in found)
    assert any(p.startswith("adapters.csvdrop.actions.arrive:") for p in found)
    assert any(p.startswith("adapters.csvdrop.snapshot_trailer: must start with \"#\"") for p in found)
    assert any(p.startswith("adapters.csvdrop.snapshot_checkout_guard:") for p in found)
    assert any(p.startswith("adapters.csvdrop.date_formats: 'dd.mm.yyyy' is neither") for p in found)


def test_the_folders_must_differ():
    assert "must be three different folders" in problems(archive_folder="/srv/drop")[0]


def test_the_example_documents_every_key():
    body = EXAMPLE.read_text().split("[adapters.csvdrop]", 1)[1].split("\n[", 1)[0]
    for name in CsvDropSettings.model_fields:
        assert re.search(rf"^#? ?{name} = ", body, re.MULTILINE), f"adapters.csvdrop.{name} is not documented"
