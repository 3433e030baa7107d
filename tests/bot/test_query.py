from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.archive.dates import MOSCOW
from bot.archive.models import MARK_END, MARK_START
from bot.archive.query import (
    MAX_WORD_CHARS,
    MAX_WORDS,
    SearchQuery,
    date_bounds,
    make_snippet,
    parse_date_token,
    parse_query,
)
from storage.sqlite.fts import build_match, topic_tag


@pytest.fixture(scope="module")
def fts() -> Iterator[sqlite3.Connection]:
    """An FTS5 table shaped like the archive's, to prove every MATCH string is valid FTS5 syntax."""
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE VIRTUAL TABLE f USING fts5(title, lead, body, tags, content='',"
        " tokenize='unicode61 remove_diacritics 0')"
    )
    conn.execute(
        "INSERT INTO f (rowid, title, lead, body, tags) VALUES (1, 'комисс госсовет', 'импортозамещен',"
        " 'губернатор север западн', 'topicstatecouncil')"
    )
    yield conn
    conn.close()


def run_match(conn: sqlite3.Connection, match: str) -> list[int]:
    return [row[0] for row in conn.execute("SELECT rowid FROM f WHERE f MATCH ? ORDER BY rank", (match,))]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("импортозамещение Госсовета", SearchQuery(terms=("импортозамещение", "госсовета"))),
        ('"комиссия Госсовета"', SearchQuery(phrases=(("комиссия", "госсовета"),))),
        ("«комиссия Госсовета»", SearchQuery(phrases=(("комиссия", "госсовета"),))),
        ("губернатор -министр", SearchQuery(terms=("губернатор",), excluded=("министр",))),
        (
            'губернатор -"министр финансов"',
            SearchQuery(terms=("губернатор",), excluded=("министр финансов",)),
        ),
        (
            "Госсовет с:01.10.2021 по:31.10.2021",
            SearchQuery(terms=("госсовет",), since=date(2021, 10, 1), until=date(2021, 10, 31)),
        ),
        (
            "Госсовет since:2021-10-01 until: 2021-10-31",
            SearchQuery(terms=("госсовет",), since=date(2021, 10, 1), until=date(2021, 10, 31)),
        ),
        (
            "Госсовет по:01.10.21 с:31.10.21",
            SearchQuery(terms=("госсовет",), since=date(2021, 10, 1), until=date(2021, 10, 31)),
        ),
        ("губернатор тема:Госсовет", SearchQuery(terms=("губернатор",), topics=frozenset({"state_council"}))),
        ("губернатор topic:ministry", SearchQuery(terms=("губернатор",), topics=frozenset({"ministry"}))),
        ("встреча с: министром", SearchQuery(terms=("встреча", "министром"))),
        ("Ёлка ёлка елка", SearchQuery(terms=("елка",))),
        ("северо-западный", SearchQuery(terms=("северо-западный",))),
        ('"в"', SearchQuery(terms=("в",))),
        ("в на и по", SearchQuery()),
        ("", SearchQuery()),
    ],
)
def test_parse_query(text: str, expected: SearchQuery) -> None:
    assert parse_query(text) == expected


def test_bad_date_and_topic_are_reported_and_ignored() -> None:
    query = parse_query("Госсовет с:32.13.2021 по:31.10.2021 тема:погода")
    assert query.terms == ("госсовет",)
    assert query.since is None
    assert query.until == date(2021, 10, 31)
    assert query.topics == frozenset()
    assert query.invalid_tokens == ("с:32.13.2021", "тема:погода")


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("01.10.2021", date(2021, 10, 1)),
        ("1.2.2021", date(2021, 2, 1)),
        ("01.10.21", date(2021, 10, 1)),
        ("2021-10-01", date(2021, 10, 1)),
        ("29.02.2021", None),
        ("31.10.9999", None),
        ("2021", None),
        ("вчера", None),
    ],
)
def test_parse_date_token(token: str, expected: date | None) -> None:
    assert parse_date_token(token) == expected


def test_word_limits() -> None:
    many = parse_query(" ".join(f"слово{i}" for i in range(40)))
    assert len(many.terms) == MAX_WORDS
    assert many.truncated
    long_word = parse_query("губернатор " + "я" * (MAX_WORD_CHARS + 1))
    assert long_word.terms == ("губернатор",)
    assert long_word.truncated


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("импортозамещение Госсовета", '("импортозамещен" AND "госсовет")'),
        ('"комиссии Госсовета" -губернаторы', '("комисс госсовет") NOT "губернатор"'),
        ("Северо-Западный", '("север западн")'),
        ("губернатор тема:state_council", '("губернатор" AND (tags : "topicstatecouncil"))'),
        # A word: any stem of its lemma's forms (bot.archive.morphology.stem_family).
        ("паводками -кредиты", '(("паводк" OR "паводок")) NOT ("кредит" OR "кред")'),
    ],
)
def test_build_match(text: str, match: str, fts: sqlite3.Connection) -> None:
    assert build_match(parse_query(text)) == match
    run_match(fts, match)


@pytest.mark.parametrize(
    "text",
    ["", "   ", "в и на", "-губернатор", "с:01.10.2021", '""', "—…!?", "AND OR NOT"],
)
def test_nothing_to_search(text: str) -> None:
    query = parse_query(text)
    assert query.is_empty
    assert build_match(query) is None


