"""Worker process pools that cannot start, as under a container's pids limit (tests of bot/sources/work.py)."""

from __future__ import annotations

import errno
from multiprocessing.context import ForkContext, ForkProcess


def pids_limit(allowed: int) -> tuple[ForkContext, list[ForkProcess]]:
    """A fork context under a pids limit: `allowed` more processes start, the next fork fails (EAGAIN), as
    os.fork does. Also returns the processes that started."""
    started: list[ForkProcess] = []

    class LimitedProcess(ForkProcess):
        def start(self) -> None:
            if len(started) >= allowed:
                raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
            super().start()
            started.append(self)

    class LimitedContext(ForkContext):
        Process = LimitedProcess

    return LimitedContext(), started
