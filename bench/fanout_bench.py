"""One day's digest fan-out to many subscribed chats through the Bot API emulator, which enforces Telegram's
limits (30 messages/s overall, 1/s per private chat): achieved messages/s against the limit, lost, doubled,
429s received; composing every digest without sending, against composing without the per-cycle caches; peak
memory.

    python bench/fanout_bench.py [--small] [--chats N] [--compose-only] [--bad-gateway SHARE [--no-baseline]]
                                 [--database-url URL]

Articles are real corpus articles (bench/corpus.py) re-dated into the digest period; 20% of the chats also
have a saved query (real word pairs). Each chat gets its best 10 items (one message). The emulator runs in
this process, on the same event loop as the sender, so the sender's figure includes the emulator's work.
`--bad-gateway 0.1` answers one send in ten `502 Bad Gateway` (Telegram did not take it; seeded, so repeatable)
and runs the same fan-out without faults first, from a copy of the same database: both rates side by side.

Backend-neutral (storage.open_storage): by default a SQLite file in a temporary folder; with
`--database-url postgresql://user@host/db` a database of its own is created on that server
(govdigest_bench_<hex>, dropped at the end WITH (FORCE)), seeded once, and each fan-out runs on a copy of it
(CREATE DATABASE ... TEMPLATE), as the SQLite file is copied.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import resource
import secrets
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.corpus import iter_articles, word_pairs
from bot.digest.compose import DigestComposer
from bot.digest.jobs import create_due_jobs
from bot.digest.pacing import DeliveryConfig
from bot.digest.schedule import due_period_end, period_start, schedule_anchor
from bot.digest.sender import deliver_ready
from bot.telegram.limits import GLOBAL_MESSAGES_PER_SECOND
from storage import Storage, open_storage, sqlite_path
from tests.emulator import BotAPIEmulator
from tests.emulator.entities import parse_html

ARTICLES = 400
MAX_ITEMS = 10
QUERY_SHARE = 5  # one chat in five has a saved query
BASELINE_SAMPLE = 300

Copier = Callable[[int], Awaitable[str]]
"""Run number -> the URL of a fresh copy of the seeded database (which must be closed)."""


def peak_memory_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class BenchClock:
    """The wall clock, or the moment it is told (`at`): the seed subscribes every chat ten days back through
    the repositories (which stamp `since` with the storage's clock), on either backend."""

    def __init__(self) -> None:
        self.at: datetime | None = None

    def __call__(self) -> datetime:
        return self.at or datetime.now(UTC).replace(microsecond=0)


def server_database_url(server_url: str, name: str) -> str:
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))


