"""Update -> reply under load: two `govdigest run --webhook` instances on one PostgreSQL database beside one
instance on a SQLite file, the same archive in both, in the same run.

    GOVDIGEST_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test python bench/instances_bot_bench.py \
        [--articles 20000] [--updates 1000] [--seed 7] [--postgres-url URL]

The archive (bench/corpus.py: real titles, leads and paragraphs recombined, as bench/bot_bench.py) is seeded
through the storage into a fresh database on that server (dropped afterwards) and into a SQLite file in a
temporary folder. Then, one setup at a time (so the other's idle processes take no CPU):
- PostgreSQL: two instances (tests/e2e/instances.py `Fleet`, real processes); `--updates` /search updates
  (real two-word queries, bench.corpus.word_pairs) POSTed all at once, round robin over the two webhook URLs
  (as a reverse proxy would);
- SQLite: one instance; the same updates, all to it.
Every update comes from its own user in its own private chat, so neither the per-user throttle nor the per-chat
pace applies; the emulator's flood limits are off and MESSAGES_PER_SECOND is 100,000 (the overall send budget
then never waits; on PostgreSQL each message still takes its slot of the shared rate in the database, one
statement, which is part of what is measured). Each instance first answers 20 warm-up searches one at a time.
Update -> reply: from just before the update's POST to the emulator storing the bot's sendMessage to that chat
(both clocks in this process). Printed: p50/p95/max, updates/s (all updates / first POST to last reply), and
the PostgreSQL/SQLite ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp
import asyncpg

from bench.bot_bench import percentile
from bench.corpus import iter_stemmed_articles, word_pairs
from bot.clock import system_clock
from storage import open_storage
from tests.e2e.instances import SECRET, Fleet, fresh_database
from tests.emulator import BotAPIEmulator
from tests.emulator.models import SentMessage

BATCH = 2000
WARM_UP = 20
TIMEOUT = 300.0
EXTRA_ENV = {"MESSAGES_PER_SECOND": "100000", "LOG_LEVEL": "WARNING"}


class TimingEmulator(BotAPIEmulator):
    """The emulator, noting when the first message to each chat was stored (time.monotonic())."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.first_reply: dict[int, float] = {}

    def _store(self, message: SentMessage) -> SentMessage:
        self.first_reply.setdefault(message.chat_id, time.monotonic())
        return super()._store(message)


@dataclass
class Outcome:
    name: str
    instances: int
    latency_ms: list[float]
    seconds: float  # first POST to last reply
    not_ok: int  # POSTs not answered 200
    nothing_found: int  # replies saying the query found nothing (still a search, and still a reply)
    exit_codes: list[int]
    # CPU time (user + system) from the first POST to the last reply: the instances, the PostgreSQL backends
    # serving this database (0 for SQLite), this process (the emulator and the POSTs).
    cpu_instances: float
    cpu_postgres: float
    cpu_bench: float

    @property
    def updates_per_second(self) -> float:
        return len(self.latency_ms) / self.seconds


def cpu_of(pid: int) -> float:
    """utime + stime of a process (Linux /proc), in seconds; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def backends_cpu(db_url: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend connected to the database (the server is on this machine)."""
    if not db_url.startswith("postgres"):
        return {}
    conn = await asyncpg.connect(db_url)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return {row["pid"]: cpu_of(row["pid"]) for row in rows}


def say(text: str) -> None:
    print(text, flush=True)


# --- seeding ------------------------------------------------------------------------------------------------


async def seed(db_url: str, articles: Sequence[Any], stemmed: Sequence[Any]) -> float:
    """Store the archive through the storage (migrated first); returns seconds taken."""
    started = time.perf_counter()
    storage = await open_storage(db_url, clock=system_clock)
    try:
        for start in range(0, len(articles), BATCH):
            await storage.articles.add_many(articles[start : start + BATCH], stemmed[start : start + BATCH])
    finally:
        await storage.close()
    if db_url.startswith("postgres"):
        conn = await asyncpg.connect(db_url)
        try:
            await conn.execute("VACUUM ANALYZE")  # fresh statistics, as a live database would have
        finally:
            await conn.close()
    return time.perf_counter() - started


