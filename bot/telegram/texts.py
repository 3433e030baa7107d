"""Interface texts, one folder per locale (`bot/locales/<lang>/<feature>.toml`).

A text is an HTML template with `{name}` placeholders. `text()` escapes every value it substitutes, so a title
or a query with `<`, `&` or quotes shows as written and never becomes markup. Russian is the default locale;
a key missing in another locale falls back to Russian.
"""

from __future__ import annotations

import html
import tomllib
from collections.abc import Mapping
from functools import cache
from pathlib import Path

DEFAULT_LOCALE = "ru"
LOCALES = ("ru", "en")
_LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"


class Raw(str):
    """A value already rendered as safe HTML (built from escaped parts); `text()` inserts it unescaped."""

    __slots__ = ()


def locale_of(language_code: str | None) -> str:
    """The locale for a Telegram user's language_code: `en*` gets English, everything else Russian."""
    if language_code and language_code.lower().startswith("en"):
        return "en"
    return DEFAULT_LOCALE


@cache
def catalog(locale: str) -> Mapping[str, str]:
    """Flat `feature.key -> template` for one locale."""
    entries: dict[str, str] = {}
    folder = _LOCALES_DIR / locale
    for path in sorted(folder.glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        _flatten(path.stem, data, entries)
    return entries


def _flatten(prefix: str, data: Mapping[str, object], out: dict[str, str]) -> None:
    for key, value in data.items():
        name = f"{prefix}.{key}"
        if isinstance(value, Mapping):
            _flatten(name, value, out)
        else:
            out[name] = str(value)


def template(key: str, locale: str = DEFAULT_LOCALE) -> str:
    found = catalog(locale).get(key)
    if found is None:
        found = catalog(DEFAULT_LOCALE).get(key)
    if found is None:
        raise KeyError(f"no text {key!r}")
    return found


def text(key: str, locale: str = DEFAULT_LOCALE, /, **values: object) -> str:
    """The template for `key` in `locale` with every value HTML-escaped (Raw values inserted as they are)."""
    safe = {
        name: value if isinstance(value, Raw) else html.escape(str(value), quote=False)
        for name, value in values.items()
    }
    return template(key, locale).format_map(safe)
