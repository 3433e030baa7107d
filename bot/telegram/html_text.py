"""Plain strings made safe for Telegram's HTML parse mode, for every feature that builds messages.

Every article or user string goes through `escape()` (or `text()` from bot/telegram/texts.py) before it becomes part
of a message; `clean()` drops the control characters Telegram shows as garbage or rejects, `safe_url()` lets only
http(s) URLs into href, `shorten()` cuts at a word boundary with an ellipsis.
"""

from __future__ import annotations

import html
import re

# C0 controls (except tab and newline) and DEL: Telegram shows them as garbage or rejects the text.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SAFE_URL_RE = re.compile(r"^https?://[^\s<>\"'\\\x00-\x1f\x7f]+$", re.IGNORECASE)


def clean(value: str) -> str:
    """Text without control characters (snippet marks included): safe to show, before escaping."""
    return _CONTROL_RE.sub("", value)


def escape(value: str) -> str:
    """HTML text content: `<`, `>` and `&` escaped, control characters removed."""
    return html.escape(clean(value), quote=False)


def safe_url(url: str | None) -> str | None:
    """An http(s) URL that can go into href, or None (a javascript: or malformed URL is never linked)."""
    if url and len(url) <= 2048 and _SAFE_URL_RE.match(url):
        return url
    return None


def shorten(value: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary when there is one, with an ellipsis."""
    if len(value) <= limit:
        return value
    cut = value[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"
