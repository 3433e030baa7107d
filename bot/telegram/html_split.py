"""Telegram's message length, and long HTML texts split into messages, for every feature that sends text.

Lengths are counted the way Telegram counts them: after entity parsing, in UTF-16 code units (`visible_length`).
`split_text` cuts at paragraph, then sentence, then word boundaries, never inside a tag or an entity, closing the
formatting open at a cut and reopening it in the next part; `fit_message` keeps the first part that fits.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.telegram.limits import MESSAGE_TEXT_LIMIT

_TOKEN_RE = re.compile(r"(<[^<>]*>|&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z][a-zA-Z0-9]{1,31});)")
_TAG_NAME_RE = re.compile(r"^<\s*(/?)\s*([a-zA-Z][a-zA-Z0-9-]*)")
_SENTENCE_END = frozenset(".!?…")
_SENTENCE_CLOSERS = frozenset("»\"')”’]")

_TEXT, _OPEN, _CLOSE = 0, 1, 2


@dataclass(slots=True)
class _Unit:
    raw: str  # as it appears in the HTML
    char: str  # the visible character ("" for tags)
    width: int  # UTF-16 code units after entity parsing
    kind: int
    tag: str = ""


def utf16_length(value: str) -> int:
    return len(value.encode("utf-16-le")) // 2


def _tokenize(html_text: str) -> list[_Unit]:
    units: list[_Unit] = []
    for index, piece in enumerate(_TOKEN_RE.split(html_text)):
        if not piece:
            continue
        if index % 2 == 1:
            if piece[0] == "<":
                match = _TAG_NAME_RE.match(piece)
                name = match.group(2).lower() if match else ""
                closing = bool(match and match.group(1))
                units.append(_Unit(piece, "", 0, _CLOSE if closing else _OPEN, name))
            else:
                char = html.unescape(piece)
                units.append(_Unit(piece, char, utf16_length(char), _TEXT))
        else:
            units.extend(_Unit(char, char, 2 if ord(char) > 0xFFFF else 1, _TEXT) for char in piece)
    return units


_TAG_RE = re.compile(r"<[^<>]*>")


def visible_length(html_text: str) -> int:
    """The length Telegram checks against its limits: tags removed, entities decoded, UTF-16 code units."""
    visible = _TAG_RE.sub("", html_text)
    if "&" in visible:
        visible = html.unescape(visible)
    return utf16_length(visible)


def _cut_level(units: Sequence[_Unit], position: int) -> int:
    """How good a cut before units[position] is: 3 paragraph, 2 sentence, 1 word, 0 none."""
    previous = [u.char for u in units[max(0, position - 8) : position] if u.kind == _TEXT]
    if not previous or not previous[-1].isspace():
        return 0
    if len(previous) >= 2 and previous[-1] == "\n" and previous[-2] == "\n":
        return 3
    stripped = "".join(previous).rstrip()
    while stripped and stripped[-1] in _SENTENCE_CLOSERS:
        stripped = stripped[:-1]
    if stripped and stripped[-1] in _SENTENCE_END:
        return 2
    return 1


def split_text(html_text: str, limit: int = MESSAGE_TEXT_LIMIT) -> list[str]:
    """Split HTML into messages of at most `limit` visible UTF-16 code units each: at paragraph boundaries,
    then sentence boundaries, then between words, and only as a last resort inside a word. A tag or an entity
    is never broken; formatting open at a cut is closed at the end of one part and reopened in the next."""
    if limit < 1:
        raise ValueError("limit must be positive")
    units = _tokenize(html_text)
    parts: list[str] = []
    open_tags: list[_Unit] = []
    start = 0
    total = len(units)
    while start < total:
        # Leading whitespace of a part would be trimmed by Telegram anyway.
        while start < total and units[start].kind == _TEXT and units[start].char.isspace():
            start += 1
        if start >= total:
            break
        width = 0
        end = start
        while end < total and width + units[end].width <= limit:
            width += units[end].width
            end += 1
        if end >= total:
            cut = total
        else:
            cut = _best_cut(units, start, end)
            # Closing tags right after the cut belong to this part (they take no space).
            while cut < total and units[cut].kind == _CLOSE:
                cut += 1
        prefix = "".join(tag.raw for tag in open_tags)
        body_units = units[start:cut]
        for unit in body_units:
            if unit.kind == _OPEN:
                open_tags.append(unit)
            elif unit.kind == _CLOSE:
                for depth in range(len(open_tags) - 1, -1, -1):
                    if open_tags[depth].tag == unit.tag:
                        del open_tags[depth]
                        break
        last_visible = max(
            (i for i, unit in enumerate(body_units) if unit.kind == _TEXT and not unit.char.isspace()),
            default=-1,
        )
        if last_visible >= 0:
            # Trailing whitespace dropped, the tags after it kept.
            kept = body_units[: last_visible + 1] + [
                u for u in body_units[last_visible + 1 :] if u.kind != _TEXT
            ]
            suffix = "".join(f"</{tag.tag}>" for tag in reversed(open_tags))
            parts.append(prefix + "".join(unit.raw for unit in kept) + suffix)
        start = cut
    return parts


def _best_cut(units: Sequence[_Unit], start: int, end: int) -> int:
    """The cut in (start, end]: the last paragraph boundary, else the last sentence end, else the last space,
    preferring a boundary that fills at least a quarter of the part; `end` itself (a hard cut) when there is
    none."""
    last_of_level = {1: 0, 2: 0, 3: 0}
    for position in range(end, start, -1):
        level = _cut_level(units, position)
        if level and not last_of_level[level]:
            last_of_level[level] = position
            if level == 3:
                break
    enough = start + (end - start) // 4
    for level in (3, 2, 1):
        if last_of_level[level] > enough:
            return last_of_level[level]
    for level in (3, 2, 1):
        if last_of_level[level]:
            return last_of_level[level]
    return end


def fit_message(html_text: str, limit: int = MESSAGE_TEXT_LIMIT) -> str:
    """The first part of `html_text` that fits one message (the whole text when it fits)."""
    if visible_length(html_text) <= limit:
        return html_text
    first = split_text(html_text, limit - 1)[0]
    return first + "…"
