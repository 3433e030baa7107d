"""A real `govdigest run` process against the emulator: answers, `govdigest health`, SIGTERM → exit 0 with the
database closed; a missing or malformed BOT_TOKEN → one line and exit 2."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.cli.run import health_command
from bot.config import Settings
from storage.sqlite.database import Database
from tests.emulator.server import DEFAULT_TOKEN, BotAPIEmulator
from tests.handlers.bot_harness import seed

pytestmark = pytest.mark.slow

TIMEOUT = 20.0


def environment(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in {"BOT_TOKEN", "TELEGRAM_API_URL"}}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'data' / 'govdigest.db'}",
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
        SOURCES_LOAD_DEFAULTS="0",  # the shipped sources are real sites: never polled by a test
    )
    env.update(values)
    return env


async def govdigest(*args: str, env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=env,
        cwd=cwd,  # no .env of the checkout is read
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_run_answers_reports_health_and_stops_on_sigterm(
    tmp_path: Path, emulator: BotAPIEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "data" / "govdigest.db"
    db = await Database.connect(database)
    await seed(db)
    await db.close()
    env = environment(tmp_path, BOT_TOKEN=DEFAULT_TOKEN, TELEGRAM_API_URL=emulator.base_url)
    process = await govdigest("run", env=env, cwd=tmp_path)
    try:
        await emulator.wait_for_request("getUpdates", timeout=TIMEOUT)
        emulator.message("/search комиссия")
        [reply] = await emulator.wait_for_messages(2000, 1, TIMEOUT)
        assert "Найдено: 15" in reply.text

        health = await govdigest("health", env=env, cwd=tmp_path)
        out, _ = await asyncio.wait_for(health.communicate(), TIMEOUT)
        assert health.returncode == 0, out
        assert out.decode().startswith("ok:")

        # An update in flight when SIGTERM arrives is still answered.
        emulator.set_latency(0.5, "sendMessage")
        emulator.message("/latest")
        await emulator.wait_for_request("sendMessage", 2, timeout=TIMEOUT)
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    log = err.decode()
    assert process.returncode == 0, log
    assert "Последние статьи" in emulator.messages_to(2000)[-1].text
    assert DEFAULT_TOKEN not in log
    assert "SIGTERM" in log and "stopped" in log
    assert "handler=handlers.search.search_message" in log
    # The database was closed: SQLite removes the WAL file when the last connection closes cleanly.
    left = {path.name for path in database.parent.iterdir()}
    # No -wal/-shm (closed) and no heartbeat (stopped); the ranking index lives beside the file.
    assert left == {"govdigest.db", "govdigest.db-search"}

    # Nothing runs now: health says so (the command's handler, in process: the CLI was run above).
    settings = Settings.from_env(env, env_file=None)
    assert await health_command(argparse.Namespace(max_age=120.0), settings) == 1
    assert capsys.readouterr().out.startswith("unhealthy: no heartbeat")


async def test_missing_token_in_a_real_process_is_one_line_and_exit_2(tmp_path: Path) -> None:
    process = await govdigest("run", env=environment(tmp_path), cwd=tmp_path)
    out, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
    assert process.returncode == 2
    assert err.decode().strip() == "govdigest: BOT_TOKEN: not set (get one from @BotFather)"
    assert out == b""


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("", "BOT_TOKEN: not set"),
        ("not-a-token", "BOT_TOKEN: malformed"),
        ("123:short", "BOT_TOKEN: malformed"),
    ],
)
def test_bad_token_through_the_cli_is_one_line_and_exit_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    token: str,
    message: str,
) -> None:
    """The same CLI entry point in process (a process start costs seconds of imports)."""
    for key, value in environment(tmp_path, BOT_TOKEN=token).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("TELEGRAM_API_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["run"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert not token or token not in captured.err  # a malformed token is not echoed either
    assert captured.out == ""


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--webhook", "ftp://example.org/hook"], "--webhook: expected an http(s) URL"),
        (["--webhook", "https://example.org/hook", "--secret", "bad secret!"], "--secret:"),
        (["--webhook", "https://example.org/hook", "--port", "70000"], "--port: expected 1-65535"),
    ],
)
def test_bad_webhook_options_are_one_line_and_exit_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    message: str,
) -> None:
    for key, value in environment(tmp_path, BOT_TOKEN=DEFAULT_TOKEN).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    assert main(["run", *arguments]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
