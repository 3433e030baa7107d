"""The `govdigest` command line. Each module in this package adds its subcommands through
`register(subparsers)`, setting `handler` to an `async def handler(args, settings) -> int`."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence

from bot import __version__
from bot.config import ConfigError, Settings

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="govdigest",
        description="Telegram news digests of government commission news.",
    )
    parser.add_argument("--version", action="version", version=f"govdigest {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(subparsers)
    return parser


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # aiohttp's access log and aiogram's event log are per update; ours is the one line we want.
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        print(f"govdigest: {error}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(settings.log_level)
    try:
        code: int = asyncio.run(args.handler(args, settings))
    except ConfigError as error:
        print(f"govdigest: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    return code
