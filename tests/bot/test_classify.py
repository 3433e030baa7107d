"""Topic rules and the government-commission flag, on real corpus titles and on each rule's edge."""

from __future__ import annotations

import pytest

from bot.archive.classify import (
    GOV_TOPICS,
    OFFICIAL_HOSTS,
    TOPIC_LABELS_EN,
    TOPIC_LABELS_RU,
    TOPIC_RULES,
    TOPICS,
    classify,
    is_official_source,
    topic_hits,
)


@pytest.mark.parametrize(
    ("title", "lead", "body", "topics", "flag"),
    [
        # real titles and leads from the corpus (articles.jsonl)
        pytest.param(
            "Алексей Дюмин провел заседание комиссии Госсовета РФ по промышленности",
            "",
            (),
            {"commission", "state_council", "meeting"},
            True,
            id="seed",
        ),
        pytest.param(
            "Глава Тувы Шолбан Кара-оол вошел в новый состав Государственного совета",
            "",
            (),
            {"state_council"},
            True,
            id="state-council-two-words",
        ),
        pytest.param(
            "Итоговое заседание коллегии Минпромторга",
            "",
            (),
            {"meeting", "ministry"},
            True,
            id="minpromtorg",
        ),
        pytest.param(
            "Андрей Перескоков назначен и.о. министра промышленности Кировской области",
            "",
            (),
            {"ministry"},
            True,
            id="minister",
        ),
        pytest.param(
            "Губернатор области проведет заседание регионального правительства во вторник",
            "",
            (),
            {"governor", "meeting", "government"},
            True,
            id="governor-government",
        ),
        pytest.param(
            "Мишустин поручил доложить о предложениях в связи с коронавирусом",
            "Председатель Правительства поручил министрам доработать нацпроекты.",
            (),
            {"government", "ministry"},
            True,
            id="lead-only",
        ),
        pytest.param(
            "Вячеслав Семенченко откроет заседание областной межведомственной комиссии",
            "",
            (),
            {"meeting", "commission"},
            True,
            id="interagency-commission",
        ),
        pytest.param(
            "Мурат Кумпилов провел совещание с руководителями министерств региона",
            "",
            (),
            {"meeting", "ministry"},
            True,
            id="meeting-ministries",
        ),
        pytest.param(
            "Дмитрий Патрушев встретился с Премьер-министром Республики Индия",
            "",
            (),
            {"government"},
            True,
            id="prime-minister-is-government-not-ministry",
        ),
        pytest.param(
            "Госдума приняла закон о блокировке фейковых новостей в интернете",
            "",
            (),
            {"parliament"},
            False,
            id="parliament-only",
        ),
        pytest.param(
            "Суд не допустил экс-президента Бразилии до выборов",
            "",
            (),
            set(),
            False,
            id="ex-president-prefix",
        ),
        pytest.param(
            "Президенту Бразилии Дилме Руссефф грозит импичмент",
            "",
            (),
            {"president"},
            False,
            id="president",
        ),
        pytest.param(
            "Японские физики повторили синтез 113-го элемента",
            "",
            ("Ученые из RIKEN заявляют об успехе.",),
            set(),
            False,
            id="science",
        ),
        pytest.param(
            "Качество не терпит компромиссов",
            "",
            ("Сообщить об этом администрацию сайта.",),
            set(),
            False,
            id="site-administration-is-not-government",
        ),
        pytest.param(
            "Новости",
            "",
            ("Глава администрации района провел прием граждан.",),
            {"government"},
            True,
            id="head-of-administration",
        ),
        pytest.param(
            "Квоты на трудоустройство инвалидов хотят расширить на филиалы",
            "",
            ("Законопроект внесло Правительство.", "Его поддержал комитет Госдумы."),
            {"government", "parliament"},
            True,
            id="one-body-hit",
        ),
        pytest.param(
            "ЁЛКА В КРЕМЛЁВСКОМ ДВОРЦЕ",
            "",
            (),
            {"president"},
            False,
            id="yo-and-case",
        ),
        pytest.param(
            "Вице-губернатор и вице-премьер обсудили план",
            "",
            (),
            {"governor", "government"},
            True,
            id="vice",
        ),
        pytest.param(
            "Подкомиссия по тарифам собралась",
            "",
            (),
            {"commission"},
            True,
            id="subcommission",
        ),
        pytest.param(
            "МИД и МВД прокомментировали ситуацию",
            "",
            (),
            {"ministry"},
            True,
            id="acronyms",
        ),
        pytest.param(
            "Мидии и мвдшники",
            "",
            (),
            set(),
            False,
            id="acronyms-need-word-end",
        ),
    ],
)
def test_classify(title: str, lead: str, body: tuple[str, ...], topics: set[str], flag: bool) -> None:
    result = classify(title, lead, body)
    assert result.topics == frozenset(topics)
    assert result.is_gov_commission is flag


def test_official_source_sets_the_flag() -> None:
    assert classify("Новости", "", ("Текст без ключевых слов.",), source="mos.ru").is_gov_commission
    assert classify("Новости", "", ("Текст.",), source="www.minfin.gov.ru").is_gov_commission
    assert not classify("Новости", "", ("Текст.",), source="notgov.ru").is_gov_commission
    assert not classify("Новости", "", ("Текст.",), source=None).is_gov_commission


@pytest.mark.parametrize(
    ("source", "official"),
    [
        ("government.ru", True),
        ("minfin.gov.ru", True),
        ("MOS.RU", True),
        ("www.kremlin.ru", True),
        ("eec.eaeunion.org", True),
        ("notgov.ru", False),
        ("mos.ru.example.com", False),
        ("", False),
    ],
)
def test_is_official_source(source: str, official: bool) -> None:
    assert is_official_source(source) is official


def test_topic_hits_counts_every_occurrence() -> None:
    hits = topic_hits("Комиссия собралась. Комиссии нужны. Заседание комиссии Госсовета.")
    assert hits == {"commission": 3, "meeting": 1, "state_council": 1}


def test_topic_tables_agree() -> None:
    assert set(TOPICS) == set(TOPIC_RULES) == set(TOPIC_LABELS_RU) == set(TOPIC_LABELS_EN)
    assert set(TOPICS) >= GOV_TOPICS
    assert {"commission", "state_council", "ministry", "governor", "government", "meeting"} <= set(TOPICS)
    assert all(label.strip() for label in (*TOPIC_LABELS_RU.values(), *TOPIC_LABELS_EN.values()))
    assert OFFICIAL_HOSTS
