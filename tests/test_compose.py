"""compose.yaml (two webhook instances, PostgreSQL, a reverse proxy) is a valid Compose file. Docker Compose is
not on every machine: without it the test is skipped, saying so."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = {
    "BOT_TOKEN": "123456:TEST-token-for-the-emulator-000000000",
    "WEBHOOK_DOMAIN": "bot.example.org",
    "WEBHOOK_SECRET": "s" * 32,
    "POSTGRES_PASSWORD": "compose-test",
}


def _compose() -> list[str]:
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0
    ):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy:
        return [legacy]
    pytest.skip("Docker Compose is not installed here (neither `docker compose` nor `docker-compose`)")


def test_compose_file_is_valid_and_runs_two_webhook_instances_on_postgresql() -> None:
    command = _compose()
    result = subprocess.run(
        [*command, "-f", str(ROOT / "compose.yaml"), "config"],
        env={**os.environ, **SETTINGS},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    config = result.stdout
    assert config.count("https://bot.example.org/telegram") == 2  # both instances behind the one URL
    assert "postgresql://govdigest:compose-test@db:5432/govdigest" in config


def test_compose_refuses_to_start_without_its_settings() -> None:
    command = _compose()
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    result = subprocess.run(
        [*command, "-f", str(ROOT / "compose.yaml"), "config"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    # Each required setting says its own name (Compose reports the first one it meets).
    assert re.search(
        r"set (BOT_TOKEN|POSTGRES_PASSWORD|WEBHOOK_SECRET|WEBHOOK_DOMAIN)", result.stderr + result.stdout
    )
