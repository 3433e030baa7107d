"""One day's digest fan-out by several `govdigest run` instances on one PostgreSQL database, through the Bot API
emulator (Telegram's limits: 30 messages/s overall, 1/s per private chat): two instances run; the one holding
the `delivery` lease is killed with SIGKILL at random points (`--kills`), and a new one started each time.
Prints messages/s overall, lost, doubled, 429s received, the busiest second, and each takeover time (kill ->
the next message sent by another instance; a standby retries the lease every LEASE_RETRY_SECONDS).

    GOVDIGEST_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test python bench/instances_bench.py \
        [--chats 2000] [--kills 3] [--articles 70] [--seed 1]

A database of its own is created on that server and dropped afterwards. The scenario is the end-to-end test's
(tests/e2e/test_instances_e2e.py: `run_fanout`); the emulator answers each send 0.15 s late, so requests are in
flight at every kill.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.telegram.limits import GLOBAL_MESSAGES_PER_SECOND
from tests.e2e.instances import run_fanout


def say(text: str) -> None:
    print(text, flush=True)


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chats", type=int, default=2000, help="subscribed chats (default 2000)")
    parser.add_argument(
        "--kills", type=int, default=3, help="SIGKILLs of the delivering instance (default 3)"
    )
    parser.add_argument("--articles", type=int, default=70, help="articles in the digest (70: 3+ parts each)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the kill points")
    args = parser.parse_args()
    server_url = os.environ.get("GOVDIGEST_TEST_POSTGRES_URL", "").strip()
    if not server_url:
        print(
            "set GOVDIGEST_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1:5432/test)",
            file=sys.stderr,
        )
        return 2
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        outcome = await run_fanout(
            server_url,
            Path(folder),
            chats=args.chats,
            kills=args.kills,
            articles=args.articles,
            seed=args.seed,
            within=120.0,
            progress=say,
        )
    limit = GLOBAL_MESSAGES_PER_SECOND
    counts = outcome.counts
    takeovers = ", ".join(f"{seconds:.2f} s" for seconds in outcome.takeovers) or "none"
    say(
        f"fan-out by 2 instances, {len(outcome.takeovers)} kills: {outcome.delivered}/{outcome.total} messages "
        f"to {outcome.chats} chats in {outcome.seconds:.1f} s = {outcome.rate:.2f} msg/s overall (limit "
        f"{limit}/s → {outcome.rate / limit:.1%}, kills and takeovers included)"
    )
    say(
        f"lost {outcome.lost}, doubled {outcome.doubled}, out of order {outcome.out_of_order}, 429s received "
        f"{outcome.flood_events}, busiest second {outcome.max_per_second} messages"
    )
    say(f"takeover (kill -> next message sent): {takeovers}")
    say(
        f"outbox: jobs sent {counts.sent}, failed {counts.failed}, pending {counts.pending}; parts sent "
        f"{counts.parts_sent}, uncertain (in flight at a kill, not resent) {counts.parts_uncertain}; "
        f"instances' exit codes {outcome.exit_codes}; whole run {time.perf_counter() - started:.1f} s"
    )
    clean = outcome.lost == 0 and outcome.doubled == 0 and outcome.out_of_order == 0
    return 0 if clean else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
