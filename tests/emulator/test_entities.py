"""Telegram's HTML subset, UTF-16 lengths and trimming (pure functions, no server)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.emulator.entities import (
    EntityParseError,
    bot_command_entities,
    parse_html,
    to_html,
    trim,
    utf16_len,
    validate_entities,
)


@pytest.mark.parametrize(
    ("source", "text", "entities"),
    [
        ("plain", "plain", []),
        ("<b>bold</b> <strong>x</strong>", "bold x", [("bold", 0, 4), ("bold", 5, 1)]),
        (
            "<i>a</i><em>b</em><u>c</u><ins>d</ins>",
            "abcd",
            [("italic", 0, 1), ("italic", 1, 1), ("underline", 2, 1), ("underline", 3, 1)],
        ),
        ("<s>a</s><strike>b</strike><del>c</del>", "abc", [("strikethrough", i, 1) for i in range(3)]),
        (
            '<tg-spoiler>a</tg-spoiler><span class="tg-spoiler">b</span>',
            "ab",
            [("spoiler", 0, 1), ("spoiler", 1, 1)],
        ),
        ("<code>x</code>", "x", [("code", 0, 1)]),
        ("<blockquote>q</blockquote>", "q", [("blockquote", 0, 1)]),
        ("<blockquote expandable>q</blockquote>", "q", [("expandable_blockquote", 0, 1)]),
        ("&lt;&gt;&amp;&quot;", '<>&"', []),
        ("&#1071;&#x44f;", "Яя", []),
        ("&lt", "<", []),  # tdlib accepts a named entity without ';'
        ("😀<b>x</b>", "😀x", [("bold", 2, 1)]),  # offsets in UTF-16 code units
        ("<b>a<i>b</i></b>", "ab", [("bold", 0, 2), ("italic", 1, 1)]),
        ("<b></b>x", "x", []),  # empty entities vanish
        ("<B>x</B>", "x", [("bold", 0, 1)]),
    ],
)
def test_parse_html_entities(source: str, text: str, entities: list[tuple[str, int, int]]) -> None:
    parsed = parse_html(source)
    assert parsed.text == text
    assert [(e["type"], e["offset"], e["length"]) for e in parsed.entities] == entities


def test_links_pre_and_custom_emoji_carry_their_arguments() -> None:
    parsed = parse_html(
        '<a href="https://e.org/?a=1&amp;b=2">l</a><pre><code class="language-py">c</code></pre>'
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji><a href="tg://user?id=42">u</a>'
    )
    assert parsed.entities == (
        {"type": "text_link", "offset": 0, "length": 1, "url": "https://e.org/?a=1&b=2"},
        {"type": "pre", "offset": 1, "length": 1, "language": "py"},
        {"type": "custom_emoji", "offset": 2, "length": 2, "custom_emoji_id": "5368324170671202286"},
        {"type": "text_mention", "offset": 4, "length": 1, "user": {"id": 42, "is_bot": False}},
    )


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("<foo>x</foo>", 'Unsupported start tag "foo" at byte offset 0'),
        ("<br/>", 'Unsupported start tag "br/" at byte offset 0'),
        ("Я <p>", 'Unsupported start tag "p" at byte offset 3'),  # byte offsets count UTF-8 bytes
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<b", "Unclosed start tag at byte offset 0"),
        ("<b>x</b", "Unclosed end tag at byte offset 4"),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("<a href=http://x>y</a>", "Unexpected end of name token at byte offset 8"),
        (
            "<a href>y</a>",
            'Expected equal sign in declaration of an attribute of the tag "a" at byte offset 0',
        ),
        ("AT&T", 'Character "&" must be escaped as "&amp;" at byte offset 2'),
        ("&unknown;", 'Character "&" must be escaped as "&amp;" at byte offset 0'),
    ],
)
def test_parse_html_errors_use_telegram_wording(source: str, message: str) -> None:
    with pytest.raises(EntityParseError) as error:
        parse_html(source)
    assert str(error.value) == message


def test_bare_ampersand_is_kept_when_not_strict_like_tdlib() -> None:
    assert parse_html("AT&T", strict_ampersand=False).text == "AT&T"


@pytest.mark.parametrize(("text", "units"), [("", 0), ("abc", 3), ("Я", 1), ("😀", 2), ("a😀b", 4)])
def test_utf16_len(text: str, units: int) -> None:
    assert utf16_len(text) == units


def test_trim_strips_whitespace_and_clips_entities() -> None:
    trimmed = trim(parse_html("  <b> x </b>\n"))
    assert trimmed.text == "x"
    assert trimmed.entities == ({"type": "bold", "offset": 0, "length": 1},)


def test_bot_commands_are_found_with_and_without_bot_name() -> None:
    assert bot_command_entities("/start@govdigest_bot go /help") == [
        {"type": "bot_command", "offset": 0, "length": 20},
        {"type": "bot_command", "offset": 24, "length": 5},
    ]
    assert bot_command_entities("a/b http://x/y") == []


def test_client_entities_are_checked_and_clipped() -> None:
    raw: list[dict[str, Any]] = [
        {"type": "bold", "offset": 1, "length": 10},
        {"type": "italic", "offset": 9, "length": 1},
    ]
    assert validate_entities(raw, "abc") == ({"type": "bold", "offset": 1, "length": 2},)
    with pytest.raises(ValueError, match="unsupported entity type"):
        validate_entities([{"type": "blink", "offset": 0, "length": 1}], "abc")


def test_to_html_round_trips_through_aiogram() -> None:
    parsed = parse_html("<b>a &lt; b</b> <i>c</i>")
    assert to_html(parsed.text, parsed.entities) == "<b>a &lt; b</b> <i>c</i>"
