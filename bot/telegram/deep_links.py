"""`/start` payloads that carry a search: `search_covid_vaccine` (plain ASCII words) or `search__<base64url>` (any
text, Russian included: a payload may hold only A-Z, a-z, 0-9, _ and -, at most DEEP_LINK_PAYLOAD_LIMIT)."""

from __future__ import annotations

import re

from aiogram.utils.payload import decode_payload, encode_payload

from bot.telegram.limits import DEEP_LINK_PAYLOAD_LIMIT

SEARCH_PAYLOAD_PREFIX = "search_"
_PAYLOAD_SEPARATORS = re.compile(r"[_\-]+")
_ASCII_WORDS = re.compile(r"[A-Za-z0-9]+( [A-Za-z0-9]+)*")


def search_words_from_payload(payload: str) -> str:
    """The words of a deep link: `search_covid_vaccine` → "covid vaccine"; `search__<base64url>` → its text
    ("" when it does not decode)."""
    rest = payload.removeprefix(SEARCH_PAYLOAD_PREFIX)
    if rest.startswith("_"):
        try:
            return decode_payload(rest[1:]).strip()
        except (ValueError, UnicodeDecodeError):
            return ""
    return _PAYLOAD_SEPARATORS.sub(" ", rest).strip()


def search_payload(words: str) -> str | None:
    """The `/start` payload that searches `words` (None when it would pass Telegram's 64-character limit)."""
    words = " ".join(words.split())
    if _ASCII_WORDS.fullmatch(words):
        payload = SEARCH_PAYLOAD_PREFIX + words.replace(" ", "_")
    else:
        payload = SEARCH_PAYLOAD_PREFIX + "_" + encode_payload(words)
    return payload if len(payload) <= DEEP_LINK_PAYLOAD_LIMIT else None
