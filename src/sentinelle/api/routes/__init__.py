"""One router per resource: events, ledger, incidents (with the register)."""

from __future__ import annotations

__all__: list[str] = []
