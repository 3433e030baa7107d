"""Search queries: what a user types, parsed into a SearchQuery (each storage backend compiles it: the SQLite
one in storage/search_index.py), and snippets with the matched words marked.

Syntax (anything else is just words):
- words: all must occur, in any word form (`губернаторы` finds `губернатора`);
- `"exact phrase"` (also «ёлочки» and “lapki”): the words next to each other, each in any word form;
- `-word` or `-"phrase"`: must not occur;
- dates: `с:01.10.2021`, `по:31.10.2021` (also `since:`, `from:`, `от:`, `until:`, `to:`, `до:`; values
  `DD.MM.YYYY`, `DD.MM.YY`, `YYYY-MM-DD`); days are Moscow days, both ends inclusive;
- `тема:governor` (also `topic:`; a topic name or its label such as `тема:Госсовет`): only articles of that
  topic (bot.archive.classify.TOPICS); several topics mean any of them.

A token that looks like a date or topic filter but cannot be read (`с:32.13.2021`, `тема:погода`) is
ignored and reported in `SearchQuery.invalid_tokens`, so the interface can say so while still searching the
rest. Stopwords are dropped from plain words (a query of only stopwords or punctuation is empty: "nothing to
search") but kept inside phrases. At most MAX_WORDS words are used (the rest are dropped and `truncated` is
set), words longer than MAX_WORD_CHARS are dropped, and only the first MAX_INPUT_CHARS characters are read.

The parsed query holds words and phrases as typed; `unit_tokens` gives their index tokens and `unit_families`
the stems a word matches in any of its forms (bot.archive.morphology). No query syntax of any engine is built
here, so nothing a user types can become one.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from functools import lru_cache

from bot.archive.classify import TOPIC_LABELS_EN, TOPIC_LABELS_RU, TOPICS
from bot.archive.dates import MAX_YEAR, MIN_YEAR, MOSCOW
from bot.archive.models import MARK_END, MARK_START, SearchHit, StoredArticle
from bot.archive.morphology import (
    normalize,
    split_words,
    stem_family,
    stem_parts,
    tokenize,
)

MAX_INPUT_CHARS = 2000
MAX_WORDS = 16
MAX_WORD_CHARS = 64

_STOPWORD_TEXT = """
    а без более бы был была были было быть в вам вас весь во вот все всего всех вы где да даже для до его
    ее если есть еще же за и из или им их к как ко когда кто ли либо мне может мы на над надо наш не него
    нее нет ни них но ну о об однако он она они оно от очень по под при с со так также такой там те тем то
    того тоже той только том ты у уже хотя чего чей чем что чтобы чье чья эта эти это я
    a an and are as at be by for from in is it not of on or that the to was with near
"""
STOPWORDS: frozenset[str] = frozenset(_STOPWORD_TEXT.split())

_SINCE_KEYS = frozenset({"с", "c", "от", "since", "from"})
_UNTIL_KEYS = frozenset({"по", "до", "until", "to"})
_TOPIC_KEYS = frozenset({"тема", "topic"})
_QUOTES = str.maketrans({"«": '"', "»": '"', "“": '"', "”": '"', "„": '"'})

# One lexical item: an optionally negated quoted phrase, a `key:value` filter, or a run of other characters.
# A lone unmatched quote matches nothing and is skipped.
_ITEM_RE = re.compile(
    r'(?P<neg>-)?"(?P<phrase>[^"]*)"'
    r"|(?<![^\s\"])(?P<key>[^\W\d_]+)[ \t]*:[ \t]*(?P<value>[^\s\"]*)"
    r'|(?P<chunk>[^\s"]+)'
)
_DMY_RE = re.compile(r"(\d{1,2})[./-](\d{1,2})[./-](\d{4}|\d{2})")
_ISO_RE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A parsed search query. Words are kept as the user wrote them (normalized), not stemmed."""

    terms: tuple[str, ...] = ()
    phrases: tuple[tuple[str, ...], ...] = ()
    excluded: tuple[str, ...] = ()  # a word, or a phrase as words joined by single spaces
    since: date | None = None
    until: date | None = None
    topics: frozenset[str] = frozenset()
    invalid_tokens: tuple[str, ...] = field(default=(), compare=False)
    truncated: bool = field(default=False, compare=False)

    @property
    def is_empty(self) -> bool:
        """Nothing to search: no word and no phrase (filters and exclusions alone match nothing)."""
        return not self.terms and not self.phrases

    @property
    def text(self) -> str:
        """Canonical text form; `parse_query(q.text) == q`."""
        parts = [f'"{term}"' if term in STOPWORDS or term in _SPECIAL_WORDS else term for term in self.terms]
        parts += ['"' + " ".join(phrase) + '"' for phrase in self.phrases]
        parts += [f'-"{word}"' if " " in word else f"-{word}" for word in self.excluded]
        parts += [f"тема:{topic}" for topic in sorted(self.topics)]
        if self.since:
            parts.append(f"с:{self.since:%d.%m.%Y}")
        if self.until:
            parts.append(f"по:{self.until:%d.%m.%Y}")
        return " ".join(parts)

    @property
    def highlight_words(self) -> tuple[str, ...]:
        """The words whose forms a snippet should mark: terms and phrase words."""
        return self.terms + tuple(word for phrase in self.phrases for word in phrase)


