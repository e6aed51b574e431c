"""The ``[adapters.csvdrop]`` section: where the PMS drops its files and how they are written.

Two kinds of file, told apart by name (globs, compared without regard to case; the first
list that matches wins, so ``snapshot_files`` are tried before ``delta_files``):

- *delta* files: each row is one event (``action`` column: check-in, check-out, guest
  change, move, wake-up, DND);
- *snapshot* files: the full in-house list, one row per guest, compared with the ledger's
  rooms. A snapshot must end with the trailer line (``snapshot_trailer``, by default
  ``#END <rows>``), so a truncated export is recognised and never checks out the hotel.

Column names are matched through aliases (``columns`` adds to the built-in ones in
``reader.COLUMN_ALIASES``) and action words likewise (``actions``, added to
``rows.ACTION_ALIASES``).
"""

from __future__ import annotations

import codecs
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pmsbridge.adapters.hotel_time import check_format

DeltaAction = Literal[
    "check_in", "check_out", "guest_change", "room_move", "wakeup_set", "wakeup_clear", "dnd_on", "dnd_off"
]
CanonicalColumn = Literal[
    "action", "room", "from_room", "reservation", "last_name", "first_name", "title", "language", "vip",
    "group", "arrival", "departure", "wakeup",
]


def normalise_name(text: str) -> str:
    """A header or action word as compared: case-folded, blanks and hyphens as underscores."""
    return "_".join(text.strip().casefold().replace("-", " ").split())


class CsvDropSettings(BaseModel):
    """Settings of the file-drop adapter; see the module docstring."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    enabled: bool = True
    folder: Path = Field(description="where the PMS drops its files")
    processing_folder: Path | None = Field(default=None, description="claimed files; default: <folder>/processing")
    archive_folder: Path | None = Field(default=None, description="processed files; default: <folder>/archive")
    poll_interval: float = Field(default=5.0, gt=0, le=3600, description="seconds between two looks at the folder")
    settle_seconds: float = Field(
        default=5.0, ge=0, le=3600, description="a file's size and time must not change for this long"
    )
    ignore_files: list[str] = Field(
        default_factory=lambda: ["*.tmp", "*.part", "*.partial", "*.crdownload", ".*", "~*"],
        description="names never read (files still being written under a temporary name)",
    )
    snapshot_files: list[str] = Field(default_factory=lambda: ["inhouse*.csv"])
    delta_files: list[str] = Field(default_factory=lambda: ["*.csv"])
    encodings: list[str] = Field(
        default_factory=lambda: ["utf-8-sig", "cp1252"], min_length=1,
        description="tried in order; utf-8-sig also reads UTF-8 without a BOM",
    )
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    date_formats: list[str] = Field(
        default_factory=lambda: ["%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S",
                                 "%d.%m.%Y", "%d.%m.%Y %H:%M", "iso"],
        min_length=1,
    )
    columns: dict[CanonicalColumn, list[str]] = Field(
        default_factory=dict, description="more header names per column, e.g. room = [\"Zi-Nr\"]"
    )
    actions: dict[str, DeltaAction] = Field(default_factory=dict, description="more action words, e.g. ANREISE")
    snapshot_trailer: str = Field(
        default="#END {rows}", min_length=1, description="the last line of a snapshot; {rows}: its row count"
    )
    snapshot_checkout_guard: float = Field(
        default=0.5, ge=0, le=1, description="hold a snapshot that would vacate more than this share"
    )
    source: str = Field(default="csv", min_length=1, max_length=64, description="the ledger's source name")

    @field_validator("encodings")
    @classmethod
    def _known_encodings(cls, value: list[str]) -> list[str]:
        for name in value:
            try:
                codecs.lookup(name)
            except LookupError:
                raise ValueError(f"unknown encoding {name!r} (e.g. utf-8-sig, cp1252, latin-1)") from None
        return value

    @field_validator("date_formats")
    @classmethod
    def _formats(cls, value: list[str]) -> list[str]:
        return [check_format(pattern) for pattern in value]

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, value: str) -> str:
        if value in "\"\r\n#" or value.isalnum():
            raise ValueError(f"{value!r} cannot separate columns; use , ; | or a tab")
        return value

    @field_validator("actions")
    @classmethod
    def _action_words(cls, value: dict[str, DeltaAction]) -> dict[str, DeltaAction]:
        return {normalise_name(word): action for word, action in value.items()}

    @field_validator("columns")
    @classmethod
    def _column_names(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        return {column: [normalise_name(alias) for alias in aliases] for column, aliases in value.items()}

    @field_validator("snapshot_trailer")
    @classmethod
    def _trailer(cls, value: str) -> str:
        if not value.startswith("#"):
            raise ValueError('must start with "#", like the comment lines it is told apart from')
        if value.replace("{rows}", "").count("{") or value.replace("{rows}", "").count("}"):
            raise ValueError("only the placeholder {rows} is allowed")
        return value

    @model_validator(mode="after")
    def _folders(self) -> CsvDropSettings:
        if self.processing_folder is None:
            self.processing_folder = self.folder / "processing"
        if self.archive_folder is None:
            self.archive_folder = self.folder / "archive"
        if len({self.folder, self.processing_folder, self.archive_folder}) < 3:
            raise ValueError("folder, processing_folder and archive_folder must be three different folders")
        return self

    def kind_of(self, name: str) -> Literal["snapshot", "delta"] | None:
        """Which kind of file ``name`` is, or None for a file to leave alone."""
        folded = name.casefold()
        if any(fnmatchcase(folded, pattern.casefold()) for pattern in self.ignore_files):
            return None
        if any(fnmatchcase(folded, pattern.casefold()) for pattern in self.snapshot_files):
            return "snapshot"
        if any(fnmatchcase(folded, pattern.casefold()) for pattern in self.delta_files):
            return "delta"
        return None
