"""News pages (plain text like the seed page, or HTML) turned into `Article`s, or rejected with a reason.

Text page layout (the seed page): line 1 title, line 2 lead, line 3 `time, date views`
(`22:29, 27 октября 2021 154`), then body paragraphs, then a sidebar of other items' `time, date views` lines.
The parser is tolerant: the date line may be anywhere in the first lines, the lead may be missing, the view
count may stand on its own line (`Просмотров: 711`); a sidebar (trailing date lines, with or without
headlines, `Сейчас читают: 323`) is cut off the body. Without a date line, a dateline at the start of the text
(`МОСКВА, 19 августа 2021 года. /ТАСС/.`) or a date in the URL (`/2009/12/31/`) is used.

`parse_page` raises nothing but `PageRejected`: one bad page never stops an ingest.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from bot.archive.classify import classify_normalized, normalize_for_rules
from bot.archive.dates import (
    MOSCOW,
    DateError,
    ImpossibleDateError,
    YearMissingError,
    date_prefix_length,
    match_date_prefix,
    parse_date,
    search_date,
)
from bot.archive.html import extract_html, looks_like_html
from bot.archive.models import Article

MAX_PAGE_BYTES = 2 * 1024 * 1024
# How many leading lines may hold the page's own date line.
HEADER_LINES = 6
# A title longer than this is a paragraph, not a title.
MAX_TITLE_CHARS = 1000
# A page dated further ahead than this is mis-dated (clock or time-zone slips of a few hours are tolerated).
FUTURE_TOLERANCE = timedelta(days=1)
# Sidebar headlines are short and carry no sentence-final punctuation.
MAX_SIDEBAR_HEADLINE_CHARS = 160


class PageRejected(ValueError):
    """A page that cannot become an article; `reason` says why, in one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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
_HTML_SUFFIXES = (".html", ".htm", ".xhtml", ".shtml", ".php", ".asp", ".aspx")

_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u205f\u3000\ufeff]+")
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_LETTERS = re.compile(r"[^\W\d_]{2}")
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
_SENTENCE_END = (".", "!", "?", "…", "»", '"', ":", ";")
_URL_DATE = re.compile(
    r"/(?P<y>(?:19|20)\d{2})(?:/(?P<m>\d{1,2})/(?P<d>\d{1,2})(?:/|$)|-(?P<m2>\d{2})-(?P<d2>\d{2})(?:/|$|[^\d])"
    r"|(?P<m3>\d{2})(?P<d3>\d{2})(?:/|$|[^\d]))"
)


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


def clean_line(text: str) -> str:
    """One paragraph: no control characters, single spaces, no surrounding whitespace."""
    # str.split() knows every Unicode space (no-break, thin, ideographic); the regexes only run on odd text.
    joined = " ".join(text.split())
    if joined.isprintable():
        return joined
    return _SPACES.sub(" ", _CONTROL_CHARS.sub(" ", joined)).strip()


def content_hash(title: str, lead: str, body: Sequence[str]) -> str:
    """Hex sha256 of the normalized text: lower case, ё as е, whitespace collapsed, paragraphs joined."""
    fields = (title, lead, " ".join(body))
    normalized = "\x1f".join(" ".join(normalize_for_rules(field).split()) for field in fields)
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()