# --- measuring ----------------------------------------------------------------------------------------------


async def post(
    session: aiohttp.ClientSession, url: str, update: dict[str, Any], sent_at: dict[int, float], chat: int
) -> int:
    sent_at[chat] = time.monotonic()
    async with session.post(
        url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
    ) as response:
        await response.read()
        return response.status


def build_updates(emulator: TimingEmulator, queries: Sequence[str], first_user: int) -> list[dict[str, Any]]:
    """The updates, taken off the emulator's queue at once: they go where the bench posts them, not to the
    last webhook set (the emulator's own push loop never sees them: no await in between)."""
    updates = []
    for n, query in enumerate(queries):
        user = first_user + n
        updates.append(emulator.message(f"/search {query}", user_id=user, chat_id=user))
    emulator.pending_updates.clear()
    return updates


async def run_setup(
    name: str, db_url: str, instances: int, queries: Sequence[str], workdir: Path, connections: int
) -> Outcome:
    emulator = TimingEmulator(flood_limits=False)
    await emulator.start()
    fleet = Fleet(emulator, db_url, workdir / name, extra_env=EXTRA_ENV)
    codes: list[int] = []
    try:
        started = time.perf_counter()
        running = await asyncio.gather(*(fleet.start() for _ in range(instances)))
        urls = [instance.url for instance in running]
        say(f"{name}: {instances} instance(s) serving after {time.perf_counter() - started:.1f} s")
        connector = aiohttp.TCPConnector(limit=connections, limit_per_host=0)
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=TIMEOUT)
        ) as session:
            # Warm-up, one at a time on each instance: imports, caches, the pools' connections.
            user = 1_000_000
            for url in urls:
                for update in build_updates(emulator, queries[:WARM_UP], user):
                    chat = int(update["message"]["chat"]["id"])
                    await post(session, url, update, {}, chat)
                    await emulator.wait_for(lambda chat=chat: chat in emulator.first_reply, TIMEOUT)
                user += WARM_UP

            first_user = 2_000_000
            updates = build_updates(emulator, queries, first_user)
            chats = [int(u["message"]["chat"]["id"]) for u in updates]
            expected = len(emulator.first_reply) + len(updates)
            sent_at: dict[int, float] = {}
            pids = [instance.pid for instance in running]
            backends_before = await backends_cpu(db_url)
            cpu_before, bench_before = sum(map(cpu_of, pids)), time.process_time()
            began = time.monotonic()
            statuses = await asyncio.gather(
                *(post(session, urls[n % len(urls)], u, sent_at, chats[n]) for n, u in enumerate(updates))
            )
            posted = time.monotonic() - began
            await emulator.wait_for(lambda: len(emulator.first_reply) >= expected, TIMEOUT)
            cpu_instances = sum(map(cpu_of, pids)) - cpu_before
            cpu_bench = time.process_time() - bench_before
            backends = await backends_cpu(db_url)  # a backend started in the burst: all its CPU counts
            cpu_postgres = sum(v - backends_before.get(pid, 0.0) for pid, v in backends.items())
        replied = [emulator.first_reply[chat] for chat in chats]
        seconds = max(replied) - began
        say(f"{name}: {len(updates)} POSTs answered in {posted:.2f} s, last reply after {seconds:.2f} s")
        nothing = sum(1 for chat in chats if "ничего не найдено" in emulator.messages_to(chat)[0].text)
        latency = [(emulator.first_reply[chat] - sent_at[chat]) * 1000 for chat in chats]
        not_ok = sum(status != 200 for status in statuses)
        outcome = Outcome(
            name, instances, latency, seconds, not_ok, nothing, codes, cpu_instances, cpu_postgres, cpu_bench
        )
    finally:
        codes.extend(await fleet.stop())
        await emulator.stop()
    if any(codes):
        say(f"{name}: exit codes {codes}; log:\n{fleet.log()[-3000:]}")
    return outcome


