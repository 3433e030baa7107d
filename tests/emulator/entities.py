"""Telegram's text handling: the HTML parse mode, UTF-16 lengths, trimming and bot-command detection.

The HTML parser follows tdlib's `parse_html` (the code behind the Bot API server) step by step, so that the
same inputs fail with the same "can't parse entities" wording and byte offsets. One deliberate difference:
tdlib keeps a bare `&` that does not start an entity as a literal character, while the Bot API documentation
requires `&amp;`. With ``strict_ampersand=True`` (the emulator's default) a bare `&` is rejected, because text
that reached Telegram with an unescaped `&` usually had no escaping at all and a `<` will break it next time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

Entity = dict[str, Any]

# tdlib's is_space(): NUL ends its C strings, and we treat "past the end" as NUL the same way.
_SPACES = frozenset(" \t\r\n\0\v")
_SUPPORTED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_SIMPLE_TAG_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "u": "underline",
    "ins": "underline",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
_SPECIAL = re.compile(r"[<&]")
# Runs up to a space (tdlib's is_space, NUL included) or ">", and for attribute names also "=".
_NAME_RUN = re.compile(r"[^ \t\r\n\0\v>]*")
_ATTRIBUTE_RUN = re.compile(r"[^ \t\r\n\0\v>=]*")
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_MAX_CODE_POINT = 0x10FFFF
_TRIMMED = " \t\r\n\v\f"
_USER_LINK = re.compile(r"^tg://user\?id=(\d{1,20})$")
_URL = re.compile(r"\bhttps?://[^\s<>\"]+[^\s<>\".,;:!?)\]}'»]", re.IGNORECASE)
_MENTION = re.compile(r"(?<![\w@])@[A-Za-z][A-Za-z0-9_]{3,31}\b")
_HASHTAG = re.compile(r"(?<![\w#])#\w+")
BOT_COMMAND = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])")

# Entity types a client may pass in `entities`/`caption_entities` (Bot API MessageEntity.type).
ENTITY_TYPES = frozenset(
    {
        "mention",
        "hashtag",
        "cashtag",
        "bot_command",
        "url",
        "email",
        "phone_number",
        "bold",
        "italic",
        "underline",
        "strikethrough",
        "spoiler",
        "blockquote",
        "expandable_blockquote",
        "code",
        "pre",
        "text_link",
        "text_mention",
        "custom_emoji",
        "date_time",
    }
)


class EntityParseError(ValueError):
    """Not valid Telegram HTML; str(error) is tdlib's message (without "can't parse entities: ")."""


@dataclass(frozen=True, slots=True)
class FormattedText:
    """Plain text and its entities (offsets, lengths in UTF-16 code units), as Telegram stores it."""

    text: str
    entities: tuple[Entity, ...] = ()

    @property
    def length(self) -> int:
        return utf16_len(self.text)


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: what Telegram counts for limits and entity offsets."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _run_end(pattern: re.Pattern[str], source: str, start: int) -> int:
    match = pattern.match(source, start)
    return match.end() if match else start


def _byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode("utf-8", "surrogatepass"))


def _decode_entity(source: str, pos: int) -> tuple[str, int] | None:
    """tdlib's decode_html_entity: (character, position after it) or None when `&` starts no entity."""
    end = pos + 1
    size = len(source)
    if end < size and source[end] == "#":
        end += 1
        value = 0
        if end < size and source[end] == "x":
            end += 1
            while end < size and source[end] in "0123456789abcdefABCDEF":
                value = value * 16 + int(source[end], 16)
                end += 1
                if value >= _MAX_CODE_POINT:
                    return None
        else:
            while end < size and source[end].isascii() and source[end].isdigit():
                value = value * 10 + int(source[end])
                end += 1
                if value >= _MAX_CODE_POINT:
                    return None
        if value == 0 or end - pos >= 10 or 0xD800 <= value <= 0xDFFF:
            return None
        char = chr(value)
    else:
        while end < size and source[end].isascii() and source[end].isalpha():
            end += 1
        name = source[pos + 1 : end]
        if name not in _NAMED_ENTITIES:
            return None
        char = _NAMED_ENTITIES[name]
    if end < size and source[end] == ";":
        end += 1
    return char, end


@dataclass(slots=True)
class _OpenTag:
    name: str
    argument: str
    utf16_offset: int
    text_index: int


