"""Logging in to the console as a browser does, for the console's tests: GET /login (the
pre-session CSRF cookie and field), then POST /login."""

from __future__ import annotations

import re
from typing import Final

import httpx

PASSWORD: Final = "correct horse battery staple"  # noqa: S105 - a test account's
CSRF_FIELD: Final = re.compile(r'name="csrf_token" value="([^"]+)"')


def login(
    client: httpx.Client, email: str, password: str = PASSWORD, *, csrf: str | None = None
) -> httpx.Response:
    """Post the login form (with its own CSRF token unless ``csrf`` replaces it)."""
    form = client.get("/login")
    assert form.status_code == 200, form.text
    found = CSRF_FIELD.search(form.text)
    assert found is not None
    token = found.group(1) if csrf is None else csrf
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


def form_token(page: httpx.Response) -> str:
    """The CSRF token in a page's forms."""
    found = CSRF_FIELD.search(page.text)
    assert found is not None, page.text[:500]
    return found.group(1)
