"""The default sources file (bot/default_sources.toml), read on the first start."""

from __future__ import annotations

import tomllib
from pathlib import Path

from bot.sources.records import DEFAULT_INTERVAL_SECONDS, MIN_INTERVAL_SECONDS, NewSource, SourceKind

DEFAULT_SOURCES_FILE = Path(__file__).resolve().parent.parent / "default_sources.toml"


class DefaultsError(ValueError):
    """The defaults file is malformed; the message names the entry."""


def load_default_sources(path: Path = DEFAULT_SOURCES_FILE) -> list[NewSource]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise DefaultsError(f"{path}: {error}") from None
    entries = data.get("source", [])
    if not isinstance(entries, list):
        raise DefaultsError(f"{path}: expected [[source]] tables")
    sources: list[NewSource] = []
    for number, entry in enumerate(entries, start=1):
        try:
            name, url, kind = (
                str(entry["name"]).strip(),
                str(entry["url"]).strip(),
                str(entry.get("kind", "rss")),
            )
            minutes = entry.get("interval_minutes")
            interval = DEFAULT_INTERVAL_SECONDS if minutes is None else int(minutes) * 60
            source = NewSource(
                url=url,
                name=name,
                kind=SourceKind(kind),
                poll_interval_seconds=interval,
                enabled=bool(entry.get("enabled", True)),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise DefaultsError(f"{path}: source #{number}: {error}") from None
        if not url.startswith(("http://", "https://")) or not name:
            raise DefaultsError(f"{path}: source #{number}: needs a name and an http(s) URL")
        if interval < MIN_INTERVAL_SECONDS:
            raise DefaultsError(f"{path}: source #{number}: interval under {MIN_INTERVAL_SECONDS} s")
        sources.append(source)
    return sources
