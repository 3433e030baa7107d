"""How the SQLite archive keeps an article's body: zlib-compressed UTF-8 (a BLOB), paragraphs joined by a blank
line. Russian news text is ~5 KB of UTF-8 per ~2,800 characters and compresses ~2.9x (level 6, the corpus), and
the body is most of an article's bytes; nothing searches it with SQL (the ranking index holds its stems), so it
is only ever read whole. Rows written before compression hold the text itself: `unpack` reads both."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

COMPRESSION_LEVEL = 6
PARAGRAPH_SEPARATOR = "\n\n"


def pack(paragraphs: Sequence[str]) -> bytes:
    return zlib.compress(PARAGRAPH_SEPARATOR.join(paragraphs).encode(), COMPRESSION_LEVEL)


def unpack(stored: bytes | str | None) -> str:
    """The body text of a stored value (a packed BLOB, or the text of a row written before compression)."""
    if stored is None:
        return ""
    if isinstance(stored, bytes):
        return zlib.decompress(stored).decode()
    return stored
