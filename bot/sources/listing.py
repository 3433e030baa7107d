"""News-list pages (a regional administration's "Новости" page): which links on it are articles.

A link is taken when it stays on the page's site, is not the page itself, and its path looks like one article:
a numeric id or a date in the path, or a long slug under a section (`/news/2021/10/05/…`,
`/news/item/110547073/`, `/press/kak-projdet-zasedanie-komissii`). Navigation, tags, paging, search,
files and feeds are not.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser

from bot.archive.urls import normalize_url

MAX_LINKS = 50
_NOT_ARTICLE_EXT = re.compile(
    r"\.(?:jpe?g|png|gif|webp|svg|pdf|docx?|xlsx?|pptx?|rtf|zip|rar|7z|mp[34]|avi|mov|xml|rss|json|css|js)$",
    re.IGNORECASE,
)
_NOT_ARTICLE_PART = re.compile(
    r"(?:^|/)(?:tags?|category|categories|rubric|search|login|logout|auth|register|rss|feed|page|print|"
    r"author|authors|about|contacts?|map|sitemap|subscribe|archive|calendar)(?:/|$)",
    re.IGNORECASE,
)
_PAGING_QUERY = re.compile(r"(?:^|&)(?:page|PAGEN_\d+|p|start|offset)=", re.IGNORECASE)
_NUMERIC_ID = re.compile(r"(?:^|[/_-])\d{3,}(?:\.html?|\.php|/)?$|/\d{3,}/")
_DATE_IN_PATH = re.compile(r"/(?:19|20)\d{2}[/-]?(?:0[1-9]|1[0-2])[/-]?(?:0[1-9]|[12]\d|3[01])?(?:/|$)")
_SLUG = re.compile(r"^[\w%]+(?:[-_][\w%]+){2,}(?:\.html?|\.php)?$")
_ID_QUERY = re.compile(r"(?:^|&)(?:id|ELEMENT_ID|news_id|item)=\d+", re.IGNORECASE)


def _site(host: str | None) -> str:
    host = (host or "").lower()
    return host.removeprefix("www.")


def looks_like_article(url: str, listing_url: str) -> bool:
    """Whether `url` (absolute) is probably one article of the site of `listing_url`."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or _site(parts.hostname) != _site(
        urlsplit(listing_url).hostname
    ):
        return False
    path = parts.path or "/"
    if _NOT_ARTICLE_EXT.search(path) or _NOT_ARTICLE_PART.search(path) or _PAGING_QUERY.search(parts.query):
        return False
    segments = [segment for segment in path.split("/") if segment]
    if not segments:
        return bool(_ID_QUERY.search(parts.query))
    if _NUMERIC_ID.search(path) or _DATE_IN_PATH.search(path) or _ID_QUERY.search(parts.query):
        return True
    return len(segments) >= 2 and bool(_SLUG.match(segments[-1]))


def article_links(markup: str, listing_url: str, *, limit: int = MAX_LINKS) -> list[str]:
    """Article links of a news-list page, in page order, each once (by normalized URL), at most `limit`."""
    tree = LexborHTMLParser(markup)
    base = listing_url
    base_node = tree.css_first("base[href]")
    if base_node is not None and base_node.attributes.get("href"):
        base = urljoin(listing_url, base_node.attributes["href"] or "")
    own = normalize_url(listing_url)
    seen = {own}
    links: list[str] = []
    for anchor in tree.css("a[href]"):
        href = (anchor.attributes.get("href") or "").strip()
        if not href or href.startswith(("#", "javascript:", "mailto:", "tel:")):
            continue
        url = urljoin(base, href).split("#", 1)[0]
        if not looks_like_article(url, listing_url):
            continue
        key = normalize_url(url)
        if key in seen:
            continue
        seen.add(key)
        links.append(url)
        if len(links) >= limit:
            break
    return links
