"""parse_page throughput on pages built from the real corpus, beside a bare baseline in the same run.

    python bench/parse_throughput.py [--small] [--corpus PATH] [--pages N]

Text pages are built in the seed page's layout from every article of articles.jsonl: title, lead (first
paragraph), `HH:MM, D месяца YYYY views`, body paragraphs and a 6-line sidebar of other items' date lines.
HTML pages wrap the same article in a Bitrix-like template with menus, scripts and a sidebar.
The baseline does the least any parser must do with the same bytes: decode them, split lines, hash the text.
One process, rates in pages per CPU-second; the ingest pipeline runs one parser per core.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.archive.dates import MOSCOW
from bot.archive.parsing import parse_page
from bot.archive.rejection import PageRejected

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "articles.jsonl"
MONTHS = ("января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября", "октября",
          "ноября", "декабря")  # fmt: skip
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def date_line(moment: datetime, views: int) -> str:
    local = moment.astimezone(MOSCOW)
    return f"{local:%H:%M}, {local.day} {MONTHS[local.month - 1]} {local.year} {views}"


def build_pages(corpus: Path) -> tuple[list[bytes], list[bytes]]:
    text_pages: list[bytes] = []
    html_pages: list[bytes] = []
    base = datetime(2021, 10, 27, 19, 29, tzinfo=UTC)
    for index, line in enumerate(corpus.read_text(encoding="utf-8").splitlines()):
        record = json.loads(line)
        paragraphs = [part.strip() for part in record["text"].split("\n") if part.strip()]
        if len(paragraphs) < 2:
            paragraphs = [*paragraphs, "Подробности позже."]
        lead, body = paragraphs[0], paragraphs[1:]
        moment = base - timedelta(hours=7 * index)
        sidebar = [date_line(moment - timedelta(hours=k + 1), 10 * k) for k in range(6)]
        text = "\n".join([record["title"], lead, date_line(moment, index), *body, *sidebar])
        text_pages.append(text.encode("utf-8"))
        paragraphs_html = "\n".join(f"<p>{html.escape(part)}</p>" for part in body)
        markup = (
            "<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(record['title'])} | Портал</title>"
            "<script>var BX = {}; BX.message({'SITE_ID': 's1'});</script></head><body>"
            "<header><nav class='menu'><a href='/'>Главная</a><a href='/news/'>Новости</a></nav></header>"
            f"<div class='content'><h1>{html.escape(record['title'])}</h1><div class='news-detail'>"
            f"<span class='news-date-time'>{moment.astimezone(MOSCOW):%d.%m.%Y %H:%M}</span>"
            f"<p class='lead'>{html.escape(lead)}</p>{paragraphs_html}</div></div>"
            "<aside class='sidebar'><span class='news-date-time'>01.01.2020 10:00</span>"
            "<a href='/news/1/'>Другая новость</a></aside><footer>© Правительство</footer></body></html>"
        )
        html_pages.append(markup.encode("utf-8"))
    return text_pages, html_pages


def bare(data: bytes) -> object:
    text = data.decode("utf-8")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return hashlib.sha256("\n".join(lines).lower().encode("utf-8")).hexdigest()


def parse(data: bytes) -> object:
    try:
        return parse_page(data, source="bench", now=NOW)
    except PageRejected as exc:
        return exc


def rate(pages: list[bytes], function: Callable[[bytes], object], repeats: int) -> float:
    """Best-of-`repeats` pages per CPU-second of this process.

    The machine is shared by several busy processes: CPU time, not wall time, says what one core can do.
    """
    runs = []
    for _ in range(repeats):
        started = time.process_time()
        for data in pages:
            function(data)
        runs.append(len(pages) / max(time.process_time() - started, 1e-9))
    return max(runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--small", action="store_true", help="fewer pages and repeats")
    parser.add_argument("--pages", type=int, default=None, help="pages per run (corpus pages are cycled)")
    args = parser.parse_args()
    text_pages, html_pages = build_pages(args.corpus)
    count = args.pages or (2000 if args.small else 10000)
    repeats = 2 if args.small else 5
    text_run = [text_pages[i % len(text_pages)] for i in range(count)]
    html_run = [html_pages[i % len(html_pages)] for i in range(count)]
    rejected = sum(isinstance(parse(data), PageRejected) for data in text_pages)
    print(f"corpus pages: {len(text_pages)} (rejected by the parser: {rejected})")
    print(f"text page size: median {statistics.median(map(len, text_pages)):.0f} bytes")
    print(f"html page size: median {statistics.median(map(len, html_pages)):.0f} bytes")
    for name, pages in (("text", text_run), ("html", html_run)):
        parsed = rate(pages, parse, repeats)
        baseline = rate(pages, bare, repeats)
        print(
            f"{name}: parse_page {parsed:,.0f} pages/s ({1e3 / parsed:.3f} ms/page); "
            f"bare decode+split+hash {baseline:,.0f} pages/s; ratio {baseline / parsed:.1f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
