"""A local HTTP server (aiohttp, loopback only) for the sources tests and the poll benchmark.

It serves documents registered by path, honours ETag / If-None-Match and Last-Modified / If-Modified-Since
like a real web server, can gzip, and has hostile routes: redirect loops, endless and trickling bodies.
It records every request (path, headers) and the highest number of requests in flight at once.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import html
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.sources.fetch import FetchLimits

LAST_MODIFIED = "Wed, 27 Jul 2022 08:01:01 GMT"
# Limits for tests: hostile responses are cut off in about a second. The test servers listen on loopback
# (127.0.0.x), which a deployment's fetcher refuses: these limits allow it.
QUICK_LIMITS = FetchLimits(
    max_bytes=1024 * 1024,
    total_timeout=1.5,
    connect_timeout=1.0,
    read_timeout=1.0,
    allow_private_addresses=True,
)


def page_html(article: dict[str, Any]) -> str:
    """An article page as a government site would serve it (from a corpus record: title, published,
    paragraphs): navigation, an <article>, a footer."""
    title = html.escape(article["title"])
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in article["paragraphs"])
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title} | Сайт</title>'
        f'<meta property="article:published_time" content="{article["published"]}"></head><body>'
        '<nav><a href="/">Главная</a> <a href="/news/">Новости</a></nav>'
        f'<article><h1>{title}</h1><time datetime="{article["published"]}"></time>{paragraphs}</article>'
        "<footer>© Пресс-служба</footer></body></html>"
    )


@dataclass
class Document:
    body: bytes
    content_type: str = "application/rss+xml; charset=utf-8"
    conditional: bool = True  # answer 304 to a matching If-None-Match / If-Modified-Since
    gzip: bool = False
    status: int = 200

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'


@dataclass
class SeenRequest:
    path: str
    headers: dict[str, str]


@dataclass
class FeedServer:
    host: str = "127.0.0.1"
    documents: dict[str, Document] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)
    requests: list[SeenRequest] = field(default_factory=list)
    hits: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    max_in_flight: int = 0
    delay: float = 0.0
    port: int = 0
    _runner: web.AppRunner | None = None

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def add(self, path: str, body: bytes | str, **options: object) -> str:
        data = body.encode() if isinstance(body, str) else body
        self.documents[path] = Document(data, **options)  # type: ignore[arg-type]
        return self.url(path)

    def redirect(self, path: str, target: str) -> str:
        self.redirects[path] = target
        return self.url(path)

    async def start(self) -> FeedServer:
        app = web.Application()
        app.router.add_get("/endless", self._endless)
        app.router.add_get("/trickle", self._trickle)
        app.router.add_get("/{tail:.*}", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        self.port = server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FeedServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        path = request.path_qs
        self.requests.append(SeenRequest(path, dict(request.headers)))
        self.hits[path] += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            if path in self.redirects:
                raise web.HTTPFound(self.redirects[path])
            document = self.documents.get(path)
            if document is None:
                raise web.HTTPNotFound(text="no such page")
            headers = {"ETag": document.etag, "Last-Modified": LAST_MODIFIED}
            # As HTTP says: If-None-Match, when sent, decides; If-Modified-Since only without it.
            if "If-None-Match" in request.headers:
                unchanged = request.headers["If-None-Match"] == document.etag
            else:
                unchanged = request.headers.get("If-Modified-Since") == LAST_MODIFIED
            if document.conditional and unchanged:
                return web.Response(status=304, headers=headers)
            body = document.body
            if document.gzip:
                body = gzip.compress(body)
                headers["Content-Encoding"] = "gzip"
            headers["Content-Type"] = document.content_type
            return web.Response(status=document.status, body=body, headers=headers)
        finally:
            self.in_flight -= 1

    async def _endless(self, request: web.Request) -> web.StreamResponse:
        """A body that never ends (no Content-Length, chunked), as fast as the client reads."""
        self.hits[request.path] += 1
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        await response.prepare(request)
        chunk = b"<rss><channel>" + b"<item><title>x</title></item>" * 2000
        try:
            while True:
                await response.write(chunk)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return response

    async def _trickle(self, request: web.Request) -> web.StreamResponse:
        """A byte every 50 ms, forever: each read is quick, the whole never arrives."""
        self.hits[request.path] += 1
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        await response.prepare(request)
        try:
            while True:
                await response.write(b" ")
                await asyncio.sleep(0.05)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return response
