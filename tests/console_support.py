"""The console's test harness: an app with an injected clock and its clients
(:class:`Console`, :func:`open_console`), and logging in as a browser does: GET /login (the
pre-session CSRF cookie and field), then POST /login."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final, TypeVar

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sentinelle.access import Role
from sentinelle.access.accounts import create_user
from sentinelle.api.main import create_app
from sentinelle.config import Settings
from sentinelle.store import Store

PASSWORD: Final = "correct horse battery staple"  # noqa: S105 - a test account's
CSRF_FIELD: Final = re.compile(r'name="csrf_token" value="([^"]+)"')
T0: Final = 1_796_000_000 * 10**6  # the clock's start (microseconds)


@dataclass
class Clock:
    """What the app takes as now (``State.clock``): moved by the tests, never slept."""

    now: int = T0

    def __call__(self) -> int:
        return self.now

    def advance(self, us: int) -> None:
        self.now += us


@dataclass
class Console:
    """An app on ``settings`` with its clock, the clients opened on it and its accounts."""

    app: FastAPI
    store: Store
    clock: Clock
    settings: Settings
    clients: list[TestClient] = field(default_factory=list)

    def client(self, *, https: bool = False) -> TestClient:
        """A new browser (its own cookies), not following redirects."""
        client = TestClient(
            self.app,
            base_url="https://testserver" if https else "http://testserver",
            follow_redirects=False,
        )
        client.__enter__()
        self.clients.append(client)
        return client

    def user(self, email: str, role: Role = Role.DPO, merchant: str | None = None) -> str:
        """An account with :data:`PASSWORD`."""
        create_user(
            self.store, email=email, role=role, password=PASSWORD, merchant=merchant, by="t"
        )
        return email


C = TypeVar("C", bound=Console)


def open_console(settings: Settings, kind: type[C] = Console) -> Iterator[C]:  # type: ignore[assignment]
    """A :class:`Console` (or a subclass, ``kind``) on ``settings``, for a fixture to
    ``yield from``; its clients are closed at the end."""
    app = create_app(settings)
    clock = Clock()
    app.state.sentinelle.clock = clock
    made = kind(app, app.state.sentinelle.store, clock, settings)
    try:
        made.client()  # runs the lifespan
        yield made
    finally:
        for client in reversed(made.clients):
            client.__exit__(None, None, None)


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
