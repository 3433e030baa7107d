"""The fan-out's queue of chats: each chat's jobs of one fan-out and where their delivery stands
(`_ChatTurn`), and the chats waiting for a worker, a chat whose send failed transiently leaving the queue for
its backoff (`_ChatQueue`). Used by bot/digest/sender.py."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from bot.digest.records import OutboxJob


@dataclass(slots=True, eq=False)
class _ChatTurn:
    """One chat's jobs of this fan-out, in order, and where their delivery stands between two workers."""

    jobs: list[OutboxJob]
    index: int = 0  # the job to deliver next
    begun: bool = False  # jobs[index] is taken (`sending` in the outbox) and resumes where it stopped
    chat_id: int = 0  # jobs[index]'s chat id, possibly migrated
    migrated_from: int | None = None
    transient: int = 0  # transient failures of the part being sent
    gone: bool = False  # the chat is inactive: the rest of its jobs are not sent

    @property
    def job(self) -> OutboxJob | None:
        return self.jobs[self.index] if self.index < len(self.jobs) else None

    def next_job(self) -> None:
        self.index += 1
        self.begun = False
        self.migrated_from = None
        self.transient = 0


class _ChatQueue:
    """The chats waiting for a worker. A chat whose send failed transiently leaves the queue for its delay — a
    timer task, not a sleeping worker, so the other chats go on at the full pace — and comes back first."""

    def __init__(self, turns: Iterable[_ChatTurn], sleep: Callable[[float], Awaitable[None]]) -> None:
        self._ready: deque[_ChatTurn] = deque(turns)
        self._later: dict[_ChatTurn, asyncio.Task[None]] = {}
        self._sleep = sleep
        self._arrived = asyncio.Event()

    def put_later(self, turn: _ChatTurn, delay: float) -> None:
        self._later[turn] = asyncio.create_task(self._back_after(turn, delay))

    async def _back_after(self, turn: _ChatTurn, delay: float) -> None:
        await self._sleep(delay)
        self._later.pop(turn, None)
        # First in line: it has waited longer than every chat still queued, and a retry left for the end of a
        # long fan-out would make its chat wait minutes, and the fan-out end with a tail of retries.
        self._ready.appendleft(turn)
        self._arrived.set()

    async def get(self, stop: asyncio.Event) -> _ChatTurn | None:
        """The next chat; None when none is left (or on stop)."""
        while not stop.is_set():
            if self._ready:
                return self._ready.popleft()
            if not self._later:
                return None
            # Only the last chats' retries are left: wait for one to come back (or for stop).
            self._arrived.clear()
            waiters = [asyncio.create_task(self._arrived.wait()), asyncio.create_task(stop.wait())]
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
        return None

    def close(self) -> list[_ChatTurn]:
        """Cancel the timers; every chat still in the queue, for the caller to settle."""
        for task in self._later.values():
            task.cancel()
        left = [*self._ready, *self._later]
        self._ready.clear()
        self._later.clear()
        return left
