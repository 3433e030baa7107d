"""How the SQLite backend stores a moment: ISO 8601 UTC text with seconds (one format, so stored times
compare and sort as strings)."""

from __future__ import annotations

from datetime import UTC, datetime


def to_db_time(moment: datetime) -> str:
    """ISO 8601 UTC with seconds: one format, so stored times compare as strings."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def from_db_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)
