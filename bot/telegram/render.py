"""HTML rendering of articles for Telegram: search result pages with their keyboards, /latest, a whole article
("Подробнее") and the message an inline result posts.

Every article or user string is escaped with bot/telegram/html_text.py (or goes through `text()` from
bot/telegram/texts.py) before it becomes part of a message; snippet marks (MARK_START/MARK_END) become <b>…</b>
only after the text around them is escaped. Length checks and splitting into messages are
bot/telegram/html_split.py's.
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
from bot.telegram.html_split import fit_message, split_text
from bot.telegram.html_text import clean, escape, safe_url, shorten
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

_MARKS_RE = re.compile(f"([{MARK_START}{MARK_END}])")


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


def with_suggestion(view: SearchPageView, suggestion: str, *, key: str, locale: str) -> SearchPageView:
    """A "nothing found" page with "did you mean" and a button running the suggested query (kept under
    `key`, so the callback data stays short whatever the query)."""
    shown = shorten(clean(suggestion), QUERY_DISPLAY_CHARS)
    button = InlineKeyboardButton(
        text=text("bot.suggestion_button", locale, query=Raw(shown)),  # a label is plain text, not HTML
        callback_data=SearchPage(key=key, page=0).pack(),
    )
    return SearchPageView(
        f"{view.text}\n\n{text('bot.search_suggestion', locale, query=shown)}",
        InlineKeyboardMarkup(inline_keyboard=[[button]]),
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
