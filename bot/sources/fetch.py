"""HTTP fetching for the poller: polite, bounded and conditional.

- An honest User-Agent naming the bot and where to find who runs it.
- Timeouts on connect, on every read and on the whole request, so a server that trickles bytes is cut off.
- A size cap on the decompressed body, so an endless response (or a gzip bomb) is aborted, not buffered.
- Conditional GET (If-None-Match / If-Modified-Since): an unchanged feed costs a 304 and no parsing.
- Redirects followed by hand, bounded, loops detected, and the final URL reported so the source can record it.
- A bound on parallel requests overall and one request at a time per host.
- Public addresses only, checked on the resolved addresses at connect time, for every request (redirect targets
  and article links included): bot/sources/addresses.py. `FetchLimits.allow_private_addresses` lifts that.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver

from bot import __version__
from bot.sources.addresses import (
    AddressCheck,
    NotPublicAddressError,
    PublicAddressResolver,
    guarded_socket_factory,
    is_public_address,
)

MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_REDIRECTS = 5
MAX_PARALLEL = 8
TOTAL_TIMEOUT = 30.0
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 15.0
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024


def user_agent(contact: str | None = None) -> str:
    """`govdigest/<version> (government news digest bot; +<contact>)`: who we are, and where the site's admin
    can reach whoever runs this instance (the deployment's contact URL, when its settings have one)."""
    where = f"; +{contact}" if contact else ""
    return f"govdigest/{__version__} (government news digest bot{where})"


class FetchError(Exception):
    """A fetch that gave no usable answer; the message is readable and goes into the source's health."""

    def __init__(self, reason: str, *, final_url: str | None = None, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.final_url = final_url
        self.status = status


@dataclass(frozen=True, slots=True)
class FetchResult:
    url: str
    final_url: str
    status: int
    body: bytes
    content_type: str | None
    charset: str | None
    etag: str | None
    last_modified: str | None
    redirects: tuple[str, ...] = field(default=())

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def redirected(self) -> bool:
        return self.final_url != self.url


@dataclass(frozen=True, slots=True)
class FetchLimits:
    max_bytes: int = MAX_BODY_BYTES
    max_redirects: int = MAX_REDIRECTS
    max_parallel: int = MAX_PARALLEL
    total_timeout: float = TOTAL_TIMEOUT
    connect_timeout: float = CONNECT_TIMEOUT
    read_timeout: float = READ_TIMEOUT
    # Connect to loopback, private, link-local... addresses too (SOURCES_ALLOW_PRIVATE_ADDRESSES; tests).
    allow_private_addresses: bool = False


class Fetcher:
    """One aiohttp session for a poll (or for the life of the polling service).

    `resolver` looks names up (aiohttp's default resolver when None); unless the limits allow private
    addresses, only addresses `address_allowed` accepts (public ones by default) are ever connected to."""

    def __init__(
        self,
        *,
        limits: FetchLimits | None = None,
        contact: str | None = None,
        resolver: AbstractResolver | None = None,
        address_allowed: AddressCheck = is_public_address,
    ) -> None:
        self.limits = limits or FetchLimits()
        self._user_agent = user_agent(contact)
        self._resolver = resolver
        self._address_allowed = address_allowed
        self._public_resolver: PublicAddressResolver | None = None  # the connector does not close it
        self._session: aiohttp.ClientSession | None = None
        self._parallel = asyncio.Semaphore(self.limits.max_parallel)
        self._host_locks: dict[str, asyncio.Lock] = {}

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._public_resolver is not None:
            await self._public_resolver.close()
            self._public_resolver = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(
                total=self.limits.total_timeout,
                sock_connect=self.limits.connect_timeout,
                sock_read=self.limits.read_timeout,
            )
            self._session = aiohttp.ClientSession(
                timeout=timeout,
                headers={"User-Agent": self._user_agent, "Accept-Encoding": "gzip, deflate"},
                connector=self._connector(),
                # Cookies would make polls stateful and differ between runs; we want neither.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    def _connector(self) -> aiohttp.TCPConnector:
        if self.limits.allow_private_addresses:
            return aiohttp.TCPConnector(
                limit=self.limits.max_parallel, ttl_dns_cache=300, resolver=self._resolver
            )
        self._public_resolver = PublicAddressResolver(self._resolver, self._address_allowed)
        return aiohttp.TCPConnector(
            limit=self.limits.max_parallel,
            ttl_dns_cache=300,
            resolver=self._public_resolver,
            socket_factory=guarded_socket_factory(self._address_allowed),
        )

    @contextlib.asynccontextmanager
    async def _slot(self, url: str) -> AsyncIterator[None]:
        host = (urlsplit(url).hostname or "").lower()
        lock = self._host_locks.setdefault(host, asyncio.Lock())
        async with lock, self._parallel:
            yield

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str = "*/*",
    ) -> FetchResult:
        """GET `url`, following redirects. A 304 is a result; anything else unusable raises FetchError."""
        seen = [url]
        current = url
        conditional: dict[str, str] = {}
        if etag:
            conditional["If-None-Match"] = etag
        if last_modified:
            conditional["If-Modified-Since"] = last_modified
        for _ in range(self.limits.max_redirects + 1):
            scheme = urlsplit(current).scheme.lower()
            if scheme not in ("http", "https"):
                raise FetchError(f"unsupported URL scheme {scheme!r}", final_url=current)
            async with self._slot(current):
                result = await self._request(current, {"Accept": accept, **conditional}, url, tuple(seen[1:]))
            if isinstance(result, FetchResult):
                return result
            target = urljoin(current, result)
            if target in seen:
                raise FetchError(f"redirect loop: {' -> '.join([*seen, target])}", final_url=current)
            seen.append(target)
            current = target
        raise FetchError(f"too many redirects (more than {self.limits.max_redirects})", final_url=current)

    async def _request(
        self, url: str, headers: dict[str, str], original: str, redirects: tuple[str, ...]
    ) -> FetchResult | str:
        """One request: a FetchResult, or the Location to follow."""
        limit = self.limits.max_bytes
        try:
            async with self._client().get(url, headers=headers, allow_redirects=False) as response:
                if response.status in _REDIRECT_STATUSES:
                    location = response.headers.get("Location")
                    if not location:
                        raise FetchError(f"HTTP {response.status} without a Location header", final_url=url)
                    return location
                if response.status >= 400:
                    raise FetchError(
                        f"HTTP {response.status} {response.reason or ''}".strip(),
                        final_url=url,
                        status=response.status,
                    )
                declared = response.content_length
                if declared is not None and declared > limit and response.status != 304:
                    raise FetchError(f"response too large ({declared} bytes, limit {limit})", final_url=url)
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.content.iter_chunked(_CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise FetchError(f"response too large (over {limit} bytes), aborted", final_url=url)
                    chunks.append(chunk)
                return FetchResult(
                    url=original,
                    final_url=url,
                    status=response.status,
                    body=b"".join(chunks),
                    content_type=response.content_type if "Content-Type" in response.headers else None,
                    charset=response.charset,
                    etag=response.headers.get("ETag"),
                    last_modified=response.headers.get("Last-Modified"),
                    redirects=redirects,
                )
        except FetchError:
            raise
        except TimeoutError:
            raise FetchError(
                f"timed out (limits: {self.limits.total_timeout:g} s in all, "
                f"{self.limits.read_timeout:g} s between reads)",
                final_url=url,
            ) from None
        except aiohttp.ClientResponseError as error:
            raise FetchError(f"bad HTTP response: {error.message}", final_url=url) from None
        except aiohttp.ClientConnectorError as error:
            if isinstance(error.os_error, NotPublicAddressError):
                raise FetchError(str(error.os_error), final_url=url) from None
            raise FetchError(
                f"cannot connect to {error.host}:{error.port}: {error.os_error}", final_url=url
            ) from None
        except aiohttp.ClientPayloadError as error:
            raise FetchError(f"broken response body: {error}", final_url=url) from None
        except aiohttp.ClientError as error:
            raise FetchError(
                f"HTTP client error: {error.__class__.__name__}: {error}", final_url=url
            ) from None
