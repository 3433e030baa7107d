"""Run the suite with every clock the code reads moved by a fixed amount (`pytest --clock-shift=+365d`).

A test that passes only near the day it was written reads the wall clock somewhere while its data is fixed in
time. Running the whole suite a year ahead and a year back finds such time bombs. In the test process the shift
is time-machine's (datetime.now, date.today, time.time and friends; not the monotonic clock, so timeouts and
asyncio keep their pace); subprocesses the tests start (`govdigest run`, the CLI) get it through
`sitecustomize.py` in this folder, put on their PYTHONPATH with the shift in GOVDIGEST_TEST_CLOCK_SHIFT.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

ENV_VARIABLE = "GOVDIGEST_TEST_CLOCK_SHIFT"
SITE_DIRECTORY = Path(__file__).resolve().parent / "site"
_SHIFT_RE = re.compile(r"^([+-])(\d{1,5})([dhm])$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_shift(text: str) -> timedelta:
    """'+365d', '-365d', '+12h', '-90m' → a timedelta; '' or '0d' → zero."""
    text = text.strip()
    if text in {"", "0"}:
        return timedelta(0)
    match = _SHIFT_RE.match(text)
    if match is None:
        raise ValueError(f"clock shift: expected like +365d, -365d, +12h or -90m, got {text!r}")
    sign, amount, unit = match.groups()
    delta = timedelta(**{_UNITS[unit]: int(amount)})
    return -delta if sign == "-" else delta


def start(shift: timedelta) -> object:
    """Move this process's clocks by `shift`; they keep ticking. Returns the traveller (its stop() undoes)."""
    import time_machine

    traveller = time_machine.travel(datetime.now(UTC) + shift, tick=True)
    traveller.start()
    return traveller


def export(text: str) -> None:
    """Make the processes this one starts shift their clocks by the same amount."""
    os.environ[ENV_VARIABLE] = text
    paths = [str(SITE_DIRECTORY), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    os.environ["PYTHONPATH"] = os.pathsep.join(paths)