# ----- site furniture and publisher suffixes ----------------------------------------------------------------
#
# Scraped pages keep the site around the article: search boxes and menus (government.ru), accessibility panels
# (tuvapravda.ru), share bars, aggregator tag lines, "DMCA" tails. Left in, the menu words match every search
# and give every such article the same topics, and the menu becomes the lead. The rules, in order:
#   1. Leading run: paragraphs from the top that are furniture (below) or tolerated inside a furniture block
#      (no sentence end and at most `MAX_LABEL_WORDS` words, or a menu of capitalised words); the run is cut
#      after its LAST furniture paragraph. Text after the last furniture paragraph is never cut by this rule.
#   2. Trailing run: the same from the bottom, cut at its FIRST furniture paragraph, together with the tags
#      right above it (`Марат Шакирзянович Хуснуллин`, a rubric) when a finished sentence stands above them.
#   3. Metadata lines at the top (the date line, counters like `Сейчас читают: 323`, a host name, a photo
#      credit), and the headline repeat: a paragraph equal to the title among the first
#      `MAX_HEADER_PARAGRAPHS`, with only short non-sentence lines (rubrics, captions) before it: all go.
#   Rules 1 and 3 run up to three rounds (pnp.ru: headline, then share bar; stroygaz.ru: date line, then text).
#   Rubric lines right after the furniture stay: without the source's blank lines, a rubric cannot be told from
#   the first line of a wrapped paragraph (`На стратегической сессии под руководством Председателя`).
# A paragraph is furniture when it holds a furniture sentence (`_FURNITURE_SENTENCES`), or it does not end a
# sentence and is made of furniture labels (`_FURNITURE_LABELS`), alone or with a menu, or it is an aggregator
# tag line (its opening words repeated: `Сергей Чемезов Алексей Дюмин Россия … Сергей Чемезов Алексей …`).

# Labels of site furniture, as sites write them (the first letter in either case, or all capitals).
_FURNITURE_LABELS = re.compile(
    r"(?<!\w)(?:[Пп]оиск по сайту|[Пп]оиск по документам|[Рр]асширенный поиск|[Вв]ведите запрос(?: для поиска)?"
    r"|[Вв]се разделы сайта|Найти|Поиск|[Вв]ерсия для (?:слабовидящих|печати)|[Оо]бычная версия"
    r"|[Вв]ернуть настройки по умолчанию|[Мм]еждубуквенный интервал|[Оо]звучка выделенного текста"
    r"|[Рр]азмер шрифта|[Пп]оделиться(?: в социальных сетях)?|[Пп]одписаться на новости|[Чч]итать нас в"
    r"|[Чч]итать на|[Нн]азад к списку|[Ее]щ[её] по (?:этой же )?теме|DMCA|[Ээ]лектронная почта"
    r"|[Вв]ведите коррект\w* [Ee]-?mail|[Кк]од для вставки в блог|[Оо]ткрыть панель"
    r"|[Вв]ключить/выключить отображение изображений|(?:Авторы?|Теги|Тема|Источник|Законопроект):"
    r"|[Оо]цените материал|[Оо]ставить комментарий"
    r"|Live[Jj]ournal|В[Кк]онтакте|Одноклассники|Telegram|Телеграм|Twitter|Facebook|WhatsApp|Viber)(?!\w)"
)
# Whole sentences of site furniture: a paragraph holding one is furniture although it reads as a sentence.
# (Case-sensitive: an IGNORECASE scan of every paragraph's Cyrillic costs several times more.)
_FURNITURE_SENTENCES = re.compile(
    r"используете устаревшую версию браузера|будет выслано письмо с подтверждением"
    r"|[Сс] помощью этого календаря поиск|агрегатор новостей из открытых источников"
    r"|[Вв]ыбрать материалы текущего раздела"
)
# A photo credit line: `© Игорь Самохвалов/ПГ`, `Фото: пресс-служба`.
_CREDIT = re.compile(r"(?:©|\(c\)|[Фф]ото(?:\s*[:—–-]|\s+(?:с|из)\s))", re.IGNORECASE)
# Words of two letters or more (`т.д.`, `А А А` are no words).
_WORDS = re.compile(r"[^\W\d_]{2}[\w-]*")
_HOST_NAME = re.compile(r"(?:[a-z0-9-]+\.)+[a-z]{2,}", re.IGNORECASE)
_CLOSING_QUOTES = "»\"'“”"
_SENTENCE_FINAL = (".", "!", "?", "…")
# A paragraph longer than this is text: never furniture, a label or a header line.
MAX_FURNITURE_CHARS = 600
# A leading furniture block shows a furniture paragraph among its first lines (tuvapravda.ru: the sixth).
MAX_LABELS_BEFORE_FURNITURE = 10
# How far from either end a furniture block may reach (government.ru: 14 paragraphs on top, 30 at the bottom).
MAX_FURNITURE_RUN = 60
# Paragraphs of at most this many words that end no sentence are labels ("Законопроектная деятельность").
MAX_LABEL_WORDS = 6
# Rubric lines, photo captions and repeated headlines above the text: at most this many, this long.
MAX_HEADER_PARAGRAPHS = 4
MAX_HEADER_WORDS = 16
# A menu: at least this many words of 3+ letters, at least half of them capitalised.
MIN_MENU_WORDS = 4


