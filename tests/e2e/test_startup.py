"""Starting while Telegram cannot be reached: `wait_for_telegram` retries getMe with backoff (one WARNING, no
traceback) while the background services run, says "connected as @..." once Telegram answers, stops at once on
a signal, and a token Telegram refuses is one line naming BOT_TOKEN and exit 2. In process against the emulator,
and as a real `govdigest run` started before the emulator listens."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramUnauthorizedError

from bot import runner
from bot.app import create_bot
from bot.cli.run import health_command
from bot.config import Settings
from bot.heartbeat import heartbeat_path
from bot.runner import run
from bot.telegram.connect import StartupBackoff, wait_for_telegram
from storage import Storage
from tests.e2e.test_run_process import environment, govdigest
from tests.emulator.server import DEFAULT_TOKEN, BotAPIEmulator

TIMEOUT = 20.0
REVOKED = "654321:REVOKED-token-the-emulator-does-not-know"
FAST = StartupBackoff(first=0.01, maximum=0.05, jitter=0.0)
SLOW = StartupBackoff(first=60.0, maximum=120.0)  # after the first failure it waits: a stop must cut it short


def free_port() -> int:
    """A port nothing listens on (until the test starts the emulator there)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def until(predicate: Callable[[], object], timeout: float = TIMEOUT) -> None:  # noqa: ASYNC109
    """Poll a condition nothing can notify about (a file another process writes) until it holds, or fail at
    the deadline."""
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - no event to wait on across processes
            await asyncio.sleep(0.02)


