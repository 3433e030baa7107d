""" "Did you mean": candidates one edit away, chosen by document frequency (a frequency dict, no database)."""

from __future__ import annotations

import pytest

from bot.archive.spelling import (
    CYRILLIC,
    LATIN,
    apply_corrections,
    choose_corrections,
    edits1,
    plan_corrections,
    tokens_to_look_up,
    word_candidates,
)

# Document frequencies by index token (bot.archive.morphology stems).
FREQUENCIES = {
    "импортозамещен": 40,
    "губернатор": 120,
    "комисс": 300,
    "госсовет": 25,
    "дорог": 2,  # too rare to suggest
    "transport": 9,
    "министерств": 50,
    "министр": 4,
}


def corrected(query_text: str, frequencies: dict[str, int] = FREQUENCIES) -> str | None:
    plan = plan_corrections(query_text)
    return apply_corrections(query_text, choose_corrections(plan, frequencies))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("импортозамищение", "импортозамещение"),  # a replacement
        ("импортозамещние", "импортозамещение"),  # an insertion
        ("импортзамещение", "импортозамещение"),  # another insertion
        ("импортозамещнеие", "импортозамещение"),  # a transposition
        ("импортозамещенние", None),  # the stemmer absorbs the typo: the search finds it as it is
        ("Импортозамищение", "Импортозамещение"),  # the capital kept
        ("импортозамищению", "импортозамещению"),  # another form: the same token
        ("импортозамёщение", None),  # ё is е: the word is right already
        ("губернатр импортозамищение", "губернатор импортозамещение"),  # every word
        ("губернатор импортозамищение", "губернатор импортозамещение"),  # a right word kept
        ('"импортозамищение комиссии"', '"импортозамещение комиссии"'),  # phrase words too
        ("импортозамищение с:01.10.2021 тема:госсовет", "импортозамещение с:01.10.2021 тема:госсовет"),
        ("трнспорт", "транспорт"),  # a deletion fixed by an insertion
        ("transpor", "transport"),  # Latin words over the Latin alphabet
        ("дорга", None),  # the best neighbour is in fewer than MIN_DOCUMENTS articles
        ("губернатор", None),  # nothing to correct
        ("мнистр", "министр"),  # 4 articles: enough (MIN_DOCUMENTS)
        ("абв", None),  # too short
        ("covid19", None),  # digits: not corrected
        ("северо-запдный", None),  # hyphenated: not corrected
        ("<b>", None),
        ("", None),
    ],
)
def test_corrections(query: str, expected: str | None) -> None:
    frequencies = {**FREQUENCIES, "транспорт": 30}
    assert corrected(query, frequencies) == expected


@pytest.mark.parametrize(
    ("own", "best", "suggested"),
    [(0, 3, True), (0, 2, False), (1, 10, True), (1, 9, False), (5, 100, True), (50, 100, False)],
)
def test_a_word_in_the_archive_is_corrected_only_to_a_much_more_frequent_one(
    own: int, best: int, suggested: bool
) -> None:
    plan = plan_corrections("импортозамищение")
    frequencies = {"импортозамищен": own, "импортозамещен": best}
    assert bool(choose_corrections(plan, frequencies)) is suggested


def test_ties_go_to_the_first_generated_candidate() -> None:
    plan = plan_corrections("кот")  # too short
    assert plan == []
    [item] = plan_corrections("котик")
    assert item.word == "котик"
    tied = dict.fromkeys(item.candidates, 5)
    assert choose_corrections([item], tied)["котик"] == next(iter(item.candidates.values()))


def test_edits1_counts_and_alphabets() -> None:
    word = "импортозамещение"  # 16 letters
    n, a = len(word), len(CYRILLIC)
    edits = list(edits1(word, CYRILLIC))
    # replacements (a - 1 per letter), transpositions (adjacent different letters), deletions, insertions
    transposable = sum(word[i] != word[i + 1] for i in range(n - 1))
    assert len(edits) == n * (a - 1) + transposable + n + (n + 1) * a
    assert all(abs(len(edit) - n) <= 1 for edit in edits)
    assert set("".join(edits1("ab", LATIN))) <= set(LATIN)


def test_tokens_to_look_up_hold_the_words_own_and_their_neighbours() -> None:
    item = word_candidates("импортозамищение")
    assert item is not None and item.token == "импортозамищен"
    assert "импортозамещен" in item.candidates and item.token not in item.candidates
    tokens = tokens_to_look_up([item])
    assert tokens[0] == "импортозамищен" and len(tokens) == len(set(tokens)) == len(item.candidates) + 1


def test_nothing_to_correct_changes_nothing() -> None:
    assert apply_corrections("комиссия", {}) is None
    assert apply_corrections("комиссия", {"импортозамищение": "импортозамещение"}) is None
