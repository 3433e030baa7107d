"""Search results as a CSV file for /export: UTF-8 with a byte order mark, so Excel opens Cyrillic."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import tzinfo

from bot.archive.dates import format_local
from bot.archive.models import SearchHit
from bot.telegram.html_text import clean

EXPORT_LIMIT = 1000
CSV_HEADER = ("date", "source", "title", "url", "lead")
# A spreadsheet runs a cell starting with these as a formula; a leading apostrophe keeps it text.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str) -> str:
    value = clean(value).replace("\r\n", "\n")
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def articles_csv(hits: Iterable[SearchHit], tz: tzinfo) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for hit in hits:
        writer.writerow(
            (
                format_local(hit.published_at, tz, "%Y-%m-%d"),
                _cell(hit.source),
                _cell(hit.title),
                _cell(hit.url or ""),
                _cell(hit.lead),
            )
        )
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
