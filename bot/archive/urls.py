"""Canonical form of article URLs, so that one article reached through different links is stored once."""

from __future__ import annotations

import contextlib
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

# Query parameters that only say where a reader came from; they never select a different article.
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "yclid",
        "ysclid",
        "dclid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "_openstat",
        "from",
        "ref",
        "ref_src",
        "referrer",
        "utm",
        "_ga",
        "_gl",
        "igshid",
    }
)
_TRACKING_PREFIXES = ("utm_",)
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters a path keeps literally; everything else is percent-encoded in one canonical way.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def normalize_url(url: str) -> str:
    """The canonical form of `url`.

    https instead of http; lower-case host without `www.` and without the default port; no fragment; no
    tracking parameters (utm_*, fbclid, gclid, yclid, _openstat, from, ref, ...); the remaining parameters
    sorted; no trailing slash on the path; one percent-encoding. Text that is not an http(s) URL comes back
    stripped and otherwise unchanged.
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return text
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return text
    host = parts.hostname.lower().rstrip(".")
    if not host.isascii():
        with contextlib.suppress(UnicodeError):  # a label idna cannot encode: keep the host as written
            host = host.encode("idna").decode("ascii")
    if host.startswith("www."):
        host = host[4:]
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    path = quote(unquote(parts.path), safe=_PATH_SAFE)
    while path.endswith("/"):
        path = path[:-1]
    query_pairs = [
        (key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(key)
    ]
    query = urlencode(sorted(query_pairs), quote_via=quote)
    return urlunsplit(("https", netloc, path, query, ""))


def _is_tracking(key: str) -> bool:
    lowered = key.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(_TRACKING_PREFIXES)
