"""A page's bytes as text: UTF-8 (with or without BOM, a stray byte tolerated), UTF-16 with BOM, cp1251 or
koi8-r (a declared `<meta charset>` first, else the decoding in which frequent Russian letters are frequent);
binary data is rejected with `PageRejected`."""

from __future__ import annotations

import codecs
import re

from bot.archive.rejection import PageRejected

# Bytes that do not occur in text: C0 controls except tab, LF, VT, FF, CR and ESC.
_CONTROL_BYTES = bytes(set(range(32)) - {9, 10, 11, 12, 13, 27})
# Bytes of Russian text in a single-byte encoding: ASCII text, the Cyrillic block 0xC0-0xFF, Ё/ё and the usual
# typographic marks of cp1251 (and their koi8-r counterparts, which fall in 0x80-0xBF as well).
_TEXTUAL_SINGLE_BYTES = bytes(
    set(range(32, 127))
    | {9, 10, 13}
    | set(range(0xC0, 0x100))
    | {0x85, 0x96, 0x97, 0xAB, 0xBB, 0xB9, 0xA0, 0xA8, 0xB8}
    | {0x9A, 0xA3, 0xB3, 0xBF, 0x95}
)
_NOT_TEXTUAL_SINGLE_BYTES = bytes(set(range(256)) - set(_TEXTUAL_SINGLE_BYTES))
_FREQUENT_RUSSIAN_LETTERS = "оеаинтсрвл"
_ALL_BYTES = bytes(range(256))
_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?([A-Za-z0-9_-]{2,20})""", re.IGNORECASE)


def decode_bytes(data: bytes) -> str:
    """The text of a page: UTF-8 (with or without BOM), UTF-16 with BOM, cp1251 or koi8-r.

    Raises PageRejected for binary data.
    """
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise PageRejected("binary data (broken UTF-16)") from None
    if not data:
        return ""
    controls = len(data) - len(data.translate(_ALL_BYTES, _CONTROL_BYTES))
    if b"\x00" in data or controls * 100 > len(data):
        raise PageRejected("binary data, not a text page")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # A UTF-8 page with a stray byte or a cut last character stays UTF-8: read as cp1251 it would be all
    # mojibake. cp1251 text read as UTF-8 fails on nearly every Cyrillic letter instead.
    as_utf8 = data.decode("utf-8", errors="replace")
    broken = as_utf8.count("\ufffd")
    if broken <= 3 or broken * 100 <= len(as_utf8):
        return as_utf8
    declared = _declared_charset(data)
    if declared is not None:
        return data.decode(declared, errors="replace")
    not_textual = len(data) - len(data.translate(_ALL_BYTES, _NOT_TEXTUAL_SINGLE_BYTES))
    if not_textual * 10 > len(data):
        raise PageRejected("binary data, not a text page (neither UTF-8 nor cp1251/koi8-r)")
    # cp1251 or koi8-r: the decoding in which the most frequent Russian letters are frequent wins. Letter case
    # alone is not enough (an all-capitals headline looks like koi8-r lower case).
    as_cp1251 = data.decode("cp1251", errors="replace")
    as_koi8 = data.decode("koi8-r", errors="replace")
    return as_koi8 if _russian_letter_score(as_koi8) > _russian_letter_score(as_cp1251) else as_cp1251


def _russian_letter_score(text: str) -> int:
    sample = text[:20000].lower()
    return sum(sample.count(letter) for letter in _FREQUENT_RUSSIAN_LETTERS)


def _declared_charset(data: bytes) -> str | None:
    match = _META_CHARSET.search(data[:4096])
    if match is None:
        return None
    try:
        name = codecs.lookup(match.group(1).decode("ascii")).name
    except (LookupError, UnicodeDecodeError):
        return None
    return None if name in ("utf-8", "utf-16", "utf-32") else name
