"""The PostgreSQL SharedLimitStore (storage/interfaces.py): the limits several instances must keep together.

- Send slots: one row holds the moment of the last slot handed out, so the instances share Telegram's
  per-token rate. The server's clock (clock_timestamp()), not the injected one: this is a pace in real time
  between processes, possibly on different hosts, and the server's is the one clock they all read. One UPDATE
  per message (at most ~30/s for the whole bot); the row lock orders concurrent senders. A slot whose message
  Telegram did not take (a 5xx) is given back with the instance's next one, in the same UPDATE: with one send
  in ten answered 502, the bot still sends at its full rate.
- Usage limits: a token bucket per key in one upsert (refill, take, count refusals in a row), on the injected
  clock like every other row. Buckets idle for a day are dropped now and then (a full bucket is no bucket).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from storage.postgres.database import PgDatabase

# $1 the interval, $2 slots given back first (each moves the schedule back one interval, never before now).
_TAKE_SLOT = (
    "UPDATE send_slots SET last_slot = greatest(last_slot + (1 - $2::int) * $1::interval, clock_timestamp())"
    " WHERE id = 1 RETURNING extract(epoch FROM last_slot - clock_timestamp())::float8"
)
# $1 key, $2 burst, $3 tokens per second, $4 now. `level` is the bucket refilled up to now.
_USE = """
WITH level AS (
    SELECT least($2::float8, u.tokens + extract(epoch FROM $4::timestamptz - u.updated_at) * $3::float8) AS tokens
    FROM usage_limits AS u WHERE u.key = $1
)
INSERT INTO usage_limits AS u (key, tokens, refusals, updated_at) VALUES ($1, $2::float8 - 1, 0, $4)
ON CONFLICT (key) DO UPDATE SET
    tokens = CASE WHEN (SELECT tokens FROM level) >= 1 THEN (SELECT tokens FROM level) - 1
                  ELSE (SELECT tokens FROM level) END,
    refusals = CASE WHEN (SELECT tokens FROM level) >= 1 THEN 0 ELSE u.refusals + 1 END,
    updated_at = $4
RETURNING refusals, CASE WHEN refusals = 0 THEN 0 ELSE (1 - tokens) / $3::float8 END
"""
_PURGE_EVERY = 1000
IDLE_BUCKET_LIFETIME = timedelta(days=1)


class SharedLimitRepository:
    def __init__(self, db: PgDatabase) -> None:
        self._db = db
        self._uses = 0

    async def take_send_slot(self, interval_seconds: float, *, returned: int = 0) -> float:
        interval = timedelta(seconds=max(interval_seconds, 0.0))
        wait = await self._db.fetchval(_TAKE_SLOT, interval, max(returned, 0))
        return max(float(wait or 0.0), 0.0)

    async def use_limit(
        self, key: str, *, burst: int, per_second: float, now: datetime
    ) -> tuple[bool, int, float]:
        self._uses += 1
        if self._uses % _PURGE_EVERY == 0:
            await self._db.execute(
                "DELETE FROM usage_limits WHERE updated_at < $1", now - IDLE_BUCKET_LIFETIME
            )
        row = await self._db.fetchrow(_USE, key, burst, per_second, now)
        assert row is not None  # an upsert always returns its row
        refusals, wait = int(row[0]), float(row[1])
        return refusals == 0, refusals, max(wait, 0.0)
