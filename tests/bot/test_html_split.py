"""split_text, fit_message and the lengths Telegram checks: the 4096 boundary, tags and entities never broken."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.telegram.html_split import fit_message, split_text, utf16_length, visible_length
from bot.telegram.limits import MESSAGE_TEXT_LIMIT


def well_formed(html_text: str) -> bool:
    """Tags balanced and properly nested (what Telegram's HTML parser demands)."""
    stack: list[str] = []
    for closing, name in re.findall(r"<(/?)([a-z]+)[^>]*>", html_text):
        if closing:
            if not stack or stack.pop() != name:
                return False
        else:
            stack.append(name)
    return not stack


# --- length and splitting ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html_text", "length"),
    [
        ("abc", 3),
        ("<b>abc</b>", 3),
        ("&lt;&amp;&gt;&quot;", 4),
        ("&#128512;", 2),  # an emoji is two UTF-16 code units
        ("😀", 2),
        ('<a href="https://example.org/?a=1&amp;b=2">x</a>', 1),
        ("", 0),
    ],
)
def test_visible_length_counts_like_telegram(html_text: str, length: int) -> None:
    assert visible_length(html_text) == length


@pytest.mark.parametrize(
    ("unit", "count", "parts"),
    [
        ("a", MESSAGE_TEXT_LIMIT, 1),
        ("a", MESSAGE_TEXT_LIMIT + 1, 2),
        ("&amp;", MESSAGE_TEXT_LIMIT, 1),  # 5 raw characters, 1 after parsing
        ("&amp;", MESSAGE_TEXT_LIMIT + 1, 2),
        ("😀", MESSAGE_TEXT_LIMIT // 2, 1),  # 2 UTF-16 units each
        ("😀", MESSAGE_TEXT_LIMIT // 2 + 1, 2),
    ],
)
def test_split_at_the_exact_boundary(unit: str, count: int, parts: int) -> None:
    result = split_text(unit * count)
    assert len(result) == parts
    assert all(visible_length(part) <= MESSAGE_TEXT_LIMIT for part in result)
    assert sum(visible_length(part) for part in result) == visible_length(unit * count)


def test_split_prefers_paragraphs_then_sentences() -> None:
    first = "Первый абзац. " * 150  # ~2100 characters
    second = "Второй абзац. " * 150
    result = split_text(first.strip() + "\n\n" + second.strip())
    assert len(result) == 2
    assert result[0] == first.strip()
    assert result[1] == second.strip()

    sentences = " ".join(f"Предложение номер {i}." for i in range(400))  # one paragraph, ~9000 characters
    parts = split_text(sentences)
    assert len(parts) == 3
    assert all(part.endswith(".") for part in parts)
    assert " ".join(parts) == sentences


def test_split_never_breaks_tags_or_entities_and_reopens_formatting() -> None:
    text = "<b>" + "жирный &amp; текст " * 600 + "</b>"  # ~10,800 characters inside one <b>
    parts = split_text(text)
    assert len(parts) == 3
    for part in parts:
        assert part.startswith("<b>") and part.endswith("</b>")
        assert well_formed(part)
        assert visible_length(part) <= MESSAGE_TEXT_LIMIT
        assert not re.search(r"&[a-z]*$|&[a-z]*<", part)
    assert (
        html.unescape(re.sub("<[^>]+>", "", " ".join(parts)))
        == html.unescape(re.sub("<[^>]+>", "", text)).strip()
    )


def test_split_hard_cuts_a_word_longer_than_the_limit_between_code_points() -> None:
    word = "😀" * 3000  # 6000 UTF-16 units, no boundary anywhere
    parts = split_text(word)
    assert [visible_length(p) for p in parts] == [4096, 1904]
    assert "".join(parts) == word


@settings(max_examples=60, deadline=None)
@given(
    paragraphs=st.lists(
        st.text(alphabet=st.sampled_from("аб в.!?\n😀<&\"'"), min_size=0, max_size=300),
        min_size=1,
        max_size=12,
    ),
    limit=st.integers(min_value=20, max_value=400),
)
def test_split_properties(paragraphs: list[str], limit: int) -> None:
    source = "\n\n".join(f"<i>{html.escape(p, quote=False)}</i>" for p in paragraphs)
    parts = split_text(source, limit)
    for part in parts:
        assert 0 < visible_length(part) <= limit
        assert well_formed(part)
    visible = "".join(html.unescape(re.sub("<[^>]+>", "", p)) for p in parts)
    original = html.unescape(re.sub("<[^>]+>", "", source))
    assert re.sub(r"\s", "", visible) == re.sub(r"\s", "", original)


def test_fit_message_cuts_and_marks_the_cut() -> None:
    assert fit_message("short") == "short"
    long = "слово " * 2000
    fitted = fit_message(long)
    assert visible_length(fitted) <= MESSAGE_TEXT_LIMIT and fitted.endswith("…")


def test_utf16_length() -> None:
    assert utf16_length("a😀я") == 4
