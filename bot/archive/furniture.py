"""Site furniture around scraped articles, and publisher names around titles.

Scraped pages keep the site around the article: search boxes and menus (government.ru), accessibility panels
(tuvapravda.ru), share bars, aggregator tag lines, "DMCA" tails. Left in, the menu words match every search
and give every such article the same topics, and the menu becomes the lead. The rules, in order:
  1. Leading run: paragraphs from the top that are furniture (below) or tolerated inside a furniture block
     (no sentence end and at most `MAX_LABEL_WORDS` words, or a menu of capitalised words); the run is cut
     after its LAST furniture paragraph. Text after the last furniture paragraph is never cut by this rule.
  2. Trailing run: the same from the bottom, cut at its FIRST furniture paragraph, together with the tags
     right above it (`Марат Шакирзянович Хуснуллин`, a rubric) when a finished sentence stands above them.
  3. Metadata lines at the top (the date line, counters like `Сейчас читают: 323`, a host name, a photo
     credit), and the headline repeat: a paragraph equal to the title among the first
     `MAX_HEADER_PARAGRAPHS`, with only short non-sentence lines (rubrics, captions) before it: all go.
  Rules 1 and 3 run up to three rounds (pnp.ru: headline, then share bar; stroygaz.ru: date line, then text).
  Rubric lines right after the furniture stay: without the source's blank lines, a rubric cannot be told from
  the first line of a wrapped paragraph (`На стратегической сессии под руководством Председателя`).

A paragraph is furniture when it holds a furniture sentence (`_FURNITURE_SENTENCES`), or it does not end a
sentence and is made of furniture labels (`_FURNITURE_LABELS`), alone or with a menu, or it is an aggregator
tag line (its opening words repeated: `Сергей Чемезов Алексей Дюмин Россия … Сергей Чемезов Алексей …`).

`strip_publisher` cuts a publisher's name off a title (` - Российская газета`, ` || Интерфакс Россия`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.archive.classify import normalize_for_rules
from bot.archive.metadata_lines import date_line_views, is_noise_line

# Labels of site furniture, as sites write them (the first letter in either case, or all capitals).
_FURNITURE_LABELS = re.compile(
    r"(?<!\w)(?:[Пп]оиск по сайту|[Пп]оиск по документам|[Рр]асширенный поиск|[Вв]ведите запрос(?: для поиска)?"
    r"|[Вв]се разделы сайта|Найти|Поиск|[Вв]ерсия для (?:слабовидящих|печати)|[Оо]бычная версия"
    r"|[Вв]ернуть настройки по умолчанию|[Мм]еждубуквенный интервал|[Оо]звучка выделенного текста"
    r"|[Рр]азмер шрифта|[Пп]оделиться(?: в социальных сетях)?|[Пп]одписаться на новости|[Чч]итать нас в"
    r"|[Чч]итать на|[Нн]азад к списку|[Ее]щ[её] по (?:этой же )?теме|DMCA|[Ээ]лектронная почта"
    r"|[Вв]ведите коррект\w* [Ee]-?mail|[Кк]од для вставки в блог|[Оо]ткрыть панель"
    r"|[Вв]ключить/выключить отображение изображений|(?:Авторы?|Теги|Тема|Источник|Законопроект):"
    r"|[Оо]цените материал|[Оо]ставить комментарий"
    r"|Live[Jj]ournal|В[Кк]онтакте|Одноклассники|Telegram|Телеграм|Twitter|Facebook|WhatsApp|Viber)(?!\w)"
)
# Whole sentences of site furniture: a paragraph holding one is furniture although it reads as a sentence.
# (Case-sensitive: an IGNORECASE scan of every paragraph's Cyrillic costs several times more.)
_FURNITURE_SENTENCES = re.compile(
    r"используете устаревшую версию браузера|будет выслано письмо с подтверждением"
    r"|[Сс] помощью этого календаря поиск|агрегатор новостей из открытых источников"
    r"|[Вв]ыбрать материалы текущего раздела"
)
# A photo credit line: `© Игорь Самохвалов/ПГ`, `Фото: пресс-служба`.
_CREDIT = re.compile(r"(?:©|\(c\)|[Фф]ото(?:\s*[:—–-]|\s+(?:с|из)\s))", re.IGNORECASE)
# Words of two letters or more (`т.д.`, `А А А` are no words).
_WORDS = re.compile(r"[^\W\d_]{2}[\w-]*")
_HOST_NAME = re.compile(r"(?:[a-z0-9-]+\.)+[a-z]{2,}", re.IGNORECASE)
_CLOSING_QUOTES = "»\"'“”"
_SENTENCE_FINAL = (".", "!", "?", "…")
# A paragraph longer than this is text: never furniture, a label or a header line.
MAX_FURNITURE_CHARS = 600
# A leading furniture block shows a furniture paragraph among its first lines (tuvapravda.ru: the sixth).
MAX_LABELS_BEFORE_FURNITURE = 10
# How far from either end a furniture block may reach (government.ru: 14 paragraphs on top, 30 at the bottom).
MAX_FURNITURE_RUN = 60
# Paragraphs of at most this many words that end no sentence are labels ("Законопроектная деятельность").
MAX_LABEL_WORDS = 6
# Rubric lines, photo captions and repeated headlines above the text: at most this many, this long.
MAX_HEADER_PARAGRAPHS = 4
MAX_HEADER_WORDS = 16
# A menu: at least this many words of 3+ letters, at least half of them capitalised.
MIN_MENU_WORDS = 4


def _reads_as_sentence(paragraph: str) -> bool:
    return paragraph.rstrip(_CLOSING_QUOTES).endswith(_SENTENCE_FINAL)


def _is_menu(text: str) -> bool:
    words = [word for word in _WORDS.findall(text) if len(word) >= 3]
    capitalised = sum(1 for word in words if word[0].isupper())
    return len(words) >= MIN_MENU_WORDS and capitalised * 2 >= len(words)


def _is_tag_line(paragraph: str) -> bool:
    """An aggregator's tag line: its first three words come again later, most words capitalised."""
    first_space = paragraph.find(" ")
    if first_space <= 0 or paragraph.find(f" {paragraph[:first_space]} ", first_space) < 0:
        return False  # the first word never comes again: the common case, decided without splitting
    words = paragraph.split()
    if len(words) < 6:
        return False
    opening = " ".join(words[:3])
    repeated = f" {opening} " in paragraph[1:] or paragraph.endswith(f" {opening}")
    return repeated and _is_menu(paragraph)