@pytest.mark.parametrize(
    "text",
    [
        '"',
        '"""',
        "*",
        "губерн*",
        "NEAR(губернатор министр, 5)",
        "губернатор AND министр OR NOT правительство",
        "-",
        "--губернатор",
        ":",
        "title:губернатор",
        "'",
        "^губернатор",
        "(губернатор",
        "губернатор)",
        "'; DROP TABLE articles;--",
        '" OR 1=1 --',
        "{title}: губернатор",
        "\x00\x02\x03 губернатор",
        "губернатор " * 2000,
        "я" * 10_000,
    ],
)
def test_hostile_input_gives_valid_fts(text: str, fts: sqlite3.Connection) -> None:
    query = parse_query(text)
    match = build_match(query)
    if match is not None:
        run_match(fts, match)
    assert parse_query(query.text) == query


def test_morphology_through_match(fts: sqlite3.Connection) -> None:
    for text in ("импортозамещения", "Госсовету", "губернаторы", '"Госсовета"', "северо-западного"):
        assert run_match(fts, build_match(parse_query(text)) or "") == [1], text
    assert run_match(fts, build_match(parse_query("губернатор -импортозамещение")) or "") == []


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_any_text_parses_and_builds_valid_fts(text: str) -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE VIRTUAL TABLE f USING fts5(title, lead, body, tags, tokenize='unicode61 remove_diacritics 0')"
    )
    query = parse_query(text)
    match = build_match(query)
    if match is not None:
        conn.execute("SELECT rowid FROM f WHERE f MATCH ?", (match,)).fetchall()
    assert parse_query(query.text) == query
    conn.close()


_query_alphabet = st.sampled_from(
    [*list("абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВЁZz09 -\"«»*:()^'.,;NEARORAND\t\n"), "с:", "по:", "тема:"]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_query_alphabet, max_size=80).map("".join))
def test_query_like_text_parses_and_builds_valid_fts(text: str) -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE VIRTUAL TABLE f USING fts5(title, lead, body, tags, tokenize='unicode61 remove_diacritics 0')"
    )
    query = parse_query(text)
    match = build_match(query)
    if match is not None:
        conn.execute("SELECT rowid FROM f WHERE f MATCH ?", (match,)).fetchall()
    assert parse_query(query.text) == query
    conn.close()


def test_topic_tag_is_one_token() -> None:
    assert topic_tag("state_council") == "topicstatecouncil"


def test_date_bounds_are_moscow_days() -> None:
    since, until = date_bounds(parse_query("х с:01.10.2021 по:31.10.2021"))
    assert since == datetime(2021, 10, 1, tzinfo=MOSCOW)
    assert until == datetime(2021, 11, 1, tzinfo=MOSCOW)


def test_snippet_marks_original_word_forms() -> None:
    text = (
        "Первое предложение ни о чём.\nПомощник Президента, секретарь Госсовета РФ отметил, что в вопросах "
        "импортозамещения медицинской техники важна совместная работа. Ещё одно предложение."
    )
    snippet = make_snippet(text, parse_query("Госсовет импортозамещение"))
    assert f"{MARK_START}Госсовета{MARK_END}" in snippet
    assert f"{MARK_START}импортозамещения{MARK_END}" in snippet
    assert "Первое предложение" not in snippet
    assert "\n" not in snippet


def test_snippet_of_long_text_is_cut_around_the_match() -> None:
    text = "Вступление. " + "слово " * 200 + "заседание губернаторов " + "хвост " * 200
    snippet = make_snippet(text, parse_query("губернатор"), width=120)
    assert f"{MARK_START}губернаторов{MARK_END}" in snippet
    assert snippet.startswith("…") and snippet.endswith("…")
    assert len(snippet) <= 120 + 4


def test_snippet_without_match_is_the_start_and_strips_marks() -> None:
    text = f"Текст {MARK_START}без{MARK_END} совпадений. " * 30
    snippet = make_snippet(text, parse_query("губернатор"), width=60)
    assert MARK_START not in snippet and MARK_END not in snippet
    assert snippet.startswith("Текст без совпадений") and snippet.endswith("…")


def test_snippet_ignores_words_that_only_share_a_prefix() -> None:
    snippet = make_snippet("Министерство и министр встретились.", parse_query("министр"))
    assert snippet == f"Министерство и {MARK_START}министр{MARK_END} встретились."


def test_snippet_stays_in_the_paragraph_of_the_match() -> None:
    text = "Губернатор открыл школу.\nСовсем другая новость о погоде на выходных."
    assert make_snippet(text, parse_query("губернатор")) == f"{MARK_START}Губернатор{MARK_END} открыл школу."


def test_snippet_reads_only_the_head_of_a_huge_text() -> None:
    """A 2 MB page once took a minute per hit: only the first SNIPPET_SCAN_CHARS characters are read."""
    from bot.archive.models import MARK_START
    from bot.archive.query import SNIPPET_SCAN_CHARS, make_snippet

    filler = "Предложение про разное. " * (SNIPPET_SCAN_CHARS // 10)
    assert MARK_START not in make_snippet(filler + "Заседание Госсовета.", parse_query("госсовет"))
    head = "Заседание комиссии. " + filler
    snippet = make_snippet(head + "Заседание Госсовета.", parse_query("комиссия госсовет"))
    assert snippet.startswith("Заседание " + MARK_START + "комиссии")
