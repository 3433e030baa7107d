from __future__ import annotations

import string

import pytest

from bot.telegram.texts import LOCALES, Raw, catalog, locale_of, text


def test_values_are_escaped_and_raw_is_not() -> None:
    assert text("common.not_admin", "en") == "Only a chat administrator can do that."
    from bot.telegram import texts

    texts.catalog.cache_clear()
    rendered = texts.template("common.error", "ru").format_map({})
    assert "<" not in rendered
    assert Raw("<b>x</b>") == "<b>x</b>"


@pytest.mark.parametrize(
    ("code", "locale"), [("ru", "ru"), ("en-US", "en"), ("en", "en"), (None, "ru"), ("uk", "ru")]
)
def test_locale_of(code: str | None, locale: str) -> None:
    assert locale_of(code) == locale


def test_every_locale_has_the_same_keys_and_placeholders() -> None:
    reference = catalog("ru")
    for locale in LOCALES:
        entries = catalog(locale)
        assert set(entries) == set(reference), locale
        for key, template in entries.items():
            fields = {f for _, f, _, _ in string.Formatter().parse(template) if f}
            expected = {f for _, f, _, _ in string.Formatter().parse(reference[key]) if f}
            assert fields == expected, (locale, key)
