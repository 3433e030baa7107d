"""Digest composition. Pure: articles in, HTML messages out; no clock, no database, no Telegram.

A digest holds the articles of a period that are government commission news or match one of the chat's saved
queries, one item per story: articles of one near-duplicate cluster (the same press release reposted by several
sites) are collapsed into the earliest of them (`collapse_clusters`). The best `max_items` (by relevance, recency and views) are shown, grouped (commissions, State
Council, ministries, governors, other) and newest first inside a group. Each item: local time, the title as a
link, the source, a one-line lead, and "also: N sources" when other sites carried the same story.

Messages never exceed Telegram's limit as Telegram counts it (after entity parsing, UTF-16 code units) and an
item is never split across two messages; when a group continues in the next message its heading is repeated.
Past the cap, the last message ends with a line saying how many more there are (the "next page" button is
added at send time, when the outbox job id is known).
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.archive.models import StoredArticle
from bot.telegram.html_split import split_text, utf16_length
from bot.telegram.html_text import escape, shorten
from bot.telegram.limits import MESSAGE_TEXT_LIMIT
from bot.telegram.render import title_html
from bot.telegram.texts import text

GROUPS: tuple[str, ...] = ("commission", "state_council", "ministry", "governor", "other")
LEAD_CHARS = 200
SOURCE_NAMES_SHOWN = 3
BLOCK_SEPARATOR = "\n\n"
# Weights of the ranking score (each component is in 0..1).
RELEVANCE_WEIGHT = 0.6
RECENCY_WEIGHT = 0.25
VIEWS_WEIGHT = 0.15
GOV_NEWS_RELEVANCE = 1.0


class ClusterInfo(Protocol):
    """What the digest needs from bot.sources.records.Cluster."""

    @property
    def cluster_id(self) -> int: ...

    @property
    def other_sources(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class Candidate:
    """An article of the period that belongs in the digest and how relevant it is (0..1): government
    commission news are fully relevant, saved-query hits by their rank among the query's hits."""

    article: StoredArticle
    relevance: float


@dataclass(frozen=True, slots=True)
class DigestPageView:
    """One page of a digest: its messages (HTML) and how many ranked items come after it."""

    messages: list[str]
    shown: int
    remaining: int


def group_of(article: StoredArticle) -> str:
    for group in GROUPS[:-1]:
        if group in article.topics:
            return group
    if article.is_gov_commission:
        return "commission"
    return "other"


def query_relevance(position: int, count: int) -> float:
    """Relevance of the hit at `position` (0 = best bm25) among `count` hits of a saved query: 0.9 … 0.5."""
    if count <= 1:
        return 0.9
    return 0.9 - 0.4 * position / (count - 1)


def merge_candidates(groups: Sequence[Sequence[Candidate]]) -> list[Candidate]:
    """One candidate per article, keeping its highest relevance (government news and several queries)."""
    best: dict[int, Candidate] = {}
    for candidates in groups:
        for candidate in candidates:
            known = best.get(candidate.article.id)
            if known is None or candidate.relevance > known.relevance:
                best[candidate.article.id] = candidate
    return list(best.values())


def collapse_clusters(
    candidates: Sequence[Candidate], clusters: Mapping[int, ClusterInfo]
) -> list[Candidate]:
    """One candidate per story: candidates whose clusters share a `cluster_id` are the same story (one press
    release reposted by several sites) and become one. The earliest published of them stands for the story
    (ties: the lower id, stored first): the original release precedes its reposts, and "the most official
    source" has no reliable definition across sites, while publication time does. The story keeps the best
    relevance of its members, so a saved query that matched only a repost still brings it in. An article
    without a cluster entry is a story of its own. The representative's own cluster entry then names the
    other sources ("also: N sources")."""
    stories: dict[tuple[str, int], list[Candidate]] = {}
    for candidate in candidates:
        cluster = clusters.get(candidate.article.id)
        key = ("cluster", cluster.cluster_id) if cluster is not None else ("article", candidate.article.id)
        stories.setdefault(key, []).append(candidate)
    collapsed: list[Candidate] = []
    for members in stories.values():
        first = min(members, key=lambda c: (c.article.published_at, c.article.id))
        relevance = max(c.relevance for c in members)
        collapsed.append(first if first.relevance == relevance else Candidate(first.article, relevance))
    return collapsed