def parse_html(source: str, *, strict_ampersand: bool = True) -> FormattedText:
    """Parse Telegram's HTML subset into plain text + entities; raises EntityParseError like Telegram."""
    size = len(source)

    def at(index: int) -> str:
        return source[index] if index < size else "\0"

    out: list[str] = []
    utf16 = 0
    open_tags: list[_OpenTag] = []
    entities: list[Entity] = []
    i = 0
    while i < size:
        special = _SPECIAL.search(source, i)
        plain_end = special.start() if special else size
        if plain_end > i:  # copy a run of ordinary characters at once
            chunk = source[i:plain_end]
            out.append(chunk)
            utf16 += utf16_len(chunk)
            i = plain_end
            continue
        char = source[i]
        if char == "&":
            decoded = _decode_entity(source, i)
            if decoded is not None:
                out.append(decoded[0])
                utf16 += utf16_len(decoded[0])
                i = decoded[1]
                continue
            if strict_ampersand:
                raise EntityParseError(
                    f'Character "&" must be escaped as "&amp;" at byte offset {_byte_offset(source, i)}'
                )
        if char != "<":  # a bare "&" that tdlib keeps
            out.append(char)
            utf16 += 1
            i += 1
            continue

        begin = i
        i += 1
        if at(i) != "/":
            tag_end = _run_end(_NAME_RUN, source, i)
            if tag_end >= size:
                raise EntityParseError(f"Unclosed start tag at byte offset {_byte_offset(source, begin)}")
            tag = source[i:tag_end].lower()
            if tag not in _SUPPORTED_TAGS:
                raise EntityParseError(
                    f'Unsupported start tag "{tag}" at byte offset {_byte_offset(source, begin)}'
                )
            i = tag_end
            argument = ""
            while at(i) != ">":
                while i < size and at(i) in _SPACES:
                    i += 1
                if at(i) == ">":
                    break
                name_begin = i
                i = _run_end(_ATTRIBUTE_RUN, source, i)
                attribute = source[name_begin:i]
                if not attribute:
                    raise EntityParseError(
                        f'Empty attribute name in the tag "{tag}" at byte offset {_byte_offset(source, begin)}'
                    )
                while i < size and at(i) in _SPACES:
                    i += 1
                if at(i) != "=" and tag == "blockquote" and attribute == "expandable":
                    argument = "1"  # the one value-less attribute Telegram accepts
                    continue
                if at(i) != "=":
                    raise EntityParseError(
                        f'Expected equal sign in declaration of an attribute of the tag "{tag}" '
                        f"at byte offset {_byte_offset(source, begin)}"
                    )
                i += 1
                while i < size and at(i) in _SPACES:
                    i += 1
                if i >= size:
                    raise EntityParseError(
                        f'Unclosed start tag "{tag}" at byte offset {_byte_offset(source, begin)}'
                    )
                value_chars: list[str] = []
                if at(i) not in "'\"":
                    token_begin = i
                    while at(i).isascii() and (at(i).isalnum() or at(i) in ".-"):
                        i += 1
                    value_chars.append(source[token_begin:i].lower())
                    if at(i) not in _SPACES and at(i) != ">":
                        raise EntityParseError(
                            f"Unexpected end of name token at byte offset {_byte_offset(source, token_begin)}"
                        )
                else:
                    quote = source[i]
                    i += 1
                    while i < size and source[i] != quote:
                        if source[i] == "&":
                            decoded = _decode_entity(source, i)
                            if decoded is not None:
                                value_chars.append(decoded[0])
                                i = decoded[1]
                                continue
                        value_chars.append(source[i])
                        i += 1
                    if at(i) == quote:
                        i += 1
                if i >= size:
                    raise EntityParseError(f"Unclosed start tag at byte offset {_byte_offset(source, begin)}")
                value = "".join(value_chars)
                if tag == "a" and attribute == "href":
                    argument = value
                elif tag == "code" and attribute == "class" and value.startswith("language-"):
                    argument = value.removeprefix("language-")
                elif tag == "span" and attribute == "class" and value.startswith("tg-"):
                    argument = value.removeprefix("tg-")
                elif tag == "tg-emoji" and attribute == "emoji-id":
                    argument = value
                elif tag == "blockquote" and attribute == "expandable":
                    argument = "1"
            if tag == "span" and argument != "spoiler":
                raise EntityParseError(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {_byte_offset(source, begin)}'
                )
            open_tags.append(_OpenTag(tag, argument, utf16, len(out)))
            i += 1  # the '>'
            continue

        # An end tag.
        if not open_tags:
            raise EntityParseError(f"Unexpected end tag at byte offset {_byte_offset(source, begin)}")
        i += 1
        name_begin = i
        i = _run_end(_NAME_RUN, source, i)
        end_name = source[name_begin:i].lower()
        while i < size and at(i) in _SPACES:
            i += 1
        if at(i) != ">":
            raise EntityParseError(f"Unclosed end tag at byte offset {_byte_offset(source, begin)}")
        opened = open_tags.pop()
        if end_name and end_name != opened.name:
            raise EntityParseError(
                f"Unmatched end tag at byte offset {_byte_offset(source, begin)}, "
                f'expected "</{opened.name}>", found "</{end_name}>"'
            )
        i += 1
        if utf16 > opened.utf16_offset:
            entity = _make_entity(opened, utf16 - opened.utf16_offset, "".join(out[opened.text_index :]))
            if entity is not None:
                _append_entity(entities, entity, opened)
    if open_tags:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{open_tags[-1].name}"')
    entities.sort(key=lambda entity: (entity["offset"], -entity["length"]))
    return FormattedText("".join(out), tuple(entities))


