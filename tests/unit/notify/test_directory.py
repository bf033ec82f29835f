"""Contact directories: row validation, lookups, missing ids, SQL adapters, the address hash."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from sentinelle.errors import ConfigError, ValidationError
from sentinelle.notify.directory import (
    KEY_FILE,
    MAX_PROBLEMS,
    DirectoryError,
    SqlDirectory,
    address_key,
    hash_address,
    open_directory,
)

HEADER = "subject,merchant,email,name,locale\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(*rows: Mapping[str, object]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


# --- validation ------------------------------------------------------------------------------

BAD_ROWS = [
    # (file name, content, expected line, expected field, words in the message)
    ("d.csv", HEADER + "c-1,m-1,not-an-address,Ann,en\n", 2, "email", "not a valid"),
    ("d.csv", HEADER + "c-1,m-1,ann@@shop.example,Ann,en\n", 2, "email", "not a valid"),
    ("d.csv", HEADER + "c-1,m-1,ann@localhost,Ann,en\n", 2, "email", "not a valid"),
    ("d.csv", HEADER + "c-1,m-1,,Ann,en\n", 2, "email", "missing"),
    ("d.csv", HEADER + ",m-1,ann@shop.example,Ann,en\n", 2, "subject", "missing"),
    ("d.csv", HEADER + "c-1,m-1,ann@shop.example,Ann,xx_QQ\n", 2, "locale", "unknown locale"),
    ("d.csv", HEADER + "c-1,m-1,ann@shop.example,Ann\n", 2, "locale", "4 cells"),
    ("d.csv", "subject,merchant,email,name\nc-1,m-1,a@shop.example,Ann\n", 1, "locale", "missing"),
    ("d.csv", "subject,merchant,email,name,locale,phone\n", 1, "phone", "unknown column"),
    ("d.csv", "", 1, "header", "empty"),
    (
        "d.csv",
        HEADER + "c-1,m-1,a@shop.example,Ann,en\nc-2,m-1,b@shop.example,Bo,fr\n"
        "c-1,m-1,c@shop.example,Cy,fr\n",
        4,
        "subject",
        "line 2",
    ),
    (
        "d.jsonl",
        jsonl({"subject": "c-1", "merchant": "m-1", "email": "bad", "name": None, "locale": None}),
        1,
        "email",
        "not a valid",
    ),
    ("d.jsonl", jsonl({"subject": "c-1", "merchant": "m-1"}), 1, "email", "missing"),
    (
        "d.jsonl",
        jsonl({"subject": "c-1", "email": "a@shop.example", "emial": "x"}),
        1,
        "emial",
        "unknown field",
    ),
    ("d.jsonl", '\n{"subject": "c-1",\n', 2, "$", "not JSON"),
    ("d.ndjson", jsonl({"subject": 7, "email": "a@shop.example"}), 1, "subject", "string"),
    ("d.jsonl", "[1, 2]\n", 1, "$", "not a JSON object"),
    # An escape JSON allows but no message can carry (UTF-8 has no lone surrogates).
    (
        "d.jsonl",
        '{"subject": "c-1", "email": "a@shop.example", "name": "Th\\udce9o"}\n',
        1,
        "name",
        "surrogate",
    ),
    (
        "d.jsonl",
        jsonl({"subject": "c-1", "email": "a@shop.example", "name": "Ann\r\nBcc: x"}),
        1,
        "name",
        "control character",
    ),
    (
        "d.jsonl",
        jsonl(
            {"subject": "m-1", "email": "ops@shop.example"},
            {"subject": "m-1", "email": "OPS@shop.example "},
        ),
        2,
        "subject",
        "line 1",
    ),
]


@pytest.mark.parametrize(("name", "content", "line", "field", "words"), BAD_ROWS)
def test_bad_rows_are_refused_with_file_line_and_field(
    tmp_path: Path, name: str, content: str, line: int, field: str, words: str
) -> None:
    path = write(tmp_path, name, content)
    with pytest.raises(DirectoryError) as info:
        open_directory(str(path))
    err = info.value
    assert isinstance(err, ValidationError)
    hits = [p for p in err.problems if p.location == line and p.path == field]
    assert hits, err.diagnostics()
    assert words in hits[0].message
    assert f"{path}:{line}: {field}:" in err.diagnostics()
    assert "nothing" in err.diagnostics() or "no notice" in err.diagnostics()


@pytest.mark.parametrize(
    ("name", "row", "field"),
    [
        ("d.csv", "c-{i},m-1,p{i}@shop.example,{name},fr\n", "name"),
        (
            "d.jsonl",
            '{{"subject": "c-{i}", "email": "p{i}@shop.example", "name": "{name}"}}\n',
            "$",
        ),
    ],
)
def test_bytes_not_utf8_are_refused_on_their_own_line(
    tmp_path: Path, name: str, row: str, field: str
) -> None:
    # A spreadsheet's export in Windows-1252: the bad byte is far into the file, past the
    # first block the reader decodes; the error must name its line, not the block's.
    text = "".join(row.format(i=i, name="Ann") for i in range(1, 450))
    bad = row.format(i=450, name="Théo")
    after = "".join(row.format(i=i, name="Ann") for i in range(451, 1000))
    path = tmp_path / name
    path.write_bytes(
        ((HEADER if name.endswith(".csv") else "") + text).encode()
        + bad.encode("cp1252")
        + after.encode()
    )
    line = 451 if name.endswith(".csv") else 450
    with pytest.raises(DirectoryError) as info:
        open_directory(str(path))
    assert [(p.location, p.path) for p in info.value.problems] == [(line, field)]
    assert "not valid UTF-8" in info.value.problems[0].message


def test_header_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(HEADER.replace("name", "nom_complété").encode("cp1252"))
    with pytest.raises(DirectoryError) as info:
        open_directory(str(path))
    assert [(p.location, p.path) for p in info.value.problems] == [(1, "header")]
    assert "not valid UTF-8" in info.value.problems[0].message


def test_problems_never_echo_the_address(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", HEADER + "c-1,m-1,secret.person@@example.org,Ann,en\n")
    with pytest.raises(DirectoryError) as info:
        open_directory(str(path))
    assert "secret.person" not in info.value.diagnostics()


def test_problems_are_capped(tmp_path: Path) -> None:
    rows = "".join(f"c-{i},m-1,bad-{i},,\n" for i in range(MAX_PROBLEMS + 5))
    path = write(tmp_path, "d.csv", HEADER + rows)
    with pytest.raises(DirectoryError) as info:
        open_directory(str(path))
    assert len(info.value.problems) == MAX_PROBLEMS
    assert info.value.truncated
    assert "more errors not shown" in info.value.diagnostics()


def test_merchant_may_have_several_addresses_customer_only_one(tmp_path: Path) -> None:
    ok = write(tmp_path, "m.csv", HEADER + "m-1,,ops@shop.example,,\nm-1,,dpo@shop.example,,\n")
    directory = open_directory(str(ok))
    assert sorted(c.email for c in directory.lookup([(None, "m-1")])) == [
        "dpo@shop.example",
        "ops@shop.example",
    ]
    bad = write(tmp_path, "c.csv", HEADER + "c-1,m-1,a@shop.example,,\nc-1,m-1,b@shop.example,,\n")
    with pytest.raises(DirectoryError, match="duplicate"):
        open_directory(str(bad))


# --- lookups ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_lookup_streams_wanted_contacts_and_reports_missing(tmp_path: Path, kind: str) -> None:
    rows = [
        {
            "subject": "c-1",
            "merchant": "m-1",
            "email": "ann@a.example",
            "name": "Ann",
            "locale": "fr-CA",
        },
        {"subject": "c-2", "merchant": "m-1", "email": "bo@b.example", "name": "", "locale": ""},
        {
            "subject": "c-1",
            "merchant": "m-2",
            "email": "cy@c.example",
            "name": "Cy",
            "locale": "en",
        },
        {
            "subject": "m-1",
            "merchant": "",
            "email": "ops@m1.example",
            "name": "Ops",
            "locale": "fr",
        },
    ]
    if kind == "csv":
        content = HEADER + "".join(
            ",".join(str(r[f]) for r in [row] for f in r) + "\n" for row in rows
        )
    else:
        content = jsonl(*rows)
    directory = open_directory(str(write(tmp_path, f"d.{kind}", content)))
    lookup = directory.lookup([("m-1", "c-1"), ("m-1", "c-2"), ("m-1", "c-404"), (None, "m-1")])
    with pytest.raises(RuntimeError):
        _ = lookup.missing  # not known before the end
    got = {(c.merchant, c.party): c for c in lookup}
    assert set(got) == {("m-1", "c-1"), ("m-1", "c-2"), (None, "m-1")}
    assert got[("m-1", "c-1")].locale == "fr_CA"
    assert got[("m-1", "c-2")].name is None and got[("m-1", "c-2")].locale is None
    assert lookup.missing == [("m-1", "c-404")]


def test_lookup_is_a_stream(tmp_path: Path) -> None:
    n = 5000
    rows = "".join(f"c-{i},m-1,p{i}@shop.example,,\n" for i in range(n))
    directory = open_directory(str(write(tmp_path, "big.csv", HEADER + rows)))
    lookup = directory.lookup(("m-1", f"c-{i}") for i in range(n))
    assert isinstance(lookup, Iterator)
    first = next(lookup)
    assert first.party == "c-0"
    assert sum(1 for _ in lookup) == n - 1
    assert lookup.missing == []


@pytest.mark.parametrize(
    ("spec", "query", "words"),
    [
        ("contacts.txt", None, "unknown contact directory"),
        ("sql:sqlite://", None, "needs a query"),
        ("contacts.csv", "select 1", "only used with an sql"),
        ("missing.csv", None, "cannot read"),
        ("sql:sqlite://", "select email from t where id = :id", ":subject"),
        ("sql:nosuchdb://x", "select :subject as email", "URL"),
    ],
)
def test_bad_specs(tmp_path: Path, spec: str, query: str | None, words: str) -> None:
    if spec.endswith(".csv") and not spec.startswith("missing"):
        write(tmp_path, spec, HEADER)
    full = spec if spec.startswith("sql:") else str(tmp_path / spec)
    with pytest.raises(ConfigError, match=words):
        open_directory(full, query=query)


# --- SQL -------------------------------------------------------------------------------------

QUERY = "SELECT email, name, locale, store AS merchant FROM customers WHERE id = :subject"
ROWS = [
    ("c-1", "m-1", "ann@a.example", "Ann", "fr_FR"),
    ("c-1", "m-2", "other@a.example", "Ann B", "en"),  # same id at another shop
    ("c-2", "m-1", "bo@b.example", None, None),
    ("m-1", None, "ops@m1.example", "Ops", "fr"),  # a merchant's own contact
]


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.integration),
    ]
)
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database holding a ``customers`` table, as SQLAlchemy URL."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'shop.db'}"
        engine = sqlalchemy.create_engine(url)
    else:
        url = request.getfixturevalue("postgres_url")
        engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(
            sqlalchemy.text(
                "CREATE TABLE customers (id text, store text, email text, name text, locale text)"
            )
        )
        for row in ROWS:
            conn.execute(
                sqlalchemy.text("INSERT INTO customers VALUES (:i, :s, :e, :n, :l)"),
                dict(zip("isenl", row, strict=True)),
            )
    engine.dispose()
    return url


def test_sql_lookup(sql_url: str) -> None:
    directory = open_directory(f"sql:{sql_url}", query=QUERY)
    assert isinstance(directory, SqlDirectory)
    try:
        lookup = directory.lookup([("m-1", "c-1"), ("m-1", "c-2"), ("m-1", "c-9"), (None, "m-1")])
        got = {(c.merchant, c.party): (c.email, c.name, c.locale) for c in lookup}
        assert got == {
            ("m-1", "c-1"): ("ann@a.example", "Ann", "fr_FR"),
            ("m-1", "c-2"): ("bo@b.example", None, None),
            (None, "m-1"): ("ops@m1.example", "Ops", "fr"),
        }
        assert lookup.missing == [("m-1", "c-9")]
    finally:
        directory.close()


def test_sql_query_may_take_the_merchant(sql_url: str) -> None:
    query = "SELECT email FROM customers WHERE id = :subject AND store = :merchant"
    directory = open_directory(f"sql:{sql_url}", query=query)
    try:
        got = [(c.merchant, c.email) for c in directory.lookup([("m-2", "c-1")])]
        assert got == [("m-2", "other@a.example")]
    finally:
        directory.close()


def test_sql_bad_rows_refused(sql_url: str) -> None:
    query = (
        "SELECT 'not an address' AS email, NULL AS name, 'zz_ZZ' AS locale WHERE :subject = 'c-1'"
    )
    directory = open_directory(f"sql:{sql_url}", query=query)
    try:
        lookup = directory.lookup([("m-1", "c-1")])
        with pytest.raises(DirectoryError) as info:
            list(lookup)
        assert {p.path for p in info.value.problems} == {"email", "locale"}
        assert "sql query:1: email" in info.value.diagnostics()
    finally:
        directory.close()


def test_sql_duplicate_rows_refused(sql_url: str) -> None:
    query = (
        "SELECT email, store AS merchant FROM customers WHERE store = 'm-1' AND :subject = 'c-1'"
    )
    directory = open_directory(f"sql:{sql_url}", query=query)
    try:
        with pytest.raises(DirectoryError, match="duplicate"):
            list(directory.lookup([("m-1", "c-1")]))
    finally:
        directory.close()


# --- the address hash ------------------------------------------------------------------------


def test_address_key_created_private_and_stable(tmp_path: Path) -> None:
    data = tmp_path / "data"
    key = address_key(data)
    assert len(key) == 32
    assert stat.S_IMODE((data / KEY_FILE).stat().st_mode) == 0o600
    assert address_key(data) == key
    assert address_key(tmp_path / "other") != key


def test_address_key_refuses_a_readable_file(tmp_path: Path) -> None:
    address_key(tmp_path)
    os.chmod(tmp_path / KEY_FILE, 0o640)
    with pytest.raises(ConfigError, match="chmod 600"):
        address_key(tmp_path)


def test_address_key_refuses_a_wrong_size(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE
    path.write_bytes(b"short")
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="32 bytes"):
        address_key(tmp_path)


def test_hash_address_is_hmac_sha256_of_the_normalised_address() -> None:
    # RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
    expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert hash_address(b"Jefe", "  What do ya want for nothing?  ") == expected
    key = b"k" * 32
    assert hash_address(key, "Ann@Shop.Example") == hash_address(key, "ann@shop.example ")
    assert hash_address(key, "ann@shop.example") != hash_address(b"x" * 32, "ann@shop.example")
    independent = hmac.new(key, b"bo@shop.example", hashlib.sha256).hexdigest()
    assert hash_address(key, "BO@shop.example") == independent