def _reads_as_sentence(paragraph: str) -> bool:
    return paragraph.rstrip(_CLOSING_QUOTES).endswith(_SENTENCE_FINAL)


def _is_menu(text: str) -> bool:
    words = [word for word in _WORDS.findall(text) if len(word) >= 3]
    capitalised = sum(1 for word in words if word[0].isupper())
    return len(words) >= MIN_MENU_WORDS and capitalised * 2 >= len(words)


def _is_tag_line(paragraph: str) -> bool:
    """An aggregator's tag line: its first three words come again later, most words capitalised."""
    first_space = paragraph.find(" ")
    if first_space <= 0 or paragraph.find(f" {paragraph[:first_space]} ", first_space) < 0:
        return False  # the first word never comes again: the common case, decided without splitting
    words = paragraph.split()
    if len(words) < 6:
        return False
    opening = " ".join(words[:3])
    repeated = f" {opening} " in paragraph[1:] or paragraph.endswith(f" {opening}")
    return repeated and _is_menu(paragraph)


def is_furniture(paragraph: str) -> bool:
    """True for a paragraph of site furniture (rules in the section comment above)."""
    if len(paragraph) > MAX_FURNITURE_CHARS:
        return False
    if _FURNITURE_SENTENCES.search(paragraph) is not None or _is_tag_line(paragraph):
        return True
    if _reads_as_sentence(paragraph):
        return False
    rest, found = _FURNITURE_LABELS.subn(" ", paragraph)
    if not found and paragraph.isupper():  # `• ВЕРСИЯ ДЛЯ СЛАБОВИДЯЩИХ`
        rest, found = _FURNITURE_LABELS.subn(" ", paragraph.capitalize())
    return bool(found) and (len(_WORDS.findall(rest)) <= 1 or _is_menu(rest))


def _is_label(paragraph: str, *, menus: bool = True) -> bool:
    """Tolerated inside a furniture block: no sentence end, and few words or (`menus`) a menu."""
    if len(paragraph) > MAX_FURNITURE_CHARS or _reads_as_sentence(paragraph):
        return False
    return len(_WORDS.findall(paragraph)) <= MAX_LABEL_WORDS or (menus and _is_menu(paragraph))


def _is_name_tag(paragraph: str) -> bool:
    words = _WORDS.findall(paragraph)
    return (
        0 < len(words) <= MAX_LABEL_WORDS
        and not _reads_as_sentence(paragraph)
        and all(word[0].isupper() for word in words)
    )


def leading_furniture_end(paragraphs: Sequence[str], *, menus: bool = True) -> int:
    """How many paragraphs at the top are site furniture (rule 1). Without `menus`, a line of capitalised words
    without a furniture label ends the run: above a page's title, such a line may be the title itself."""
    end = 0
    label_value = False  # right after `Автор:`: its values (`Никита Вятчанин`, `Дарья Лантратова`) go with it
    for index, paragraph in enumerate(paragraphs[:MAX_FURNITURE_RUN]):
        if is_furniture(paragraph):
            end = index + 1
            label_value = paragraph.endswith(":")
        elif (end == 0 and index >= MAX_LABELS_BEFORE_FURNITURE) or not _is_label(paragraph, menus=menus):
            break
        elif (
            label_value and end == index and (paragraphs[index - 1].endswith(":") or _is_name_tag(paragraph))
        ):
            end = index + 1
        else:
            label_value = False
    return end