class LogLines(logging.Handler):
    """Records of one logger, with a wait for the first one that matches (woken by each record)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._changed = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self._changed.set()

    def at(self, level: int) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno == level]

    async def wait_for(self, text: str, timeout: float = TIMEOUT) -> str:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while True:
                for record in self.records:
                    if text in record.getMessage():
                        return record.getMessage()
                self._changed.clear()
                await self._changed.wait()


@contextmanager
def app_log() -> Iterator[LogLines]:
    logger = logging.getLogger("bot")  # bot.telegram.connect (waiting) and bot.runner (stopping)
    lines = LogLines()
    level = logger.level
    logger.addHandler(lines)
    logger.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        logger.removeHandler(lines)
        logger.setLevel(level)


# --- the backoff ---------------------------------------------------------------------------------------


def test_backoff_doubles_from_the_first_delay_up_to_the_cap() -> None:
    delays = StartupBackoff(first=1.0, maximum=60.0, jitter=0.0).delays()
    assert [next(delays) for _ in range(9)] == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
    jittered = StartupBackoff(first=1.0, maximum=60.0, jitter=0.1).delays()
    first, second, *rest = [next(jittered) for _ in range(12)]
    assert 0.9 <= first <= 1.1 and 1.8 <= second <= 2.2
    assert all(54.0 <= delay <= 60.0 for delay in rest[-4:])  # jitter never goes past the cap


# --- wait_for_telegram in process ----------------------------------------------------------------------


async def test_getme_is_retried_through_outages_with_one_warning(
    settings: Settings, emulator: BotAPIEmulator
) -> None:
    # A dropped connection, a front end's HTML error page, a Bot API server's 500: then Telegram answers.
    emulator.fail_next("getMe", disconnect=True)
    emulator.fail_next("getMe", error_code=502, raw_body="<html><body>502 Bad Gateway</body></html>")
    emulator.fail_next("getMe", error_code=500)
    settings = replace(settings, telegram_api_url=emulator.base_url)
    bot = create_bot(settings)
    try:
        with app_log() as log:
            me = await asyncio.wait_for(wait_for_telegram(bot, asyncio.Event(), settings, FAST), TIMEOUT)
        assert me is not None and me.username == "govdigest_bot"
        assert await bot.me() is me  # cached: polling does not ask again
    finally:
        await bot.session.close()
    assert len(emulator.requests_for("getMe")) == 4
    [warning] = log.at(logging.WARNING)
    assert warning.startswith(f"cannot reach Telegram at TELEGRAM_API_URL={emulator.base_url}: ")
    assert "TelegramNetworkError" in warning or "HTTP Client says" in warning
    retries = [line for line in log.at(logging.DEBUG) if line.startswith("getMe failed again")]
    assert len(retries) == 2
    assert "not a Bot API answer" in retries[0] and "Internal Server Error" in retries[1]
    assert all("\n" not in line for line in [warning, *retries])
    [connected] = log.at(logging.INFO)
    assert connected.startswith("connected as @govdigest_bot (Telegram was unreachable for ")
    assert log.at(logging.ERROR) == []
    assert all(DEFAULT_TOKEN not in r.getMessage() for r in log.records)


async def test_getme_answering_at_once_is_one_info_line(settings: Settings, emulator: BotAPIEmulator) -> None:
    settings = replace(settings, telegram_api_url=emulator.base_url)
    bot = create_bot(settings)
    try:
        with app_log() as log:
            assert await wait_for_telegram(bot, asyncio.Event(), settings, FAST) is not None
    finally:
        await bot.session.close()
    assert [r.getMessage() for r in log.records] == ["connected as @govdigest_bot"]


async def test_a_token_telegram_refuses_is_raised_at_once(
    settings: Settings, emulator: BotAPIEmulator
) -> None:
    settings = replace(settings, bot_token=REVOKED, telegram_api_url=emulator.base_url)
    bot = create_bot(settings)
    try:
        with app_log() as log, pytest.raises(TelegramUnauthorizedError):
            await asyncio.wait_for(wait_for_telegram(bot, asyncio.Event(), settings, FAST), TIMEOUT)
    finally:
        await bot.session.close()
    assert len(emulator.requests_for("getMe")) == 1
    assert log.records == []


@pytest.mark.parametrize("where", ["in a request", "between attempts"])
async def test_stop_while_waiting_returns_none_at_once(
    settings: Settings, emulator: BotAPIEmulator, where: str
) -> None:
    if where == "in a request":
        emulator.set_latency(60.0, "getMe", after=True)  # recorded now, answered in a minute
    else:
        emulator.fail_next("getMe", error_code=502)  # then SLOW waits a minute before the next try
    settings = replace(settings, telegram_api_url=emulator.base_url)
    bot = create_bot(settings)
    stop = asyncio.Event()
    try:
        with app_log() as log:
            waiting = asyncio.create_task(wait_for_telegram(bot, stop, settings, SLOW))
            await emulator.wait_for_request("getMe", timeout=TIMEOUT)
            if where == "between attempts":
                await log.wait_for("cannot reach Telegram")
            stop.set()
            assert await asyncio.wait_for(waiting, 2.0) is None
    finally:
        await bot.session.close()
    assert len(emulator.requests_for("getMe")) == 1
    assert not any("connected" in r.getMessage() for r in log.records)


async def test_run_keeps_the_services_running_while_telegram_is_down_and_stops_with_0(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    service_ran = asyncio.Event()
    service_stopped = asyncio.Event()

    async def probe(bot: Bot, storage: Storage, settings: Settings, stop: asyncio.Event) -> None:
        await storage.ping()
        service_ran.set()
        await stop.wait()
        service_stopped.set()

    monkeypatch.setattr(runner, "BACKGROUND_SERVICES", [probe])
    settings = replace(settings, telegram_api_url=f"http://127.0.0.1:{free_port()}")  # nothing listens
    stop = asyncio.Event()
    with app_log() as log:
        running = asyncio.create_task(run(settings, polling_timeout=1, stop=stop, backoff=SLOW))
        warning = await log.wait_for("cannot reach Telegram")
        await asyncio.wait_for(service_ran.wait(), TIMEOUT)  # a service runs while run() waits for Telegram
        assert not running.done()
        stop.set()
        assert await asyncio.wait_for(running, TIMEOUT) == 0
    assert service_stopped.is_set()
    assert f"TELEGRAM_API_URL={settings.telegram_api_url}: " in warning
    assert "Cannot connect" in warning
    assert log.at(logging.WARNING) == [warning]
    assert log.at(logging.ERROR) == []
    assert log.at(logging.INFO) == ["stopped"]


# --- a real `govdigest run` ----------------------------------------------------------------------------


class Stderr:
    """Reads a process's stderr line by line; `wait_for` is woken by each line."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self.lines: list[str] = []
        self.ended = False
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._read(stream))

    async def _read(self, stream: asyncio.StreamReader) -> None:
        try:
            while line := await stream.readline():
                self.lines.append(line.decode(errors="replace"))
                self._changed.set()
        finally:
            self.ended = True
            self._changed.set()

    @property
    def text(self) -> str:
        return "".join(self.lines)

    async def wait_for(self, text: str, timeout: float = TIMEOUT) -> None:  # noqa: ASYNC109
        try:
            async with asyncio.timeout(timeout):
                while text not in self.text:
                    if self.ended:
                        raise AssertionError(f"the process ended without {text!r}:\n{self.text}")
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"no {text!r} within {timeout} s:\n{self.text}") from None

    async def end(self) -> str:
        await asyncio.wait_for(self._task, TIMEOUT)
        return self.text


