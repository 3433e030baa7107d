"""Topics and the "government commission news" flag, from a transparent rule set over word stems.

Every rule is a lower-case stem (a word must start with it) or a short phrase of stems; `ё` counts as `е`.
The rules are listed in `TOPIC_RULES`, one line per stem: a reviewer sees exactly why an article got a topic.

`is_gov_commission` is what the daily digest sends. An article gets it when
  * a government topic (commission, State Council, ministry, governor, government) is named in the title or
    the lead, or
  * the body names government topics at least `BODY_HITS_FOR_FLAG` times, or
  * it comes from an official government site (`OFFICIAL_HOSTS`), when the caller knows the source.
The thresholds were tuned on the dev split of the corpus (bench/classify_eval.py; figures in BENCHMARKS.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

TOPICS: tuple[str, ...] = (
    "commission",
    "state_council",
    "ministry",
    "governor",
    "government",
    "meeting",
    "parliament",
    "president",
)

TOPIC_LABELS_RU: dict[str, str] = {
    "commission": "Комиссии",
    "state_council": "Госсовет",
    "ministry": "Министерства",
    "governor": "Губернаторы",
    "government": "Правительство",
    "meeting": "Заседания и совещания",
    "parliament": "Парламент",
    "president": "Президент",
}

TOPIC_LABELS_EN: dict[str, str] = {
    "commission": "Commissions",
    "state_council": "State Council",
    "ministry": "Ministries",
    "governor": "Governors",
    "government": "Government",
    "meeting": "Meetings",
    "parliament": "Parliament",
    "president": "President",
}

# Topics that make an article "government commission news" for the digest flag.
GOV_TOPICS = frozenset({"commission", "state_council", "ministry", "governor", "government"})

_WORD_END = r"[а-яa-z]*"

# topic -> stems: regex fragments over lower-cased text with ё as е, each matching at a word start (after a
# character that is not a letter, a digit or a hyphen: "премьер-министр" is no ministry, "экс-президент" no
# president). Every fragment starts with a plain letter: the scan below relies on it.
TOPIC_RULES: dict[str, tuple[str, ...]] = {
    "commission": ("комисси", "подкомисси", "еврокомисси", "спецкомисси"),
    "state_council": ("госсовет", r"государственн" + _WORD_END + r"\s+совет"),
    "ministry": (
        "министерств",
        "министр",
        "минфин",
        "минпромторг",
        "минздрав",
        "минэконом",
        "минэнерго",
        "минтранс",
        "минтруд",
        "минприрод",
        "минсельхоз",
        "минстро",
        "минцифр",
        "минкульт",
        "минобр",
        "минпросвещ",
        "минюст",
        "минобороны",
        "минспорт",
        "минвостокразвит",
        "минкавказ",
        "минкомсвяз",
        "минрегион",
        "минсоцразвит",
        "минэкологи",
        r"мид(?![а-я])",
        r"мвд(?![а-я])",
        r"мчс(?![а-я])",
    ),
    "governor": (
        "губернатор",
        "вице-губернатор",
        r"глав" + _WORD_END + r"\s+(?:регион|област|кра[яеюй]|республик|субъект)",
    ),
    "government": (
        "правительств",
        "межправительств",
        "кабмин",
        "премьер",
        "вице-премьер",
        # An administration that governs (a region, a city, the president's), not a site's or a district's.
        r"администраци"
        + _WORD_END
        + r"\s+(?:президент|губернатор|област|кра[яеюй]|регион|город|район|муниципал"
        r"|[а-я]+ского\s+(?:район|округ|муниципал))",
        r"глав" + _WORD_END + r"\s+администраци",
    ),
    "meeting": ("заседани", "совещани"),
    "parliament": (
        "госдум",
        r"государственн" + _WORD_END + r"\s+дум",
        r"совет" + _WORD_END + r"\s+федерации",
        "совфед",
        "парламент",
        "депутат",
        "сенатор",
        r"законодательн" + _WORD_END + r"\s+собрани",
    ),
    "president": ("президент", "кремл"),
}

# Official government hosts: everything they publish is government news.
OFFICIAL_HOSTS: tuple[str, ...] = ("government.ru", "kremlin.ru", "mos.ru", "gov.ru", "eec.eaeunion.org")

BODY_HITS_FOR_FLAG = 1

# One scan per text: a word boundary followed by any stem. Python's regex engine tries the alternation only
# after a boundary character, which keeps the scan at about a third of a lookbehind pattern's cost.
_TOPIC_PATTERN = re.compile(
    r"[^а-яa-z0-9-](" + "|".join(stem for stems in TOPIC_RULES.values() for stem in stems) + ")"
)
_PLAIN_STEM = re.compile(r"[а-яa-z-]+")
_TOPIC_OF_PLAIN_STEM = {
    stem: topic for topic, stems in TOPIC_RULES.items() for stem in stems if _PLAIN_STEM.fullmatch(stem)
}
_TOPIC_OF_PATTERN = [
    (re.compile(stem), topic)
    for topic, stems in TOPIC_RULES.items()
    for stem in stems
    if not _PLAIN_STEM.fullmatch(stem)
]


@dataclass(frozen=True, slots=True)
class Classification:
    topics: frozenset[str]
    is_gov_commission: bool


def normalize_for_rules(text: str) -> str:
    """Lower case with ё as е: the form every stem rule is written in."""
    return text.lower().replace("ё", "е")


def topic_hits(text: str) -> dict[str, int]:
    """How many times each topic's stems occur in `text` (any case)."""
    return topic_hits_normalized(normalize_for_rules(text))


def topic_hits_normalized(text: str) -> dict[str, int]:
    """topic_hits for text already in `normalize_for_rules` form."""
    counts: dict[str, int] = {}
    for match in _TOPIC_PATTERN.finditer("\n" + text):
        found = match.group(1)
        topic = _TOPIC_OF_PLAIN_STEM.get(found)
        if topic is None:
            topic = next(topic for pattern, topic in _TOPIC_OF_PATTERN if pattern.fullmatch(found))
        counts[topic] = counts.get(topic, 0) + 1
    return counts


def is_official_source(source: str | None) -> bool:
    if not source:
        return False
    host = source.lower().strip().removeprefix("www.")
    return any(host == official or host.endswith("." + official) for official in OFFICIAL_HOSTS)


def classify(title: str, lead: str, body: Sequence[str], *, source: str | None = None) -> Classification:
    """Topics named anywhere in the article and the government-commission flag (rules in the module doc)."""
    return classify_normalized(
        normalize_for_rules(f"{title}\n{lead}"), normalize_for_rules("\n".join(body)), source=source
    )


def classify_normalized(head: str, body: str, *, source: str | None = None) -> Classification:
    """classify() for title+lead and body texts already in `normalize_for_rules` form."""
    head_hits = topic_hits_normalized(head)
    body_hits = topic_hits_normalized(body)
    topics = frozenset(head_hits) | frozenset(body_hits)
    gov_in_head = any(topic in GOV_TOPICS for topic in head_hits)
    gov_body_hits = sum(count for topic, count in body_hits.items() if topic in GOV_TOPICS)
    flag = gov_in_head or gov_body_hits >= BODY_HITS_FOR_FLAG or is_official_source(source)
    return Classification(topics=topics, is_gov_commission=flag)
