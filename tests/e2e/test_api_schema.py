"""Property-based: every operation of ``/openapi.json`` against the app itself (schemathesis).

The schema is loaded from the app in process (ASGI), on a SQLite store seeded with events, the
alerts detection made of them and an incident. Each operation gets, with an ADMIN key (every
route is reachable; ``test_api_permissions`` covers the refusals):

* schema-valid requests (``positive``),
* schema-violating requests (``negative``; an operation with nothing to violate has none),
* schema-valid requests on what the store holds (``known``: the path parameters are a stored
  incident, event, merchant or alert, so the answers are not all 404),

and schemathesis' standard checks on every answer: no 5xx, a documented status code, content
type and headers, a body that matches the documented schema, invalid input refused and valid
input accepted. Deterministic (``derandomize``) and bounded (``EXAMPLES`` per strategy).

Checks switched off for an operation are in ``RELAXED`` with the reason; nothing else is.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi import checks as openapi_checks

from incident_world import incident_events
from sentinelle.access import Role
from sentinelle.access.accounts import create_key
from sentinelle.api.main import MAX_BODY_BYTES, create_app
from sentinelle.config import Settings
from sentinelle.connectors import VENDORS
from sentinelle.detect import DetectionRunner
from sentinelle.ingest import Ingestor
from sentinelle.sim import generate_events
from sentinelle.timeutil import parse_time

EXAMPLES = 50  # per operation and strategy
MERCHANT = "m-1"

# The document's tags: each is one test, over every operation of the tag (so a new route is
# checked as soon as it exists); an operation with another tag, or none, fails
# test_every_operation_is_checked.
TAGS = [
    "health",
    "events",
    "ledger",
    "alerts",
    "incidents",
    "merchants",
    "actors",
    "integrations",
    "metrics",
    "guard",
    "grants",
    "scim",
]

_VALID_IS_ACCEPTED = openapi_checks.positive_data_acceptance
_CURSOR = (
    "`cursor` is an opaque token the route itself returned: the document says a string of at "
    "most so many characters, and any other string is rightly refused (422)"
)
_WINDOW = (
    "until must be after since (a rule across fields the schema does not state: a 422 names it); "
)
_SCIM_FILTER = (
    "filter is a SCIM filter (RFC 7644 §3.4.2.2): a grammar and the schemas' attribute names "
    "the document's string cannot state; any other string is rightly refused (400 invalidFilter)"
)
_SCIM_BODY = (
    "the body is a SCIM resource or PatchOp (RFC 7643, 7644): its schemas, required attributes, "
    "operations and the uniqueness of userName are rules the document's object does not state; "
    "a 400 or 409 names the attribute"
)
# Checks switched off, per operation, and why. Only "schema-valid input is accepted" (whose
# premise is that the schema says everything the route requires) is ever switched off.
RELAXED: dict[str, dict[Callable[..., Any], str]] = {
    "POST /v1/events": {
        _VALID_IS_ACCEPTED: "each event must match the event schemas "
        "(sentinelle/events/schemas), which the document does not repeat: an array of any "
        "objects is rightly refused (422, with every problem)",
    },
    "POST /v1/incidents": {
        _VALID_IS_ACCEPTED: "the body needs actors and a window, or an alert: a rule across "
        "fields that the schema does not state; without it the answer is a 422 that says so",
    },
    "POST /v1/incidents/{incident_id}/assess": {
        _VALID_IS_ACCEPTED: "facts are checked against the incident-facts schema and a change "
        "that lowers a duty needs a reason: 422 for schema-valid bodies that break either",
    },
    "POST /v1/incidents/{incident_id}/phases": {
        _VALID_IS_ACCEPTED: "a phase needs the ones before it and an 'at' not in the future "
        "nor before awareness: 422 for schema-valid bodies that break it",
    },
    "GET /v1/alerts": {_VALID_IS_ACCEPTED: _CURSOR},
    "POST /v1/alerts/{alert_id}/triage": {
        _VALID_IS_ACCEPTED: "only an escalation joins an incident and only a dismissal "
        "suppresses, and the alert must exist: rules across fields and the store that the "
        "schema does not state; a 422 or 404 names what is wrong",
    },
    "POST /v1/alerts/triage": {
        _VALID_IS_ACCEPTED: "as for one alert, and every id must exist (all or nothing): "
        "a 422 or 404 names the field or the id",
    },
    "GET /v1/merchants/{merchant}/accesses": {_VALID_IS_ACCEPTED: _WINDOW + _CURSOR},
    "GET /v1/merchants/{merchant}/accesses.csv": {_VALID_IS_ACCEPTED: _WINDOW + _CURSOR},
    "GET /v1/merchants/{merchant}/slice": {
        _VALID_IS_ACCEPTED: "from and to must be tree sizes of recorded checkpoints that carry "
        "the merchant map, from <= to: a schema-valid size that is not one is a 422 naming it; "
        + _CURSOR,
    },
    "POST /v1/access/decide": {
        _VALID_IS_ACCEPTED: "subjects and count exclude each other (a rule across fields the "
        "schema does not state), and a count written as 14391079.0 is refused (the request is "
        "decoded strictly): a 422 names the field",
    },
    "POST /v1/grants": {
        _VALID_IS_ACCEPTED: "purpose must be one of the guard policy's purposes (the policy "
        "is not in the schema): a 422 names it",
    },
    "GET /v1/actors": {
        _VALID_IS_ACCEPTED: _CURSOR + "; and since must be before until (a rule across "
        "parameters the schema does not state): 422 saying so",
    },
    "GET /scim/v2/Users": {_VALID_IS_ACCEPTED: _SCIM_FILTER},
    "GET /scim/v2/Groups": {_VALID_IS_ACCEPTED: _SCIM_FILTER},
    "POST /scim/v2/Users": {_VALID_IS_ACCEPTED: _SCIM_BODY},
    "PUT /scim/v2/Users/{user_id}": {_VALID_IS_ACCEPTED: _SCIM_BODY},
    "PATCH /scim/v2/Users/{user_id}": {_VALID_IS_ACCEPTED: _SCIM_BODY},
    "POST /scim/v2/Groups": {_VALID_IS_ACCEPTED: _SCIM_BODY},
    "PUT /scim/v2/Groups/{group_id}": {_VALID_IS_ACCEPTED: _SCIM_BODY},
    "PATCH /scim/v2/Groups/{group_id}": {_VALID_IS_ACCEPTED: _SCIM_BODY},
    "GET /v1/actors/{actor}": {
        _VALID_IS_ACCEPTED: "since must be before until and the window at most 366 days: "
        "rules across parameters the schema does not state; a 422 says which",
    },
}


@dataclass(frozen=True, slots=True)
class Target:
    """The loaded schema, an ADMIN key and what the store holds."""

    schema: Any
    client: TestClient  # on the same app
    key: str
    known: dict[str, str]  # path parameter -> a stored value


def _seed_events() -> list[dict[str, Any]]:
    """The incident world (Ana reads two merchants' customers), plus an export after her
    notice and simulated traffic for the detectors to raise alerts on."""
    events = incident_events()
    read = next(e for e in events if e["id"] == "a-0")
    # Ana gives notice, then exports a merchant's customers: an alert (export_after_notice).
    events.append(
        {
            "id": "n-1",
            "time": "2026-11-04T08:00:00Z",
            "type": "staff.notice_given",
            "actor": "ana",
            "team": "tier1",
            "role": "support",
            "by": "hr",
            "reason": "resignation",
        }
    )
    export = {k: v for k, v in read.items() if k != "justification"}
    events.append({**export, "id": "x-1", "time": "2026-11-04T09:00:00Z", "action": "export"})
    simulated = [{**e, "id": f"sim-{e['id']}"} for e in generate_events(events=300, seed=7)]
    return events + simulated


def _without_lifespan(app: Any) -> Any:
    """``app`` for schemathesis, its lifespan answered here: the fixture runs the app's own.

    Schemathesis starts the lifespan of an app it calls and its pytest plugin ends it after
    every test (``pytest_runtest_teardown``), which would close the store under the next test
    of this module; without the plugin (``-p no:schemathesis``) it would end at exit. Either
    way, the app's lifespan (the store's life) is the fixture's alone."""

    async def wrapper(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    return wrapper


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    data_dir: Path = tmp_path_factory.mktemp("schema") / "data"
    # No notice settings (shop, sender, directories) and the incident is never assessed: the
    # notices' send and dry-run routes answer 409 before any SMTP connection, whatever
    # schemathesis posts (test_no_notice_is_ever_sent_here).
    policy = data_dir.parent / "guard.toml"  # the documented example: the guard routes decide
    policy.write_text((Path(__file__).parents[2] / "conf" / "guard.example.toml").read_text())
    # Every help-desk connector configured, as in production: a known vendor's webhook
    # without its signature is a 401 (an unconfigured connector's 503 is test_connectors').
    secrets = {f"{vendor}_webhook_secret": f"schema-{vendor}-secret" for vendor in VENDORS}
    app = create_app(
        Settings(
            _env_file=None, data_dir=data_dir, database_url=None, guard_policy=policy, **secrets
        )
    )
    state = app.state.sentinelle
    # raise_server_exceptions=False: a bug answers 500, as it would to a client.
    with TestClient(app, raise_server_exceptions=False) as client:  # the store closes at the end
        events = _seed_events()
        Ingestor(state.store, state.ledger).ingest(
            (i, json.dumps(e)) for i, e in enumerate(events, 1)
        )
        alerts = DetectionRunner(state.store, state.detect_config).catch_up()
        incident = state.engine.open(
            title="harvest",
            by="tests",
            actors=["ana"],
            from_us=parse_time("2026-11-02T00:00:00Z"),
            to_us=parse_time("2026-11-06T00:00:00Z"),
        )
        key = create_key(state.store, name="schema", role=Role.ADMIN, by="tests")
        known = {
            "incident_id": incident.id,
            "event_id": "a-0",
            "merchant": MERCHANT,
            "actor": "ana",
        }
        if alerts:
            known["alert_id"] = alerts[0].id
        schema = schemathesis.openapi.from_asgi("/openapi.json", _without_lifespan(app))
        yield Target(schema=schema, client=client, key=key, known=known)


def _operations(target: Target) -> Iterator[Any]:
    for result in target.schema.get_all_operations():
        yield result.ok()


def test_every_operation_is_checked(target: Target) -> None:
    untagged = [op.label for op in _operations(target) if len(op.tags or []) != 1]
    assert not untagged, "each operation needs exactly one tag"
    assert {op.tags[0] for op in _operations(target)} == set(TAGS)
    assert set(RELAXED) <= {op.label for op in _operations(target)}
    assert "alert_id" in target.known, "the seed raised no alert: GET /v1/alerts/{id} is 404 only"


def _what(exc: BaseException) -> str:
    """What failed, without the request's random values: the check's title and its first
    explanation (e.g. "Undocumented status code: Received: 404")."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(sorted({_what(e) for e in exc.exceptions}))
    title = getattr(exc, "title", None)
    if title is None:
        return f"{type(exc).__name__}: {str(exc).strip()[:300]}"
    lines = [line.strip() for line in str(getattr(exc, "message", "")).splitlines()]
    return f"{title}: {next((line for line in lines if line), '')}"[:300]


def _run(
    target: Target, operation: Any, mode: GenerationMode, path_parameters: dict[str, str] | None
) -> list[str]:
    """Up to EXAMPLES requests; the failures found (one line each, with a curl to replay)."""
    label = operation.label
    excluded = list(RELAXED.get(label, {}))
    headers = {"Authorization": f"Bearer {target.key}"}
    failures: list[str] = []

    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    @hypothesis_settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # failures are collected, never shrunk
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        try:
            case.call_and_validate(headers=headers, excluded_checks=excluded)
        except (Exception, BaseExceptionGroup) as exc:  # every failure is reported, none raised
            curl = case.as_curl_command(headers={"Authorization": "Bearer [key]"})
            failures.append(f"{label} [{mode.value}] {_what(exc)}\n    {curl}")

    try:
        check()
    except Unsatisfiable:
        # Negative mode only: nothing the operation takes can be made invalid (no parameter
        # and no body, or only a path segment any string fits).
        assert mode is GenerationMode.NEGATIVE, label
    return failures


@pytest.mark.slow
@pytest.mark.parametrize(
    "tag",
    TAGS,
)
def test_operations_match_their_documentation(target: Target, tag: str) -> None:
    failures: list[str] = []
    operations = [op for op in _operations(target) if op.tags == [tag]]
    assert operations
    for operation in operations:
        failures += _run(target, operation, GenerationMode.POSITIVE, None)
        failures += _run(target, operation, GenerationMode.NEGATIVE, None)
        path = operation.path
        known = {k: v for k, v in target.known.items() if "{" + k + "}" in path}
        if known:
            failures += _run(target, operation, GenerationMode.POSITIVE, known)
    distinct: dict[str, str] = {}  # what failed -> one request that shows it
    for failure in failures:
        what, curl = failure.split("\n", 1)
        distinct.setdefault(what, curl)
    report = "\n".join(f"{what}\n{curl}" for what, curl in sorted(distinct.items()))
    assert not distinct, f"{len(distinct)} distinct failure(s):\n{report}"


def test_no_notice_is_ever_sent_here(target: Target) -> None:
    # Runs after the operations' tests too (module order): none of them started a run.
    headers = {"Authorization": f"Bearer {target.key}"}
    incident = target.known["incident_id"]
    for audience in ("subjects", "merchants", "authority"):
        path = f"/v1/incidents/{incident}/notices/{audience}/send"
        response = target.client.post(path, json={"confirm": True}, headers=headers)
        assert response.status_code == 409, response.text
    runs = target.client.get(f"/v1/incidents/{incident}/notices/runs", headers=headers)
    assert runs.json() == {"runs": {}}


# -- POST /v1/events: bodies no schema describes -----------------------------------------------


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(b"[" + b"{" * 50, "application/json", id="truncated-json"),
        pytest.param(b'[{"id": "x", "time": 1e999999}]', "application/json", id="huge-number"),
        pytest.param(b"[\xff\xfe\x00garbage]", "application/json", id="invalid-utf8-array"),
        pytest.param(bytes(range(256)) * 64, "application/octet-stream", id="random-bytes"),
        pytest.param(b"\xff\xfe\n\x00\x01\n{]", "application/x-ndjson", id="random-ndjson"),
        pytest.param(_deep(100_000), "application/json", id="deep-array"),
        pytest.param(b"[" + b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"]", None, id="deep-obj"),
        pytest.param(b'{"a":' * 100_000 + b"1" + b"}" * 100_000, None, id="deep-ndjson"),
        pytest.param(b'[{"id": "' + b"x" * 5_000_000 + b'"}]', None, id="huge-string"),
        pytest.param(b"[" + b"{}," * 2_000_000 + b"{}]", None, id="many-elements"),
        pytest.param(b"", None, id="empty"),
        pytest.param(b"[]", None, id="empty-array"),
        pytest.param(b"null", None, id="null"),
    ],
)
def test_malformed_event_bodies_never_get_a_5xx(
    target: Target, body: bytes, content_type: str | None
) -> None:
    headers = {"Authorization": f"Bearer {target.key}"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = target.client.post("/v1/events", content=body, headers=headers)
    assert response.status_code in (200, 413, 422), (response.status_code, response.text[:500])
    assert isinstance(
        response.json()["detail" if response.status_code != 200 else "received"], str | int
    )


def test_a_body_over_the_limit_gets_413(target: Target) -> None:
    headers = {"Authorization": f"Bearer {target.key}", "Content-Type": "application/json"}

    def chunks() -> Iterator[bytes]:  # streamed: never held whole
        piece = b" " * (1024 * 1024)
        for _ in range(MAX_BODY_BYTES // len(piece) + 2):
            yield piece

    response = target.client.post("/v1/events", content=chunks(), headers=headers)
    assert response.status_code == 413, response.text[:500]
