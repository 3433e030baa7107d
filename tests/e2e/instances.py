"""Several `govdigest run` instances (webhook mode) on one PostgreSQL database, against the Bot API emulator:
a database of their own (`fresh_database`), the instances (`Fleet`), seeding through the storage, and the
fan-out scenario with SIGKILLs of the delivering instance (`run_fanout`), shared by
tests/e2e/test_instances_e2e.py, tests/e2e/test_postgres_outage_e2e.py and bench/instances_bench.py."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as day_time
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bot.clock import FixedClock, system_clock
from bot.digest.jobs import create_due_jobs
from bot.digest.records import OutboxCounts
from bot.digest.schedule import due_period_end
from bot.leases import DELIVERY
from storage import Storage, open_storage
from tests.e2e.digest_seed import make_articles
from tests.e2e.test_crash import AnswerDelayEmulator
from tests.emulator import DEFAULT_TOKEN, BotAPIEmulator
from tests.emulator.entities import parse_html

ROOT = Path(__file__).resolve().parents[2]
SECRET = "instances-e2e-secret"
TIMEOUT = 30.0
# Messages over 30/s in a 5-second window: one catch-up burst (Telegram's bucket holds 30).
BURST_TOLERANCE = 30


# --- a database of its own ----------------------------------------------------------------------------------


def database_url(server_url: str, name: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@contextlib.asynccontextmanager
async def fresh_database(server_url: str) -> AsyncIterator[str]:
    """A new, empty database on the server of `server_url` (its URL); dropped afterwards, leftover
    connections (a killed instance's) terminated first."""
    name = f"govdigest_e2e_{secrets.token_hex(6)}"  # a fixed prefix and hex digits: safe as an identifier
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield database_url(server_url, name)
    finally:
        conn = await asyncpg.connect(server_url)
        try:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 "
                "AND pid <> pg_backend_pid()",
                name,
            )
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


# --- instances ----------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Instance:
    process: asyncio.subprocess.Process
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/telegram"

    @property
    def pid(self) -> int:
        return self.process.pid


@dataclass
class Fleet:
    """`govdigest run --webhook` processes on one database; each on a port of its own, all with one secret."""

    emulator: BotAPIEmulator
    db_url: str
    workdir: Path
    extra_env: Mapping[str, str] = field(default_factory=dict)
    running: list[Instance] = field(default_factory=list)
    started: int = 0

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            # The checkout first, then what is there already (the clock shift's sitecustomize, tests/clock_shift).
            "PYTHONPATH": os.pathsep.join(
                [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
            ),
            "PYTHONUNBUFFERED": "1",
            "BOT_TOKEN": DEFAULT_TOKEN,
            "TELEGRAM_API_URL": self.emulator.base_url,
            "DATABASE_URL": self.db_url,
            "WEBHOOK_SECRET": SECRET,
            "LOG_LEVEL": "INFO",
            "ADMIN_IDS": "",
            "SOURCES_LOAD_DEFAULTS": "0",  # the shipped sources are real sites: never polled by a test
            **self.extra_env,
        }

    async def start(self) -> Instance:
        """Start one more instance and wait until its webhook is set (it serves updates from then on)."""
        port = free_port()
        self.started += 1
        home = self.workdir / f"instance-{self.started}"
        home.mkdir(parents=True, exist_ok=True)
        url = f"http://127.0.0.1:{port}/telegram"
        with (self.workdir / "instances.log").open("ab") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                "--webhook",
                url,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--secret",
                SECRET,
                cwd=home,  # no .env of the checkout is read; a heartbeat file of its own
                env=self.env(),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=log,
            )
        instance = Instance(process, port)
        self.running.append(instance)
        await self.emulator.wait_for(
            lambda: any(
                r.method.lower() == "setwebhook" and r.params.get("url") == url and r.ok
                for r in self.emulator.requests
            ),
            timeout=TIMEOUT,
        )
        return instance

    def by_pid(self, pid: int) -> Instance:
        [instance] = [i for i in self.running if i.pid == pid]
        return instance

    async def kill(self, instance: Instance) -> None:
        instance.process.kill()  # SIGKILL: no cleanup, no lease release, requests in flight
        await instance.process.wait()
        self.running.remove(instance)

    async def stop(self) -> list[int]:
        """SIGTERM every instance (as systemd would); their exit codes."""
        codes = []
        for instance in list(self.running):
            if instance.process.returncode is None:
                instance.process.send_signal(signal.SIGTERM)
        for instance in list(self.running):
            try:
                codes.append(await asyncio.wait_for(instance.process.wait(), TIMEOUT))
            except TimeoutError:
                instance.process.kill()
                codes.append(await instance.process.wait())
            self.running.remove(instance)
        return codes

    def log(self) -> str:
        path = self.workdir / "instances.log"
        return path.read_text(errors="replace") if path.exists() else ""