def is_furniture(paragraph: str) -> bool:
    """True for a paragraph of site furniture (rules in the module docstring)."""
    if len(paragraph) > MAX_FURNITURE_CHARS:
        return False
    if _FURNITURE_SENTENCES.search(paragraph) is not None or _is_tag_line(paragraph):
        return True
    if _reads_as_sentence(paragraph):
        return False
    rest, found = _FURNITURE_LABELS.subn(" ", paragraph)
    if not found and paragraph.isupper():  # `• ВЕРСИЯ ДЛЯ СЛАБОВИДЯЩИХ`
        rest, found = _FURNITURE_LABELS.subn(" ", paragraph.capitalize())
    return bool(found) and (len(_WORDS.findall(rest)) <= 1 or _is_menu(rest))


def _is_label(paragraph: str, *, menus: bool = True) -> bool:
    """Tolerated inside a furniture block: no sentence end, and few words or (`menus`) a menu."""
    if len(paragraph) > MAX_FURNITURE_CHARS or _reads_as_sentence(paragraph):
        return False
    return len(_WORDS.findall(paragraph)) <= MAX_LABEL_WORDS or (menus and _is_menu(paragraph))


def _is_name_tag(paragraph: str) -> bool:
    words = _WORDS.findall(paragraph)
    return (
        0 < len(words) <= MAX_LABEL_WORDS
        and not _reads_as_sentence(paragraph)
        and all(word[0].isupper() for word in words)
    )


def leading_furniture_end(paragraphs: Sequence[str], *, menus: bool = True) -> int:
    """How many paragraphs at the top are site furniture (rule 1). Without `menus`, a line of capitalised words
    without a furniture label ends the run: above a page's title, such a line may be the title itself."""
    end = 0
    label_value = False  # right after `Автор:`: its values (`Никита Вятчанин`, `Дарья Лантратова`) go with it
    for index, paragraph in enumerate(paragraphs[:MAX_FURNITURE_RUN]):
        if is_furniture(paragraph):
            end = index + 1
            label_value = paragraph.endswith(":")
        elif (end == 0 and index >= MAX_LABELS_BEFORE_FURNITURE) or not _is_label(paragraph, menus=menus):
            break
        elif (
            label_value and end == index and (paragraphs[index - 1].endswith(":") or _is_name_tag(paragraph))
        ):
            end = index + 1
        else:
            label_value = False
    return end


def _trailing_furniture_start(paragraphs: Sequence[str]) -> int:
    """Where the site furniture at the bottom starts (rule 2); len(paragraphs) when there is none."""
    start = len(paragraphs)
    lowest = max(0, len(paragraphs) - MAX_FURNITURE_RUN)
    for index in range(len(paragraphs) - 1, lowest - 1, -1):
        if is_furniture(paragraphs[index]):
            start = index
        elif not _is_label(paragraphs[index]):
            break
    if start < len(paragraphs):
        # Tags above the furniture (people, regions, rubrics) go too, when a finished sentence stands above
        # them: then they cannot be the wrapped end of the last paragraph.
        tags = start
        while tags > 0 and start - tags < MAX_HEADER_PARAGRAPHS and _is_tag_label(paragraphs[tags - 1]):
            tags -= 1
        if tags < start and tags > 0 and _reads_as_sentence(paragraphs[tags - 1]):
            start = tags
    return start