def _trailing_furniture_start(paragraphs: Sequence[str]) -> int:
    """Where the site furniture at the bottom starts (rule 2); len(paragraphs) when there is none."""
    start = len(paragraphs)
    lowest = max(0, len(paragraphs) - MAX_FURNITURE_RUN)
    for index in range(len(paragraphs) - 1, lowest - 1, -1):
        if is_furniture(paragraphs[index]):
            start = index
        elif not _is_label(paragraphs[index]):
            break
    if start < len(paragraphs):
        # Tags above the furniture (people, regions, rubrics) go too, when a finished sentence stands above
        # them: then they cannot be the wrapped end of the last paragraph.
        tags = start
        while tags > 0 and start - tags < MAX_HEADER_PARAGRAPHS and _is_tag_label(paragraphs[tags - 1]):
            tags -= 1
        if tags < start and tags > 0 and _reads_as_sentence(paragraphs[tags - 1]):
            start = tags
    return start


def _is_tag_label(paragraph: str) -> bool:
    first = paragraph[:1]
    return (first.isupper() or first.isdigit()) and _is_header_line(paragraph)


def _is_header_line(paragraph: str) -> bool:
    return (
        len(paragraph) <= MAX_FURNITURE_CHARS
        and not _reads_as_sentence(paragraph)
        and len(_WORDS.findall(paragraph)) <= MAX_HEADER_WORDS
    )


def _same_text(left: str, right: str) -> bool:
    if abs(len(left) - len(right)) > 2:
        return False
    return normalize_for_rules(left).rstrip(". ") == normalize_for_rules(right).rstrip(". ")


def _header_end(paragraphs: Sequence[str], title: str) -> int:
    """How many paragraphs at the top are the headline again, with the rubrics or captions above it (rule 3)."""
    metadata = 0
    while (
        metadata < len(paragraphs)
        and len(paragraphs[metadata]) <= MAX_FURNITURE_CHARS
        and _is_metadata_line(paragraphs[metadata])
    ):
        metadata += 1
    if metadata:
        return metadata
    for index, paragraph in enumerate(paragraphs[:MAX_HEADER_PARAGRAPHS]):
        if title and _same_text(paragraph, title):
            end = index + 1
            while end < len(paragraphs) and _same_text(paragraphs[end], title):
                end += 1
            return end
        if not _is_header_line(paragraph):
            break
    return 0


def _is_metadata_line(paragraph: str) -> bool:
    """The page's date line (the date is published_at), a counter (`Сейчас читают: 323`, `44`), a bare host
    name or a short photo credit (`© Игорь Самохвалов/ПГ`)."""
    return (
        _NOISE_LINE.fullmatch(paragraph) is not None
        or _HOST_NAME.fullmatch(paragraph) is not None
        or (_CREDIT.match(paragraph) is not None and len(_WORDS.findall(paragraph)) <= MAX_LABEL_WORDS)
        or _date_line_views(paragraph) is not None
    )


def strip_furniture(paragraphs: Sequence[str], title: str = "") -> list[str]:
    """The article's paragraphs without site furniture and a repeated headline (clean lines in, clean out)."""
    kept = list(paragraphs[: _trailing_furniture_start(paragraphs)])
    # Rounds: a page may repeat its headline above the furniture (pnp.ru) or below it (government.ru), after a
    # date line (stroygaz.ru) or before one.
    for _ in range(3):
        start = leading_furniture_end(kept)
        header = _header_end(kept[start:], title)
        kept = kept[start + header :]
        if not header:
            break
    return kept


# Publishers whose name sites append to titles (` - Российская газета`, ` || Интерфакс Россия`).
KNOWN_PUBLISHERS = frozenset(
    name.casefold()
    for name in (
        "Российская газета",
        "Интерфакс",
        "Интерфакс Россия",
        "Interfax",
        "РИА Новости",
        "РИА Недвижимость",
        "ТАСС",
        "Строительная газета",
        "Парламентская газета",
        "Независимая газета",
        "Коммерсантъ",
        "Ведомости",
        "Известия",
        "Газета.Ru",
        "Лента.ру",
        "Lenta.ru",
        "РБК",
        "Meduza",
        "RT на русском",
        "Московский комсомолец",
        "Комсомольская правда",
        "Аргументы и факты",
        "Правительство России",
        "Минфин России",
        "ФГБУ «Институт стандартизации»",
    )
)
_TITLE_SEPARATOR = re.compile(r"\s(?:\|\||\||::|-|–|—)\s")
# A site section between the title and a `||` publisher (`… - Недвижимость || Интерфакс Россия`).
MAX_SECTION_WORDS = 3


