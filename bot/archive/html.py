"""Title, date candidates, lead and body paragraphs of an HTML article page (selectolax, lexbor backend).

Preferences, most reliable first:
  * title: og:title, then the first <h1>, then <title> (without a " | Site name" tail);
  * date: machine-readable values (article:published_time and similar meta, itemprop=datePublished,
    <time datetime>), then the text of elements whose class names a date (Bitrix `news-date-time`, ...);
    the caller parses them in order and falls back to date patterns in the text;
  * body: <article> / itemprop=articleBody / well-known content classes, else the element holding the
    largest amount of <p> text; scripts, styles, navigation, page headers, footers, asides, menus and forms
    are dropped first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser, LexborNode

# Whole subtrees that never hold article text.
_DROP_TAGS = (
    "script",
    "style",
    "noscript",
    "template",
    "nav",
    "footer",
    "aside",
    "form",
    "iframe",
    "svg",
    "button",
    "select",
    "menu",
)
_DROP_SELECTOR = ", ".join(
    (
        *_DROP_TAGS,
        "[role=navigation]",
        "[role=banner]",
        "[role=contentinfo]",
        "[role=menu]",
        "[aria-hidden=true]",
    )
)
# class/id words of boilerplate blocks (menus, share buttons, related news, cookie banners).
_BOILERPLATE_NAME = re.compile(
    r"(?:^|[\s_-])(?:menu|nav|navbar|navigation|sidebar|footer|breadcrumbs?|share|social|comments?|"
    r"top-?bar|banner|cookie|related|subscribe|popup|modal|advert|ads|tags|pagination|search)(?:$|[\s_-])",
    re.IGNORECASE,
)
_CONTENT_SELECTORS = (
    "[itemprop=articleBody]",
    "article",
    ".news-detail",
    ".news_detail",
    ".article-body",
    ".article__body",
    ".article-text",
    ".article__text",
    ".news-text",
    ".news__text",
    ".detail-text",
    ".entry-content",
    ".post-content",
    "main",
)
_DATE_META = (
    'meta[property="article:published_time"]',
    'meta[name="article:published_time"]',
    'meta[itemprop="datePublished"]',
    'meta[name="pubdate"]',
    'meta[name="publish-date"]',
    'meta[name="date"]',
    'meta[name="dc.date"]',
    'meta[name="DC.date"]',
    'meta[name="mediator_published_time"]',
)
_DATE_CLASS_SELECTOR = (
    "[class*=date], [class*=Date], [class*=time], [class*=published], [class*=datetime], [id*=date]"
)
_LEAD_SELECTOR = (
    "[class*=lead], [class*=anons], [class*=announce], [class*=preview-text], [class*=subtitle], "
    "[class*=intro], [itemprop=description]"
)
_LEAD_CLASS = re.compile(
    r"(?:^|[\s_-])(?:lead|anons|announce|preview-text|subtitle|intro)(?:$|[\s_-])", re.IGNORECASE
)
_TITLE_TAIL = re.compile(r"\s+(?:\||—|–|-|::)\s+[^|—–]{2,80}$")
_VIEWS = re.compile(r"(?:просмотр\w*|views?)\s*:?\s*(\d[\d\s]{0,12})", re.IGNORECASE)
_VIEWS_CLASS = re.compile(r"(?<![a-z])(?:views?|hits)(?![a-z])", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ExtractedPage:
    title: str
    lead: str
    paragraphs: tuple[str, ...]
    date_candidates: tuple[str, ...]
    views: int | None
    text_head: str  # the first visible text of the content, for date patterns when no date element exists


def clean_text(text: str) -> str:
    """Single spaces, no surrounding whitespace (str.split knows every Unicode space and is fast)."""
    return " ".join(text.split())


def looks_like_html(text: str) -> bool:
    """True when `text` is an HTML document rather than a plain-text page."""
    head = text[:1024].lstrip().lower()
    if head.startswith(("<!doctype html", "<html", "<head", "<body", "<?xml")):
        return "<html" in head or "<body" in text[:8192].lower() or head.startswith("<!doctype html")
    return re.search(r"<(?:html|body|article|p|div|h1)[\s>]", head) is not None


def extract_html(markup: str) -> ExtractedPage:
    """The parts of an article page; empty strings/tuples where the page has none."""
    tree = LexborHTMLParser(markup)
    title = _title(tree)
    date_candidates = _machine_dates(tree)
    lead_meta = _meta(tree, 'meta[property="og:description"]') or _meta(tree, 'meta[name="description"]')
    root = tree.body or tree.root
    if root is None:
        return ExtractedPage(title, lead_meta, (), date_candidates, None, "")
    for node in root.css(_DROP_SELECTOR):
        node.decompose()
    for node in root.css("header"):
        # A page header goes; an article's own header (title, date) stays.
        if not _inside(node, "article"):
            node.decompose()
    for node in root.css("[class], [id]"):
        names = f"{node.attributes.get('class') or ''} {node.attributes.get('id') or ''}"
        if _BOILERPLATE_NAME.search(names) and node.tag not in ("body", "html", "article", "main"):
            node.decompose()
    container = _content_container(root)
    date_candidates += _text_dates(container, root)
    views = _views(root)
    paragraphs = _paragraphs(container) if container is not None else []
    lead = _lead(root) or lead_meta
    if paragraphs and title and paragraphs[0] == title:
        paragraphs = paragraphs[1:]
    if lead and paragraphs and (paragraphs[0] == lead or paragraphs[0].startswith(lead.rstrip(".… "))):
        # The description meta repeats the first paragraph: keep it once, as the lead.
        lead = paragraphs[0]
        paragraphs = paragraphs[1:]
    text_head = clean_text(root.text(separator=" ")[:2000])
    return ExtractedPage(title, lead, tuple(paragraphs), date_candidates, views, text_head)


def _meta(tree: LexborHTMLParser, selector: str) -> str:
    node = tree.css_first(selector)
    if node is None:
        return ""
    return clean_text(node.attributes.get("content") or "")


def _title(tree: LexborHTMLParser) -> str:
    title = _meta(tree, 'meta[property="og:title"]')
    if title:
        return title
    heading = tree.css_first("h1")
    if heading is not None:
        title = clean_text(heading.text(separator=" "))
        if title:
            return title
    node = tree.css_first("title")
    if node is None:
        return ""
    return _TITLE_TAIL.sub("", clean_text(node.text()))


def _machine_dates(tree: LexborHTMLParser) -> tuple[str, ...]:
    found: list[str] = []
    for selector in _DATE_META:
        value = _meta(tree, selector)
        if value:
            found.append(value)
    for node in tree.css("[itemprop=datePublished], time[datetime], time[pubdate]"):
        value = node.attributes.get("datetime") or node.attributes.get("content") or node.text()
        if value and value.strip():
            found.append(clean_text(value))
    return tuple(found)


def _inside(node: LexborNode, tag: str) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.tag == tag:
            return True
        parent = parent.parent
    return False


def _text_dates(container: LexborNode | None, root: LexborNode) -> tuple[str, ...]:
    """Texts of date-like elements, nearest to the article text first (a sidebar's dates come last)."""
    scopes: list[LexborNode] = []
    node = container
    for _ in range(3):
        if node is None:
            break
        scopes.append(node)
        node = node.parent
    scopes.append(root)
    found: list[str] = []
    for scope in scopes:
        for element in scope.css(_DATE_CLASS_SELECTOR)[:20]:
            value = clean_text(element.text(separator=" "))
            if value and len(value) <= 80 and any(char.isdigit() for char in value) and value not in found:
                found.append(value)
        if len(found) >= 5:
            break
    return tuple(found)


def _views(root: LexborNode) -> int | None:
    for node in root.css("[class*=view], [class*=hits]")[:10]:
        if not _VIEWS_CLASS.search(node.attributes.get("class") or ""):
            continue  # "preview", "review": not a counter
        text = node.text()
        digits = re.sub(r"\D", "", text)
        if digits and len(digits) <= 9 and len(text) <= 40:
            return int(digits)
    match = _VIEWS.search(root.text(separator=" ")[:20000])
    if match:
        digits = re.sub(r"\D", "", match.group(1))
        return int(digits) if digits and len(digits) <= 9 else None
    return None


def _lead(root: LexborNode) -> str:
    for node in root.css(_LEAD_SELECTOR)[:10]:
        if node.attributes.get("itemprop") != "description" and not _LEAD_CLASS.search(
            node.attributes.get("class") or ""
        ):
            continue  # "leaders", "introduction-video": not a lead
        text = clean_text(node.text(separator=" "))
        if 20 <= len(text) <= 1500:
            return text
    return ""


def _content_container(root: LexborNode) -> LexborNode | None:
    for selector in _CONTENT_SELECTORS:
        node = root.css_first(selector)
        if node is not None and len(node.text(separator=" ").strip()) >= 80:
            return node
    # The element whose direct <p> children hold the most text.
    best: LexborNode | None = None
    best_length = 0
    totals: dict[int, tuple[LexborNode, int]] = {}
    for paragraph in root.css("p"):
        parent = paragraph.parent
        if parent is None:
            continue
        key = parent.mem_id
        node, length = totals.get(key, (parent, 0))
        totals[key] = (node, length + len(paragraph.text()))
    for node, length in totals.values():
        if length > best_length:
            best, best_length = node, length
    return best if best is not None else root


def _paragraphs(container: LexborNode) -> list[str]:
    paragraph_nodes = container.css("p, h2, h3, h4, li, blockquote")
    if paragraph_nodes:
        texts = [
            clean_text(node.text(separator=" "))
            for node in paragraph_nodes
            # A list item or quote made of <p> is already there through its paragraphs.
            if node.tag not in ("li", "blockquote") or node.css_first("p") is None
        ]
        paragraphs = [text for text in texts if text]
        if sum(map(len, paragraphs)) >= 0.5 * len(clean_text(container.text(separator=" "))):
            return _dedupe(paragraphs)
    # Text with <br> line breaks instead of <p> (common in Bitrix news-detail blocks).
    for node in container.css("br"):
        node.replace_with("\n")
    lines = container.text(separator="\n").split("\n")
    return _dedupe([clean_text(line) for line in lines if clean_text(line)])


def _dedupe(paragraphs: list[str]) -> list[str]:
    seen: set[str] = set()
    unique = []
    for paragraph in paragraphs:
        if paragraph not in seen:
            seen.add(paragraph)
            unique.append(paragraph)
    return unique
