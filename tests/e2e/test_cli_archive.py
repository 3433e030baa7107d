"""The archive through the `govdigest` command line, in-process (main(argv)) and as a real subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import socketserver
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bot.archive.ingest import Rejected
from bot.cli import EXIT_BROKEN_PIPE, main
from bot.cli.archive import rejected_lines
from tests.conftest import FIXTURES

INGEST = FIXTURES / "ingest"


@pytest.fixture
def database_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env is read, and the default data/ folder lands in tmp
    path = tmp_path / "db" / "archive.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    return path


def test_ingest_search_stats(database_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", str(INGEST)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "5 new, 0 duplicates, 4 rejected"
    assert sum(line.startswith("rejected ") for line in out) == 4
    assert any("empty.txt" in line for line in out)

    assert main(["ingest", str(INGEST)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "0 new, 5 duplicates, 4 rejected"

    assert main(["search", "Госсовет", "импортозамещение"]) == 0
    text = capsys.readouterr().out
    assert "1. 27.10.2021 22:29" in text
    assert "*импортозамещения*" in text

    assert main(["search", "--json", "--limit", "3", "комиссия"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert 1 <= len(results) <= 3
    assert {"id", "title", "published_at", "snippet", "url", "source"} <= set(results[0])

    assert main(["search", "--since", "01.01.2025", "Госсовет", "импортозамещение"]) == 0
    assert capsys.readouterr().out.strip() == "nothing found"

    assert main(["stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["articles"] == 5
    assert stats["by_topic"]["state_council"] >= 1


@pytest.mark.parametrize(
    "query", ['"', "NEAR(", "AND OR NOT", "'; DROP TABLE articles;--", "x" * 10_000, "-*:^"]
)
def test_hostile_queries_never_crash(
    database_env: Path, capsys: pytest.CaptureFixture[str], query: str
) -> None:
    assert main(["ingest", str(INGEST)]) == 0
    capsys.readouterr()
    code = main(["search", "--", query])
    captured = capsys.readouterr()
    assert code in (0, 2)
    assert "Traceback" not in captured.err
    if code == 2:
        assert "nothing to search" in captured.err


def test_ingest_of_nothing_readable_fails(database_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", str(INGEST / "pages" / "empty.txt"), "/no/such/file"]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "0 new, 0 duplicates, 2 rejected"


def test_bad_setting_is_one_line_and_exit_2(database_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {**os.environ, "DIGEST_TIMEZONE": "Nowhere/City"}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "stats"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "govdigest: DIGEST_TIMEZONE: unknown IANA timezone 'Nowhere/City'"
    ]


def test_unreadable_filter_is_named_on_stderr_and_the_search_runs(
    database_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest", str(INGEST)]) == 0
    capsys.readouterr()
    assert main(["search", "Госсовет", "импортозамещение", "с:31.02.2021", "тема:погода"]) == 0
    captured = capsys.readouterr()
    assert "1. 27.10.2021 22:29" in captured.out
    assert "not understood: с:31.02.2021, тема:погода — filters not applied" in captured.err
    assert main(["search", "по:40.01.2021"]) == 2
    captured = capsys.readouterr()
    assert "not understood: по:40.01.2021 — filter not applied" in captured.err
    assert "nothing to search" in captured.err


def test_excluded_words_need_no_double_dash_after_the_first_word(
    database_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest", str(INGEST)]) == 0
    capsys.readouterr()
    assert main(["search", "Госсовет", "импортозамещение"]) == 0
    assert "1. " in capsys.readouterr().out
    assert main(["search", "Госсовет", "-импортозамещение", "импортозамещение"]) == 0
    assert capsys.readouterr().out.strip() == "nothing found"
    assert main(["search", "--", "-импортозамещение", "Госсовет", "импортозамещение"]) == 0
    assert capsys.readouterr().out.strip() == "nothing found"
    with pytest.raises(SystemExit) as exit_info:  # a typo in an option is still an error, not query words
        main(["search", "Госсовет", "--limt", "5"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --limt 5" in capsys.readouterr().err


def test_search_help_explains_the_syntax_and_the_double_dash(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    shown = capsys.readouterr().out
    assert "govdigest search -- -москва комиссия" in shown and "тема:" in shown


def test_stats_text_shows_local_dates_and_russian_topics(
    database_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["ingest", str(INGEST)]) == 0
    capsys.readouterr()
    assert main(["stats", "--json"]) == 0
    raw = json.loads(capsys.readouterr().out)
    assert "state_council" in raw["by_topic"] and raw["first_published"].endswith("+00:00")
    monkeypatch.setenv("DIGEST_TIMEZONE", "Asia/Vladivostok")
    assert main(["stats"]) == 0
    lines = capsys.readouterr().out.splitlines()
    published = next(line for line in lines if line.startswith("published: "))
    assert published.endswith("(Asia/Vladivostok)") and "+00:00" not in published and "T" not in published
    assert "  Госсовет: " + str(raw["by_topic"]["state_council"]) in lines
    assert not any("state_council" in line for line in lines)


def _rejected(reasons: list[str]) -> list[Rejected]:
    return [Rejected(f"page{number}.txt", reason) for number, reason in enumerate(reasons)]


@pytest.mark.parametrize(
    ("reasons", "expected"),
    [
        ([], []),
        (
            ["no publication date", "empty page"],
            [
                "rejected page0.txt: no publication date",
                "rejected page1.txt: empty page",
                "rejections by reason (2):",
                "       1  no publication date",
                "       1  empty page",
            ],
        ),
        (
            ["no publication date"] * 13 + ["empty page"],
            [f"rejected page{n}.txt: no publication date" for n in range(10)]
            + [
                "rejected page13.txt: empty page",
                "… and 3 more: no publication date",
                "rejections by reason (14):",
                "      13  no publication date",
                "       1  empty page",
            ],
        ),
    ],
)
def test_rejected_lines_are_capped_per_reason_and_summed_up(reasons: list[str], expected: list[str]) -> None:
    assert rejected_lines(_rejected(reasons)) == expected


def test_a_reader_that_stops_early_gets_no_traceback(database_env: Path) -> None:
    assert main(["ingest", str(INGEST)]) == 0
    for command in (["search", "комиссия"], ["stats"], ["search", "--json", "комиссия"]):
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        process.stdout.close()  # like `| head` that has read enough: every write now fails with EPIPE
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == EXIT_BROKEN_PIPE, stderr
        assert "Traceback" not in stderr and "BrokenPipeError" not in stderr


def test_search_nothing_found_suggests_a_correction_on_stderr(
    database_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest", str(INGEST)]) == 0  # импортозамещение is in 3 of its articles
    capsys.readouterr()
    assert main(["search", "импортозамищение"]) == 0  # exit code as for any empty result
    captured = capsys.readouterr()
    assert captured.out.strip() == "nothing found"
    assert "did you mean: импортозамещение" in captured.err
    assert main(["search", "--json", "Госсовет", "импортозамищение"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == [] and "did you mean: Госсовет импортозамещение" in captured.err
    assert main(["search", "импортозамещение"]) == 0
    assert "did you mean" not in capsys.readouterr().err
    assert main(["search", "несуществующееслово"]) == 0
    assert "did you mean" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # Nothing listens on port 1: refused at once, whatever the machine runs.
        ("postgresql://bot:s3cret@127.0.0.1:1/govdigest", "bot@127.0.0.1:1/govdigest"),
        ("postgresql://bot:s3cret@127.0.0.1:notaport/govdigest", "malformed PostgreSQL URL"),
    ],
)
def test_a_database_that_cannot_be_opened_is_one_line_naming_database_url(url: str, expected: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "stats"],
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("govdigest: DATABASE_URL: ") and expected in line
    assert "s3cret" not in result.stderr and "Traceback" not in result.stderr


def test_a_postgresql_role_the_server_does_not_know_is_one_line(postgres_schema: tuple[str, str]) -> None:
    from urllib.parse import urlsplit

    server = urlsplit(postgres_schema[0])
    url = f"postgresql://no_such_role:s3cret@{server.hostname}:{server.port or 5432}{server.path}"
    result = subprocess.run(
        [sys.executable, "-m", "bot", "stats"],
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("govdigest: DATABASE_URL: cannot open the PostgreSQL database no_such_role@")
    assert "s3cret" not in line


class PasswordRefusingServer(socketserver.ThreadingTCPServer):
    """Speaks just enough of PostgreSQL's protocol to refuse a password as a real server does (asks for it in
    clear text, then answers SQLSTATE 28P01): the test server trusts every connection, so a wrong password
    cannot be shown with it."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _RefusePassword)
        self.passwords: list[bytes] = []


