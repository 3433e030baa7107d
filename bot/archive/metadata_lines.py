"""A page's metadata lines: the date line (`22:29, 27 октября 2021 154`, `Опубликовано: 25.09.2025 · Экономика`)
with its view count, a view counter on a line of its own (`Просмотров: 711`) and counter noise (`Сейчас читают: 323`,
`Поделиться`, a bare number). The text-page parser (bot/archive/parsing.py) reads the date and the views from them
and cuts the sidebar they make; the furniture rules (bot/archive/furniture.py) drop them above the text."""

from __future__ import annotations

import re

from bot.archive.dates import date_prefix_length

_DATE_LABEL = re.compile(
    r"(?:дата(?:\s+публикации)?|опубликовано|опубликован[аы]?|размещено|обновлено|published|posted)\s*:?\s*",
    re.IGNORECASE,
)
_VIEWS_LABEL = r"(?:просмотр\w*|views?|👁)\s*:?\s*"
_VIEWS_NUMBER = r"(?P<views>\d{1,3}(?:[ \u00a0]\d{3})+|\d{1,9})"
# After the date on a date line: a view count and/or a short rubric (`2024-01-10 20:51:10 · Экономика`).
_VIEWS_TAIL = re.compile(
    r"[\s,·|•]*(?:" + _VIEWS_LABEL + ")?" + _VIEWS_NUMBER + "?"
    r"(?:\s*[·|•]\s*[^·|•\d]{1,40})?\s*",
    re.IGNORECASE,
)
_VIEWS_LINE = re.compile(_VIEWS_LABEL + _VIEWS_NUMBER, re.IGNORECASE)
_NOISE_LINE = re.compile(
    r"(?:(?:сейчас читают|читают сейчас|просмотр\w*|views?|комментари\w*|👁)\s*:?\s*[\d\s]*|\d{1,9}|"
    r"поделиться|читайте также|подписывайтесь.*|dmca)",
    re.IGNORECASE,
)


def date_line_views(line: str) -> tuple[int, int | None] | None:
    """(where the date starts, views) when `line` is a date line: a date, maybe a view count, nothing else."""
    start = 0
    label = _DATE_LABEL.match(line)
    if label is not None:
        start = label.end()
    length = date_prefix_length(line[start:])
    if length == 0:
        return None
    tail = _VIEWS_TAIL.fullmatch(line, start + length)
    if tail is None:
        return None
    views_text = tail.group("views")
    views = int(re.sub(r"\D", "", views_text)) if views_text else None
    return start, views


def views_from_line(line: str) -> int | None:
    match = _VIEWS_LINE.fullmatch(line)
    return int(re.sub(r"\D", "", match.group("views"))) if match else None


def is_noise_line(line: str) -> bool:
    """A counter, a bare number or a share/subscribe prompt: never article text."""
    return _NOISE_LINE.fullmatch(line) is not None
