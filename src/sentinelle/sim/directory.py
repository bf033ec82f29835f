"""A synthetic contact directory matching a simulation: what the shop's own customer and
merchant databases would answer when Sentinelle resolves ids to send notices.

Every address is under the reserved domains ``example.com`` (customers) and ``example.org``
(merchants) (RFC 2606), so a notice sent by mistake to a real server goes nowhere. Names and
languages are derived from the ids by hashing, never from the simulation's random streams, so
writing a directory leaves the events unchanged. Languages follow the shop's country (a
Belgian shop's customers speak French or Dutch; one customer in ten prefers English).

About one customer number in fifty is the *same person* at every shop where that number
exists (same name and address): a person who is a customer of two affected shops, who must
get one notice, not two.

Files (CSV, UTF-8, header row): ``customers.csv`` with ``subject,merchant,email,name,locale``
and ``merchants.csv`` with the same columns, ``subject`` being the merchant id and
``merchant`` empty.
"""

from __future__ import annotations

import csv
import hashlib
import io
import unicodedata
from collections.abc import Iterator
from typing import Final

from sentinelle.sim.world import Merchant

__all__ = ["COLUMNS", "customer_rows", "merchant_rows"]

COLUMNS: Final = ("subject", "merchant", "email", "name", "locale")

_LOCALES: Final = {
    "FR": ("fr_FR",),
    "BE": ("fr_BE", "nl_BE"),
    "DE": ("de_DE",),
    "ES": ("es_ES",),
    "IT": ("it_IT",),
    "NL": ("nl_NL",),
    "GB": ("en_GB",),
    "IE": ("en_IE",),
    "PT": ("pt_PT",),
    "PL": ("pl_PL",),
    "SE": ("sv_SE",),
}

_NAMES: Final = {
    "fr": (
        ("Camille", "Léa", "Hugo", "Louis", "Chloé", "Jules", "Inès", "Théo"),
        ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand"),
    ),
    "nl": (
        ("Daan", "Emma", "Sem", "Julia", "Lucas", "Mila", "Finn", "Tess"),
        ("de Jong", "Jansen", "de Vries", "van den Berg", "Bakker", "Visser", "Smit", "Meijer"),
    ),
    "de": (
        ("Lukas", "Mia", "Leon", "Hannah", "Paul", "Lena", "Felix", "Marie"),
        ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker"),
    ),
    "es": (
        ("Lucía", "Hugo", "Martina", "Mateo", "Sofía", "Leo", "María", "Pablo"),
        ("García", "Rodríguez", "González", "Fernández", "López", "Martínez", "Sánchez", "Pérez"),
    ),
    "it": (
        ("Giulia", "Leonardo", "Sofia", "Francesco", "Aurora", "Lorenzo", "Alice", "Mattia"),
        ("Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci"),
    ),
    "en": (
        ("Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Jack", "Sophie"),
        ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Evans", "Murphy"),
    ),
    "pt": (
        ("Maria", "João", "Leonor", "Francisco", "Matilde", "Santiago", "Beatriz", "Tomás"),
        ("Silva", "Santos", "Ferreira", "Pereira", "Oliveira", "Costa", "Rodrigues", "Martins"),
    ),
    "pl": (
        ("Zofia", "Antoni", "Hanna", "Jan", "Julia", "Aleksander", "Maja", "Franciszek"),
        (
            "Nowak",
            "Kowalski",
            "Wiśniewski",
            "Wójcik",
            "Kowalczyk",
            "Kamiński",
            "Lewandowski",
            "Zieliński",
        ),
    ),
    "sv": (
        ("Alice", "William", "Maja", "Hugo", "Elsa", "Liam", "Astrid", "Noah"),
        (
            "Andersson",
            "Johansson",
            "Karlsson",
            "Nilsson",
            "Eriksson",
            "Larsson",
            "Olsson",
            "Persson",
        ),
    ),
}

_SHOP_WORDS: Final = (
    "Atelier",
    "Maison",
    "Studio",
    "Comptoir",
    "Boutique",
    "Workshop",
    "Market",
    "Corner",
)
_SHOP_THINGS: Final = (
    "Lumière",
    "Verde",
    "Nord",
    "Azur",
    "Tilia",
    "Cobalt",
    "Sable",
    "Orchard",
)


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in plain.lower() if c.isalnum())


def _person(key: str, locale: str) -> tuple[str, str]:
    """A name, and the local part of an address, for ``key`` in ``locale``'s language."""
    h = _hash(key)
    first, last = _NAMES[locale.split("_")[0]]
    given, family = first[h % len(first)], last[(h >> 8) % len(last)]
    return f"{given} {family}", f"{_ascii(given)}.{_ascii(family)}"


def _customer(merchant: Merchant, number: int) -> tuple[str, str, str, str, str]:
    subject = merchant.customer(number)
    if _hash(f"shared:{number}") % 50 == 0:
        # The same person at every shop where this customer number exists.
        key, locale = f"person:{number}", "en_GB" if number % 2 else "fr_FR"
        name, local = _person(key, locale)
        return subject, merchant.id, f"{local}.{number}@example.com", name, locale
    h = _hash(subject)
    locales = _LOCALES.get(merchant.country, ("en_GB",))
    locale = "en_GB" if h % 10 == 0 else locales[(h >> 4) % len(locales)]
    name, local = _person(subject, locale)
    email = f"{local}.{merchant.id.removeprefix('m-')}-{number}@example.com"
    return subject, merchant.id, email, name, locale


def customer_rows(merchants: list[Merchant]) -> Iterator[tuple[str, str, str, str, str]]:
    """Every customer of every merchant, as ``COLUMNS`` rows, merchant by merchant."""
    for merchant in merchants:
        for number in range(1, merchant.size + 1):
            yield _customer(merchant, number)


def merchant_rows(merchants: list[Merchant]) -> Iterator[tuple[str, str, str, str, str]]:
    """Each merchant's privacy contact (its shop name, in its country's first language)."""
    for merchant in merchants:
        h = _hash(merchant.id)
        shop = f"{_SHOP_WORDS[h % len(_SHOP_WORDS)]} {_SHOP_THINGS[(h >> 8) % len(_SHOP_THINGS)]}"
        name = f"{shop} ({merchant.id})"
        locale = _LOCALES.get(merchant.country, ("en_GB",))[0]
        email = f"privacy.{merchant.id.removeprefix('m-')}@example.org"
        yield merchant.id, "", email, name, locale


def csv_bytes(rows: Iterator[tuple[str, ...]], *, chunk: int = 1 << 20) -> Iterator[bytes]:
    """The rows as CSV with the ``COLUMNS`` header, in chunks of about ``chunk`` bytes."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(row)
        if buffer.tell() >= chunk:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()