class _RefusePassword(socketserver.BaseRequestHandler):
    server: PasswordRefusingServer

    def _read(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.request.recv(size - len(data))
            if not chunk:
                raise ConnectionError("client went away")
            data += chunk
        return data

    def handle(self) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            length, code = struct.unpack("!ii", self._read(8))
            if length == 8 and code == 80877103:  # SSLRequest: not here; the startup message follows
                self.request.sendall(b"N")
                length = struct.unpack("!i", self._read(4))[0]
                self._read(length - 4)
            else:
                self._read(length - 8)
            self.request.sendall(b"R" + struct.pack("!ii", 8, 3))  # AuthenticationCleartextPassword
            kind, length = struct.unpack("!ci", self._read(5))
            assert kind == b"p"
            self.server.passwords.append(self._read(length - 4).rstrip(b"\0"))
            fields = b"".join(
                tag + text.encode() + b"\0"
                for tag, text in (
                    (b"S", "FATAL"),
                    (b"V", "FATAL"),
                    (b"C", "28P01"),
                    (b"M", 'password authentication failed for user "bot"'),
                )
            )
            self.request.sendall(b"E" + struct.pack("!i", len(fields) + 5) + fields + b"\0")


def test_a_wrong_postgresql_password_is_one_line_without_the_password() -> None:
    with PasswordRefusingServer() as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            port = server.server_address[1]
            result = subprocess.run(
                [sys.executable, "-m", "bot", "stats"],
                env={**os.environ, "DATABASE_URL": f"postgresql://bot:s3cret@127.0.0.1:{port}/govdigest"},
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        finally:
            server.shutdown()
    assert server.passwords and set(server.passwords) == {b"s3cret"}  # it really was the password refused
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("govdigest: DATABASE_URL: cannot open the PostgreSQL database bot@127.0.0.1:")
    assert "password authentication failed" in line
    assert "s3cret" not in result.stderr and "Traceback" not in result.stderr