# Words that would read back as a filter key if written bare before a colon never occur (tokens have no
# colon), but quoting the key words keeps the canonical text unambiguous to a human reader too.
_SPECIAL_WORDS = _SINCE_KEYS | _UNTIL_KEYS | _TOPIC_KEYS


# A topic by its name (`governor`) or its Russian or English label (`Госсовет`, `State Council`), any case.
_TOPIC_NAMES: dict[str, str] = {
    normalize(label): topic
    for topic in TOPICS
    for label in (topic, TOPIC_LABELS_RU.get(topic, ""), TOPIC_LABELS_EN.get(topic, ""))
    if label
}


def _topic_named(value: str) -> str | None:
    return _TOPIC_NAMES.get(normalize(value))


def parse_date_token(value: str) -> date | None:
    """`01.10.2021`, `1.10.21`, `2021-10-01` → date; anything else → None."""
    match = _ISO_RE.fullmatch(value)
    if match:
        year, month, day = (int(g) for g in match.groups())
    else:
        match = _DMY_RE.fullmatch(value)
        if not match:
            return None
        day, month, year = (int(g) for g in match.groups())
        if len(match.group(3)) == 2:
            year += 2000
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


class _Builder:
    def __init__(self) -> None:
        self.terms: list[str] = []
        self.phrases: list[tuple[str, ...]] = []
        self.excluded: list[str] = []
        self.since: date | None = None
        self.until: date | None = None
        self.topics: set[str] = set()
        self.invalid: list[str] = []
        self.words_used = 0
        self.truncated = False

    def _fits(self, words: list[str]) -> bool:
        if any(len(word) > MAX_WORD_CHARS for word in words) or self.words_used + len(words) > MAX_WORDS:
            self.truncated = True
            return False
        self.words_used += len(words)
        return True

    def add_term(self, word: str, *, keep_stopword: bool = False) -> None:
        if (word in STOPWORDS and not keep_stopword) or word in self.terms:
            return
        if self._fits([word]):
            self.terms.append(word)

    def add_phrase(self, words: list[str], *, negated: bool) -> None:
        if not words:
            return
        if negated:
            joined = " ".join(words)
            if joined not in self.excluded and self._fits(words):
                self.excluded.append(joined)
        elif len(words) == 1:
            self.add_term(words[0], keep_stopword=True)
        elif tuple(words) not in self.phrases and self._fits(words):
            self.phrases.append(tuple(words))

    def add_filter(self, key: str, value: str, raw: str) -> bool:
        """Handle `key:value`; False when `key` is not a filter key (then it is ordinary text)."""
        key = key.lower()
        if key in _SINCE_KEYS or key in _UNTIL_KEYS:
            if not any(char.isdigit() for char in value):
                return False  # `встреча с: министром` is text, not a broken date
            day = parse_date_token(value)
            if day is None:
                self.invalid.append(raw)
            elif key in _SINCE_KEYS:
                self.since = day
            else:
                self.until = day
            return True
        if key in _TOPIC_KEYS:
            topic = _topic_named(value)
            if topic:
                self.topics.add(topic)
            else:
                self.invalid.append(raw)
            return True
        return False

    def add_chunk(self, chunk: str) -> None:
        if chunk.startswith("-"):
            for word in tokenize(chunk[1:]):
                if word not in self.excluded and self._fits([word]):
                    self.excluded.append(word)
            return
        for word in tokenize(chunk):
            self.add_term(word)

    def build(self) -> SearchQuery:
        since, until = self.since, self.until
        if since and until and since > until:
            since, until = until, since
        return SearchQuery(
            terms=tuple(self.terms),
            phrases=tuple(self.phrases),
            excluded=tuple(self.excluded),
            since=since,
            until=until,
            topics=frozenset(self.topics),
            invalid_tokens=tuple(self.invalid),
            truncated=self.truncated,
        )