def _is_publisher(name: str, source: str) -> bool:
    key = name.strip().casefold()
    if key in KNOWN_PUBLISHERS:
        return True
    host = source.strip().casefold().removeprefix("www.")
    return bool(host) and key.replace(" ", "") in (host, host.rsplit(".", 1)[0])


def strip_publisher(title: str, source: str = "") -> str:
    """The title without a publisher's name after (or before) it: ` - X`, ` | X`, ` || X`, ` :: X`, where X is a
    known publisher or the source's own host. A dash inside a title stays: only a known name is cut."""
    for _ in range(3):
        separators = list(_TITLE_SEPARATOR.finditer(title))
        if not separators:
            break
        last = separators[-1]
        if _is_publisher(title[last.end() :], source) and _WORDS.search(title[: last.start()]):
            title = title[: last.start()].rstrip()
            if last.group().strip() == "||" and len(separators) >= 2:
                section = title[separators[-2].end() :]
                if len(_WORDS.findall(section)) <= MAX_SECTION_WORDS:
                    title = title[: separators[-2].start()].rstrip()
            continue
        first = separators[0]
        rest = title[first.end() :]
        if _is_publisher(title[: first.start()], source) and len(_WORDS.findall(rest)) >= 2:
            title = rest.lstrip()
            continue
        break
    return title


def make_article(
    *,
    title: str,
    lead: str,
    body: Sequence[str],
    published_at: datetime,
    views: int | None,
    source: str,
    url: str | None,
) -> Article:
    """An Article from already separated parts: text cleaned, date in UTC (naive means Moscow), classified."""
    clean_body = tuple(paragraph for paragraph in map(clean_line, body) if paragraph)
    return _assemble(
        clean_line(title),
        clean_line(lead),
        clean_body,
        published_at=published_at,
        views=views,
        source=source,
        url=url,
    )


def _assemble(
    title: str,
    lead: str,
    body: tuple[str, ...],
    *,
    published_at: datetime,
    views: int | None,
    source: str,
    url: str | None,
) -> Article:
    """make_article for parts already cleaned by clean_line (the page parser cleans every line once)."""
    if published_at.tzinfo is None:
        published_at = published_at.replace(tzinfo=MOSCOW)
    title = strip_publisher(title, source)
    if lead:
        # The lead is the first paragraph: when it was furniture or the headline again, the next one is.
        paragraphs = strip_furniture((lead, *body), title)
        lead, body = (paragraphs[0], tuple(paragraphs[1:])) if paragraphs else ("", ())
    else:
        body = tuple(strip_furniture(body, title))
    # One lower-cased copy of the text serves both the topic rules and the content hash: clean lines hold
    # single spaces only, so this equals content_hash()'s normalization.
    normal_title = normalize_for_rules(title)
    normal_lead = normalize_for_rules(lead)
    normal_body = normalize_for_rules(" ".join(body))
    classification = classify_normalized(f"{normal_title}\n{normal_lead}", normal_body, source=source)
    digest = hashlib.sha256("\x1f".join((normal_title, normal_lead, normal_body)).encode("utf-8")).hexdigest()
    return Article(
        title=title,
        lead=lead,
        body=body,
        published_at=published_at.astimezone(UTC),
        views=views if views is None or views >= 0 else None,
        source=source,
        url=url.strip() if url and url.strip() else None,
        topics=classification.topics,
        is_gov_commission=classification.is_gov_commission,
        content_hash=digest,
    )


