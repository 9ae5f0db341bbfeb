"""One self-contained HTML file of a case (:mod:`exectrail.query.casefile`): the page template, its CSS
and JS from the package data, and the case data as JSON, all inline.

Nothing in the page can reach the network: its Content-Security-Policy allows no source at all
(``default-src 'none'``) except the inline script and style themselves, named by their SHA-256. The data
sits in a ``<script type="application/json">`` element that no character of it can close (``<``, ``>``,
``&``, U+2028 and U+2029 are written as JSON escapes), and the page only ever sets text from it as text.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from importlib.resources import files
from typing import Any

import orjson

#: what may not appear in the data element as it is, and its JSON escape (bytes: one C pass each)
_ESCAPES = (
    (b"<", b"\\u003c"),
    (b">", b"\\u003e"),
    (b"&", b"\\u0026"),
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)


def _asset(name: str) -> str:
    return files("exectrail").joinpath(f"data/{name}").read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def embedded_json(data: Any) -> str:
    """``data`` as JSON that can sit inside a ``<script>`` element without closing it."""
    try:
        text = orjson.dumps(data)
    except TypeError:  # an integer beyond 64 bits in an alarm's details, say: the slow way
        text = json.dumps(data, ensure_ascii=False, default=str).encode("utf-8", "surrogateescape")
    for raw, escaped in _ESCAPES:
        text = text.replace(raw, escaped)
    return text.decode("utf-8")


def content_policy(script: str, style: str) -> str:
    """The page's CSP: only its own inline script and style, no request of any kind."""
    return (
        f"default-src 'none'; script-src '{_sha256(script)}'; style-src '{_sha256(style)}'; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )


def render_html(data: dict[str, Any], title: str) -> str:
    """The whole page for the case ``data`` (the JSON object of docs/report-html.md)."""
    page, script, style = _asset("report.html"), _asset("report.js"), _asset("report.css")
    parts = {
        "@@CSP@@": html.escape(content_policy(script, style)),
        "@@TITLE@@": html.escape(title),
        "@@STYLE@@": style,
        "@@SCRIPT@@": script,
        "@@DATA@@": embedded_json(data),
    }
    for marker in parts:
        if page.count(marker) != 1:
            raise RuntimeError(f"report.html must hold {marker} exactly once")
    # one pass, so that no replacement is searched again for the markers that follow
    out: list[str] = []
    rest = page
    while rest:
        at = min(((rest.find(m), m) for m in parts if m in rest), default=None)
        if at is None:
            out.append(rest)
            break
        index, marker = at
        out.append(rest[:index])
        out.append(parts[marker])
        rest = rest[index + len(marker) :]
    return "".join(out)
