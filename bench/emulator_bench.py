"""How fast the Bot API emulator answers, so that benchmarks running through it know their ceiling.

An aiogram Bot (real AiohttpSession) sends N sendMessage calls, `--concurrency` at a time, each a digest-like
HTML text (~1,500 characters, bold titles, links, escapes) to one of 1,000 private chats, flood limits off:
- emulator: the full BotAPIEmulator (HTML parsing, validation, recording);
- baseline: a bare aiohttp handler on the same machine answering every call with one canned Message JSON
  (same client, same HTTP, no Telegram logic).
The ratio emulator/baseline is the cost of the emulation. Also timed: parse_html alone on the same text.

    python bench/emulator_bench.py            # 5,000 messages
    python bench/emulator_bench.py --small    # 1,000 messages
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aiohttp import web

from tests.emulator import DEFAULT_TOKEN, BotAPIEmulator
from tests.emulator.entities import parse_html
from tests.emulator.session import make_bot

CHATS = 1000


def digest_text() -> str:
    items = [
        f"<b>{index}. Заседание комиссии по вопросам &laquo;цифровой&raquo; экономики</b>\n"
        f"Правительственная комиссия рассмотрела проект &amp; утвердила план мероприятий на 2026 год. "
        f'<a href="https://gov.example/news/{index}?utm_source=tg">Подробнее</a>'
        for index in range(1, 8)
    ]
    return "\n\n".join(items).replace("&laquo;", "«").replace("&raquo;", "»")


async def send_all(base_url: str, text: str, total: int, concurrency: int) -> float:
    bot = make_bot(base_url, DEFAULT_TOKEN)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for number in range(total):
        queue.put_nowait(number)

    async def worker() -> None:
        while not queue.empty():
            number = queue.get_nowait()
            await bot.send_message(10_000 + number % CHATS, text)

    try:
        await bot.get_me()  # open the connection pool outside the timing
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started
    finally:
        await bot.session.close()


async def run_emulator(text: str, total: int, concurrency: int) -> float:
    emulator = BotAPIEmulator(flood_limits=False)
    await emulator.start()
    try:
        for number in range(CHATS):
            emulator.add_chat(10_000 + number, "private")
        seconds = await send_all(emulator.base_url, text, total, concurrency)
        assert len(emulator.sent_messages) == total
        return seconds
    finally:
        await emulator.stop()


async def run_baseline(text: str, total: int, concurrency: int) -> float:
    plain = parse_html(text).text
    me = {"id": 123456, "is_bot": True, "first_name": "GovDigest", "username": "govdigest_bot"}

    async def handle(request: web.Request) -> web.Response:
        await request.post()
        result: dict[str, Any] = me
        if request.match_info["method"] == "sendMessage":
            result = {
                "message_id": 1,
                "date": 0,
                "chat": {"id": 1, "type": "private", "first_name": "T"},
                "from": me,
                "text": plain,
            }
        return web.Response(text=json.dumps({"ok": True, "result": result}), content_type="application/json")

    app = web.Application()
    app.router.add_post("/bot{token}/{method}", handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        return await send_all(f"http://127.0.0.1:{runner.addresses[0][1]}", text, total, concurrency)
    finally:
        await runner.cleanup()


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", action="store_true", help="1,000 messages instead of 5,000")
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    total = 1000 if args.small else 5000
    text = digest_text()
    parsed = parse_html(text)
    print(
        f"text: {len(text)} characters of HTML, {parsed.length} UTF-16 units, {len(parsed.entities)} entities"
    )

    rounds = 200 if args.small else 1000
    started = time.perf_counter()
    for _ in range(rounds):
        parse_html(text)
    parse_ms = (time.perf_counter() - started) / rounds * 1000

    baseline = await run_baseline(text, total, args.concurrency)
    emulated = await run_emulator(text, total, args.concurrency)
    print(f"parse_html: {parse_ms:.3f} ms per text")
    print(f"baseline (canned JSON): {total / baseline:,.0f} sendMessage/s ({baseline:.2f} s for {total})")
    print(f"emulator (full):        {total / emulated:,.0f} sendMessage/s ({emulated:.2f} s for {total})")
    print(f"emulator / baseline throughput: {baseline / emulated:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
