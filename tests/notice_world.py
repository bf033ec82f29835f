"""The contacts of the incident world (tests/incident_world.py) and the server settings of
notices, as an operator sets them: shared by the tests that send notices over HTTP."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from sentinelle.config import Settings

CUSTOMERS = [  # subject, merchant, email, name, locale
    ("c-0-a", "m-1", "alice@example.org", "Alice", "en"),
    ("c-0-b", "m-1", "bruno@example.org", "Bruno", "fr_FR"),
    ("c-1-a", "m-2", "alice@example.org", "Alice", "en"),  # a customer of both shops
    ("c-1-b", "m-2", "chloe@example.org", "Chloé", "fr"),
    ("c-2-a", "m-2", "dan@example.org", "Dan", "en"),
    # c-2-b is not in the directory
]
PEOPLE = {"alice@example.org", "bruno@example.org", "chloe@example.org", "dan@example.org"}
MERCHANTS = [
    ("m-1", "", "owner@lune.example", "Boutique Lune", "fr"),
    ("m-2", "", "ops@soleil.example", "Atelier Soleil", "en"),
]
AUTHORITY = "breaches@authority.example"


def _write(path: Path, rows: list[tuple[str, ...]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["subject", "merchant", "email", "name", "locale"])
        writer.writerows(rows)
    return path


def configured(settings: Settings, tmp_path: Path, port: int, **changes: Any) -> Settings:
    """``settings`` with the notices' settings as an operator sets them for the server."""
    values: dict[str, Any] = {
        "shop_name": "Demo Shop",
        "shop_domain": "shop.example",
        "dpo_contact": "dpo@shop.example",
        "notify_from": "Demo Shop <privacy@shop.example>",
        "authority_email": AUTHORITY,
        "smtp": f"127.0.0.1:{port}",
        "notify_directory": str(_write(tmp_path / "customers.csv", CUSTOMERS)),
        "merchant_directory": str(_write(tmp_path / "merchants.csv", MERCHANTS)),
    }
    values.update(changes)
    return settings.model_copy(update=values)
