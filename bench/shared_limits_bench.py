"""Where the limits several instances share should live: PostgreSQL (shipped) or Redis, measured side by side.

    GOVDIGEST_BENCH_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test \\
        python bench/shared_limits_bench.py [--redis 127.0.0.1:6379] [--uses 5000]

Per use, on one connection each, interleaved in rounds of 500: the shipped token bucket (storage.postgres
SharedLimitRepository.use_limit: one upsert) and the shared send slot (take_send_slot: one UPDATE), against the
same token bucket as a Lua script in Redis (EVALSHA, one round trip) and a bare round trip of each (SELECT 1,
PING). Redis is spoken to with a minimal RESP client here, so that measuring it adds no dependency. Printed:
p50/p95 per call in ms. The question it answers: would Redis save enough of an update's time to be worth a
second service to run, secure and watch?
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.clock import system_clock
from storage.postgres import PostgresStorage

ROUND = 500
# The same bucket as storage/postgres/shared_limits.py: refill, take one if there is one, count refusals.
BUCKET_LUA = """
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at', 'refusals')
local burst, rate, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tokens = tonumber(b[1]) or burst
local at = tonumber(b[2]) or now
local refusals = tonumber(b[3]) or 0
tokens = math.min(burst, tokens + (now - at) * rate)
if tokens >= 1 then tokens = tokens - 1; refusals = 0 else refusals = refusals + 1 end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now, 'refusals', refusals)
redis.call('EXPIRE', KEYS[1], 86400)
return refusals
"""


class Resp:
    """A minimal RESP2 client: commands as arrays of bulk strings, replies parsed enough for these calls."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, host: str, port: int) -> Resp:
        return cls(*await asyncio.open_connection(host, port))

    async def call(self, *parts: str) -> object:
        encoded = [part.encode() for part in parts]
        self.writer.write(
            b"*%d\r\n" % len(encoded) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in encoded)
        )
        return await self._reply()

    async def _reply(self) -> object:
        line = (await self.reader.readline()).rstrip(b"\r\n")
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b":"):
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b"$":
            size = int(rest)
            return None if size < 0 else (await self.reader.readexactly(size + 2))[:-2].decode()
        if kind == b"*":
            return [await self._reply() for _ in range(int(rest))]
        raise RuntimeError(f"unexpected reply {line!r}")

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--redis", default="127.0.0.1:6379")
    parser.add_argument("--uses", type=int, default=5000)
    args = parser.parse_args()
    url = os.environ.get("GOVDIGEST_BENCH_POSTGRES_URL", "").strip()
    if not url:
        print("set GOVDIGEST_BENCH_POSTGRES_URL (a database the bench may use)", file=sys.stderr)
        return 2
    host, _, port = args.redis.partition(":")
    schema = f"bench_limits_{uuid.uuid4().hex[:8]}"
    storage = await PostgresStorage.open(url, clock=system_clock, schema=schema, pool_size=2)
    redis = await Resp.connect(host, int(port or 6379))
    prefix = f"govdigest-bench:{uuid.uuid4().hex[:8]}:"
    try:
        limits = storage.shared_limits
        script = str(await redis.call("SCRIPT", "LOAD", BUCKET_LUA))
        counter = iter(range(10**9))

        async def pg_bucket() -> None:
            await limits.use_limit(f"u:{next(counter) % 300}", burst=5, per_second=1.0, now=datetime.now(UTC))

        async def pg_slot() -> None:
            await limits.take_send_slot(0.0)

        async def pg_select() -> None:
            await storage.db.fetchval("SELECT 1")

        async def redis_bucket() -> None:
            key = f"{prefix}u:{next(counter) % 300}"
            await redis.call("EVALSHA", script, "1", key, "5", "1.0", f"{time.time():.6f}")

        async def redis_ping() -> None:
            await redis.call("PING")

        methods: dict[str, Callable[[], Awaitable[None]]] = {
            "PostgreSQL token bucket (shipped)": pg_bucket,
            "PostgreSQL send slot (shipped)": pg_slot,
            "PostgreSQL SELECT 1": pg_select,
            "Redis token bucket (Lua)": redis_bucket,
            "Redis PING": redis_ping,
        }
        times: dict[str, list[float]] = {name: [] for name in methods}
        for call in methods.values():  # warm-up
            for _ in range(50):
                await call()
        for _ in range(max(1, args.uses // ROUND)):
            for name, call in methods.items():
                for _ in range(ROUND):
                    started = time.perf_counter()
                    await call()
                    times[name].append((time.perf_counter() - started) * 1000)
        print(f"{args.uses:,} uses each, rounds of {ROUND} (load average {os.getloadavg()[0]:.1f})")
        for name, values in times.items():
            print(
                f"  {name:<36} p50 {percentile(values, 0.5):6.3f} ms   p95 {percentile(values, 0.95):6.3f} ms"
            )
    finally:
        keys = await redis.call("KEYS", f"{prefix}*")
        if isinstance(keys, list) and keys:
            await redis.call("DEL", *[str(k) for k in keys])
        await redis.close()
        await storage.db.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await storage.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
