"""The --clock-shift option (tests/clock_shift): its parser, and that a shift really moves the clocks the code
reads, here and in a process the tests start."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from tests import clock_shift


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", timedelta(0)),
        ("0", timedelta(0)),
        ("+365d", timedelta(days=365)),
        ("-365d", timedelta(days=-365)),
        ("+12h", timedelta(hours=12)),
        ("-90m", timedelta(minutes=-90)),
        (" +1d ", timedelta(days=1)),
    ],
)
def test_parse_shift(text: str, expected: timedelta) -> None:
    assert clock_shift.parse_shift(text) == expected


@pytest.mark.parametrize("text", ["365d", "+365", "+1y", "tomorrow", "+-1d"])
def test_parse_shift_refuses_other_forms(text: str) -> None:
    with pytest.raises(ValueError, match="clock shift"):
        clock_shift.parse_shift(text)


def test_a_started_process_reads_the_shifted_clock(time_machine: time_machine.TimeMachineFixture) -> None:
    moment = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
    time_machine.move_to(moment, tick=False)
    env = {
        **os.environ,
        clock_shift.ENV_VARIABLE: "-3650d",
        "PYTHONPATH": os.pathsep.join([str(clock_shift.SITE_DIRECTORY), os.environ.get("PYTHONPATH", "")]),
    }
    # The child starts from the real wall clock (time-machine here does not reach it) moved back ten years.
    result = subprocess.run(
        [sys.executable, "-c", "from datetime import datetime, UTC; print(datetime.now(UTC).year)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    real_year = datetime.now(UTC).year  # frozen at `moment` in this process
    assert real_year == 2030
    child_year = int(result.stdout)
    assert child_year < 2030 - 5, "the child's clock was not shifted back ten years"
