"""HTML rendering of search results and articles for Telegram, and splitting long texts into messages.

Every article or user string goes through `escape()` (or `text()` from bot/telegram/texts.py) before it becomes part
of a message; snippet marks (MARK_START/MARK_END) become <b>…</b> only after the text around them is escaped.
Lengths are counted the way Telegram counts them: after entity parsing, in UTF-16 code units.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.archive.models import MARK_END, MARK_START, SearchHit, StoredArticle
from bot.telegram.callbacks import ArticleMore, SearchPage
from bot.telegram.limits import MESSAGE_TEXT_LIMIT
from bot.telegram.texts import Raw, text

SEARCH_PAGE_SIZE = 5
TITLE_DISPLAY_CHARS = 300
SNIPPET_DISPLAY_CHARS = 400
LEAD_DISPLAY_CHARS = 600
QUERY_DISPLAY_CHARS = 100
# A filter the parser could not read is quoted back this long, and at most this many of them.
INVALID_TOKEN_CHARS = 40
INVALID_TOKENS_SHOWN = 5

# C0 controls (except tab and newline) and DEL: Telegram shows them as garbage or rejects the text.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_MARKS_RE = re.compile(f"([{MARK_START}{MARK_END}])")
_SAFE_URL_RE = re.compile(r"^https?://[^\s<>\"'\\\x00-\x1f\x7f]+$", re.IGNORECASE)


# --- plain text helpers ---------------------------------------------------------------------------------


def clean(value: str) -> str:
    """Text without control characters (snippet marks included): safe to show, before escaping."""
    return _CONTROL_RE.sub("", value)


def escape(value: str) -> str:
    """HTML text content: `<`, `>` and `&` escaped, control characters removed."""
    return html.escape(clean(value), quote=False)


def safe_url(url: str | None) -> str | None:
    """An http(s) URL that can go into href, or None (a javascript: or malformed URL is never linked)."""
    if url and len(url) <= 2048 and _SAFE_URL_RE.match(url):
        return url
    return None


def shorten(value: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary when there is one, with an ellipsis."""
    if len(value) <= limit:
        return value
    cut = value[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def marked_to_html(snippet: str) -> str:
    """Escape a snippet and turn its marks into bold; unbalanced or nested marks still give valid HTML."""
    parts: list[str] = []
    bold = False
    for piece in _MARKS_RE.split(snippet):
        if piece == MARK_START:
            if not bold:
                parts.append("<b>")
                bold = True
        elif piece == MARK_END:
            if bold:
                parts.append("</b>")
                bold = False
        elif piece:
            parts.append(escape(piece))
    if bold:
        parts.append("</b>")
    return "".join(parts).replace("<b></b>", "")


def unmarked(snippet: str) -> str:
    """A snippet as plain text (marks dropped), for places without formatting (inline descriptions)."""
    return clean(snippet.replace(MARK_START, "").replace(MARK_END, ""))


def format_date(moment: datetime, tz: tzinfo) -> str:
    return moment.astimezone(tz).strftime("%d.%m.%Y")


def title_html(title: str, url: str | None, article_id: int, locale: str) -> str:
    """The title as a link, or bold with the article number when there is no usable URL."""
    shown = escape(shorten(title.strip(), TITLE_DISPLAY_CHARS)) or text("bot.untitled", locale)
    link = safe_url(url)
    if link:
        return f'<a href="{html.escape(link, quote=True)}">{shown}</a>'
    return text("bot.title_without_url", locale, title=Raw(shown), id=article_id)


def invalid_filters_note(tokens: Sequence[str], locale: str, *, hint: bool = False) -> str:
    """ "⚠️ Не понял: с:31.02.2021 — фильтр не применён." for the filters parse_query could not read (it searched
    without them), or "" when there are none; `hint` adds how to write them. Without the hint the text has no
    tags, so `html.unescape` of it is plain text (an inline button)."""
    if not tokens:
        return ""
    shown = [shorten(clean(token), INVALID_TOKEN_CHARS) for token in tokens[:INVALID_TOKENS_SHOWN]]
    if len(tokens) > INVALID_TOKENS_SHOWN:
        shown.append("…")
    key = "bot.filter_invalid" if len(tokens) == 1 else "bot.filters_invalid"
    note = text(key, locale, tokens=", ".join(shown))
    return f"{note} {text('bot.filter_hint', locale)}" if hint else note


# --- search results ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SearchPageView:
    """One rendered page of search results: the HTML text and its keyboard."""

    text: str
    keyboard: InlineKeyboardMarkup | None


def page_count(total: int, page_size: int = SEARCH_PAGE_SIZE) -> int:
    return max(1, (total + page_size - 1) // page_size)


def render_hit(number: int, hit: SearchHit, tz: tzinfo, locale: str) -> str:
    head = text(
        "bot.hit_head",
        locale,
        number=number,
        date=format_date(hit.published_at, tz),
        source=shorten(clean(hit.source), 80),
    )
    snippet_source = hit.snippet or hit.lead
    snippet = marked_to_html(shorten(snippet_source, SNIPPET_DISPLAY_CHARS)) if snippet_source else ""
    lines = [head, title_html(hit.title, hit.url, hit.article_id, locale)]
    if snippet:
        lines.append(snippet)
    return "\n".join(lines)


def render_search_page(
    hits: Sequence[SearchHit],
    *,
    query_text: str,
    total: int,
    page: int,
    key: str,
    tz: tzinfo,
    locale: str,
    more_than: bool = False,
    page_size: int = SEARCH_PAGE_SIZE,
    invalid_tokens: Sequence[str] = (),
) -> SearchPageView:
    """The text and keyboard of result page `page` (0-based). `key` names the query kept server-side;
    `more_than` says the total is a capped count ("1000+"); `invalid_tokens` (filters the parser could not
    read, so the search ran without them) are named under the header."""
    query_shown = shorten(clean(query_text), QUERY_DISPLAY_CHARS)
    note = invalid_filters_note(invalid_tokens, locale, hint=True)
    if not hits:
        nothing = text("bot.search_nothing", locale, query=query_shown)
        return SearchPageView(f"{nothing}\n\n{note}" if note else nothing, None)
    pages = page_count(total, page_size)
    header = text(
        "bot.search_header",
        locale,
        query=query_shown,
        total=f"{total}+" if more_than else total,
        page=page + 1,
        pages=f"{pages}+" if more_than else pages,
    )
    if note:
        header += "\n" + note
    first = page * page_size + 1
    blocks = [render_hit(first + index, hit, tz, locale) for index, hit in enumerate(hits)]
    body = "\n\n".join([header, *blocks])
    return SearchPageView(
        fit_message(body), search_keyboard(hits, key=key, page=page, pages=pages, first=first, locale=locale)
    )


def search_keyboard(
    hits: Sequence[SearchHit], *, key: str, page: int, pages: int, first: int, locale: str
) -> InlineKeyboardMarkup:
    more = [
        InlineKeyboardButton(
            text=text("bot.more_button", locale, number=first + index),
            callback_data=ArticleMore(article_id=hit.article_id).pack(),
        )
        for index, hit in enumerate(hits)
    ]
    rows = [more[:3], more[3:]] if len(more) > 3 else [more]
    navigation: list[InlineKeyboardButton] = []
    if page > 0:
        navigation.append(
            InlineKeyboardButton(
                text=text("bot.page_prev", locale), callback_data=SearchPage(key=key, page=page - 1).pack()
            )
        )
    if page + 1 < pages:
        navigation.append(
            InlineKeyboardButton(
                text=text("bot.page_next", locale), callback_data=SearchPage(key=key, page=page + 1).pack()
            )
        )
    if navigation:
        rows.append(navigation)
    return InlineKeyboardMarkup(inline_keyboard=[row for row in rows if row])


def render_latest(articles: Sequence[StoredArticle], tz: tzinfo, locale: str) -> str:
    header = text("bot.latest_header", locale, count=len(articles))
    blocks = []
    for number, article in enumerate(articles, start=1):
        head = text(
            "bot.hit_head",
            locale,
            number=number,
            date=format_date(article.published_at, tz),
            source=shorten(clean(article.source), 80),
        )
        lines = [head, title_html(article.title, article.url, article.id, locale)]
        if article.lead:
            lines.append(escape(shorten(article.lead, SNIPPET_DISPLAY_CHARS // 2)))
        blocks.append("\n".join(lines))
    return "\n\n".join([header, *blocks])


def more_keyboard(article_ids: Sequence[int], locale: str) -> InlineKeyboardMarkup | None:
    buttons = [
        InlineKeyboardButton(
            text=text("bot.more_button", locale, number=number),
            callback_data=ArticleMore(article_id=article_id).pack(),
        )
        for number, article_id in enumerate(article_ids, start=1)
    ]
    if not buttons:
        return None
    return InlineKeyboardMarkup(inline_keyboard=[buttons[i : i + 5] for i in range(0, len(buttons), 5)])


# --- whole articles ------------------------------------------------------------------------------------


# "Подробнее" sends at most this many messages; the body text budget leaves room for the head and escaping.
MAX_ARTICLE_MESSAGES = 10
ARTICLE_TEXT_BUDGET = MAX_ARTICLE_MESSAGES * MESSAGE_TEXT_LIMIT * 3 // 4


def render_article(article: StoredArticle, tz: tzinfo, locale: str) -> str:
    """The full article as HTML (may be longer than one message: pass it through split_text)."""
    head = [f"<b>{escape(article.title.strip()) or text('bot.untitled', locale)}</b>"]
    meta = text(
        "bot.article_meta", locale, date=format_date(article.published_at, tz), source=clean(article.source)
    )
    if article.views is not None:
        meta += text("bot.article_views", locale, views=article.views)
    head.append(meta)
    link = safe_url(article.url)
    if link:
        head.append(f'<a href="{html.escape(link, quote=True)}">{escape(link)}</a>')
    else:
        head.append(text("bot.article_id", locale, id=article.id))
    paragraphs = ["\n".join(head)]
    if article.lead.strip():
        paragraphs.append(f"<i>{escape(article.lead.strip())}</i>")
    paragraphs.extend(escape(p.strip()) for p in article.body if p.strip())
    return "\n\n".join(paragraphs)


def article_messages(article: StoredArticle, tz: tzinfo, locale: str) -> list[str]:
    """ "Подробнее": the article in at most MAX_ARTICLE_MESSAGES messages. A longer text is cut at a paragraph or
    word boundary with a closing note, so a 2 MB page never turns into hundreds of messages (or seconds of
    splitting in the event loop)."""
    budget = ARTICLE_TEXT_BUDGET
    kept: list[str] = []
    total = sum(len(p) for p in article.body)
    for paragraph in article.body:
        if budget <= 0:
            break
        if len(paragraph) > budget:
            cut = paragraph[:budget].rsplit(" ", 1)[0]
            kept.append(cut.rstrip() + " …")
            budget = 0
            break
        kept.append(paragraph)
        budget -= len(paragraph)
    shown = sum(len(p) for p in kept)
    rendered = render_article(replace(article, body=tuple(kept)), tz, locale)
    if budget <= 0 and shown < total:
        key = "bot.article_truncated" if safe_url(article.url) else "bot.article_truncated_no_link"
        rendered += "\n\n" + text(key, locale, shown=shown, total=total)
    return split_text(rendered)[:MAX_ARTICLE_MESSAGES]


def render_inline_message(
    *,
    title: str,
    published_at: datetime,
    lead: str,
    url: str | None,
    article_id: int,
    tz: tzinfo,
    locale: str,
) -> str:
    """What choosing an inline result posts: title, date, lead and link; always within one message."""
    lines = [f"<b>{escape(shorten(title.strip(), TITLE_DISPLAY_CHARS)) or text('bot.untitled', locale)}</b>"]
    lines.append(format_date(published_at, tz))
    if lead.strip():
        lines.append("")
        lines.append(escape(shorten(lead.strip(), LEAD_DISPLAY_CHARS * 4)))
    link = safe_url(url)
    lines.append("")
    if link:
        lines.append(f'<a href="{html.escape(link, quote=True)}">{escape(shorten(link, 200))}</a>')
    else:
        lines.append(text("bot.article_id", locale, id=article_id))
    return fit_message("\n".join(lines))


# --- Telegram length and splitting ---------------------------------------------------------------------

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
