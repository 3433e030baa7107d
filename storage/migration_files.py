"""Finding a backend's migrations: modules `mNNNN_<name>.py` in its migrations package, each defining `SQL`;
the number is the version. Shared by every backend (storage/sqlite/migrations, storage/postgres/migrations)."""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def discover(package: str, path: Iterable[str]) -> tuple[Migration, ...]:
    """The migrations of `package` (its `__name__`, `__path__`), in version order; duplicates are an error."""
    found: list[Migration] = []
    for info in pkgutil.iter_modules(path):
        match = re.fullmatch(r"m(\d{4})_(\w+)", info.name)
        if not match:
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        found.append(Migration(int(match.group(1)), match.group(2), str(module.SQL)))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions in {package}: {versions}")
    return tuple(found)