def parse_query(text: str) -> SearchQuery:
    """Parse what a user typed. Never raises; see the module doc for the syntax."""
    builder = _Builder()
    if len(text) > MAX_INPUT_CHARS:
        text = text[:MAX_INPUT_CHARS]
        builder.truncated = True
    for item in _ITEM_RE.finditer(text.translate(_QUOTES)):
        if item.group("phrase") is not None:
            builder.add_phrase(tokenize(item.group("phrase")), negated=item.group("neg") is not None)
        elif item.group("key") is not None:
            if not builder.add_filter(item.group("key"), item.group("value"), item.group(0)):
                builder.add_chunk(item.group(0))
        else:
            builder.add_chunk(item.group("chunk"))
    return builder.build()


def word_tokens(words: tuple[str, ...] | list[str]) -> list[str]:
    return [stem for word in words for stem in stem_parts(word)]


def unit_tokens(query: SearchQuery) -> list[list[str]]:
    """The index tokens of what every match must contain: one list per word (several tokens for a hyphenated
    word) and one per phrase."""
    units = [stem_parts(term) for term in query.terms]
    units += [word_tokens(phrase) for phrase in query.phrases]
    return [tokens for tokens in units if tokens]


def word_family(word: str) -> tuple[str, ...]:
    """The stems a one-token word matches (bot.archive.morphology.stem_family); () for a word of several
    tokens (hyphenated: matched as a phrase of its stems) or of none."""
    parts = split_words(word)
    return stem_family(parts[0]) if len(parts) == 1 else ()


def unit_families(query: SearchQuery) -> list[tuple[str, ...]]:
    """For each unit of `unit_tokens(query)`: the stem family of a one-token word, () for a phrase or a
    hyphenated word (their own stems, in order). A unit matches when the text has any stem of its family."""
    families = [word_family(term) for term in query.terms if stem_parts(term)]
    families += [() for phrase in query.phrases if word_tokens(phrase)]
    return families


def date_bounds(query: SearchQuery, tz: tzinfo = MOSCOW) -> tuple[datetime | None, datetime | None]:
    """The query's days as aware datetimes: since at 00:00 of its day, until exclusive (next day, 00:00)."""
    since = datetime.combine(query.since, time(), tz) if query.since else None
    until = datetime.combine(query.until + timedelta(days=1), time(), tz) if query.until else None
    return since, until


# --- snippets ---------------------------------------------------------------------------------------------

SNIPPET_CHARS = 240
SNIPPET_SCAN_CHARS = 30_000
_SENTENCE_END_RE = re.compile(r"[.!?…]+[\"»)]*\s+|\n+")
_SPACES_RE = re.compile(r"\s+")


@lru_cache(maxsize=256)
def _prefix_pattern(stems: frozenset[str]) -> re.Pattern[str] | None:
    """Words that could stem to one of `stems`: they start with the stem (Snowball only cuts endings; the
    English stemmer may rewrite the last letter, so Latin stems keep all but their last letter). ё = е."""
    prefixes = set()
    for stem in stems:
        prefix = stem if re.search(r"[а-я]", stem) or len(stem) < 3 else stem[:-1]
        prefixes.add(re.escape(prefix).replace("е", "[её]"))
    if not prefixes:
        return None
    alternatives = "|".join(sorted(prefixes, key=len, reverse=True))
    return re.compile(rf"(?<![^\W_])(?:{alternatives})[^\W_]*", re.IGNORECASE)