def _make_entity(opened: _OpenTag, length: int, inner_text: str) -> Entity | None:
    base: Entity = {"offset": opened.utf16_offset, "length": length}
    name = opened.name
    if name in _SIMPLE_TAG_TYPES:
        return {"type": _SIMPLE_TAG_TYPES[name], **base}
    if name == "a":
        url = opened.argument or inner_text
        user = _USER_LINK.match(url)
        if user:
            return {"type": "text_mention", **base, "user": {"id": int(user.group(1)), "is_bot": False}}
        if not url:
            return None
        return {"type": "text_link", **base, "url": url}
    if name == "tg-emoji":
        if not opened.argument.isdigit():
            raise EntityParseError("Invalid custom emoji identifier specified")
        return {"type": "custom_emoji", **base, "custom_emoji_id": opened.argument}
    if name == "blockquote":
        return {"type": "expandable_blockquote" if opened.argument else "blockquote", **base}
    if name == "pre":
        return {"type": "pre", **base}
    return {"type": "code", **base, **({"language": opened.argument} if opened.argument else {})}


def _append_entity(entities: list[Entity], entity: Entity, opened: _OpenTag) -> None:
    """`<pre><code class="language-x">` becomes one pre entity with a language, as in Telegram."""
    if (
        opened.name == "pre"
        and entities
        and entities[-1]["type"] == "code"
        and entities[-1]["offset"] == entity["offset"]
        and entities[-1]["length"] == entity["length"]
    ):
        code = entities.pop()
        entity = {"type": "pre", "offset": entity["offset"], "length": entity["length"]}
        if "language" in code:
            entity["language"] = code["language"]
    entities.append(entity)


def trim(formatted: FormattedText) -> FormattedText:
    """Strip leading/trailing whitespace and clip entities, as Telegram does before storing a message."""
    text = formatted.text
    stripped_left = text.lstrip(_TRIMMED)
    shift = utf16_len(text) - utf16_len(stripped_left)
    stripped = stripped_left.rstrip(_TRIMMED)
    limit = utf16_len(stripped)
    entities: list[Entity] = []
    for entity in formatted.entities:
        start = max(entity["offset"] - shift, 0)
        end = min(entity["offset"] + entity["length"] - shift, limit)
        if end > start:
            entities.append({**entity, "offset": start, "length": end - start})
    return FormattedText(stripped, tuple(entities))


def validate_entities(raw: Any, text: str) -> tuple[Entity, ...]:
    """Check a client's `entities` parameter; raises ValueError with Telegram's text."""
    if not isinstance(raw, list):
        raise ValueError("can't parse entities JSON object")
    limit = utf16_len(text)
    entities: list[Entity] = []
    for item in raw:
        if not isinstance(item, dict) or item.get("type") not in ENTITY_TYPES:
            raise ValueError("can't parse MessageEntity: unsupported entity type")
        offset, length = item.get("offset"), item.get("length")
        if not isinstance(offset, int) or not isinstance(length, int) or offset < 0 or length < 0:
            raise ValueError(
                'can\'t parse MessageEntity: field "offset" or "length" must be a non-negative number'
            )
        if item["type"] == "text_link" and not item.get("url"):
            raise ValueError('can\'t parse MessageEntity: field "url" must be of type String')
        end = min(offset + length, limit)
        if end > offset:  # Telegram silently drops empty and clips overlong entities
            entities.append({**item, "length": end - offset})
    entities.sort(key=lambda entity: (entity["offset"], -entity["length"]))
    return tuple(entities)


def bot_command_entities(text: str) -> list[Entity]:
    """bot_command entities Telegram adds to an incoming message (`/cmd`, `/cmd@botname`)."""
    return _found("bot_command", BOT_COMMAND, text)


def incoming_entities(text: str) -> list[Entity]:
    """The entities Telegram detects in a user's plain text: bot commands, URLs, @mentions, #hashtags."""
    found = (
        bot_command_entities(text)
        + _found("url", _URL, text)
        + _found("mention", _MENTION, text)
        + _found("hashtag", _HASHTAG, text)
    )
    return sorted(found, key=lambda entity: entity["offset"])


def _found(kind: str, pattern: re.Pattern[str], text: str) -> list[Entity]:
    return [
        {"type": kind, "offset": utf16_len(text[: match.start()]), "length": utf16_len(match.group(0))}
        for match in pattern.finditer(text)
    ]


def to_html(text: str, entities: tuple[Entity, ...] | list[Entity]) -> str:
    """Canonical HTML for stored text + entities (aiogram's own unparser, so tests compare like with like)."""
    from aiogram.types import MessageEntity
    from aiogram.utils.text_decorations import html_decoration

    return html_decoration.unparse(text, [MessageEntity.model_validate(entity) for entity in entities])
