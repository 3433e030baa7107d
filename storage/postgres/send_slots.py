"""The PostgreSQL SendSlotStore: one row holds the moment of the last send slot handed out, so instances that
share the database share Telegram's per-token rate (storage/interfaces.py).

The server's clock (clock_timestamp()), not the injected one: this is a pace in real time between processes,
possibly on different hosts, and the server's is the one clock they all read. One UPDATE per message (at most
~30/s for the whole bot) on one row: the row lock orders concurrent senders."""

from __future__ import annotations

from datetime import timedelta

from storage.postgres.database import PgDatabase

_TAKE_SLOT = (
    "UPDATE send_slots SET last_slot = greatest(last_slot + $1::interval, clock_timestamp()) WHERE id = 1"
    " RETURNING extract(epoch FROM last_slot - clock_timestamp())::float8"
)


class SendSlotRepository:
    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    async def take_send_slot(self, interval_seconds: float) -> float:
        wait = await self._db.fetchval(_TAKE_SLOT, timedelta(seconds=max(interval_seconds, 0.0)))
        return max(float(wait or 0.0), 0.0)
