from __future__ import annotations

from datetime import date, datetime

import pytest
import tantivy
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.archive.dates import MOSCOW
from bot.archive.models import MARK_END, MARK_START
from bot.archive.morphology import stem_fields
from bot.archive.query import (
    MAX_WORD_CHARS,
    MAX_WORDS,
    SearchQuery,
    date_bounds,
    make_snippet,
    parse_date_token,
    parse_query,
)
from storage.search_index import SCHEMA, IndexedArticle, _document, compile_query, topic_tag

_EMPTY = tantivy.Index(SCHEMA)  # hypothesis tests run their queries on an empty index


@pytest.fixture(scope="module")
def searcher() -> tantivy.Searcher:
    """A ranking index holding one article, to run compiled queries against."""
    stemmed = stem_fields("Комиссия Госсовета", "Импортозамещение", "Губернатор Северо-Западного округа")
    index = tantivy.Index(SCHEMA)
    writer = index.writer(heap_size=15_000_000, num_threads=1)
    writer.add_document(_document(IndexedArticle(1, 1_600_000_000, stemmed, frozenset({"state_council"}))))
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    return index.searcher()


def found(searcher: tantivy.Searcher, query: SearchQuery) -> list[int]:
    compiled = compile_query(query)
    if compiled is None:
        return []
    hits = searcher.search(compiled, 10).hits
    return [int(value or 0) for value in searcher.fast_field_values("id", [address for _, address in hits])]


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
    ("text", "matches"),
    [
        ("импортозамещение Госсовета", True),
        ('"комиссии Госсовета"', True),
        ('"Госсовета комиссии"', False),  # a phrase keeps its order
        ('"комиссии Госсовета" -губернаторы', False),
        ("Северо-Западный", True),  # a hyphenated word is a phrase of its parts
        ("губернатор тема:state_council", True),
        ("губернатор тема:ministry", False),
        ("импортозамещения", True),
        ("Госсовету", True),
        ("губернаторы", True),
        ('"Госсовета"', True),
        ("северо-западного", True),
        ("губернатор -импортозамещение", False),
        ("губернатор паводок", False),  # every word must match
    ],
)
def test_compiled_queries_match_the_index_forms(searcher: tantivy.Searcher, text: str, matches: bool) -> None:
    assert found(searcher, parse_query(text)) == ([1] if matches else [])


@pytest.mark.parametrize(
    "text",
    ["", "   ", "в и на", "-губернатор", "с:01.10.2021", '""', "—…!?", "AND OR NOT"],
)
def test_nothing_to_search(text: str) -> None:
    query = parse_query(text)
    assert query.is_empty
    assert compile_query(query) is None


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
def test_hostile_input_compiles_to_a_query_that_runs(text: str, searcher: tantivy.Searcher) -> None:
    query = parse_query(text)
    found(searcher, query)  # whatever it is, tantivy runs it (user text never becomes query syntax)
    assert parse_query(query.text) == query


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_any_text_parses_and_compiles(text: str) -> None:
    query = parse_query(text)
    compiled = compile_query(query)
    if compiled is not None:
        _EMPTY.searcher().search(compiled, 5)
    assert parse_query(query.text) == query


_query_alphabet = st.sampled_from(
    [*list("абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВЁZz09 -\"«»*:()^'.,;NEARORAND\t\n"), "с:", "по:", "тема:"]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_query_alphabet, max_size=80).map("".join))
def test_query_like_text_parses_and_compiles(text: str) -> None:
    query = parse_query(text)
    compiled = compile_query(query)
    if compiled is not None:
        _EMPTY.searcher().search(compiled, 5)
    assert parse_query(query.text) == query


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