class PgDatabases:
    """Databases of this run on the PostgreSQL server of `server_url` (as tests/e2e/instances.py
    `fresh_database`): names are a fixed prefix and hex digits, so safe as identifiers; all dropped by `drop_all`."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.names: list[str] = []

    async def create(self, template: str | None = None) -> str:
        """A new database (empty, or a copy of `template`, one of ours, which has no connection now): its URL."""
        name = f"govdigest_bench_{secrets.token_hex(6)}"
        statement = f'CREATE DATABASE "{name}"'
        if template is not None:
            assert template in self.names  # our own name: prefix and hex digits
            statement += f' TEMPLATE "{template}"'
        conn = await asyncpg.connect(self.server_url)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()
        self.names.append(name)
        return server_database_url(self.server_url, name)

    async def drop_all(self) -> None:
        conn = await asyncpg.connect(self.server_url)
        try:
            for name in self.names:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
        self.names.clear()


@contextlib.asynccontextmanager
async def bench_databases(database_url: str | None, folder: Path) -> AsyncIterator[tuple[str, Copier]]:
    """(URL of the database to seed, a function giving a URL of a fresh copy of it once it is closed):
    a SQLite file in `folder` (copied file by file), or databases of our own on a PostgreSQL server."""
    if database_url is None or sqlite_path(database_url) is not None:
        path = sqlite_path(database_url) if database_url else Path(folder) / "bench.db"
        assert isinstance(path, Path), "the bench needs a SQLite file, not :memory:"

        async def copy_file(number: int) -> str:
            copy = Path(folder) / f"run-{number}.db"
            shutil.copyfile(path, copy)
            return f"sqlite:///{copy}"

        yield f"sqlite:///{path}", copy_file
        return
    databases = PgDatabases(database_url)
    try:
        seeded = await databases.create()
        template = databases.names[-1]

        async def copy_database(number: int) -> str:
            return await databases.create(template=template)

        yield seeded, copy_database
    finally:
        await databases.drop_all()


async def seed(
    storage: Storage, clock: BenchClock, chats: int, now: datetime, *, distinct_queries: bool = False
) -> None:
    since = now - timedelta(days=10)
    chat_repo, subs = storage.chats, storage.subscriptions
    pairs = word_pairs(chats if distinct_queries else 200, seed=7)
    for number in range(chats):
        chat_id = 10_000_000 + number
        await chat_repo.upsert(chat_id, type="private")
        await chat_repo.set_max_items(chat_id, MAX_ITEMS)
        clock.at = since  # the subscription's `since`: ten days back
        try:
            await subs.set_gov_news(chat_id, True)
        finally:
            clock.at = None
        if distinct_queries or number % QUERY_SHARE == 0:
            first, second = pairs[number % len(pairs)]
            await subs.add_query(chat_id, f"{first} {second}")
    # The period every chat's 09:00 Moscow digest covers: the last 24 hours before it.
    chat = await chat_repo.get(10_000_000)
    assert chat is not None
    end = due_period_end(chat, anchor=since, now=now, after_digest=False)
    assert end is not None
    articles = []
    for index, article in enumerate(iter_articles(ARTICLES, seed=3)):
        moment = end - timedelta(minutes=1 + index * (23 * 60 - 2) / ARTICLES)
        articles.append(dataclasses.replace(article, published_at=moment))
    await storage.articles.add_many(articles)


async def compose_all(
    storage: Storage, now: datetime, *, shared_cache: bool, limit: int | None = None
) -> tuple[int, float]:
    """Compose every due chat's digest without writing anything; returns (digests, seconds)."""
    chats = await storage.chats.subscribed()
    if limit is not None:
        chats = chats[:limit]
    subs = await storage.subscriptions.many([c.id for c in chats])
    started = time.perf_counter()
    composer = DigestComposer(storage)
    count = 0
    for chat in chats:
        sub = subs[chat.id]
        anchor, after = schedule_anchor(
            last_period_end=chat.last_period_end, subscribed_since=sub.since, created_at=chat.created_at
        )
        end = due_period_end(chat, anchor=anchor, now=now, after_digest=after)
        if end is None:
            continue
        start = period_start(period_end=end, last_period_end=chat.last_period_end, subscribed_since=sub.since)
        if not shared_cache:
            composer = DigestComposer(storage)
        composed = await composer.compose(chat, sub, start=start, end=end)
        count += bool(composed.parts)
    return count, time.perf_counter() - started


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", action="store_true", help="300 chats instead of 10,000")
    parser.add_argument("--chats", type=int, help="number of subscribed chats")
    parser.add_argument("--compose-only", action="store_true", help="skip the sending part")
    parser.add_argument(
        "--distinct-queries", action="store_true", help="worst case: every chat has its own saved query"
    )
    parser.add_argument(
        "--bad-gateway",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="answer this share of the sends 502 Bad Gateway (e.g. 0.1); the same fan-out without faults "
        "runs first, in the same process, as the baseline",
    )
    parser.add_argument(
        "--no-baseline", action="store_true", help="with --bad-gateway: skip the baseline run"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the emulator's choice of 502s")
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="sqlite:///FILE (a new file) or postgresql://user@host/db (a server: the bench creates and drops "
        "databases of its own there); default: a SQLite file in a temporary folder",
    )
    args = parser.parse_args()
    chats = args.chats or (300 if args.small else 10_000)
    now = datetime.now(UTC)
    clock = BenchClock()
    with tempfile.TemporaryDirectory() as folder:
        async with bench_databases(args.database_url, Path(folder)) as (url, copy_of):
            backend = "SQLite" if sqlite_path(url) is not None else "PostgreSQL"
            print(f"backend: {backend}")
            storage = await open_storage(url, clock=clock)
            try:
                started = time.perf_counter()
                await seed(storage, clock, chats, now, distinct_queries=args.distinct_queries)
                print(f"seeded {chats} chats, {ARTICLES} articles in {time.perf_counter() - started:.1f} s")

                sample = min(BASELINE_SAMPLE, chats)
                _, uncached = await compose_all(storage, now, shared_cache=False, limit=sample)
                composed, cached = await compose_all(storage, now, shared_cache=True)
                per_digest_uncached = uncached / sample
                print(
                    f"compose {composed} digests (no sending, no writes): {cached:.2f} s "
                    f"({cached / max(composed, 1) * 1000:.2f} ms each); baseline without the per-cycle caches: "
                    f"{per_digest_uncached * 1000:.2f} ms each (sample of {sample}) → "
                    f"{per_digest_uncached * composed:.1f} s for all; ratio {per_digest_uncached * composed / cached:.1f}×"
                )
                started = time.perf_counter()
                created, _ = await create_due_jobs(storage, now=now)
                jobs_seconds = time.perf_counter() - started
                print(f"compose + write {created} outbox jobs: {jobs_seconds:.2f} s")
                if args.compose_only:
                    print(f"peak memory: {peak_memory_mib():.0f} MiB")
                    return 0

                outbox = storage.outbox
                expected: dict[int, list[str]] = {}
                for job in await outbox.ready_jobs(now + timedelta(minutes=1)):
                    expected[job.chat_id] = [parse_html(p.text).text for p in await outbox.parts(job.id)]
            finally:
                await storage.close()
            # Every scenario sends the same jobs from its own copy of the database (closed above, so the copy
            # holds everything).
            runs: list[FanoutRun] = []
            for share in (
                [0.0, args.bad_gateway] if args.bad_gateway and not args.no_baseline else [args.bad_gateway]
            ):
                run_storage = await open_storage(await copy_of(len(runs)), clock=clock)
                try:
                    runs.append(await fan_out(run_storage, expected, now, bad_gateway=share, seed=args.seed))
                finally:
                    await run_storage.close()
                print(runs[-1].line())
        if len(runs) == 2:
            print(
                f"with {runs[1].share:.0%} answered 502: {runs[1].rate:.2f} msg/s vs {runs[0].rate:.2f} without "
                f"faults in the same run → ratio {runs[1].rate / runs[0].rate:.3f}"
            )
        print(
            f"peak memory (bench process: database, composer, emulator and sender): {peak_memory_mib():.0f} MiB"
        )
        return 0 if all(run.lost == 0 and run.doubled == 0 for run in runs) else 1