def rank(candidates: Sequence[Candidate], *, period_start: datetime, period_end: datetime) -> list[Candidate]:
    """Best first: relevance, then recency within the period, then views (log-scaled against the period's
    most viewed). Ties: newer first, then higher id — a stable order, so pages never overlap."""
    span = max((period_end - period_start).total_seconds(), 1.0)
    most_views = max((c.article.views or 0 for c in candidates), default=0)
    views_scale = math.log1p(most_views) or 1.0

    def score(candidate: Candidate) -> tuple[float, datetime, int]:
        article = candidate.article
        age = (period_end - article.published_at).total_seconds()
        recency = min(max(1.0 - age / span, 0.0), 1.0)
        views = math.log1p(article.views or 0) / views_scale
        value = RELEVANCE_WEIGHT * candidate.relevance + RECENCY_WEIGHT * recency + VIEWS_WEIGHT * views
        return (value, article.published_at, article.id)

    return sorted(candidates, key=score, reverse=True)


def plural_key(count: int) -> str:
    """Russian plural category as the digest texts name it (English texts use the same three keys)."""
    if count % 10 == 1 and count % 100 != 11:
        return "one"
    if 2 <= count % 10 <= 4 and not 12 <= count % 100 <= 14:
        return "few"
    return "many"


def format_period(period_start: datetime, period_end: datetime, zone: ZoneInfo) -> str:
    start = period_start.astimezone(zone)
    end = period_end.astimezone(zone)
    if end - start <= timedelta(hours=24, minutes=1):
        return end.strftime("%d.%m.%Y")
    return f"{start.strftime('%d.%m')}–{end.strftime('%d.%m.%Y')}"


def render_item(
    article: StoredArticle,
    *,
    zone: ZoneInfo,
    locale: str,
    with_date: bool,
    cluster: ClusterInfo | None = None,
) -> str:
    """One item: time, linked title, source, one-line lead, and the other sources of its story."""
    local = article.published_at.astimezone(zone)
    stamp = local.strftime("%d.%m %H:%M" if with_date else "%H:%M")
    title = title_html(article.title, article.url, article.id, locale)
    lines = [f"<b>{stamp}</b> {title} · <i>{escape(article.source)}</i>"]
    lead = article.lead.strip().splitlines()[0] if article.lead.strip() else ""
    if lead:
        lines.append(escape(shorten(lead, LEAD_CHARS)))
    if cluster is not None and cluster.other_sources:
        names = ", ".join(cluster.other_sources[:SOURCE_NAMES_SHOWN])
        if len(cluster.other_sources) > SOURCE_NAMES_SHOWN:
            names += ", …"
        count = len(cluster.other_sources)
        lines.append(f"<i>{text(f'digest.also_{plural_key(count)}', locale, count=count, names=names)}</i>")
    return "\n".join(lines)


_TAG_RE = re.compile(r"<[^>]*>")


@lru_cache(maxsize=65536)
def block_width(block: str) -> int:
    """Telegram's length of one block of our own HTML (tags dropped, entities decoded, UTF-16 units). Blocks
    are built from escaped text, so a plain tag strip equals bot.telegram.html_split.visible_length — just much faster, and
    cached: a fan-out renders the same items for thousands of chats."""
    return utf16_length(html.unescape(_TAG_RE.sub("", block)))


def _group_heading(group: str, locale: str, *, continued: bool = False) -> str:
    heading = f"<b>{text(f'digest.group.{group}', locale)}</b>"
    if continued:
        heading += " " + text("digest.continued", locale)
    return heading


