"""Contact directories: resolve party ids to addresses at send time, and the address hash.

Sentinelle keeps no customer contact data (DESIGN.md, Principles). When notices go out, the
ids in an incident's scope are resolved through a directory the shop provides, and only a
keyed hash of each address (:func:`hash_address`) is kept, for exactly-once delivery.

A *key* is ``(merchant, party)``: ``(shop id, data-subject id)`` for a customer, and
``(None, merchant id)`` for a merchant's own contacts. :func:`open_directory` picks the adapter
from a spec string:

``PATH.csv``
    A CSV file with the header ``subject,merchant,email,name,locale`` (any order, no other
    column), UTF-8 (a byte-order mark is allowed).
``PATH.jsonl`` / ``PATH.ndjson``
    One JSON object per line with the same fields (``subject`` and ``email`` required;
    ``merchant``, ``name`` and ``locale`` may be absent or null). Blank lines are skipped.
``sql:<SQLAlchemy URL>``
    The shop's own database, with a query given separately that takes ``:subject`` (and
    optionally ``:merchant``) and returns an ``email`` column and optionally ``name``,
    ``locale`` and ``merchant``. When ``merchant`` is returned, rows of other shops are
    ignored. ``postgresql://`` URLs use psycopg 3 (the ``postgres`` extra).

Merchants' own contacts use the same format: ``subject`` is the merchant id and ``merchant``
is empty (or null). A merchant may have several contact rows (several addresses); a customer
has exactly one row per shop. Rows are validated: e-mail syntax (ASCII addresses only),
locale (known to Babel; ``fr-CA`` and ``fr_CA`` both accepted), required fields, unknown
fields, control characters in names, bytes that are not UTF-8 and lone surrogates (each on
its own line), and duplicates. Problems name ``file:line`` and the
field, never the address itself, and are capped at :data:`MAX_PROBLEMS`. A file directory is
checked whole by :func:`open_directory`, so a bad file is refused before anything is sent.

:meth:`Directory.lookup` streams :class:`~sentinelle.notify.model.Contact` records (memory
stays flat whatever the directory size: files are read row by row, the SQL adapter runs one
query per key) and afterwards says which keys were not found (:attr:`Lookup.missing`): a
notice that nobody receives must be reported, never dropped silently.
"""

from __future__ import annotations

import abc
import csv
import hashlib
import hmac
import io
import json
import re
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Final

from babel import Locale, UnknownLocaleError

from sentinelle.errors import ConfigError, Problem, StoreError, ValidationError
from sentinelle.keyfile import load_or_create
from sentinelle.notify.model import Contact

__all__ = [
    "FIELDS",
    "KEY_FILE",
    "MAX_PROBLEMS",
    "CsvDirectory",
    "Directory",
    "DirectoryError",
    "JsonLinesDirectory",
    "Key",
    "Lookup",
    "SqlDirectory",
    "address_key",
    "hash_address",
    "normalize_address",
    "open_directory",
    "parse_locale",
]

Key = tuple[str | None, str]
"""``(merchant, party)``: ``(shop, subject)`` for a customer; ``(None, shop)`` for a merchant."""

FIELDS: Final = ("subject", "merchant", "email", "name", "locale")
MAX_PROBLEMS: Final = 20
KEY_FILE: Final = "notify-hash.key"
_KEY_SIZE: Final = 32
_MAX_ADDRESS: Final = 254  # RFC 5321 path limit, less the angle brackets

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL_RE: Final = re.compile(
    rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*\.(?:[A-Za-z]{{2,63}}|xn--[A-Za-z0-9-]{{1,59}})",
    re.ASCII,
)
_CONTROL_RE: Final = re.compile(r"[\x00-\x1f\x7f]")
# Bytes that are not UTF-8, as ``surrogateescape`` decodes them (see _FileDirectory._open).
_NOT_UTF8_RE: Final = re.compile("[\udc80-\udcff]")
_NOT_UTF8: Final = "not valid UTF-8 (save the file as UTF-8)"
_SURROGATE_RE: Final = re.compile("[\ud800-\udfff]")