@dataclasses.dataclass(frozen=True, slots=True)
class FanoutRun:
    share: float
    messages: int
    total: int
    chats: int
    seconds: float
    lost: int
    doubled: int
    bad_gateways: int
    flood_events: int
    failed_jobs: int
    retried: int

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    def line(self) -> str:
        limit = GLOBAL_MESSAGES_PER_SECOND
        return (
            f"fan-out, {self.share:.0%} of sends answered 502: {self.messages}/{self.total} messages to "
            f"{self.chats} chats in {self.seconds:.1f} s = {self.rate:.2f} msg/s; limit {limit}/s → "
            f"{self.rate / limit:.1%} of the limit; lost {self.lost}, doubled {self.doubled}, 502s answered "
            f"{self.bad_gateways}, retries {self.retried}, 429s received {self.flood_events}, "
            f"failed jobs {self.failed_jobs}"
        )


async def fan_out(
    storage: Storage, expected: dict[int, list[str]], now: datetime, *, bad_gateway: float, seed: int
) -> FanoutRun:
    """Deliver every ready job through a fresh emulator (Telegram's limits; `bad_gateway` of the sends
    answered 502, chosen by a seeded RNG) and count, message by message, what was lost or doubled."""
    emulator = BotAPIEmulator()  # Telegram's limits: 30/s overall, private chats 1/s (bursts of 5)
    await emulator.start()
    for chat_id in expected:
        emulator.add_chat(chat_id, "private")
    fault = emulator.fail_share("sendMessage", bad_gateway, error_code=502, seed=seed)
    bot = emulator.make_bot()
    try:
        config = DeliveryConfig(messages_per_second=float(GLOBAL_MESSAGES_PER_SECOND))
        started = time.perf_counter()
        result = await deliver_ready(bot, storage, config, now=now + timedelta(minutes=1))
        seconds = time.perf_counter() - started
    finally:
        await bot.session.close()
        await emulator.stop()
    received = Counter((m.chat_id, m.text) for m in emulator.sent_messages)
    doubled = sum(n - 1 for n in received.values() if n > 1)
    lost = sum(1 for chat_id, parts in expected.items() for text in parts if received[(chat_id, text)] == 0)
    return FanoutRun(
        share=bad_gateway,
        messages=result.messages,
        total=sum(len(parts) for parts in expected.values()),
        chats=len(expected),
        seconds=seconds,
        lost=lost,
        doubled=doubled,
        bad_gateways=fault.injected,
        flood_events=len(emulator.flood_events),
        failed_jobs=result.failed,
        retried=result.retried,
    )


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
