"""decode_bytes: the seed page in every supported encoding, damaged UTF-8, short single-byte texts."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.archive.encodings import decode_bytes
from bot.archive.parsing import parse_page
from tests.bot.test_parsing import NOW, PAGES, SEED_BYTES, SEED_TEXT, SEED_TITLE

# ----- encodings --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1251", "koi8-r", "utf-16"])
def test_seed_in_every_supported_encoding(encoding: str) -> None:
    text = SEED_TEXT.replace("–", "-") if encoding == "koi8-r" else SEED_TEXT  # koi8-r has no en dash
    data = text.encode(encoding)
    assert decode_bytes(data).replace("\ufeff", "") == text
    article = parse_page(data, source="seed", now=NOW)
    assert article.title == SEED_TITLE
    assert article.views == 154


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: data[:-1] + "я".encode()[:1], id="cut-last-character"),
        pytest.param(lambda data: data[:200] + b"\xff" + data[200:], id="stray-byte"),
    ],
)
def test_slightly_broken_utf8_stays_utf8(damage: Callable[[bytes], bytes]) -> None:
    data = damage(SEED_BYTES)
    text = decode_bytes(data)
    assert text.startswith(SEED_TITLE)
    assert text.count("\ufffd") == 1
    article = parse_page(data, source="seed", now=NOW)
    assert article.title == SEED_TITLE
    assert article.views == 154


def test_cp1251_fixture_is_really_cp1251() -> None:
    data = (PAGES / "seed-page-cp1251.txt").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    assert decode_bytes(data) == SEED_TEXT


@pytest.mark.parametrize(
    "text",
    ["Правительство", "ЁЛКА И ЁЖ", "Короткий текст на русском языке, обычный.", "Госсовет: 25 лет - итоги"],
)
def test_short_single_byte_texts(text: str) -> None:
    assert decode_bytes(text.encode("cp1251")) == text
    assert decode_bytes(text.encode("koi8-r", errors="replace")) == text.encode(
        "koi8-r", errors="replace"
    ).decode("koi8-r")
    assert decode_bytes(text.encode("utf-8")) == text