def _is_tag_label(paragraph: str) -> bool:
    first = paragraph[:1]
    return (first.isupper() or first.isdigit()) and _is_header_line(paragraph)


def _is_header_line(paragraph: str) -> bool:
    return (
        len(paragraph) <= MAX_FURNITURE_CHARS
        and not _reads_as_sentence(paragraph)
        and len(_WORDS.findall(paragraph)) <= MAX_HEADER_WORDS
    )


def _same_text(left: str, right: str) -> bool:
    if abs(len(left) - len(right)) > 2:
        return False
    return normalize_for_rules(left).rstrip(". ") == normalize_for_rules(right).rstrip(". ")


def _header_end(paragraphs: Sequence[str], title: str) -> int:
    """How many paragraphs at the top are the headline again, with the rubrics or captions above it (rule 3)."""
    metadata = 0
    while (
        metadata < len(paragraphs)
        and len(paragraphs[metadata]) <= MAX_FURNITURE_CHARS
        and _is_metadata_line(paragraphs[metadata])
    ):
        metadata += 1
    if metadata:
        return metadata
    for index, paragraph in enumerate(paragraphs[:MAX_HEADER_PARAGRAPHS]):
        if title and _same_text(paragraph, title):
            end = index + 1
            while end < len(paragraphs) and _same_text(paragraphs[end], title):
                end += 1
            return end
        if not _is_header_line(paragraph):
            break
    return 0


def _is_metadata_line(paragraph: str) -> bool:
    """The page's date line (the date is published_at), a counter (`Сейчас читают: 323`, `44`), a bare host
    name or a short photo credit (`© Игорь Самохвалов/ПГ`)."""
    return (
        is_noise_line(paragraph)
        or _HOST_NAME.fullmatch(paragraph) is not None
        or (_CREDIT.match(paragraph) is not None and len(_WORDS.findall(paragraph)) <= MAX_LABEL_WORDS)
        or date_line_views(paragraph) is not None
    )


def strip_furniture(paragraphs: Sequence[str], title: str = "") -> list[str]:
    """The article's paragraphs without site furniture and a repeated headline (clean lines in, clean out)."""
    kept = list(paragraphs[: _trailing_furniture_start(paragraphs)])
    # Rounds: a page may repeat its headline above the furniture (pnp.ru) or below it (government.ru), after a
    # date line (stroygaz.ru) or before one.
    for _ in range(3):
        start = leading_furniture_end(kept)
        header = _header_end(kept[start:], title)
        kept = kept[start + header :]
        if not header:
            break
    return kept


# Publishers whose name sites append to titles (` - Российская газета`, ` || Интерфакс Россия`).
KNOWN_PUBLISHERS = frozenset(
    name.casefold()
    for name in (
        "Российская газета",
        "Интерфакс",
        "Интерфакс Россия",
        "Interfax",
        "РИА Новости",
        "РИА Недвижимость",
        "ТАСС",
        "Строительная газета",
        "Парламентская газета",
        "Независимая газета",
        "Коммерсантъ",
        "Ведомости",
        "Известия",
        "Газета.Ru",
        "Лента.ру",
        "Lenta.ru",
        "РБК",
        "Meduza",
        "RT на русском",
        "Московский комсомолец",
        "Комсомольская правда",
        "Аргументы и факты",
        "Правительство России",
        "Минфин России",
        "ФГБУ «Институт стандартизации»",
    )
)
_TITLE_SEPARATOR = re.compile(r"\s(?:\|\||\||::|-|–|—)\s")
# A site section between the title and a `||` publisher (`… - Недвижимость || Интерфакс Россия`).
MAX_SECTION_WORDS = 3


def _is_publisher(name: str, source: str) -> bool:
    key = name.strip().casefold()
    if key in KNOWN_PUBLISHERS:
        return True
    host = source.strip().casefold().removeprefix("www.")
    return bool(host) and key.replace(" ", "") in (host, host.rsplit(".", 1)[0])


def strip_publisher(title: str, source: str = "") -> str:
    """The title without a publisher's name after (or before) it: ` - X`, ` | X`, ` || X`, ` :: X`, where X is a
    known publisher or the source's own host. A dash inside a title stays: only a known name is cut."""
    for _ in range(3):
        separators = list(_TITLE_SEPARATOR.finditer(title))
        if not separators:
            break
        last = separators[-1]
        if _is_publisher(title[last.end() :], source) and _WORDS.search(title[: last.start()]):
            title = title[: last.start()].rstrip()
            if last.group().strip() == "||" and len(separators) >= 2:
                section = title[separators[-2].end() :]
                if len(_WORDS.findall(section)) <= MAX_SECTION_WORDS:
                    title = title[: separators[-2].start()].rstrip()
            continue
        first = separators[0]
        rest = title[first.end() :]
        if _is_publisher(title[: first.start()], source) and len(_WORDS.findall(rest)) >= 2:
            title = rest.lstrip()
            continue
        break
    return title
