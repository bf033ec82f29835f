"""REST API (FastAPI). Needs the ``api`` extra."""

from __future__ import annotations

__all__ = ["create_app"]


def __getattr__(name: str) -> object:
    if name == "create_app":
        from sentinelle.api.main import create_app

        return create_app
    raise AttributeError(name)
