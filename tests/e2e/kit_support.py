"""Sentinelle's real API under uvicorn on a loopback port, in a thread, for the client kit's
tests: it can be stopped and started again on the same port (Sentinelle "down" and "back"),
on the same store."""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from sentinelle.access import Role
from sentinelle.access.accounts import create_key
from sentinelle.api.deps import State
from sentinelle.api.main import create_app
from sentinelle.config import Settings
from served import served


class Sentinelle:
    """The API for ``settings`` with the guard ``policy``; ``keys`` by role name."""

    def __init__(self, settings: Settings, policy: Path) -> None:
        self.settings = settings.model_copy(update={"guard_policy": policy})
        self.port = 0
        self.keys: dict[str, str] = {}
        self.state: State | None = None
        self._serving: ExitStack | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        app = create_app(self.settings)
        self.state = app.state.sentinelle
        self._serving = ExitStack()
        url = self._serving.enter_context(served(app, port=self.port, what="Sentinelle"))
        self.port = int(url.rsplit(":", 1)[1])  # the same port again after a stop
        if not self.keys:
            store = self.state.store
            self.keys = {
                "guard": create_key(store, name="console", role=Role.GUARD, by="t"),
                "ingest": create_key(store, name="console-events", role=Role.INGEST, by="t"),
                "admin": create_key(store, name="admin", role=Role.ADMIN, by="t"),
                "m-1": create_key(store, name="shop1", role=Role.MERCHANT, merchant="m-1", by="t"),
            }

    @property
    def running(self) -> bool:
        """Whether it serves now (between :meth:`start` and :meth:`stop`)."""
        return self._serving is not None

    def stop(self) -> None:
        assert self._serving is not None
        self._serving.close()
        self._serving = None

    def post(self, path: str, body: Any, *, key: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[key]}"}
        return httpx.post(self.url + path, json=body, headers=headers, timeout=30)

    def event(self, event_id: str) -> dict[str, Any] | None:
        """The stored event's body, or ``None``."""
        assert self.state is not None
        found = self.state.store.event_by_id(event_id)
        if found is None:
            return None
        body: dict[str, Any] = json.loads(found[1])
        return body

    def ledger_size(self) -> int:
        assert self.state is not None
        return self.state.store.ledger_size()

    def approved_grant(self, **fields: Any) -> str:
        """A grant for agent-1 at m-1 (``fields`` override), approved by the merchant."""
        body = {
            "actor": "agent-1",
            "merchant": "m-1",
            "actions": ["search"],
            "data": ["contact", "address"],
            "max_records": 50,
            "reason": "the merchant's recall of a faulty batch",
            **fields,
        }
        asked = self.post("/v1/grants", body, key="guard")
        assert asked.status_code == 201, asked.text
        grant: str = asked.json()["id"]
        approved = self.post(f"/v1/merchants/m-1/grants/{grant}/approve", None, key="m-1")
        assert approved.status_code == 200, approved.text
        return grant
