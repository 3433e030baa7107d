"""parse_page on text pages: the seed page field by field, layouts, rejections, never a crash; make_article."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.archive.dates import MOSCOW
from bot.archive.models import Article
from bot.archive.parsing import MAX_PAGE_BYTES, content_hash, date_from_url, make_article, parse_page
from bot.archive.rejection import PageRejected
from tests.conftest import FIXTURES

PAGES = FIXTURES / "pages"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
SEED_BYTES = (PAGES / "seed-page.txt").read_bytes()
SEED_TEXT = SEED_BYTES.decode("utf-8")

SEED_TITLE = "Алексей Дюмин провел заседание комиссии Госсовета РФ по промышленности"
SEED_LEAD = (
    "Были рассмотрены вопросы импортозамещения при производстве высокотехнологичной медтехники и экспорта "
    "продукции промышленного производства."
)
SEED_BODY_STARTS = (
    "Помощник Президента России, секретарь Госсовета РФ Игорь Левитин отметил",
    "Алексей Дюмин подчеркнул, что федеральный Минпромторг",
    "Министр промышленности и торговли РФ Денис Мантуров отметил",
    "– В период пандемии регионы под руководством Минпромторгома России",
    "На заседании принято решение проработать вопрос создания перечня медицинской техники",
)


def parse(text: str, **kwargs: object) -> Article:
    return parse_page(text.encode("utf-8"), source="test", now=NOW, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def seed() -> Article:
    return parse_page(SEED_BYTES, source="seed", url="https://example.ru/news/1", now=NOW)


# ----- the seed page, field by field -----------------------------------------------------------------------


def test_seed_title(seed: Article) -> None:
    assert seed.title == SEED_TITLE


def test_seed_lead(seed: Article) -> None:
    assert seed.lead == SEED_LEAD


def test_seed_published_at_is_moscow_time_stored_in_utc(seed: Article) -> None:
    assert seed.published_at == datetime(2021, 10, 27, 19, 29, tzinfo=UTC)
    assert seed.published_at.tzinfo is UTC
    assert seed.published_at.astimezone(MOSCOW).strftime("%Y-%m-%d %H:%M") == "2021-10-27 22:29"


def test_seed_views(seed: Article) -> None:
    assert seed.views == 154


def test_seed_body_is_the_five_paragraphs(seed: Article) -> None:
    assert len(seed.body) == 5
    for paragraph, start in zip(seed.body, SEED_BODY_STARTS, strict=True):
        assert paragraph.startswith(start)
    assert seed.body[-1].endswith(
        "рекомендовала регионам активизировать работу по информированию экспортеров о мерах поддержки."
    )


def test_seed_body_has_no_sidebar_line(seed: Article) -> None:
    sidebar = [line for line in SEED_TEXT.splitlines()[8:] if line.strip()]
    assert len(sidebar) == 14
    for line in sidebar:
        assert all(line not in paragraph for paragraph in seed.body)
    assert all("2025" not in paragraph for paragraph in seed.body)


def test_seed_source_url_topics_flag_hash(seed: Article) -> None:
    assert seed.source == "seed"
    assert seed.url == "https://example.ru/news/1"
    assert {"commission", "state_council", "meeting", "ministry"} <= seed.topics
    assert seed.is_gov_commission is True
    assert seed.content_hash == content_hash(seed.title, seed.lead, seed.body)
    assert len(seed.content_hash) == 64


# ----- layouts ----------------------------------------------------------------------------------------------

BODY = "Губернатор провел заседание комиссии по предупреждению чрезвычайных ситуаций. Решения приняты."


@pytest.mark.parametrize(
    ("text", "title", "lead", "body", "published", "views"),
    [
        pytest.param(
            f"Заголовок новости\nЛид новости.\n27.10.2021 22:29\n{BODY}",
            "Заголовок новости",
            "Лид новости.",
            (BODY,),
            datetime(2021, 10, 27, 19, 29, tzinfo=UTC),
            None,
            id="numeric-date-line",
        ),
        pytest.param(
            f"Заголовок новости\n27 октября 2021, 22:29\n{BODY}",
            "Заголовок новости",
            "",
            (BODY,),
            datetime(2021, 10, 27, 19, 29, tzinfo=UTC),
            None,
            id="no-lead",
        ),
        pytest.param(
            f"22:29, 27 октября 2021 154\nЗаголовок новости\n{BODY}",
            "Заголовок новости",
            "",
            (BODY,),
            datetime(2021, 10, 27, 19, 29, tzinfo=UTC),
            154,
            id="date-first",
        ),
        pytest.param(
            f"Заголовок новости\nЛид новости.\nЭкономика\nФото: пресс-служба\n27.10.2021 22:29\n{BODY}",
            "Заголовок новости",
            "Лид новости.",
            ("Экономика", "Фото: пресс-служба", BODY),
            datetime(2021, 10, 27, 19, 29, tzinfo=UTC),
            None,
            id="date-line-fifth",
        ),
        pytest.param(
            f"Заголовок новости\n22 декабря 2020\n44\n{BODY}",
            "Заголовок новости",
            "",
            (BODY,),
            datetime(2020, 12, 21, 21, 0, tzinfo=UTC),
            44,
            id="views-on-next-line",
        ),
        pytest.param(
            f"Заголовок новости\nЛид новости.\n27.10.2021 22:29\nПросмотров: 711\n{BODY}\nСейчас читают: 323",
            "Заголовок новости",
            "Лид новости.",
            (BODY,),
            datetime(2021, 10, 27, 19, 29, tzinfo=UTC),
            711,
            id="views-label",
        ),
        pytest.param(
            f"Заголовок новости\nЛид новости.\nДата публикации: 27.10.2021 22:29 · Просмотров: 1 204\n{BODY}",
            "Заголовок новости",
            "Лид новости.",
            (BODY,),
            datetime(2021, 10, 27, 19, 29, tzinfo=UTC),
            1204,
            id="labelled-date-and-views",
        ),
        pytest.param(
            f"Заголовок новости\nЛид новости.\n2024-01-10 20:51:10 · Экономика\n{BODY}",
            "Заголовок новости",
            "Лид новости.",
            (BODY,),
            datetime(2024, 1, 10, 17, 51, 10, tzinfo=UTC),
            None,
            id="date-with-rubric",
        ),
        pytest.param(
            f"Заголовок новости\nЛид новости.\n27.10.2021 22:29\n{BODY}\n"
            "В Туле открылся центр госуслуг\n13:43, 30 июня 2025 24\n"
            "Заседание комиссии по ЧС\n10:45, 29 июня 2025 48\n",
            "Заголовок новости",
            "Лид новости.",
            (BODY,),
            datetime(2021, 10, 27, 19, 29, tzinfo=UTC),
            None,
            id="sidebar-headline-then-date",
        ),
        pytest.param(
            f"Заголовок новости\nЛид новости.\n27.10.2021 22:29\n{BODY}\n"
            "13:43, 30 июня 2025 24\nВ Туле открылся центр госуслуг\n"
            "10:45, 29 июня 2025 48\nЗаседание комиссии по ЧС\n",
            "Заголовок новости",
            "Лид новости.",
            (BODY,),
            datetime(2021, 10, 27, 19, 29, tzinfo=UTC),
            None,
            id="sidebar-date-then-headline",
        ),
        pytest.param(
            f"Заголовок новости\nЛид новости.\n\n\n27.10.2021 22:29\n\n{BODY}\n\n\n",
            "Заголовок новости",
            "Лид новости.",
            (BODY,),
            datetime(2021, 10, 27, 19, 29, tzinfo=UTC),
            None,
            id="blank-lines",
        ),
        pytest.param(
            f"\ufeffЗаголовок\u00a0  новости \r\nЛид\tновости.\r\n27.10.2021 22:29\r\n{BODY}\r\n",
            "Заголовок новости",
            "Лид новости.",
            (BODY,),
            datetime(2021, 10, 27, 19, 29, tzinfo=UTC),
            None,
            id="crlf-bom-odd-spaces",
        ),
        pytest.param(
            f"Заголовок новости\nЛид новости.\nМОСКВА, 19 августа 2021 года. /ТАСС/. {BODY}",
            "Заголовок новости",
            "Лид новости.",
            (f"МОСКВА, 19 августа 2021 года. /ТАСС/. {BODY}",),
            datetime(2021, 8, 18, 21, 0, tzinfo=UTC),
            None,
            id="dateline-in-text",
        ),
    ],
)
def test_text_layouts(
    text: str, title: str, lead: str, body: tuple[str, ...], published: datetime, views: int | None
) -> None:
    article = parse(text)
    assert article.title == title
    assert article.lead == lead
    assert article.body == body
    assert article.published_at == published
    assert article.views == views


def test_last_body_paragraph_is_kept_before_a_sidebar() -> None:
    text = f"Заголовок\nЛид.\n27.10.2021 22:29\n{BODY}\nКороткий итог без точки\n13:43, 30 июня 2025 24\n"
    # A short last paragraph before a sidebar looks like a sidebar headline: the known trade-off.
    assert parse(text).body == (BODY,)
    text = f"Заголовок\nЛид.\n27.10.2021 22:29\n{BODY}\nКороткий итог.\n13:43, 30 июня 2025 24\n"
    assert parse(text).body == (BODY, "Короткий итог.")


def test_a_yearless_header_line_is_skipped_with_its_count() -> None:
    article = parse(f"Заголовок новости\nЛид новости.\n12 июля 154\n27.10.2021 22:29\n{BODY}")
    assert article.published_at == datetime(2021, 10, 27, 19, 29, tzinfo=UTC)
    assert article.views is None


def test_relative_words_in_running_text_are_not_a_date() -> None:
    text = f"Заголовок новости\nВчера в 10:00 губернатор провел совещание.\n{BODY}"
    with pytest.raises(PageRejected, match="no recognizable date"):
        parse(text)
    text = f"Заголовок новости\nЛид новости.\nвчера в 10:00\n{BODY}"
    assert parse(text).published_at == datetime(
        2025, 12, 31, 7, 0, tzinfo=UTC
    )  # a date line: relative to now


def test_date_from_url_when_the_page_has_none() -> None:
    text = f"Заголовок новости\nЛид новости.\n{BODY}"
    article = parse(text, url="https://rg.ru/2020/03/15/mishustin.html")
    assert article.published_at == datetime(2020, 3, 14, 21, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://rg.ru/2020/03/15/mishustin.html", datetime(2020, 3, 15, tzinfo=MOSCOW)),
        ("https://gazeta.ru/news/2009/12/31/n_1.shtml", datetime(2009, 12, 31, tzinfo=MOSCOW)),
        ("https://stav-geo.ru/news/2018-03-15/x", datetime(2018, 3, 15, tzinfo=MOSCOW)),
        ("https://riatomsk.ru/article/20190810/x", datetime(2019, 8, 10, tzinfo=MOSCOW)),
        ("https://tass.ru/politika/24817039", None),
        ("https://rg.ru/2020/02/31/x", None),
    ],
)
def test_date_from_url(url: str, expected: datetime | None) -> None:
    assert date_from_url(url) == expected


@pytest.mark.parametrize(
    ("name", "title", "published", "views", "body_count"),
    [
        ("seed-page.txt", SEED_TITLE, datetime(2021, 10, 27, 19, 29, tzinfo=UTC), 154, 5),
        ("seed-page-cp1251.txt", SEED_TITLE, datetime(2021, 10, 27, 19, 29, tzinfo=UTC), 154, 5),
        (
            "minpromtorg-2016.txt",
            "Итоговое заседание коллегии Минпромторга",
            datetime(2016, 5, 27, 7, 6, tzinfo=UTC),
            None,
            1,
        ),
        (
            "tuvapravda-2020.txt",
            "Глава Тувы Шолбан Кара-оол вошел в новый состав Государственного совета",
            datetime(2020, 12, 21, 21, 0, tzinfo=UTC),
            44,
            2,
        ),
        (
            "gazeta-efremov-2024.txt",
            "Денис Мантуров и Алексей Дюмин обсудили развитие промышленности в Тульской области",
            datetime(2024, 1, 10, 17, 51, 10, tzinfo=UTC),
            None,
            4,  # the photo credit under the repeated headline is no paragraph
        ),
    ],
)
def test_real_text_fixtures(
    name: str, title: str, published: datetime, views: int | None, body_count: int
) -> None:
    article = parse_page((PAGES / name).read_bytes(), source="fixture", filename=name, now=NOW)
    assert article.title == title
    assert article.published_at == published
    assert article.views == views
    assert len(article.body) == body_count
    assert title not in article.body  # a repeated headline is not a paragraph
    assert article.is_gov_commission


def test_tass_page_without_year_uses_the_url_or_is_rejected() -> None:
    data = (PAGES / "tass-2025-dateline.txt").read_bytes()
    with pytest.raises(PageRejected, match=r"no recognizable date.*without a year"):
        parse_page(data, source="tass.ru", url="https://tass.ru/politika/24817039", now=NOW)
    article = parse_page(data, source="tass.ru", url="https://example.ru/news/2025/08/19/shapsha", now=NOW)
    assert article.published_at == datetime(2025, 8, 18, 21, 0, tzinfo=UTC)
    assert article.lead.startswith("Губернатор Калужской области отметил")


# ----- rejections -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(b"", "empty page", id="empty"),
        pytest.param(b"  \n\t\r\n ", "empty page", id="whitespace"),
        pytest.param(b"\xef\xbb\xbf\n\n", "empty page", id="bom-only"),
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, "binary", id="png"),
        pytest.param(b"PK\x03\x04" + bytes(200), "binary", id="zip"),
        pytest.param(bytes(range(128, 256)) * 20, "binary", id="high-bytes"),
        pytest.param(
            f"Заголовок новости\nЛид новости.\n{BODY}".encode(), "no recognizable date", id="no-date"
        ),
        pytest.param(
            f"Заголовок новости\nЛид новости.\n27 октября\n{BODY}".encode(), "without a year", id="no-year"
        ),
        pytest.param(
            f"Заголовок новости\nЛид новости.\n31.02.2021 10:00\n{BODY}".encode(),
            "impossible date",
            id="31-feb",
        ),
        pytest.param(
            f"Заголовок новости\nЛид новости.\n27.10.2021 25:61\n{BODY}".encode(),
            "impossible date",
            id="25-61",
        ),
        pytest.param(
            f"12345\nЛид новости.\n27.10.2021 22:29\n{BODY}".encode(), "no title", id="numeric-title"
        ),
        pytest.param(f"27.10.2021 22:29\n{BODY}".encode(), "no article text", id="date-and-one-line"),
        pytest.param(b"27.10.2021 22:29\n\n", "no title", id="date-only"),
        pytest.param(("А" * 1200 + "\n27.10.2021 22:29\n" + BODY).encode(), "no title", id="paragraph-title"),
        pytest.param("Заголовок новости\n27.10.2021 22:29\n".encode(), "no article text", id="title-only"),
        pytest.param(
            f"Заголовок новости\nЛид.\n27.10.2099 22:29\n{BODY}".encode(), "in the future", id="future"
        ),
        pytest.param(b"x" * (MAX_PAGE_BYTES + 1), "too large", id="too-large"),
    ],
)
def test_rejections(data: bytes, reason: str) -> None:
    with pytest.raises(PageRejected) as caught:
        parse_page(data, source="test", now=NOW)
    assert reason in caught.value.reason
    assert str(caught.value) == caught.value.reason


def test_page_rejected_is_a_value_error() -> None:
    assert issubclass(PageRejected, ValueError)
    assert PageRejected("why").reason == "why"


def test_page_at_the_size_limit_is_read() -> None:
    head = f"Заголовок новости\nЛид новости.\n27.10.2021 22:29\n{BODY}\n".encode()
    filler = b"a" * (MAX_PAGE_BYTES - len(head) - 1) + b"."
    data = head + filler
    assert len(data) == MAX_PAGE_BYTES
    assert parse_page(data, source="test", now=NOW).title == "Заголовок новости"


# ----- make_article and content_hash ------------------------------------------------------------------------


def test_make_article_cleans_classifies_and_hashes() -> None:
    article = make_article(
        title="  Правительство   утвердило\u00a0план ",
        lead="Лид\x00 новости",
        body=["Первый абзац.", "   ", "Второй\tабзац."],
        published_at=datetime(2021, 10, 27, 22, 29),  # naive means Moscow
        views=10,
        source="government.ru",
        url=" https://government.ru/news/1/ ",
    )
    assert article.title == "Правительство утвердило план"
    assert article.lead == "Лид новости"
    assert article.body == ("Первый абзац.", "Второй абзац.")
    assert article.published_at == datetime(2021, 10, 27, 19, 29, tzinfo=UTC)
    assert article.url == "https://government.ru/news/1/"
    assert "government" in article.topics
    assert article.is_gov_commission
    assert article.content_hash == content_hash(article.title, article.lead, article.body)


def test_make_article_keeps_aware_times_and_drops_bad_views() -> None:
    article = make_article(
        title="Новость",
        lead="",
        body=["Текст."],
        published_at=datetime(2021, 10, 27, 22, 29, tzinfo=UTC),
        views=-5,
        source="x",
        url="",
    )
    assert article.published_at == datetime(2021, 10, 27, 22, 29, tzinfo=UTC)
    assert article.views is None
    assert article.url is None
    assert article.text == "Текст."


def test_content_hash_normalization() -> None:
    base = content_hash("Ёлка в Кремле", "Лид", ["Первый абзац.", "Второй абзац."])
    assert base == content_hash("ЕЛКА  В\tкремле", " лид ", ["Первый абзац. Второй абзац."])
    assert base == content_hash("ёлка в кремле", "лид", ["первый   абзац.", "второй\nабзац."])
    assert base != content_hash("Ёлка в Кремле", "", ["Лид Первый абзац. Второй абзац."])
    assert base != content_hash("Ёлка в Кремле", "Лид", ["Первый абзац."])
    expected = hashlib.sha256("елка в кремле\x1fлид\x1fпервый абзац. второй абзац.".encode()).hexdigest()
    assert base == expected


# ----- never anything but PageRejected ----------------------------------------------------------------------


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_parse_page_on_any_bytes(data: bytes) -> None:
    try:
        article = parse_page(data, source="fuzz", now=NOW)
    except PageRejected as exc:
        assert exc.reason
        return
    assert article.title
    assert article.published_at.tzinfo is UTC


LINE = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        [
            "22:29, 27 октября 2021 154",
            "31.02.2021",
            "Просмотров: 711",
            "Сейчас читают: 323",
            "сегодня 10:00",
            "<p>абзац</p>",
            "<html><body>",
            "27 октября",
            "Заседание комиссии Госсовета",
        ]
    ),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(LINE, max_size=12),
    st.sampled_from(["utf-8", "cp1251", "utf-16"]),
    st.sampled_from([None, "a.html"]),
)
def test_parse_page_on_any_text(lines: list[str], encoding: str, filename: str | None) -> None:
    data = "\n".join(lines).encode(encoding, errors="replace")
    try:
        article = parse_page(data, source="fuzz", now=NOW, filename=filename)
    except PageRejected as exc:
        assert exc.reason
        return
    assert article.title
    assert article.published_at <= datetime(2026, 1, 2, tzinfo=UTC)
    assert article.content_hash == content_hash(article.title, article.lead, article.body)