def _matched_words(text: str, stems: frozenset[str]) -> list[tuple[int, int, str]]:
    # One pattern per query (its hits share it); a word seen twice is stemmed once.
    pattern = _prefix_pattern(stems)
    if pattern is None:
        return []
    found = []
    first_stems: dict[str, str | None] = {}
    for match in pattern.finditer(text):
        word = match.group()
        if word not in first_stems:
            parts = stem_parts(word)
            first_stems[word] = parts[0] if parts else None
        stem = first_stems[word]
        if stem is not None and stem in stems:
            found.append((match.start(), match.end(), stem))
    return found


def _shorten(text: str, width: int) -> str:
    text = _SPACES_RE.sub(" ", text).strip()
    if len(text) <= width:
        return text
    cut = text.rfind(" ", 0, width)
    return text[: cut if cut > width // 2 else width].rstrip() + "…"


def make_snippet(text: str, query: SearchQuery, width: int = SNIPPET_CHARS) -> str:
    """About `width` characters of `text` around its best sentence for `query`, the words whose stems the
    query looks for wrapped in MARK_START/MARK_END. Works on the original text (the index only has stems)."""
    # Only the head of a long text is searched for the snippet: a 2 MB page must not cost seconds per hit.
    text = text[:SNIPPET_SCAN_CHARS].replace(MARK_START, "").replace(MARK_END, "")
    stems = frozenset(
        stem for word in query.highlight_words for stem in stem_parts(word) + list(word_family(word))
    )
    matches = _matched_words(text, stems)
    if not matches:
        return _shorten(text, width)
    # The sentence with the most distinct query stems wins (the first of equals); one pass over the matches.
    sentence_ends = [m.end() for m in _SENTENCE_END_RE.finditer(text)]
    stems_by_sentence: dict[int, set[str]] = {}
    for start, _, stem in matches:
        stems_by_sentence.setdefault(bisect.bisect_right(sentence_ends, start), set()).add(stem)
    best_index = min(stems_by_sentence, key=lambda index: (-len(stems_by_sentence[index]), index))
    best_start = sentence_ends[best_index - 1] if best_index > 0 else 0
    first_match = next(start for start, _, _ in matches if start >= best_start)
    start = best_start
    if first_match - start > width * 2 // 3:  # a long sentence: start a little before the first match
        space = text.rfind(" ", start, first_match - width // 4)
        start = space + 1 if space >= 0 else first_match
    end = min(len(text), start + width)
    paragraph_end = text.find("\n", first_match)
    if 0 <= paragraph_end < end:  # the next paragraph is another subject: stop at the end of this one
        end = paragraph_end
    elif end < len(text):
        space = text.rfind(" ", start, end)
        if space > first_match:
            end = space
    pieces = ["…"] if start > 0 else []
    position = start
    for match_start, match_end, _ in matches:
        if match_start < start or match_end > end:
            continue
        pieces += [text[position:match_start], MARK_START, text[match_start:match_end], MARK_END]
        position = match_end
    pieces.append(text[position:end])
    snippet = _SPACES_RE.sub(" ", "".join(pieces)).strip()
    return snippet + "…" if end < len(text) and text[end] != "\n" else snippet


def search_hit(article: StoredArticle, query: SearchQuery, rank: float, *, snippet: bool = True) -> SearchHit:
    """A ranked article as a search result, with its snippet for `query` unless `snippet` is False."""
    return SearchHit(
        article_id=article.id,
        title=article.title,
        lead=article.lead,
        source=article.source,
        url=article.url,
        published_at=article.published_at,
        views=article.views,
        topics=article.topics,
        snippet=make_snippet("\n".join((article.lead, *article.body)), query) if snippet else "",
        rank=rank,
    )
