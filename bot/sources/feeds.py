"""RSS/Atom parsing (feedparser) into plain feed items.

feedparser is forgiving: it recovers items from broken XML and sets `bozo`. We keep what it recovers and
record the damage as a warning; a document with no items that is really an HTML page, or XML too broken to
yield anything, is a FeedError with a readable reason. feedparser is synchronous and takes milliseconds per
feed (bench/poll_bench.py), so the poller runs it in a worker thread.
"""

from __future__ import annotations

import calendar
import hashlib
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser
from selectolax.lexbor import LexborHTMLParser

_HTML_START = re.compile(
    rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.IGNORECASE | re.DOTALL
)
_FEED_ROOT = re.compile(rb"<(?:rss|feed|rdf:RDF)\b", re.IGNORECASE)
_SPACES = re.compile(r"\s+")
_BLOCK_END = re.compile(r"</(?:p|div|li|h[1-6]|blockquote|tr|section|article)\s*>|<br\s*/?>", re.IGNORECASE)


class FeedError(ValueError):
    """A response that is not a usable feed; the message says why, in plain words."""


@dataclass(frozen=True, slots=True)
class FeedItem:
    key: str  # stable identity: the GUID, else the link, else a hash of title and date
    guid: str | None
    title: str
    link: str | None
    summary: str  # plain text
    content: tuple[str, ...]  # paragraphs of the full content (content:encoded, atom:content), () when absent
    published_at: datetime | None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str
    items: tuple[FeedItem, ...]
    duplicate_items: int  # items repeating a key already seen in the same document
    warning: str | None  # recovered damage (malformed XML, wrong encoding declaration)


def html_to_text(markup: str) -> str:
    """Text of an HTML fragment, blocks and line breaks as spaces; plain text passes through."""
    if "<" not in markup and "&" not in markup:
        return _SPACES.sub(" ", markup).strip()
    tree = LexborHTMLParser(f"<div>{_BLOCK_END.sub(' ', markup)}</div>")
    root = tree.body or tree.root
    if root is None:
        return ""
    return _SPACES.sub(" ", root.text(separator="")).strip()


def _timestamp(entry: Any) -> datetime | None:
    for name in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(name)
        if isinstance(value, time.struct_time):
            try:
                return datetime.fromtimestamp(calendar.timegm(value), UTC)
            except (OverflowError, ValueError):
                continue
    return None


def html_paragraphs(markup: str) -> tuple[str, ...]:
    """Paragraph texts of an HTML fragment: split at block ends and line breaks, empty ones dropped."""
    chunks = (html_to_text(chunk) for chunk in _BLOCK_END.split(markup))
    return tuple(chunk for chunk in chunks if chunk)


def _content(entry: Any) -> tuple[str, ...]:
    values = [str(part.get("value", "")) for part in entry.get("content") or ()]
    longest = max(values, key=len, default="")
    return html_paragraphs(longest) if longest.strip() else ()


def _key(guid: str | None, link: str | None, title: str, published_at: datetime | None) -> str:
    if guid:
        return f"guid:{guid}"
    if link:
        return f"link:{link}"
    stamp = published_at.isoformat() if published_at else ""
    return "hash:" + hashlib.sha256(f"{title}\n{stamp}".encode()).hexdigest()[:32]


def looks_like_html(data: bytes) -> bool:
    head = data[:2048]
    return bool(_HTML_START.match(head)) and not _FEED_ROOT.search(head)


def looks_like_feed(data: bytes, content_type: str | None = None) -> bool:
    """Whether a response is a feed rather than a page: a feed media type, or an RSS/Atom/RDF root element."""
    kind = (content_type or "").lower()
    if "rss" in kind or "atom" in kind:
        return True
    return not looks_like_html(data) and bool(_FEED_ROOT.search(data[:2048]))


def parse_feed(data: bytes, *, url: str | None = None, content_type: str | None = None) -> ParsedFeed:
    """Items of an RSS or Atom document. Raises FeedError when there is nothing usable."""
    if not data.strip():
        raise FeedError("empty response")
    headers = {"content-location": url or "", "content-type": content_type or "application/xml"}
    # Every text is reduced to plain text below, so feedparser's HTML sanitizing and URI rewriting inside
    # content are wasted work (a quarter of its time, bench/poll_bench.py); item links are resolved here.
    parsed = feedparser.parse(
        data, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
    )
    entries = parsed.get("entries") or []
    bozo = bool(parsed.get("bozo"))
    problem = str(parsed.get("bozo_exception", "")) if bozo else ""
    if not entries:
        if looks_like_html(data) or (not parsed.get("version") and b"<html" in data[:4096].lower()):
            raise FeedError("not a feed: the server sent an HTML page")
        if not parsed.get("version"):
            raise FeedError(f"not an RSS/Atom feed{': ' + problem if problem else ''}")
        if bozo and "encoding" not in problem.lower():
            raise FeedError(f"malformed XML: {problem}")
    items: list[FeedItem] = []
    seen: set[str] = set()
    duplicates = 0
    for entry in entries:
        title = html_to_text(str(entry.get("title", "")))
        link = str(entry.get("link") or "").strip() or None
        if link and url:
            link = urljoin(url, link)
        guid = str(entry.get("id") or "").strip() or None
        published_at = _timestamp(entry)
        summary = html_to_text(str(entry.get("summary", "")))
        content = _content(entry)
        if not title and not summary and not content:
            continue
        key = _key(guid, link, title, published_at)
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        items.append(FeedItem(key, guid, title, link, summary, content, published_at))
    if bozo and not items and "encoding" not in problem.lower():
        raise FeedError(f"malformed XML: {problem}")
    warning = f"recovered from a damaged feed: {problem}" if bozo and problem else None
    feed_title = html_to_text(str(parsed.get("feed", {}).get("title", "")))
    return ParsedFeed(title=feed_title, items=tuple(items), duplicate_items=duplicates, warning=warning)
