"""Site furniture, headline repeats and publisher suffixes: the rules on their own and on real corpus records."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.archive.furniture import is_furniture, strip_furniture, strip_publisher
from bot.archive.models import Article
from bot.archive.parsing import content_hash, make_article, parse_page
from tests.bot.test_parsing import BODY, NOW, PAGES, parse

# ----- site furniture, headline repeats and publisher suffixes (real corpus records) --------------------------

FURNITURE_WORDS = (
    "Поиск по сайту",
    "Расширенный поиск",
    "Введите запрос",
    "Найти",
    "Телеграммы",
    "Законопроектная деятельность",
    "Поделиться",
    "Введите корректый Email",
    "размер шрифта",
    "устаревшую версию браузера",
    "Chrome Firefox",
    "DMCA",
    "Междубуквенный интервал",
    "слабовидящих",
    "агрегатор новостей",
    "Версия для печати",
)


def load_records(name: str) -> dict[str, dict[str, str]]:
    lines = (PAGES / name).read_text(encoding="utf-8").splitlines()
    return {record["url"] or record["id"]: record for record in map(json.loads, lines)}


GOVERNMENT = load_records("government-ru-2025.jsonl")
FURNISHED = load_records("site-furniture.jsonl")
ORDINARY = load_records("ordinary-articles.jsonl")


def record_paragraphs(record: dict[str, str], *, blank_lines: bool) -> list[str]:
    """The text as ingest splits it: every line a paragraph, or (blank_lines) paragraphs between blank lines."""
    text = record["text"]
    parts = text.split("\n\n") if blank_lines else text.split("\n")
    return [cleaned for cleaned in (" ".join(part.split()) for part in parts) if cleaned]


def record_article(record: dict[str, str], *, blank_lines: bool = False) -> Article:
    paragraphs = record_paragraphs(record, blank_lines=blank_lines)
    return make_article(
        title=record["title"],
        lead=paragraphs[0] if len(paragraphs) > 1 else "",
        body=paragraphs[1:] if len(paragraphs) > 1 else paragraphs,
        published_at=NOW,
        views=None,
        source=record["source"],
        url=record["url"],
    )


def article_text(article: Article) -> list[str]:
    return [article.lead, *article.body] if article.lead else list(article.body)


def assert_no_furniture(article: Article) -> None:
    text = "\n".join(article_text(article))
    for words in FURNITURE_WORDS:
        assert words not in text


@pytest.mark.parametrize("blank_lines", [False, True], ids=["lines", "blank-line-paragraphs"])
@pytest.mark.parametrize("url", sorted(GOVERNMENT))
def test_government_ru_navigation_is_stripped_and_the_text_kept(url: str, blank_lines: bool) -> None:
    record = GOVERNMENT[url]
    article = record_article(record, blank_lines=blank_lines)
    assert_no_furniture(article)
    assert article.is_gov_commission  # an official host: flagged without the menu's words
    kept = article_text(article)
    original = record_paragraphs(record, blank_lines=blank_lines)
    # What is kept is one unbroken stretch of the original paragraphs: nothing inside the text was dropped.
    if kept:
        start = original.index(kept[0])
        assert original[start : start + len(kept)] == kept


def test_government_ru_article_keeps_every_sentence() -> None:
    article = record_article(GOVERNMENT["http://government.ru/news/56328/"])
    assert article.lead == "Капитальный ремонт трассы Р-280 «Новороссия»"  # the site's rubric, kept
    assert article.body[0] == "Качественная"
    assert article.body[-1] == "подчеркнул руководитель Росавтодора Роман Новиков."
    assert "commission" not in article.topics and "meeting" not in article.topics


def test_government_ru_headline_repeat_and_rubric_above_it_go() -> None:
    article = record_article(GOVERNMENT["http://government.ru/news/56325/"], blank_lines=True)
    assert article.lead.startswith(
        "Заместитель Председателя Правительства Российской Федерации Дмитрий Патрушев"
    )
    assert article.topics == frozenset(
        {"government"}
    )  # not "commission", "meeting", "ministry" from the menu
    # The rubric and the person tag below the text are gone with the furniture.
    assert article.body[-1].startswith("Дмитрий Патрушев подчеркнул, что Россия приложит все усилия")


def test_government_ru_link_only_and_listing_pages() -> None:
    link_only = record_article(GOVERNMENT["http://government.ru/news/56284/"])
    assert link_only.lead == "Подробности – http://kremlin.ru/events/president/news/78051 ."
    assert link_only.body == ()
    listing = next(record for record in GOVERNMENT.values() if record["title"] == "Новости")
    assert article_text(record_article(listing)) == []


@pytest.mark.parametrize(
    ("source", "lead_start", "last_end"),
    [
        ("koronavirus.center", "Сегодня, 8 апреля, губернатор Алексей Дюмин", "комплекса Тульской области."),
        ("tuvapravda.ru", "Председателем Госсовета стал Президент.", "будет представлена м"),
        ("ria24.today", "Глава правительства России Михаил Мишустин", "это работать на"),
        ("pnp.ru", "Благодаря ранее принятым законодательным решениям", None),
        (
            "stroygaz.ru",
            "Минстрой России",
            "россиян больше всего волнует несоответствие качества и стоимости услуг.",
        ),
        ("gazeta-efremov.ru", "Сегодня, 10 января, заместитель Председателя", "Тульской области."),
    ],
)
def test_site_furniture_of_other_sites(source: str, lead_start: str, last_end: str | None) -> None:
    record = next(record for record in FURNISHED.values() if record["source"] == source)
    article = record_article(record)
    assert_no_furniture(article)
    assert article.lead.startswith(lead_start)
    if last_end is not None:
        assert article_text(article)[-1].endswith(last_end)
    assert article.lead != article.title


@pytest.mark.parametrize("key", sorted(ORDINARY))
def test_ordinary_articles_keep_every_paragraph(key: str) -> None:
    record = ORDINARY[key]
    article = record_article(record)
    assert article_text(article) == record_paragraphs(record, blank_lines=False)
    assert not article.title.endswith("Российская газета")


@pytest.mark.parametrize(
    ("paragraph", "furniture"),
    [
        ("Поиск по сайту Поиск по сайту Введите запрос для поиска Все разделы сайта Документы Найти", True),
        ("ЖКХ Расширенный поиск", True),
        ('Открыть панель "Поделиться в социальных сетях" Livejournal Вконтакте Электронная почта', True),
        ("• ВЕРСИЯ ДЛЯ СЛАБОВИДЯЩИХ", True),
        ("Вернуть настройки по умолчанию", True),
        ("DMCA", True),
        ("поделиться:", True),
        (
            "Внимание! Вы используете устаревшую версию браузера. Для корректной работы сайта установите новую.",
            True,
        ),
        (
            "Сергей Чемезов Алексей Дюмин Россия Тула Тульская обл. правительство Сергей Чемезов Алексей Дюмин "
            "Россия Тула Тульская обл.",
            True,
        ),
        ("Где найти деньги на ремонт дороги", False),
        ("Поиск пропавших туристов продолжается.", False),
        ("Губернатор предложил поделиться опытом с соседними регионами.", False),
        ("Законопроектная деятельность", False),  # a label: cut only inside a block of furniture
        ("Алексей Дюмин провел заседание комиссии Госсовета", False),
    ],
)
def test_is_furniture(paragraph: str, furniture: bool) -> None:
    assert is_furniture(paragraph) is furniture


@pytest.mark.parametrize(
    ("paragraphs", "kept"),
    [
        pytest.param(["Первый абзац.", "Второй абзац."], ["Первый абзац.", "Второй абзац."], id="plain"),
        pytest.param(
            ["Поиск по сайту", "Новости Документы", "Найти", "Текст новости.", "DMCA"],
            ["Текст новости."],
            id="both-ends",
        ),
        pytest.param(
            ["Рубрика", "Заголовок новости", "Текст новости."], ["Текст новости."], id="rubric-and-repeat"
        ),
        pytest.param(
            [
                "Поделиться",
                "Автор:",
                "Никита Вятчанин",
                "Дарья Лантратова",
                "© Игорь Самохвалов/ПГ",
                "Текст.",
            ],
            ["Текст."],
            id="share-bar-author-credit",
        ),
        pytest.param(
            ["Текст новости.", "Главная мысль: поиск по сайту и слова Найти в тексте", "Конец."],
            ["Текст новости.", "Главная мысль: поиск по сайту и слова Найти в тексте", "Конец."],
            id="furniture-words-inside-the-text",
        ),
        pytest.param(
            ["Поиск", "Кто-то нашел решение", "проблемы с жильем и рассказал о нем.", "Конец."],
            ["Кто-то нашел решение", "проблемы с жильем и рассказал о нем.", "Конец."],
            id="a-wrapped-first-line-stays",
        ),
        pytest.param(["25 сентября 2025 14:14", "Сейчас читают: 323", "Текст."], ["Текст."], id="metadata"),
    ],
)
def test_strip_furniture(paragraphs: list[str], kept: list[str]) -> None:
    assert strip_furniture(paragraphs, "Заголовок новости") == kept
    assert strip_furniture(kept, "Заголовок новости") == kept  # idempotent


@pytest.mark.parametrize(
    ("title", "source", "expected"),
    [
        (
            "АЗС в регионах стали ограничивать отпуск бензина - Российская газета",
            "rg.ru",
            "АЗС в регионах стали ограничивать отпуск бензина",
        ),
        (
            "Собянин открыл новую дорогу в Раменках - Недвижимость || Интерфакс Россия",
            "interfax-russia.ru",
            "Собянин открыл новую дорогу в Раменках",
        ),
        ("Ставка ЦБ осталась прежней | РИА Новости", "ria.ru", "Ставка ЦБ осталась прежней"),
        ("Арт-объект открылся - Строительная газета", "stroygaz.ru", "Арт-объект открылся"),
        ("Губернатор провел совещание | Lenta.ru", "lenta.ru", "Губернатор провел совещание"),
        ("Губернатор провел совещание :: sovainfo", "sovainfo.ru", "Губернатор провел совещание"),
        (
            "ФГБУ «Институт стандартизации» - В Казани обсудили цифровую трансформацию - ФГБУ «Институт стандартизации»",
            "gostinfo.ru",
            "В Казани обсудили цифровую трансформацию",
        ),
        ("Путин - о ситуации в экономике", "kremlin.ru", "Путин - о ситуации в экономике"),
        ("Москва готовится к зиме — Сергей Собянин", "mos.ru", "Москва готовится к зиме — Сергей Собянин"),
        ("Российская газета", "rg.ru", "Российская газета"),
        ("Минфин России :: Пресс-центр", "minfin.gov.ru", "Минфин России :: Пресс-центр"),
        (
            "Марат Хуснуллин: Росреестр выявил в Донбассе - и в Новороссии - объекты",
            "government.ru",
            "Марат Хуснуллин: Росреестр выявил в Донбассе - и в Новороссии - объекты",
        ),
    ],
)
def test_strip_publisher(title: str, source: str, expected: str) -> None:
    assert strip_publisher(title, source) == expected
    assert strip_publisher(expected, source) == expected


@pytest.mark.parametrize(
    ("title", "lead", "body", "expected_lead", "expected_body"),
    [
        ("Заголовок", "Заголовок", ["Первый абзац.", "Второй."], "Первый абзац.", ("Второй.",)),
        ("Заголовок - Российская газета", "Заголовок", ["Первый абзац."], "Первый абзац.", ()),
        ("Заголовок", "заголовок.", ["Первый абзац."], "Первый абзац.", ()),
        ("Заголовок", "Лид.", ["Заголовок", "Первый абзац."], "Лид.", ("Заголовок", "Первый абзац.")),
        ("Заголовок", "", ["Заголовок", "Первый абзац."], "", ("Первый абзац.",)),
    ],
)
def test_lead_equal_to_the_title_is_dropped(
    title: str, lead: str, body: list[str], expected_lead: str, expected_body: tuple[str, ...]
) -> None:
    article = make_article(
        title=title, lead=lead, body=body, published_at=NOW, views=None, source="rg.ru", url=None
    )
    assert article.title == "Заголовок"
    assert (article.lead, article.body) == (expected_lead, expected_body)
    assert article.content_hash == content_hash(article.title, article.lead, article.body)


def test_text_page_with_an_accessibility_panel_above_the_title() -> None:
    record = next(record for record in FURNISHED.values() if record["source"] == "tuvapravda.ru")
    article = parse_page(record["text"].encode(), source="tuvapravda.ru", now=NOW)
    assert article.title == "Глава Тувы Шолбан Кара-оол вошел в новый состав Государственного совета"
    assert article.published_at == datetime(2020, 12, 21, 21, 0, tzinfo=UTC)
    assert article.views == 44
    assert_no_furniture(article)


def test_a_capitalised_title_above_a_share_bar_stays_the_title() -> None:
    text = f"Денис Мантуров и Алексей Дюмин посетили Тульскую область\nПоделиться\n27.10.2021 22:29\n{BODY}"
    article = parse(text)
    assert article.title == "Денис Мантуров и Алексей Дюмин посетили Тульскую область"
    assert (article.lead, article.body) == (BODY, ())  # the share bar stood where the lead is


def test_furniture_fixture_files_are_small_real_records() -> None:
    for name in ("government-ru-2025.jsonl", "site-furniture.jsonl", "ordinary-articles.jsonl"):
        path: Path = PAGES / name
        assert path.stat().st_size < 40_000
        for record in map(json.loads, path.read_text(encoding="utf-8").splitlines()):
            assert record["origin"] and record["licence"] is not None