def pack_blocks(blocks: Sequence[tuple[str | None, str]], *, locale: str, limit: int) -> list[str]:
    """Pack (group, html) blocks into messages of at most `limit` visible characters, never splitting a block.
    A block with a group that starts a message gets its group heading repeated ("continued")."""
    messages: list[str] = []
    current: list[str] = []
    width = 0
    group_open: str | None = None
    separator = utf16_length(BLOCK_SEPARATOR)
    for group, block in blocks:
        pieces = [block]
        if group is not None and group != group_open:
            pieces = [_group_heading(group, locale), block]
        added = sum(block_width(p) for p in pieces) + separator * (len(pieces) - (0 if current else 1))
        if current and width + added > limit:
            messages.append(BLOCK_SEPARATOR.join(current))
            current, width = [], 0
            if group is not None and group == group_open:
                pieces = [_group_heading(group, locale, continued=True), block]
            added = sum(block_width(p) for p in pieces) + separator * (len(pieces) - 1)
        if added > limit:
            # Only a pathological block (they are bounded far below the limit) can get here: cut it rather
            # than send something Telegram refuses.
            messages.extend(split_text(BLOCK_SEPARATOR.join(pieces), limit))
            group_open = group
            continue
        current.extend(pieces)
        width += added
        group_open = group
    if current:
        messages.append(BLOCK_SEPARATOR.join(current))
    return messages


def render_digest(
    ranked: Sequence[Candidate],
    *,
    period_start: datetime,
    period_end: datetime,
    timezone: str,
    locale: str,
    max_items: int | None,
    page: int = 0,
    clusters: Mapping[int, ClusterInfo] | None = None,
    limit: int = MESSAGE_TEXT_LIMIT,
) -> DigestPageView:
    """Page `page` (0-based, `max_items` per page; None = everything on page 0) of a ranked digest as
    messages. An empty page gives no messages (the caller decides about a "nothing new" notice)."""
    zone = ZoneInfo(timezone)
    size = max_items if max_items is not None else max(len(ranked), 1)
    start = page * size
    chosen = list(ranked[start : start + size])
    remaining = max(len(ranked) - start - len(chosen), 0)
    if not chosen:
        return DigestPageView(messages=[], shown=0, remaining=remaining)
    period = format_period(period_start, period_end, zone)
    # Times alone while every shown item is from the period's last local day; dates too once any is older.
    end_day = period_end.astimezone(zone).date()
    with_date = any(c.article.published_at.astimezone(zone).date() != end_day for c in chosen)
    count = len(ranked)
    header_key = "digest.header" if page == 0 else "digest.page_header"
    header = text(header_key, locale, period=period)
    if page == 0:
        header += "\n" + text(f"digest.count_{plural_key(count)}", locale, count=count)
    blocks: list[tuple[str | None, str]] = [(None, header)]
    by_group: dict[str, list[StoredArticle]] = {}
    for candidate in chosen:
        by_group.setdefault(group_of(candidate.article), []).append(candidate.article)
    for group in GROUPS:
        articles = sorted(by_group.get(group, ()), key=lambda a: (a.published_at, a.id), reverse=True)
        for article in articles:
            cluster = clusters.get(article.id) if clusters else None
            item = render_item(article, zone=zone, locale=locale, with_date=with_date, cluster=cluster)
            blocks.append((group, item))
    if remaining:
        blocks.append(
            (None, f"<i>{text(f'digest.more_{plural_key(remaining)}', locale, count=remaining)}</i>")
        )
    return DigestPageView(
        messages=pack_blocks(blocks, locale=locale, limit=limit), shown=len(chosen), remaining=remaining
    )


def render_nothing_new(*, period_start: datetime, period_end: datetime, timezone: str, locale: str) -> str:
    return text(
        "digest.nothing_new", locale, period=format_period(period_start, period_end, ZoneInfo(timezone))
    )


def more_button_text(locale: str) -> str:
    return text("digest.more_button", locale)