# --- report -------------------------------------------------------------------------------------------------


def report(results: Sequence[Outcome], articles: int, updates: int) -> None:
    say(
        f"\n{updates} concurrent /search updates per setup, archive of {articles:,} articles, "
        f"{os.cpu_count()} CPUs, load average {tuple(round(x, 2) for x in os.getloadavg())}"
    )
    say(f"{'setup':<24}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'updates/s':>11}{'not 200':>9}{'nothing':>9}")
    for r in results:
        say(
            f"{f'{r.name} x{r.instances}':<24}{percentile(r.latency_ms, 0.5):>9.0f}"
            f"{percentile(r.latency_ms, 0.95):>9.0f}{max(r.latency_ms):>9.0f}{r.updates_per_second:>11.0f}"
            f"{r.not_ok:>9}{r.nothing_found:>9}"
        )
    pg, lite = results
    say(
        f"ratio PostgreSQL/SQLite: p50 {percentile(pg.latency_ms, 0.5) / percentile(lite.latency_ms, 0.5):.2f}x, "
        f"p95 {percentile(pg.latency_ms, 0.95) / percentile(lite.latency_ms, 0.95):.2f}x, "
        f"max {max(pg.latency_ms) / max(lite.latency_ms):.2f}x, "
        f"updates/s {pg.updates_per_second / lite.updates_per_second:.2f}x"
    )
    for r in results:
        say(
            f"{r.name}: CPU seconds over the {r.seconds:.1f} s burst: instances {r.cpu_instances:.1f}, "
            f"PostgreSQL backends {r.cpu_postgres:.1f}, this process {r.cpu_bench:.1f}"
        )
    say(f"instances' exit codes: {', '.join(f'{r.name} {r.exit_codes}' for r in results)}")


async def bench(args: argparse.Namespace, server_url: str) -> int:
    started = time.perf_counter()
    articles, stemmed = [], []
    for article, stems in iter_stemmed_articles(args.articles, args.seed):
        articles.append(article)
        stemmed.append(stems)
    queries = [f"{a} {b}" for a, b in word_pairs(args.updates, args.seed)]
    say(
        f"generated {len(articles):,} articles, {len(queries)} queries in {time.perf_counter() - started:.1f} s"
    )
    with tempfile.TemporaryDirectory(prefix="govdigest-instances-bot-") as folder:
        workdir = Path(folder)
        sqlite_url = f"sqlite:///{workdir / 'archive.db'}"
        async with fresh_database(server_url) as pg_url:
            say(f"PostgreSQL seeded in {await seed(pg_url, articles, stemmed):.1f} s")
            say(f"SQLite seeded in {await seed(sqlite_url, articles, stemmed):.1f} s")
            results = [
                await run_setup("postgresql", pg_url, 2, queries, workdir, args.connections),
                await run_setup("sqlite", sqlite_url, 1, queries, workdir, args.connections),
            ]
    report(results, len(articles), len(queries))
    say(f"whole run {time.perf_counter() - started:.0f} s")
    failed = any(r.exit_codes and any(r.exit_codes) for r in results) or any(r.not_ok for r in results)
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=int, default=20_000, help="archive size (default 20,000)")
    parser.add_argument(
        "--updates", type=int, default=1000, help="concurrent /search updates (default 1,000)"
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the archive and the queries")
    parser.add_argument("--postgres-url", help="server URL (default: GOVDIGEST_TEST_POSTGRES_URL)")
    parser.add_argument(
        "--connections", type=int, default=0, help="most POSTs open at once (default 0: all of them)"
    )
    args = parser.parse_args()
    server_url = (args.postgres_url or os.environ.get("GOVDIGEST_TEST_POSTGRES_URL", "")).strip()
    if not server_url:
        print("set GOVDIGEST_TEST_POSTGRES_URL or --postgres-url", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(bench(args, server_url))
    return 130


if __name__ == "__main__":
    raise SystemExit(main())