def parse_page(
    data: bytes,
    *,
    source: str,
    url: str | None = None,
    filename: str | None = None,
    now: datetime | None = None,
) -> Article:
    """The article on a text or HTML page; PageRejected (with `.reason`) for anything else."""
    try:
        return _parse_page(data, source=source, url=url, filename=filename, now=now)
    except PageRejected:
        raise
    except Exception as exc:  # a parser bug must cost one page, not the whole ingest
        raise PageRejected(f"unreadable page ({type(exc).__name__}: {exc})") from exc


def _parse_page(
    data: bytes, *, source: str, url: str | None, filename: str | None, now: datetime | None
) -> Article:
    if len(data) > MAX_PAGE_BYTES:
        raise PageRejected(f"page too large ({len(data)} bytes, limit {MAX_PAGE_BYTES})")
    if not data.strip():
        raise PageRejected("empty page")
    text = decode_bytes(data)
    if not text.strip():
        raise PageRejected("empty page")
    anchor = datetime.now(UTC) if now is None else now
    if anchor.tzinfo is None:
        anchor = anchor.replace(tzinfo=MOSCOW)
    is_html = (filename is not None and filename.lower().endswith(_HTML_SUFFIXES)) or looks_like_html(text)
    if is_html:
        title, lead, body, published_at, views = _parse_html(text, url, anchor)
    else:
        title, lead, body, published_at, views = _parse_text(text, url, anchor)
    if published_at > anchor + FUTURE_TOLERANCE:
        raise PageRejected(f"date in the future ({published_at:%Y-%m-%d %H:%M} UTC)")
    if not lead and not body:
        raise PageRejected("no article text after the title")
    article = _assemble(
        title, lead, tuple(body), published_at=published_at, views=views, source=source, url=url
    )
    if not article.lead and not article.body:
        raise PageRejected("no article text after the title (only site navigation)")
    return article


def _check_title(title: str) -> str:
    if not title or _LETTERS.search(title) is None:
        raise PageRejected("no title")
    if len(title) > MAX_TITLE_CHARS:
        raise PageRejected(f"no title (the first line is a {len(title)}-character paragraph)")
    return title


# ----- text pages -------------------------------------------------------------------------------------------


def _date_line_views(line: str) -> tuple[int, int | None] | None:
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


def _views_from_line(line: str) -> int | None:
    match = _VIEWS_LINE.fullmatch(line)
    return int(re.sub(r"\D", "", match.group("views"))) if match else None


def _strip_sidebar(lines: list[str]) -> tuple[list[str], list[str]]:
    """(body, trailer): trailing date lines, counters and sidebar headlines moved off the body."""
    date_line_cache: dict[int, bool] = {}

    def is_date_line(index: int) -> bool:
        if index not in date_line_cache:
            date_line_cache[index] = _date_line_views(lines[index]) is not None
        return date_line_cache[index]

    end = len(lines)
    dates_seen = 0
    while end > 0:
        line = lines[end - 1]
        if is_date_line(end - 1):
            dates_seen += 1
            end -= 1
            continue
        if _NOISE_LINE.fullmatch(line) is not None:
            end -= 1
            continue
        headline_like = len(line) <= MAX_SIDEBAR_HEADLINE_CHARS and not line.endswith(_SENTENCE_END)
        after_is_date = end < len(lines) and is_date_line(end)
        # (date, headline) pairs: the last headline is recognised when at least two pairs stand in a row.
        before_is_date = (
            end >= 2 and is_date_line(end - 2) and (dates_seen > 0 or (end >= 4 and is_date_line(end - 4)))
        )
        if headline_like and (after_is_date or before_is_date):
            end -= 1
            continue
        break
    return lines[:end], lines[end:]


