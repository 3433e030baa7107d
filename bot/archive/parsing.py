"""News pages (plain text like the seed page, or HTML) turned into `Article`s, or rejected with a reason.

Text page layout (the seed page): line 1 title, line 2 lead, line 3 `time, date views`
(`22:29, 27 октября 2021 154`), then body paragraphs, then a sidebar of other items' `time, date views` lines.
The parser is tolerant: the date line may be anywhere in the first lines, the lead may be missing, the view
count may stand on its own line (`Просмотров: 711`); a sidebar (trailing date lines, with or without
headlines, `Сейчас читают: 323`) is cut off the body. Without a date line, a dateline at the start of the text
(`МОСКВА, 19 августа 2021 года. /ТАСС/.`) or a date in the URL (`/2009/12/31/`) is used.

`parse_page` raises nothing but `PageRejected`: one bad page never stops an ingest.

This module owns the entry points (`parse_page`, `make_article`, `content_hash`, `clean_line`), the text-page
parser and the glue to the HTML extractor (bot/archive/html.py). Decoding lives in bot/archive/encodings.py,
date lines and counters in bot/archive/metadata_lines.py, site furniture and publisher names in
bot/archive/furniture.py, `PageRejected` in bot/archive/rejection.py.
"""

from __future__ import annotations

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
    match_date_prefix,
    parse_date,
    search_date,
)
from bot.archive.encodings import decode_bytes
from bot.archive.furniture import leading_furniture_end, strip_furniture, strip_publisher
from bot.archive.html import extract_html, looks_like_html
from bot.archive.metadata_lines import date_line_views, is_noise_line, views_from_line
from bot.archive.models import Article
from bot.archive.rejection import PageRejected

MAX_PAGE_BYTES = 2 * 1024 * 1024
# How many leading lines may hold the page's own date line.
HEADER_LINES = 6
# A title longer than this is a paragraph, not a title.
MAX_TITLE_CHARS = 1000
# A page dated further ahead than this is mis-dated (clock or time-zone slips of a few hours are tolerated).
FUTURE_TOLERANCE = timedelta(days=1)
# Sidebar headlines are short and carry no sentence-final punctuation.
MAX_SIDEBAR_HEADLINE_CHARS = 160

_HTML_SUFFIXES = (".html", ".htm", ".xhtml", ".shtml", ".php", ".asp", ".aspx")

_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u205f\u3000\ufeff]+")
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_LETTERS = re.compile(r"[^\W\d_]{2}")
_SENTENCE_END = (".", "!", "?", "…", "»", '"', ":", ";")
_URL_DATE = re.compile(
    r"/(?P<y>(?:19|20)\d{2})(?:/(?P<m>\d{1,2})/(?P<d>\d{1,2})(?:/|$)|-(?P<m2>\d{2})-(?P<d2>\d{2})(?:/|$|[^\d])"
    r"|(?P<m3>\d{2})(?P<d3>\d{2})(?:/|$|[^\d]))"
)


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
    now: datetime,
) -> Article:
    """The article on a text or HTML page; PageRejected (with `.reason`) for anything else. `now` (the
    caller's clock) anchors relative dates and the check that a page is not dated in the future."""
    try:
        return _parse_page(data, source=source, url=url, filename=filename, now=now)
    except PageRejected:
        raise
    except Exception as exc:  # a parser bug must cost one page, not the whole ingest
        raise PageRejected(f"unreadable page ({type(exc).__name__}: {exc})") from exc


def _parse_page(data: bytes, *, source: str, url: str | None, filename: str | None, now: datetime) -> Article:
    if len(data) > MAX_PAGE_BYTES:
        raise PageRejected(f"page too large ({len(data)} bytes, limit {MAX_PAGE_BYTES})")
    if not data.strip():
        raise PageRejected("empty page")
    text = decode_bytes(data)
    if not text.strip():
        raise PageRejected("empty page")
    anchor = now
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


def _strip_sidebar(lines: list[str]) -> tuple[list[str], list[str]]:
    """(body, trailer): trailing date lines, counters and sidebar headlines moved off the body."""
    date_line_cache: dict[int, bool] = {}

    def is_date_line(index: int) -> bool:
        if index not in date_line_cache:
            date_line_cache[index] = date_line_views(lines[index]) is not None
        return date_line_cache[index]

    end = len(lines)
    dates_seen = 0
    while end > 0:
        line = lines[end - 1]
        if is_date_line(end - 1):
            dates_seen += 1
            end -= 1
            continue
        if is_noise_line(line):
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
    if not any(date_line_views(line) is not None for line in lines[:furniture]):
        lines = lines[furniture:]  # (a run holding the date line is left to make_article's cleaning)
    if not lines:
        raise PageRejected("no article text (only site navigation)")
    date_index = -1
    views: int | None = None
    published_at: datetime | None = None
    for index, line in enumerate(lines[:HEADER_LINES]):
        found = date_line_views(line)
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
    if rest and views is None and views_from_line(rest[0]) is not None:
        views = views_from_line(rest[0])
        rest = rest[1:]
    elif rest and date_index >= 0 and views is None and rest[0].isdigit() and len(rest[0]) <= 9:
        views = int(rest[0])  # "22 декабря 2020" then "44" on its own line
        rest = rest[1:]
    while rest and rest[0] == title:  # pages that repeat the headline above the text
        rest = rest[1:]
    body, trailer = _strip_sidebar(rest)
    if views is None:
        for line in trailer[:3]:
            views = views_from_line(line)
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