async def holder_pid(storage: Storage, name: str = DELIVERY) -> int | None:
    lease = await storage.outbox.lease(name)
    if lease is None:
        return None
    pid = lease.holder.split(":")[1]  # host:pid:token
    return int(pid) if pid.isdigit() else None


# --- seeding ------------------------------------------------------------------------------------------------


async def seed_chats(storage: Storage, chat_ids: Sequence[int], emulator: BotAPIEmulator) -> None:
    """Private chats subscribed to government news, digest at 09:00 Moscow (the storage's clock says when
    they subscribed)."""
    for chat_id in chat_ids:
        await storage.chats.upsert(chat_id, type="private", title=None)
        emulator.add_chat(chat_id, "private")
        await storage.chats.set_timezone(chat_id, "Europe/Moscow")
        await storage.chats.set_delivery_time(chat_id, day_time(9, 0))
        await storage.subscriptions.set_gov_news(chat_id, True)


async def seed_fanout(
    db_url: str, chat_ids: Sequence[int], articles: int, emulator: BotAPIEmulator, now: datetime
) -> dict[int, list[str]]:
    """Chats subscribed ten days ago, articles in the digest period due now, the due jobs created: each chat's
    expected parts (the text Telegram stores)."""
    clock = FixedClock(now - timedelta(days=10))
    storage = await open_storage(db_url, clock=clock)
    try:
        await seed_chats(storage, chat_ids, emulator)
        chat = await storage.chats.get(chat_ids[0])
        assert chat is not None
        period_end = due_period_end(chat, anchor=clock.now, now=now, after_digest=False)
        assert period_end is not None
        await storage.articles.add_many(make_articles(articles, end=period_end))
        clock.now = now
        created, _ = await create_due_jobs(storage, now=now)
        assert created == len(chat_ids)
        expected: dict[int, list[str]] = {}
        for chat_id in chat_ids:
            [job] = await storage.outbox.jobs_for_chat(chat_id)
            expected[chat_id] = [parse_html(p.text).text for p in await storage.outbox.parts(job.id)]
        return expected
    finally:
        await storage.close()


# --- the fan-out scenario -----------------------------------------------------------------------------------


@dataclass
class FanoutOutcome:
    chats: int
    total: int  # parts to deliver
    delivered: int  # sendMessage calls Telegram took
    seconds: float  # first message to last
    lost: int
    doubled: int
    out_of_order: int  # chats whose parts arrived in another order
    flood_events: int
    max_per_second: int  # most messages in any 1-second window of the emulator's record
    max_per_5_seconds: int  # ... in any 5-second window
    takeovers: list[float]  # kill -> next message sent (by the other instance)
    send_times: list[float]  # the emulator's record of every sendMessage taken (time.monotonic())
    kill_times: list[float]
    counts: OutboxCounts
    exit_codes: list[int]
    log: str

    @property
    def rate(self) -> float:
        return self.delivered / self.seconds if self.seconds > 0 else 0.0


def max_in_window(times: Sequence[float], window: float = 1.0) -> int:
    ordered = sorted(times)
    best = start = 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def _at_least(items: Sequence[object], count: int) -> bool:
    return len(items) >= count


async def wait_all_done(storage: Storage, chats: int, within: float) -> OutboxCounts:
    """Poll the outbox until every job is finished (sent or failed), or raise TimeoutError."""
    deadline = time.monotonic() + within
    while True:
        counts = await storage.outbox.counts()
        if counts.pending == 0 and counts.sending == 0 and counts.sent + counts.failed >= chats:
            return counts
        if time.monotonic() > deadline:
            raise TimeoutError(f"the fan-out did not finish: {counts}")
        await asyncio.sleep(0.2)


