"""safe_url and shorten: the plain-string helpers every message builder uses."""

from __future__ import annotations

import pytest

from bot.telegram.html_text import safe_url, shorten


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://example.org/a?b=1&c=2", True),
        ("http://example.org", True),
        ("javascript:alert(1)", False),
        ('https://example.org/"><script>', False),
        ("https://exa mple.org", False),
        ("", False),
        (None, False),
    ],
)
def test_safe_url(url: str | None, safe: bool) -> None:
    assert (safe_url(url) is not None) is safe


@pytest.mark.parametrize(
    ("value", "limit", "expected"),
    [
        ("abc", 5, "abc"),
        ("слово слово слово", 12, "слово слово…"),
        ("слово слово слово", 10, "слово…"),
        ("абвгдеёжзи", 5, "абвг…"),
    ],
)
def test_shorten(value: str, limit: int, expected: str) -> None:
    assert shorten(value, limit) == expected
