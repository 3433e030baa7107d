"""The dependency directions of ARCHITECTURE.md, and the file-length limit, checked on the source.

Every module of bot/, handlers/ and storage/ is parsed (not imported) and its imports collected, including the
ones inside functions and `if TYPE_CHECKING:` blocks: a lazy import is still a dependency."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "storage")
MAX_LINES = 400
LONG_REASON = "Why this file is long:"

# Backends and drivers: only storage/sqlite/ may import them.
# The backends and their drivers: only storage/ reaches them (bot/ opens a backend through storage.open_storage).
BACKENDS = ("storage.sqlite", "sqlite3", "aiosqlite", "storage.postgres", "asyncpg")

# What storage/ may import from bot/: records and pure domain modules (no Telegram, no I/O).
STORAGE_MAY_IMPORT_FROM_BOT = frozenset(
    {
        "bot.clock",
        "bot.archive.models",
        "bot.archive.morphology",  # index and query stem through the same functions
        "bot.archive.query",  # SearchQuery, compiled by storage/search_index.py
        "bot.archive.urls",  # the archive's duplicate rule: the same normalized URL
        "bot.chats.records",
        "bot.digest.records",
        "bot.sources.records",
        "bot.sources.clustering",  # Sketch, stored for near-duplicate lookups
    }
)

# Files over MAX_LINES without a "Why this file is long:" line, waiting to be split. Keep it short and true:
# the test fails when one of them is back under the limit (take it off) or a new one goes over.
KNOWN_LONG: frozenset[str] = frozenset()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _sources() -> dict[str, Path]:
    """Every module: its relative path (as in KNOWN_LONG) → its file."""
    return {
        path.relative_to(ROOT).as_posix(): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if ".venv" not in path.parts
    }


@cache
def _imports(relative: str) -> frozenset[str]:
    """The dotted names a module imports (`from a.b import c` gives `a.b` and `a.b.c`)."""
    path = _sources()[relative]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=relative)
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return frozenset(names)


def _matches(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(f"{prefix}.") for prefix in prefixes)


def _violations(
    package: str, forbidden: tuple[str, ...], *, allowed: frozenset[str] = frozenset()
) -> list[str]:
    return [
        f"{relative} imports {name}"
        for relative in _sources()
        if relative.startswith(f"{package}/") and relative not in allowed
        for name in sorted(_imports(relative))
        if _matches(name, forbidden)
    ]


def test_the_sources_are_found() -> None:
    assert {"bot/app.py", "handlers/search.py", "storage/interfaces.py"} <= _sources().keys()


def test_handlers_never_reach_a_backend() -> None:
    assert _violations("handlers", BACKENDS) == []


def test_bot_never_reaches_a_backend() -> None:
    """bot/ works against storage.interfaces; it opens storage through storage.open_storage only."""
    assert _violations("bot", BACKENDS) == []


def test_storage_knows_nothing_of_telegram_or_handlers() -> None:
    assert _violations("storage", ("handlers", "aiogram")) == []


def test_storage_imports_only_records_and_pure_modules_from_bot() -> None:
    found = [
        f"{relative} imports {name}"
        for relative in _sources()
        if relative.startswith("storage/")
        for name in sorted(_imports(relative))
        if _matches(name, ("bot",))
        and not any(_matches(name, (allowed,)) for allowed in STORAGE_MAY_IMPORT_FROM_BOT)
        # `from bot.archive import models` names the package too: only the full names count.
        and not any(allowed.startswith(f"{name}.") for allowed in STORAGE_MAY_IMPORT_FROM_BOT)
    ]
    assert found == []


def test_handlers_do_not_import_each_other() -> None:
    found = [
        f"{relative} imports {name}"
        for relative in _sources()
        if relative.startswith("handlers/")
        for name in sorted(_imports(relative))
        if _matches(name, ("handlers",)) and name != _module_name(_sources()[relative])
    ]
    assert found == []


def test_only_the_app_imports_handlers() -> None:
    """bot/app.py holds the router list; nothing else in bot/ knows a handler."""
    assert _violations("bot", ("handlers",), allowed=frozenset({"bot/app.py"})) == []


def _line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def _has_reason(path: Path) -> bool:
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return any(line.strip().startswith(LONG_REASON) for line in docstring.splitlines())


def test_files_stay_short_unless_they_say_why() -> None:
    long = {
        relative: _line_count(path)
        for relative, path in _sources().items()
        if _line_count(path) > MAX_LINES and not _has_reason(path)
    }
    new = {relative: lines for relative, lines in long.items() if relative not in KNOWN_LONG}
    assert not new, (
        f"over {MAX_LINES} lines: {new}. Split the file, or give a line starting with {LONG_REASON!r} in its "
        "module docstring when the length is justified."
    )
    fixed = sorted(KNOWN_LONG - long.keys())
    assert not fixed, f"no longer over {MAX_LINES} lines (or now say why): take {fixed} off KNOWN_LONG"


def test_known_long_files_exist() -> None:
    gone = sorted(KNOWN_LONG - _sources().keys())
    assert not gone, f"{gone} are gone: take them off KNOWN_LONG"


# Domain code that must stay free of Telegram: it is tested without a bot, and the CLI and the services use it
# without one. (bot/telegram/, the renderers and the services that send are where aiogram belongs.)
TELEGRAM_FREE = (
    "bot/archive/",
    "bot/clock.py",
    "bot/config.py",
    "bot/chats/records.py",
    "bot/chats/preferences.py",
    "bot/chats/setters.py",
    "bot/chats/subscriptions.py",
    "bot/digest/records.py",
    "bot/digest/schedule.py",
    "bot/digest/layout.py",
    "bot/leases.py",
    "bot/sources/records.py",
    "bot/sources/fetch.py",
    "bot/sources/feeds.py",
    "bot/sources/listing.py",
    "bot/sources/clustering.py",
    "bot/heartbeat.py",
)


@pytest.mark.parametrize("prefix", TELEGRAM_FREE)
def test_domain_modules_do_not_import_aiogram(prefix: str) -> None:
    matching = [relative for relative in _sources() if relative.startswith(prefix)]
    assert matching, f"{prefix} matches no module"
    found = [
        f"{relative} imports {name}"
        for relative in matching
        for name in sorted(_imports(relative))
        if _matches(name, ("aiogram",))
    ]
    assert found == []