class DirectoryError(ValidationError):
    """The contact directory was refused as a whole; no notice was sent.

    ``source`` names the file (or ``sql query``); each problem's ``location`` is the line of
    the file (or the number of the result row) and ``path`` the field.
    """

    def __init__(self, problems: list[Problem], *, source: str, truncated: bool = False):
        self.source = source
        super().__init__(problems, unit="line", truncated=truncated)

    def diagnostics(self) -> str:
        head = f"contact directory {self.source} refused, no notice was sent"
        lines = [f"{self.source}:{p.location}: {p.path}: {p.message}" for p in self.problems]
        more = (
            [f"(more errors not shown: only the first {MAX_PROBLEMS} are reported)"]
            if self.truncated
            else []
        )
        return "\n".join([head, *lines, *more])


def normalize_address(email: str) -> str:
    """The form addresses are compared and hashed in: trimmed and lower-cased.

    Local parts are case-sensitive in theory (RFC 5321) but not in practice, and treating
    ``Ann@Shop.example`` and ``ann@shop.example`` as two people would send two notices.
    """
    return email.strip().lower()


def parse_locale(text: str) -> str | None:
    """``"fr-CA"`` or ``"fr_CA"`` → ``"fr_CA"``; ``None`` if Babel does not know the locale."""
    try:
        return str(Locale.parse(text.strip(), sep="-" if "-" in text else "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return None


class _Checker:
    """Validates rows one at a time, remembering just enough to find duplicates.

    Duplicates are found through a 16-byte digest of each key (and, for merchants, of each
    address), so memory grows by a few bytes per row and no address is held.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []
        self.truncated = False
        self.count = 0  # problems seen, including those past the cap
        self._seen: dict[bytes, int] = {}

    def add(self, line: int, field: str, message: str) -> None:
        self.count += 1
        if len(self.problems) >= MAX_PROBLEMS:
            self.truncated = True
            return
        self.problems.append(Problem(line, field, message))

    @property
    def full(self) -> bool:
        return self.truncated

    def raise_if_bad(self) -> None:
        if self.problems:
            raise DirectoryError(self.problems, source=self.source, truncated=self.truncated)

    def row(self, line: int, values: dict[str, Any]) -> Contact | None:
        """Check one row; return its contact, or ``None`` after recording its problems."""
        before = self.count
        unknown = sorted(set(values) - set(FIELDS))
        for fld in unknown:
            self.add(line, fld, f"unknown field (expected: {', '.join(FIELDS)})")
        out: dict[str, str | None] = {}
        for fld in FIELDS:
            value = values.get(fld)
            if value is not None and not isinstance(value, str):
                self.add(line, fld, f"must be a string, not {type(value).__name__}")
                value = None
            value = value.strip() if value is not None else None
            if value and _SURROGATE_RE.search(value):
                # A JSON escape or a database value no message can carry: refused here, not
                # mid-run when the notice is encoded.
                self.add(line, fld, "contains a lone surrogate (such as \\udce9): not text")
                value = None
            out[fld] = value or None
        subject, email, locale, name = out["subject"], out["email"], out["locale"], out["name"]
        if subject is None:
            self.add(line, "subject", "missing (the customer id, or the merchant id)")
        if email is None:
            self.add(line, "email", "missing")
        elif len(email) > _MAX_ADDRESS or not _EMAIL_RE.fullmatch(email):
            # Never echo the address: error messages end up in logs and terminals.
            self.add(line, "email", "not a valid e-mail address")
        if locale is not None:
            locale = parse_locale(locale)
            if locale is None:
                self.add(line, "locale", "unknown locale (expected e.g. en, fr, fr_CA)")
        if name is not None and _CONTROL_RE.search(name):
            self.add(line, "name", "contains a control character")
        if self.count != before or subject is None or email is None:
            return None
        merchant = out["merchant"]
        key = json.dumps([merchant, subject]).encode()
        # A customer has one address per shop; a merchant may have several, but not twice
        # the same one.
        dup_key = key if merchant is not None else key + b"\0" + normalize_address(email).encode()
        digest = hashlib.blake2b(dup_key, digest_size=16).digest()
        first = self._seen.get(digest)
        if first is not None:
            what = "customer and shop" if merchant is not None else "merchant and address"
            self.add(line, "subject", f"duplicate: same {what} as line {first}")
            return None
        self._seen[digest] = line
        return Contact(party=subject, email=email, name=name, locale=locale, merchant=merchant)


class Lookup(Iterator[Contact]):
    """The contacts found for a set of keys, streamed; then :attr:`missing`.

    Raises :class:`DirectoryError` at the end of iteration if a row read on the way was bad.
    """

    def __init__(self, wanted: set[Key], contacts: Iterator[Contact]) -> None:
        self._wanted = wanted
        self._found: set[Key] = set()
        self._contacts = contacts
        self._done = False

    def __iter__(self) -> Lookup:
        return self

    def __next__(self) -> Contact:
        try:
            contact = next(self._contacts)
        except StopIteration:
            self._done = True
            raise
        self._found.add((contact.merchant, contact.party))
        return contact

    @property
    def missing(self) -> list[Key]:
        """Keys asked for that no row matched, sorted. Only known once iteration has ended.

        Raises :class:`RuntimeError` if read before the lookup is exhausted.
        """
        if not self._done:
            raise RuntimeError("Lookup.missing is only known once every contact has been read")
        return sorted(self._wanted - self._found, key=lambda k: (k[0] or "", k[1]))


class Directory(abc.ABC):
    """Where contact details come from. Subclasses yield checked contacts for wanted keys."""

    source: str

    def lookup(self, keys: Iterable[Key]) -> Lookup:
        """Stream the contacts of ``keys`` (ids only are held; contacts one at a time).

        Raises :class:`DirectoryError` at the end of iteration if a row read was invalid.
        """
        wanted = set(keys)
        return Lookup(wanted, self.contacts(wanted))

    @abc.abstractmethod
    def contacts(self, wanted: set[Key]) -> Iterator[Contact]:
        """Yield the valid contacts whose key is in ``wanted``, without keeping track of the
        keys found (:meth:`lookup` does); raise :class:`DirectoryError` if a row read was bad."""

    def close(self) -> None:  # noqa: B027 - optional hook, most directories hold nothing
        """Release what the directory holds (a database connection pool)."""


class _FileDirectory(Directory):
    """A file read row by row on each lookup; checked whole when opened."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.source = str(path)
        self.check()

    def check(self) -> None:
        """Read the whole file and raise :class:`DirectoryError` if any row is bad."""
        checker = _Checker(self.source)
        for _ in self._rows(checker):
            if checker.full:
                break
        checker.raise_if_bad()

    def contacts(self, wanted: set[Key]) -> Iterator[Contact]:
        checker = _Checker(self.source)
        for contact in self._rows(checker):
            if (contact.merchant, contact.party) in wanted:
                yield contact
        checker.raise_if_bad()  # the file changed since it was opened

    def _open(self) -> io.TextIOWrapper:
        # Bytes that are not UTF-8 become lone surrogates, found row by row: a strict decoder
        # would fail on the block it reads ahead, naming a line before the bad one.
        try:
            return open(self.path, encoding="utf-8-sig", errors="surrogateescape", newline="")
        except OSError as exc:
            raise ConfigError(f"cannot read contact directory {self.path}: {exc.strerror}") from exc

    @abc.abstractmethod
    def _rows(self, checker: _Checker) -> Iterator[Contact]:
        """Yield the valid rows, recording problems of the others in ``checker``."""


class CsvDirectory(_FileDirectory):
    """A CSV file with the header ``subject,merchant,email,name,locale``."""

    def _rows(self, checker: _Checker) -> Iterator[Contact]:
        with self._open() as fh:
            reader = csv.reader(fh, strict=True)
            try:
                header = next(reader, None)
                if header is None:
                    checker.add(1, "header", f"file is empty (expected: {','.join(FIELDS)})")
                    return
                header = [h.strip() for h in header]
                if any(_NOT_UTF8_RE.search(h) for h in header):
                    checker.add(1, "header", _NOT_UTF8)
                    return
                missing = [f for f in FIELDS if f not in header]
                extra = [h for h in header if h not in FIELDS]
                doubled = sorted({h for h in header if header.count(h) > 1})
                for f in missing:
                    checker.add(1, f, "column missing from the header")
                for f in extra:
                    checker.add(1, f or "header", "unknown column")
                for f in doubled:
                    checker.add(1, f, "column appears twice in the header")
                if missing or extra or doubled:
                    return
                for cells in reader:
                    line = reader.line_num
                    if not any(c.strip() for c in cells):
                        continue
                    bad = [f for f, c in zip(header, cells, strict=False) if _NOT_UTF8_RE.search(c)]
                    if bad:
                        for f in bad:
                            checker.add(line, f, _NOT_UTF8)
                        continue
                    if len(cells) != len(header):
                        where = FIELDS[0] if len(cells) > len(header) else header[len(cells)]
                        checker.add(
                            line, where, f"row has {len(cells)} cells, header has {len(header)}"
                        )
                        continue
                    contact = checker.row(line, dict(zip(header, cells, strict=True)))
                    if contact is not None:
                        yield contact
            except csv.Error as exc:
                checker.add(reader.line_num, "row", f"malformed CSV: {exc}")


class JsonLinesDirectory(_FileDirectory):
    """A JSON-lines file: one object with the directory fields per line."""

    def _rows(self, checker: _Checker) -> Iterator[Contact]:
        with self._open() as fh:
            for line, text in enumerate(fh, start=1):
                if not text.strip():
                    continue
                if _NOT_UTF8_RE.search(text):
                    checker.add(line, "$", _NOT_UTF8)
                    continue
                try:
                    value = json.loads(text)
                except json.JSONDecodeError as exc:
                    checker.add(line, "$", f"not JSON: {exc.msg}")
                    continue
                if not isinstance(value, dict):
                    checker.add(line, "$", "not a JSON object")
                    continue
                contact = checker.row(line, value)
                if contact is not None:
                    yield contact


class SqlDirectory(Directory):
    """The shop's database: one query per key, through SQLAlchemy.

    The query must take ``:subject`` and may take ``:merchant``; it returns ``email`` and
    optionally ``name``, ``locale`` and ``merchant``.

    Raises :class:`~sentinelle.errors.ConfigError` on construction if the query does not take
    ``:subject``, takes other parameters, or the database cannot be reached.
    """

    def __init__(self, url: str, query: str) -> None:
        try:
            import sqlalchemy as sa
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise ConfigError("SQL contact directories need SQLAlchemy") from exc
        self.source = "sql query"
        self._sa = sa
        self._query = sa.text(query)
        params = set(self._query.compile().params)
        if "subject" not in params:
            raise ConfigError("the contact directory query must take :subject")
        if params - {"subject", "merchant"}:
            extra = ", ".join(f":{p}" for p in sorted(params - {"subject", "merchant"}))
            raise ConfigError(f"the contact directory query takes unknown parameters {extra}")
        self._takes_merchant = "merchant" in params
        try:
            self._engine = sa.create_engine(_driver_url(url))
            with self._engine.connect():
                pass
        except ImportError as exc:
            raise ConfigError(f"contact directory database driver missing: {exc}") from exc
        except sa.exc.ArgumentError as exc:
            raise ConfigError(f"bad contact directory database URL: {exc}") from exc
        except sa.exc.SQLAlchemyError as exc:
            # The message may hold the URL with its password; say only what kind of failure.
            raise ConfigError(
                f"cannot connect to the contact directory database ({type(exc).__name__})"
            ) from None

    def contacts(self, wanted: set[Key]) -> Iterator[Contact]:
        sa = self._sa
        checker = _Checker(self.source)
        row_number = 0
        ordered = sorted(wanted, key=lambda k: (k[0] or "", k[1]))
        try:
            with self._engine.connect() as conn:
                for merchant, party in ordered:
                    params: dict[str, str | None] = {"subject": party}
                    if self._takes_merchant:
                        params["merchant"] = merchant
                    result = conn.execute(self._query, params)
                    columns = set(result.keys())
                    if "email" not in columns:
                        raise ConfigError("the contact directory query returns no email column")
                    for row in result.mappings():
                        row_number += 1
                        values = {k: v for k, v in row.items() if k in FIELDS}
                        got = values.get("merchant")
                        if "merchant" in columns and (got or None) != merchant:
                            continue  # another shop's customer with the same id
                        values["subject"] = party
                        values["merchant"] = merchant
                        contact = checker.row(row_number, values)
                        if contact is not None:
                            yield contact
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(
                f"the contact directory query failed ({type(exc).__name__}): "
                f"{getattr(exc, 'orig', None) or ''}".rstrip(": ")
            ) from None
        checker.raise_if_bad()

    def close(self) -> None:
        """Dispose of the connection pool."""
        self._engine.dispose()


def _driver_url(url: str) -> str:
    """``postgresql://`` → ``postgresql+psycopg://``: we ship psycopg 3, not psycopg2."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def open_directory(spec: str, *, query: str | None = None) -> Directory:
    """Open the directory ``spec`` names: ``PATH.csv``, ``PATH.jsonl``, ``PATH.ndjson`` or
    ``sql:<SQLAlchemy URL>`` (then ``query`` is required).

    Raises :class:`DirectoryError` if a file has bad rows (nothing may be sent), and
    :class:`~sentinelle.errors.ConfigError` for an unknown kind, an unreadable file, a
    missing or bad query, or an unreachable database.
    """
    if spec.startswith("sql:"):
        if not query:
            raise ConfigError("an sql: contact directory needs a query taking :subject")
        return SqlDirectory(spec[len("sql:") :], query)
    if query is not None:
        raise ConfigError("a query is only used with an sql: contact directory")
    path = Path(spec)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return CsvDirectory(path)
    if suffix in (".jsonl", ".ndjson"):
        return JsonLinesDirectory(path)
    raise ConfigError(
        f"unknown contact directory {spec!r}: expected PATH.csv, PATH.jsonl, PATH.ndjson "
        "or sql:<SQLAlchemy URL>"
    )


def address_key(data_dir: Path) -> bytes:
    """The secret key of :func:`hash_address`, from ``data_dir/notify-hash.key``.

    Created on first use: 32 random bytes, mode 0600, written to a temporary file and
    hard-linked into place so it is never readable by others, never half written, and two
    concurrent creators end up with the same key (:mod:`sentinelle.keyfile`, as for the
    ledger signing key).

    Raises :class:`~sentinelle.errors.ConfigError` if the file is accessible by group or
    others, is not 32 bytes, or cannot be read or created.
    """
    path = data_dir / KEY_FILE
    return load_or_create(
        path,
        what="address hash key",
        make=lambda: secrets.token_bytes(_KEY_SIZE),
        parse=lambda data: _sized(data, path),
    )


def _sized(data: bytes, path: Path) -> bytes:
    if len(data) != _KEY_SIZE:
        raise ConfigError(f"address hash key {path} is not {_KEY_SIZE} bytes")
    return data


def hash_address(key: bytes, email: str) -> str:
    """HMAC-SHA256 of the normalised address (:func:`normalize_address`), in hex.

    Keyed, because a plain hash of an e-mail address is easily reversed by guessing.
    """
    return hmac.new(key, normalize_address(email).encode("utf-8"), hashlib.sha256).hexdigest()
