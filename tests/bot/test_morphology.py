from __future__ import annotations

import pickle
from datetime import UTC, datetime

import pytest

from bot.archive.models import Article
from bot.archive.morphology import (
    MAX_STEM_FAMILY,
    StemmedArticle,
    normalize,
    stem_article,
    stem_family,
    stem_parts,
    stem_text,
    stem_word,
    tokenize,
)


def test_tokenize_keeps_hyphenated_words_and_digits_and_normalizes() -> None:
    text = "Северо-Западный ФО: в 2021 году — ЁЛКИ, COVID-19 и 70%!"
    assert tokenize(text) == ["северо-западный", "фо", "в", "2021", "году", "елки", "covid-19", "и", "70"]


def test_normalize_drops_stress_marks_and_yo() -> None:
    assert normalize("Замо\u0301к Ёж") == "замок еж"


@pytest.mark.parametrize(
    ("forms", "note"),
    [
        (("импортозамещение", "импортозамещения", "импортозамещением"), "noun cases"),
        (("Госсовет", "Госсовета", "госсовету", "ГОССОВЕТОМ"), "case-insensitive"),
        (("губернаторы", "губернатора", "губернатор"), "number"),
        (("министерства", "министерство", "министерству"), "neuter noun"),
        (("ёлка", "елка", "ёлки"), "ё equals е"),
        (("заседание", "заседания", "заседании"), "noun in -ие"),
    ],
)
def test_word_forms_share_one_stem(forms: tuple[str, ...], note: str) -> None:
    assert len({stem_word(form) for form in forms}) == 1, note


def test_different_words_keep_different_stems() -> None:
    assert stem_word("министр") != stem_word("министерство")
    assert stem_word("губернатор") != stem_word("правительство")


def test_hyphenated_word_stems_each_part() -> None:
    assert stem_word("Северо-Западного") == "север-западн"
    assert stem_parts("Северо-Западного") == ["север", "западн"]


def test_stem_text_is_space_separated_alphanumeric_tokens() -> None:
    stemmed = stem_text("Комиссия Госсовета: импортозамещение, COVID-19.")
    assert stemmed == "комисс госсовет импортозамещен covid 19"
    assert all(token.isalnum() for token in stemmed.split(" "))


def test_stem_text_agrees_with_stem_word() -> None:
    words = tokenize("Губернаторы провели заседания совета по импортозамещению в Северо-Западном округе")
    assert stem_text(" ".join(words)).split(" ") == [part for word in words for part in stem_parts(word)]


def test_empty_text() -> None:
    assert tokenize("") == []
    assert stem_text("  — ,, ") == ""


def test_stem_article_is_picklable() -> None:
    article = Article(
        title="Алексей Дюмин провел заседание комиссии Госсовета",
        lead="Были рассмотрены вопросы импортозамещения.",
        body=("Первый абзац.", "Второй абзац о губернаторах."),
        published_at=datetime(2021, 10, 27, 19, 29, tzinfo=UTC),
        views=154,
        source="test",
        url=None,
        topics=frozenset(),
        is_gov_commission=True,
        content_hash="h",
    )
    stemmed = stem_article(article)
    assert stemmed == StemmedArticle(
        title="алекс дюмин провел заседан комисс госсовет",
        lead="был рассмотр вопрос импортозамещен",
        body="перв абзац втор абзац о губернатор",
    )
    assert pickle.loads(pickle.dumps(stemmed)) == stemmed


@pytest.mark.parametrize(
    ("word", "family"),
    [
        # Snowball parts these: the family joins them (own stem first).
        ("паводок", ("паводок", "паводк")),
        ("паводками", ("паводк", "паводок")),
        ("кредит", ("кред", "кредит")),
        ("слепнева", ("слепнев", "слепн")),
        # A verb: its personal forms and infinitive, not its participles.
        ("провел", ("провел", "провест", "провед", "проведеш", "проведет", "проведут", "проведемт")),
        ("выборах", ("выбор",)),  # the families Snowball already keeps whole stay as they are
        ("covid", ("covid",)),  # no Cyrillic letter: the stem alone
        ("2021", ("2021",)),
    ],
)
def test_stem_family(word: str, family: tuple[str, ...]) -> None:
    assert stem_family(word) == family


def test_stem_family_always_starts_with_the_words_own_stem() -> None:
    for word in ("суда", "мэра", "цены", "импортозамещения", "дюмина", "госсовета", "северо"):
        family = stem_family(word)
        assert family[0] == stem_word(word)
        assert len(family) == len(set(family)) <= MAX_STEM_FAMILY
