"""`PageRejected`: the one exception reading a page raises (binary data, no title, no date, ...), its reason in one
line. A module of its own because every layer below the entry points raises it too: decoding
(bot/archive/encodings.py) as well as the page parsers (bot/archive/parsing.py)."""

from __future__ import annotations


class PageRejected(ValueError):
    """A page that cannot become an article; `reason` says why, in one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