def _parse_text(
    text: str, url: str | None, now: datetime
) -> tuple[str, str, list[str], datetime, int | None]:
    lines = [line for line in map(clean_line, text.splitlines()) if line]
    if not lines:
        raise PageRejected("empty page")
    # Navigation or an accessibility panel above the headline (tuvapravda.ru) is not the title.
    furniture = leading_furniture_end(lines, menus=False)
    if not any(_date_line_views(line) is not None for line in lines[:furniture]):
        lines = lines[furniture:]  # (a run holding the date line is left to make_article's cleaning)
    if not lines:
        raise PageRejected("no article text (only site navigation)")
    date_index = -1
    views: int | None = None
    published_at: datetime | None = None
    for index, line in enumerate(lines[:HEADER_LINES]):
        found = _date_line_views(line)
        if found is None:
            continue
        start, line_views = found
        try:
            match = match_date_prefix(line[start:], now=now)
        except ImpossibleDateError as exc:
            raise PageRejected(f"impossible date: {exc}") from None
        except YearMissingError:
            continue  # "12 июля" alone: maybe a later line has the full date
        if match is None:
            continue
        published_at = match.value
        views = line_views
        date_index = index
        break
    if date_index == 0:
        # The date came first: the title follows it.
        header, rest = lines[1:2], lines[2:]
        title, lead = (header[0] if header else ""), ""
    elif date_index > 0:
        title = lines[0]
        lead = lines[1] if date_index >= 2 else ""
        rest = lines[2:date_index] + lines[date_index + 1 :]
    else:
        title = lines[0]
        lead = lines[1] if len(lines) > 2 else ""
        rest = lines[2:] if len(lines) > 2 else lines[1:]
    title = _check_title(title)
    if rest and views is None and _views_from_line(rest[0]) is not None:
        views = _views_from_line(rest[0])
        rest = rest[1:]
    elif rest and date_index >= 0 and views is None and rest[0].isdigit() and len(rest[0]) <= 9:
        views = int(rest[0])  # "22 декабря 2020" then "44" on its own line
        rest = rest[1:]
    while rest and rest[0] == title:  # pages that repeat the headline above the text
        rest = rest[1:]
    body, trailer = _strip_sidebar(rest)
    if views is None:
        for line in trailer[:3]:
            views = _views_from_line(line)
            if views is not None:
                break
    if published_at is None:
        published_at = _fallback_date(lead, body, url, now)
    return title, lead, body, published_at, views


def _fallback_date(lead: str, body: Sequence[str], url: str | None, now: datetime) -> datetime:
    """A dateline at the start of the text (`МОСКВА, 19 августа 2021. /ТАСС/.`), else a date in the URL."""
    problem = ""
    for paragraph in (lead, *body[:1]):
        try:
            found = search_date(paragraph, now=now, end=120, relative=False)
        except YearMissingError as exc:
            problem = f" ({exc})"
            continue
        except DateError as exc:
            raise PageRejected(f"impossible date: {exc}") from None
        if found is not None:
            return found.value
    if url:
        from_url = date_from_url(url)
        if from_url is not None:
            return from_url
    raise PageRejected(f"no recognizable date{problem}")


def date_from_url(url: str) -> datetime | None:
    """The day in a URL path (`/2009/12/31/`, `/2018-03-15/`, `/20190810/`) at Moscow midnight, in UTC."""
    match = _URL_DATE.search(url)
    if match is None:
        return None
    year = int(match.group("y"))
    month = int(match.group("m") or match.group("m2") or match.group("m3"))
    day = int(match.group("d") or match.group("d2") or match.group("d3"))
    try:
        return datetime(year, month, day, tzinfo=MOSCOW).astimezone(UTC)
    except ValueError:
        return None


# ----- HTML pages -------------------------------------------------------------------------------------------


def _parse_html(
    text: str, url: str | None, now: datetime
) -> tuple[str, str, list[str], datetime, int | None]:
    page = extract_html(text)
    title = _check_title(clean_line(page.title))
    published_at: datetime | None = None
    impossible: str | None = None
    for candidate in page.date_candidates:
        try:
            published_at = parse_date(candidate, now=now)
            break
        except ImpossibleDateError as exc:
            impossible = impossible or str(exc)
        except DateError:
            continue
    if published_at is None:
        if impossible is not None:
            raise PageRejected(f"impossible date: {impossible}")
        published_at = _fallback_date(page.lead, (page.text_head,), url, now)
    paragraphs = [paragraph for paragraph in map(clean_line, page.paragraphs) if paragraph]
    return title, clean_line(page.lead), paragraphs, published_at, page.views
