"""Imported at the start of every Python process the tests start under `pytest --clock-shift=...`:
moves its clocks by GOVDIGEST_TEST_CLOCK_SHIFT (see tests/clock_shift/__init__.py, loaded here by path
because the process's working directory is usually a temporary folder)."""

import importlib.util
import os
from pathlib import Path

if os.environ.get("GOVDIGEST_TEST_CLOCK_SHIFT"):
    _spec = importlib.util.spec_from_file_location(
        "govdigest_clock_shift", Path(__file__).resolve().parent.parent / "__init__.py"
    )
    assert _spec is not None and _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_module)
    _shift = _module.parse_shift(os.environ["GOVDIGEST_TEST_CLOCK_SHIFT"])
    if _shift:
        _module.start(_shift)