@pytest.mark.slow
async def test_run_started_before_telegram_waits_then_answers_and_stops_on_sigterm(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # DEBUG: the retries show (as DEBUG lines only), and the token stays out of even the most verbose log.
    env = environment(tmp_path, BOT_TOKEN=DEFAULT_TOKEN, TELEGRAM_API_URL=url, LOG_LEVEL="DEBUG")
    process = await govdigest("run", env=env, cwd=tmp_path)
    assert process.stderr is not None
    stderr = Stderr(process.stderr)
    emulator = BotAPIEmulator()
    try:
        await stderr.wait_for("cannot reach Telegram at TELEGRAM_API_URL=")
        await stderr.wait_for("getMe failed again (attempt 2)")  # a second failure: no second WARNING

        # Meanwhile the background services run: the heartbeat is written and `govdigest health` says ok.
        settings = Settings.from_env(env, env_file=None)
        heartbeat = heartbeat_path(settings)
        assert heartbeat is not None
        await until(heartbeat.exists)
        assert await health_command(argparse.Namespace(max_age=120.0), settings) == 0
        assert capsys.readouterr().out.startswith("ok:")

        await emulator.start(port=port)  # Telegram comes up
        await stderr.wait_for("connected as @govdigest_bot")
        await emulator.wait_for_request("getUpdates", timeout=TIMEOUT)
        emulator.message("/help")
        [reply] = await emulator.wait_for_messages(2000, 1, TIMEOUT)
        assert "/search" in reply.text

        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), TIMEOUT)
        log = await stderr.end()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await emulator.stop()
    assert code == 0, log
    assert "Traceback" not in log
    assert DEFAULT_TOKEN not in log
    problems = [line for line in log.splitlines() if " WARNING " in line or " ERROR " in line]
    assert len(problems) == 1, log
    assert f"WARNING bot.telegram.connect: cannot reach Telegram at TELEGRAM_API_URL={url}: " in problems[0]
    assert "Cannot connect" in problems[0]
    assert "INFO bot.telegram.connect: connected as @govdigest_bot (Telegram was unreachable for " in log
    assert "SIGTERM" in log and "INFO bot.runner: stopped" in log


@pytest.mark.slow
async def test_run_with_a_token_telegram_refuses_is_one_line_and_exit_2(
    tmp_path: Path, emulator: BotAPIEmulator
) -> None:
    env = environment(tmp_path, BOT_TOKEN=REVOKED, TELEGRAM_API_URL=emulator.base_url)
    process = await govdigest("run", env=env, cwd=tmp_path)
    try:
        out, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    log = err.decode()
    assert process.returncode == 2, log
    assert [line for line in log.splitlines() if "BOT_TOKEN" in line] == [
        line for line in log.splitlines() if " ERROR " in line
    ]
    [line] = [line for line in log.splitlines() if "BOT_TOKEN" in line]
    assert line.endswith(
        "ERROR bot.runner: Telegram rejected the bot token (401 Unauthorized): check BOT_TOKEN"
    )
    assert "Traceback" not in log and " WARNING " not in log
    assert REVOKED not in log and REVOKED.split(":")[1] not in log
    assert out == b""
    assert [r.method for r in emulator.requests] == ["getMe"]
