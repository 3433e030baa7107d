"""The bot end to end: /search updates through the Bot API emulator (flood limits off) into a real
`govdigest run` process over a 100,000-article archive, beside a minimal aiogram echo bot on the same emulator.

Both bots are separate processes polling the same in-process emulator, one after the other, each measured the
same two ways:
- latency: one update at a time (inject, wait for the reply) — p50/p95 from update to reply;
- throughput: N updates injected at once — updates per second until the last reply (and p95 under that load).
Every /search goes to its own user (a fresh private chat), so neither the per-user throttle nor per-chat pacing
is what is measured; MESSAGES_PER_SECOND is raised for the same reason (the emulator's flood limits are off).
Peak memory is the bot process's VmHWM (resident high-water mark) read before it is stopped.

    python bench/bot_bench.py            # 100,000 articles, 1,000 updates per phase
    python bench/bot_bench.py --small    # 20,000 articles, 200 updates per phase
    python bench/bot_bench.py --echo-bot URL   # (internal) run the baseline echo bot against URL
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.emulator.server import BotAPIEmulator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The bench's own modules are imported in bench() only: the echo bot process (this script with --echo-bot)
# then loads nothing but aiogram, a fair baseline for memory too.
DEFAULT_TOKEN = "123456:TEST-token-for-the-emulator-000000000"

_USER_BLOCKS = itertools.count(10_000_000, 1_000_000)
TIMEOUT = 60.0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


# --- the baseline: a minimal aiogram echo bot ----------------------------------------------------------


async def echo_bot(base_url: str) -> None:
    from aiogram import Bot, Dispatcher
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.types import Message

    bot = Bot(DEFAULT_TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(base_url)))
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "-")

    await dispatcher.start_polling(bot, polling_timeout=10, handle_signals=True)


# --- measuring -----------------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    latency_ms: list[float]
    burst_seconds: float
    burst_latency_ms: list[float]
    peak_rss_mb: float

    @property
    def updates_per_second(self) -> float:
        return len(self.burst_latency_ms) / self.burst_seconds


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def measure(
    name: str,
    command: list[str],
    env: dict[str, str],
    queries: list[str],
    emulator: BotAPIEmulator,
    log: Path,
) -> Result:
    with log.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(*command, env=env, stdout=log_file, stderr=log_file)
    try:
        await emulator.wait_for_request("getUpdates", timeout=TIMEOUT)
        user = next(_USER_BLOCKS)  # fresh users (fresh private chats) for every bot
        # Warm-up: imports, the SQLite page cache, aiohttp connections.
        for query in queries[:20]:
            user += 1
            emulator.message(f"/search {query}", user_id=user, chat_id=user)
            await emulator.wait_for_messages(user, 1, TIMEOUT)

        latency: list[float] = []
        for query in queries:
            user += 1
            started = time.perf_counter()
            emulator.message(f"/search {query}", user_id=user, chat_id=user)
            await emulator.wait_for_messages(user, 1, TIMEOUT)
            latency.append((time.perf_counter() - started) * 1000)

        sent_at: dict[int, float] = {}
        first_user = user + 1
        started = time.perf_counter()
        for query in queries:
            user += 1
            sent_at[user] = time.perf_counter()
            emulator.message(f"/search {query}", user_id=user, chat_id=user)
        replied_at: dict[int, float] = {}

        def all_replied() -> bool:
            for chat in range(first_user, user + 1):
                if chat not in replied_at and emulator.messages_to(chat):
                    replied_at[chat] = time.perf_counter()
            return len(replied_at) == len(sent_at)

        await emulator.wait_for(all_replied, TIMEOUT * 5)
        burst_seconds = time.perf_counter() - started
        burst_latency = [(replied_at[chat] - sent_at[chat]) * 1000 for chat in sent_at]
        peak = peak_rss_mb(process.pid)
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), TIMEOUT)
        if code != 0:
            print(f"  {name}: exit code {code}; see {log}", flush=True)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return Result(name, latency, burst_seconds, burst_latency, peak)


async def prepare_archive(data_dir: Path, size: int, seed: int) -> Path:
    """A private copy of the archive benchmark's database (the bot migrates it to the newest schema)."""
    target = data_dir / f"bot-archive-{size}.db"
    if target.exists():
        return target
    source = data_dir / f"archive-{size}.db"
    if source.exists() and not Path(f"{source}-wal").exists():  # noqa: ASYNC240
        shutil.copyfile(source, target)
        return target
    from bench.search_bench import build

    await build(target, size, seed)
    return target


def report(results: list[Result], size: int, updates: int) -> None:
    print(
        f"\n{updates} /search updates per phase, archive of {size:,} articles, load average {os.getloadavg()}"
    )
    print(f"{'bot':<12}{'p50 ms':>9}{'p95 ms':>9}{'updates/s':>11}{'p95 loaded':>12}{'peak RSS MB':>13}")
    for r in results:
        print(
            f"{r.name:<12}{percentile(r.latency_ms, 0.5):>9.1f}{percentile(r.latency_ms, 0.95):>9.1f}"
            f"{r.updates_per_second:>11.0f}{percentile(r.burst_latency_ms, 0.95):>12.0f}{r.peak_rss_mb:>13.0f}"
        )
    echo, bot = results
    print(
        f"ratio govdigest/echo: p95 {percentile(bot.latency_ms, 0.95) / percentile(echo.latency_ms, 0.95):.2f}x, "
        f"updates/s {bot.updates_per_second / echo.updates_per_second:.2f}x"
    )


async def bench(args: argparse.Namespace) -> int:
    from bench.corpus import word_pairs
    from tests.emulator.server import DEFAULT_TOKEN as EMULATOR_TOKEN
    from tests.emulator.server import BotAPIEmulator

    assert EMULATOR_TOKEN == DEFAULT_TOKEN
    size = 20_000 if args.small else args.size
    updates = 200 if args.small else args.updates
    archive = await prepare_archive(args.data_dir, size, args.seed)
    queries = [f"{a} {b}" for a, b in word_pairs(updates, args.seed)]
    emulator = BotAPIEmulator(flood_limits=False)
    await emulator.start()
    env = {
        **os.environ,
        "BOT_TOKEN": DEFAULT_TOKEN,
        "TELEGRAM_API_URL": emulator.base_url,
        "DATABASE_URL": f"sqlite:///{archive}",
        "MESSAGES_PER_SECOND": "1000000",
        "LOG_LEVEL": "INFO",
    }
    try:
        results = [
            await measure(
                "echo",
                [sys.executable, __file__, "--echo-bot", emulator.base_url],
                env,
                queries,
                emulator,
                args.data_dir / "bot-bench-echo.log",
            ),
            await measure(
                "govdigest",
                [sys.executable, "-m", "bot", "run"],
                env,
                queries,
                emulator,
                args.data_dir / "bot-bench-govdigest.log",
            ),
        ]
    finally:
        await emulator.stop()
    report(results, size, updates)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "govdigest-bench-data")
    parser.add_argument("--size", type=int, default=100_000, help="archive size (articles)")
    parser.add_argument("--updates", type=int, default=1000, help="updates per phase")
    parser.add_argument("--small", action="store_true", help="20,000 articles, 200 updates")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--echo-bot", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.echo_bot:
        asyncio.run(echo_bot(args.echo_bot))
        return 0
    args.data_dir.mkdir(parents=True, exist_ok=True)
    return asyncio.run(bench(args))


if __name__ == "__main__":
    raise SystemExit(main())
