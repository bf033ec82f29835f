"""``/docs``: the API's reference as one plain HTML page, made here from the OpenAPI document.

FastAPI's own pages (Swagger UI, ReDoc) load their scripts and styles from a CDN: offline, or
behind a proxy that blocks it, they are blank, and a security product should not have its
operators' browsers fetch code from elsewhere. This page has no script at all: every route
with its method, summary, permission, parameters, body and answers, grouped by tag, served
under a strict Content-Security-Policy. ``/openapi.json`` stays the machine-readable source.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from html import escape
from typing import Any, Final

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

__all__ = ["install"]

_METHODS: Final = ("get", "post", "put", "patch", "delete")
_LITERAL: Final = re.compile(r"``(.+?)``|`([^`]+)`")
_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_STYLE: Final = (
    "body{font:15px/1.45 system-ui,sans-serif;max-width:64rem;margin:1.5rem auto;padding:0 1rem;"
    "color:#1b1f24}h2{margin-top:2rem;border-bottom:1px solid #ccd}h3{font-size:1rem;"
    "margin:1.2rem 0 .3rem}code{font:13px ui-monospace,monospace;background:#f2f3f5;"
    "padding:0 .2rem;overflow-wrap:anywhere}.m{display:inline-block;min-width:4.2rem;"
    "font-weight:600}table{border-collapse:collapse;margin:.3rem 0}td,th{border:1px solid #dde;"
    "padding:.15rem .4rem;text-align:left;vertical-align:top}p{margin:.3rem 0}"
    ".small{color:#555;font-size:13px}"
)


def install(app: FastAPI) -> None:
    """Serve the reference at ``/docs`` (the app must have been made with ``docs_url=None``)."""
    page: list[str] = []  # made on the first request: every route is included by then

    @app.get("/docs", include_in_schema=False)
    def reference() -> HTMLResponse:
        if not page:
            page.append(render(app.openapi()))
        return HTMLResponse(page[0], headers=_HEADERS)


def render(document: Mapping[str, Any]) -> str:
    """The HTML page of an OpenAPI ``document``."""
    info = document.get("info", {})
    title = f"{info.get('title', 'API')} {info.get('version', '')}".strip()
    groups: dict[str, list[str]] = {}
    for path, operations in document.get("paths", {}).items():
        for method in _METHODS:
            operation = operations.get(method)
            if operation is not None:
                tag = (operation.get("tags") or ["other"])[0]
                groups.setdefault(tag, []).append(_operation(method, path, operation))
    body = [
        f"<h1>{escape(title)} — API reference</h1>",
        "<p>Every <code>/v1/</code> route needs an API key (<code>Authorization: Bearer "
        "…</code>) whose role grants its permission; a console session stands for the key, "
        "with its <code>X-CSRF-Token</code> header on changes. The machine-readable document: "
        '<a href="/openapi.json"><code>/openapi.json</code></a>.</p>',
        "<p>" + " · ".join(f'<a href="#{_id(t)}">{escape(t)}</a>' for t in groups) + "</p>",
    ]
    for tag, items in groups.items():
        body.append(f'<h2 id="{_id(tag)}">{escape(tag)}</h2>')
        body.extend(items)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} — API reference</title><style>{_STYLE}</style></head>"
        f"<body>{''.join(body)}</body></html>"
    )


def _operation(method: str, path: str, op: Mapping[str, Any]) -> str:
    out = [f'<h3><span class="m">{method.upper()}</span> <code>{escape(path)}</code></h3>']
    if op.get("summary"):
        out.append(f"<p>{_inline(op['summary'])}</p>")
    if op.get("description"):
        out.append(_paragraphs(op["description"]))
    permission = op.get("x-sentinelle-permission")
    if op.get("x-sentinelle-auth") == "signature":
        out.append('<p class="small">Authenticated by the help desk\'s signature.</p>')
    elif permission:
        out.append(f'<p class="small">Permission: <code>{escape(str(permission))}</code></p>')
    params = op.get("parameters") or []
    if params:
        out.append(
            "<table><tr><th>parameter</th><th>in</th><th>type</th><th>about</th></tr>"
            + "".join(_parameter(p) for p in params)
            + "</table>"
        )
    body = op.get("requestBody")
    if body:
        kinds = ", ".join(f"<code>{escape(k)}</code>" for k in body.get("content", {}))
        out.append(f'<p class="small">Body: {kinds}</p>')
    answers = op.get("responses") or {}
    if answers:
        out.append(
            '<p class="small">Answers: '
            + "; ".join(
                f"<code>{escape(str(code))}</code> {_inline(str(r.get('description', '')))}"
                for code, r in answers.items()
            )
            + "</p>"
        )
    return "".join(out)


def _parameter(p: Mapping[str, Any]) -> str:
    schema = p.get("schema") or {}
    kind = _type(schema)
    name = escape(str(p.get("name", "")))
    required = " (required)" if p.get("required") else ""
    about = _inline(str(p.get("description") or schema.get("description") or ""))
    return (
        f"<tr><td><code>{name}</code>{required}</td><td>{escape(str(p.get('in', '')))}</td>"
        f"<td>{escape(kind)}</td><td>{about}</td></tr>"
    )


def _type(schema: Mapping[str, Any]) -> str:
    if "anyOf" in schema:
        return " or ".join(_type(s) for s in schema["anyOf"] if s.get("type") != "null")
    if "enum" in schema:
        return " | ".join(str(v) for v in schema["enum"])
    bounds = [
        f"{label} {schema[key]}"
        for key, label in (("minimum", "≥"), ("maximum", "≤"), ("maxLength", "length ≤"))
        if key in schema
    ]
    kind = str(schema.get("type", "any"))
    return f"{kind} ({', '.join(bounds)})" if bounds else kind


def _paragraphs(text: str) -> str:
    return "".join(f"<p>{_inline(p.strip())}</p>" for p in text.split("\n\n") if p.strip())


def _inline(text: str) -> str:
    """``text`` escaped, its ````literals```` and `literals` (docstrings, Markdown) as code."""
    return _LITERAL.sub(lambda m: f"<code>{m.group(1) or m.group(2)}</code>", escape(text))


def _id(tag: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in tag.lower())