async def run_fanout(
    server_url: str,
    workdir: Path,
    *,
    chats: int,
    kills: int,
    articles: int = 70,
    seed: int = 1,
    answer_delay: float = 0.15,
    within: float = 60.0,
    progress: Any = None,
) -> FanoutOutcome:
    """Two instances deliver `chats` digests; the lease holder is killed `kills` times at random points (and
    replaced). `progress(text)` is told what happens (the benchmark prints it)."""
    say = progress or (lambda text: None)
    rng = random.Random(seed)
    emulator = AnswerDelayEmulator()  # Telegram's flood limits on
    await emulator.start()
    emulator.answer_delay = answer_delay  # requests in flight at every kill
    try:
        async with fresh_database(server_url) as db_url:
            chat_ids = [5_000_001 + n for n in range(chats)]
            expected = await seed_fanout(db_url, chat_ids, articles, emulator, datetime.now(UTC))
            total = sum(len(parts) for parts in expected.values())
            say(f"seeded {chats} chats, {total} parts")
            fleet = Fleet(emulator, db_url, workdir)
            watcher = await open_storage(db_url, clock=system_clock, migrate=False, pool_size=2)
            try:
                await asyncio.gather(fleet.start(), fleet.start())
                sent = emulator.sent_messages
                points = sorted(rng.sample(range(total // 10, (total * 7) // 10), kills))
                takeovers: list[float] = []
                kill_times: list[float] = []
                for point in points:
                    await emulator.wait_for(partial(_at_least, sent, point), timeout=within + point / 25)
                    pid = await holder_pid(watcher)
                    assert pid is not None, "nobody holds the delivery lease mid fan-out"
                    await fleet.kill(fleet.by_pid(pid))
                    # The emulator's record is on time.monotonic(), in this process.
                    killed_at, at_kill, calls_at_kill = time.monotonic(), len(sent), len(emulator.requests)
                    assert at_kill < total, "the fan-out finished before the kill"
                    await fleet.start()  # two running again
                    await emulator.wait_for(partial(_at_least, sent, at_kill + 1), timeout=within)
                    first = min(
                        r.time for r in emulator.requests[calls_at_kill:] if r.method.lower() == "sendmessage"
                    )
                    takeovers.append(first - killed_at)
                    kill_times.append(killed_at)
                    say(
                        f"killed the holder (pid {pid}) at message {at_kill}/{total}: next message after "
                        f"{takeovers[-1]:.2f} s"
                    )
                try:
                    # Every job finished in the outbox: every send was answered, so the emulator recorded it.
                    # (Not "the emulator saw every part": a part lost in a kill would never arrive.)
                    counts = await wait_all_done(watcher, chats, within + total / 25)
                except TimeoutError as error:
                    status = await watcher.outbox.counts()
                    raise AssertionError(
                        f"{error}: {len(sent)}/{total} messages, {status}, lease "
                        f"{await watcher.outbox.lease(DELIVERY)}, running "
                        f"{[i.pid for i in fleet.running]}\n{fleet.log()[-6000:]}"
                    ) from error
            finally:
                await watcher.close()
                codes = await fleet.stop()
            received = Counter((m.chat_id, m.text) for m in sent)
            doubled = sum(n - 1 for n in received.values() if n > 1)
            lost = sum(
                1 for chat_id, parts in expected.items() for text in parts if received[(chat_id, text)] == 0
            )
            out_of_order = sum(
                1
                for chat_id, parts in expected.items()
                if [m.text for m in emulator.messages_to(chat_id)] != parts
            )
            times = [r.time for r in emulator.requests if r.method.lower() == "sendmessage" and r.ok]
            return FanoutOutcome(
                chats=chats,
                total=total,
                delivered=len(times),
                seconds=(max(times) - min(times)) if times else 0.0,
                lost=lost,
                doubled=doubled,
                out_of_order=out_of_order,
                flood_events=len(emulator.flood_events),
                max_per_second=max_in_window(times),
                max_per_5_seconds=max_in_window(times, 5.0),
                takeovers=takeovers,
                send_times=times,
                kill_times=kill_times,
                counts=counts,
                exit_codes=codes,
                log=fleet.log(),
            )
    finally:
        await emulator.stop()


# --- the tests ----------------------------------------------------------------------------------------------
