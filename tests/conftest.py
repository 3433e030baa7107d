"""Shared fixtures: settings, a fresh migrated database. The Bot API emulator comes from its own plugin."""

from __future__ import annotations

import ipaddress
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.clock import FixedClock
from bot.config import Settings
from storage import Storage
from storage.sqlite import SqliteStorage
from storage.sqlite.database import Database
from tests import clock_shift

pytest_plugins = ["tests.emulator.pytest_plugin"]

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--clock-shift",
        default=os.environ.get(clock_shift.ENV_VARIABLE, ""),
        help="move every wall clock the code reads (here and in the processes the tests start) by this "
        "much: +365d, -365d, +12h, -90m. A test that depends on the date it runs on fails.",
    )


def pytest_configure(config: pytest.Config) -> None:
    text = str(config.getoption("--clock-shift") or "")
    shift = clock_shift.parse_shift(text)
    if shift:
        clock_shift.start(shift)
        clock_shift.export(text)


def pytest_report_header(config: pytest.Config) -> str | None:
    text = str(config.getoption("--clock-shift") or "")
    return f"clock shifted by {text}" if clock_shift.parse_shift(text) else None


def _loopback(host: object) -> bool:
    if not isinstance(host, str):
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True, scope="session")
def no_network_but_loopback() -> Iterator[None]:
    """No test reaches past 127.0.0.0/8 and ::1: a connection or a name lookup for anything else fails at once,
    as it would on a machine without a network, instead of leaving this machine."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def guard(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
            raise OSError(101, f"test network guard: {address[0]} is not loopback")

    def connect(sock: socket.socket, address: Any) -> None:
        guard(sock, address)
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        guard(sock, address)
        return real_connect_ex(sock, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _loopback(host if isinstance(host, str) else host.decode()):
            raise socket.gaierror(socket.EAI_NONAME, f"test network guard: no lookups of {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", connect)
        patch.setattr(socket.socket, "connect_ex", connect_ex)
        patch.setattr(socket, "getaddrinfo", getaddrinfo)
        yield


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        bot_token="123456:TEST-token-for-the-emulator-000000000",
        database_url=f"sqlite:///{tmp_path / 'govdigest.db'}",
        admin_ids=frozenset({1000}),
        # The shipped sources are real sites: no test may poll them.
        load_default_sources=False,
    )


# The moment the storage's clock says it is in tests that take the `clock` fixture: fixed, so that rows the
# repositories stamp (created_at, next_attempt_at, ...) line up with the fixed dates of the test data.
TEST_NOW = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(TEST_NOW)


@pytest.fixture
async def db(tmp_path: Path, clock: FixedClock) -> AsyncIterator[Database]:
    database = await Database.connect(tmp_path / "test.db", clock=clock)
    try:
        yield database
    finally:
        await database.close()


# --- both backends ------------------------------------------------------------------------------------------

POSTGRES_URL_VARIABLE = "GOVDIGEST_TEST_POSTGRES_URL"
BACKENDS = ("sqlite", "postgres")


def postgres_test_url() -> str:
    """The PostgreSQL server tests may use, or skip the test saying how to run it."""
    url = os.environ.get(POSTGRES_URL_VARIABLE, "").strip()
    if not url:
        pytest.skip(f"{POSTGRES_URL_VARIABLE} is not set (e.g. postgresql://user@127.0.0.1:5432/test)")
    return url


async def drop_schema(url: str, schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        quoted = await conn.fetchval("SELECT quote_ident($1)", schema)
        await conn.execute(f"DROP SCHEMA IF EXISTS {quoted} CASCADE")
    finally:
        await conn.close()


@pytest.fixture
async def postgres_schema() -> AsyncIterator[tuple[str, str]]:
    """(server URL, a fresh schema name) on the test server; the schema is dropped afterwards."""
    url = postgres_test_url()
    schema = f"test_{uuid.uuid4().hex[:16]}"
    try:
        yield url, schema
    finally:
        await drop_schema(url, schema)


@pytest.fixture(params=BACKENDS)
async def storage(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock
) -> AsyncIterator[Storage]:
    """A fresh, migrated database of each backend (the storage tests run on both): SQLite in a temporary
    file; PostgreSQL in a schema of its own on the test server (skipped when there is none)."""
    opened: Storage
    schema: str | None = None
    if request.param == "sqlite":
        opened = await SqliteStorage.open(tmp_path / "test.db", clock=clock)
    else:
        from storage.postgres import PostgresStorage

        url = postgres_test_url()
        schema = f"test_{uuid.uuid4().hex[:16]}"
        opened = await PostgresStorage.open(url, clock=clock, schema=schema, pool_size=4)
    try:
        yield opened
    finally:
        await opened.close()
        if schema is not None:
            await drop_schema(postgres_test_url(), schema)
