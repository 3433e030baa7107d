"""The `govdigest` command line. Each module in this package adds its subcommands through
`register(subparsers)`, setting `handler` to an `async def handler(args, settings) -> int`.

A subcommand that sets `words_from_dashes="<dest>"` (search) takes stray `-word` arguments, which argparse would
refuse as unknown options, as more words of that list (the exclusion syntax); a query that starts with one
still needs `--`. Output piped into a reader that stops early (`| head`) ends quietly, for every command.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Sequence

from bot import __version__
from bot.config import ConfigError, Settings
from storage import StorageError

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader went away


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


def parse_arguments(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """parse_args, except that `-word` arguments (and the words after one, which argparse no longer counts as
    the list) go to the subcommand's `words_from_dashes` list. `--typo` stays an error."""
    args, extras = parser.parse_known_args(argv)
    target = getattr(args, "words_from_dashes", None)
    words = not any(extra.startswith("--") for extra in extras)
    if extras and (target is None or not words):
        parser.error("unrecognized arguments: " + " ".join(extras))
    if extras and target is not None:
        setattr(args, target, [*getattr(args, target), *extras])
    return args


def _quiet_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parse_arguments(parser, argv)
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        print(f"govdigest: {error}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(settings.log_level)
    try:
        code: int = asyncio.run(args.handler(args, settings))
        sys.stdout.flush()  # a reader that went away shows here, not as a traceback at exit
    except ConfigError as error:
        print(f"govdigest: {error}", file=sys.stderr)
        return EXIT_USAGE
    except StorageError as error:
        # The database named by DATABASE_URL cannot be opened (wrong host, password, file): one line, no
        # traceback; the message never holds the password (storage/postgres/__init__.py: describe_url).
        print(f"govdigest: DATABASE_URL: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    return code
