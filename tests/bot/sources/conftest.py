"""Fixtures of the sources tests: a local feed server and a fetcher with short limits."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.sources.fetch import Fetcher
from tests.bot.sources.feed_server import QUICK_LIMITS, FeedServer


@pytest.fixture
async def server() -> AsyncIterator[FeedServer]:
    async with FeedServer() as running:
        yield running


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    async with Fetcher(limits=QUICK_LIMITS) as client:
        yield client
