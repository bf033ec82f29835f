"""Who may call what: every operation of the API's own OpenAPI document, against a key of
every role.

The document is the list: a route added tomorrow is walked as soon as it exists. Each
operation but the public ones must declare ``x-sentinelle-permission``; then a request
without credentials gets 401, a key of each role that lacks the permission
(:func:`sentinelle.access.roles_with`) 403 and a key of each role that has it neither. The
refusals must come before the body is parsed or validated: they are asked with ``{}`` and
with a body that is not JSON at all, and must not answer 422. A merchant key bound to
``m-1`` reaches no route of another merchant (``{merchant}`` in the path).

SQLite only (the permission check does not depend on the store): ``Settings`` made here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute

from sentinelle.access import Permission, Role, roles_with
from sentinelle.access.accounts import create_key
from sentinelle.api.deps import PERMISSION_KEY
from sentinelle.api.main import create_app
from sentinelle.api.routes.connectors import AUTH_KEY
from sentinelle.config import Settings
from sentinelle.connectors import VENDORS, MappingConfig, Receiver
from sentinelle.web import auth
from sentinelle.web.pages import ROUTERS

# The console (sentinelle.web) is outside the API and its document: "/login" (the form and
# its POST, guarded by a pre-session CSRF token) and "/static" (the stylesheet) need no
# credentials; "/" and "/logout" need a console session, not a key ("/" redirects to /login
# without one, "/logout" wants the session's CSRF token), so the key-based walk below cannot
# judge them: tests/e2e/test_console.py does.
PUBLIC = frozenset({"/health", "/openapi.json", "/docs", "/login", "/static"}) | frozenset(
    {"/", "/logout"}
)
# The console's pages answer people with a session, never a key: each sends a stranger to
# /login and refuses a role without its permission (tests/e2e/test_console_pages.py walks them);
# its login steps are public (tests/e2e/test_console.py).
# Help desks' webhooks authenticate by the vendor's signature (or a shared secret), not a key:
# a help desk cannot send one. Marked "x-sentinelle-auth: signature" in the document;
# test_signed_routes_refuse_every_request_without_the_signature walks them.
SIGNED = frozenset({"/v1/connectors/{vendor}"})
CONSOLE = frozenset(route.path for router in (*ROUTERS, auth.router) for route in router.routes)
METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})
OWN, OTHERS = "m-1", ("m-2", "m-10", "M-1")  # the merchant key's merchant; others
NOT_JSON = b'{"title": "no closing brace"'
DUMMY = "dummy-1"


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation of the OpenAPI document."""

    method: str  # upper case
    template: str
    permission: str | None
    has_body: bool
    query: dict[str, Any]  # a value for each required query parameter

    def __str__(self) -> str:
        return f"{self.method} {self.template}"

    @property
    def scoped(self) -> bool:
        """The path names a merchant."""
        return "{merchant}" in self.template

    def path(self, merchant: str = OWN) -> str:
        """The template with ``merchant`` for ``{merchant}`` and a dummy for the rest."""
        return re.sub(
            r"\{([^}]+)\}",
            lambda m: merchant if m.group(1) == "merchant" else DUMMY,
            self.template,
        )


@dataclass(frozen=True, slots=True)
class Api:
    client: TestClient
    app: FastAPI
    keys: dict[Role, str]  # one key per role; the merchant's bound to OWN
    operations: list[Operation]

    def call(
        self, op: Operation, *, role: Role | None, merchant: str = OWN, body: bytes = b"{}"
    ) -> httpx.Response:
        headers = {} if role is None else {"Authorization": f"Bearer {self.keys[role]}"}
        content = None
        if op.has_body or op.method in ("POST", "PUT", "PATCH"):
            headers["Content-Type"] = "application/json"
            content = body
        response: httpx.Response = self.client.request(
            op.method, op.path(merchant), params=op.query, headers=headers, content=content
        )
        return response


def _sample(schema: dict[str, Any]) -> Any:
    """A valid value of a simple parameter schema (a required query parameter)."""
    if "enum" in schema:
        return schema["enum"][0]
    for option in schema.get("anyOf", []):
        if option.get("type") != "null":
            return _sample(option)
    kind = schema.get("type")
    if kind in ("integer", "number"):
        return max(1, int(schema.get("minimum", 1)))
    if kind == "boolean":
        return "false"
    return "x" * max(1, int(schema.get("minLength", 1)))


def _operations(document: dict[str, Any]) -> list[Operation]:
    found = []
    for template, item in document["paths"].items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            query = {
                p["name"]: _sample(p.get("schema", {}))
                for p in op.get("parameters", [])
                if p.get("in") == "query" and p.get("required")
            }
            found.append(
                Operation(
                    method=method.upper(),
                    template=template,
                    permission=op.get(PERMISSION_KEY),
                    has_body="requestBody" in op,
                    query=query,
                )
            )
    return found


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    # The documented guard policy: without one the guard's routes answer 503 to everyone.
    policy = Path(__file__).parents[2] / "conf" / "guard.example.toml"
    app = create_app(
        Settings(_env_file=None, data_dir=tmp_path / "data", database_url=None, guard_policy=policy)
    )
    store = app.state.sentinelle.store
    with TestClient(app) as client:
        keys = {
            role: create_key(
                store,
                name=f"k-{role.value}",
                role=role,
                merchant=OWN if role is Role.MERCHANT else None,
                by="tests",
            )
            for role in Role
        }
        document = client.get("/openapi.json").json()
        yield Api(client, app, keys, _operations(document))


def _guarded(api: Api) -> list[Operation]:
    found = [op for op in api.operations if op.template not in PUBLIC | SIGNED]
    assert found, "the OpenAPI document lists no guarded operation"
    return found


def _fail(problems: list[str]) -> None:
    assert not problems, "\n".join(problems)


# -- the declaration ---------------------------------------------------------------------------


def test_every_operation_declares_a_known_permission(api: Api) -> None:
    known = {p.value for p in Permission}
    problems = [
        f"{op}: declares {op.permission!r}, not one of {sorted(known)}"
        for op in _guarded(api)
        if op.permission not in known
    ]
    _fail(problems)
    # Only the public operations go without one.
    undeclared = {op.template for op in api.operations if op.permission is None}
    assert undeclared <= PUBLIC | SIGNED


def test_signed_routes_refuse_every_request_without_the_signature(api: Api) -> None:
    document = api.client.get("/openapi.json").json()
    marked = {
        template
        for template, item in document["paths"].items()
        for op in item.values()
        if isinstance(op, dict) and op.get(AUTH_KEY) == "signature"
    }
    assert marked == SIGNED
    secrets = {f"{v}_webhook_secret": f"{v}-secret-0123456789" for v in VENDORS}
    api.app.state.sentinelle_connectors = Receiver(
        Settings(_env_file=None, **secrets), MappingConfig()
    )
    problems = []
    for template in SIGNED:
        for vendor in VENDORS:
            path = template.replace("{vendor}", vendor)
            # No key, and every role's key: a key never stands for the vendor's signature.
            for role in (None, *Role):
                headers = {} if role is None else {"Authorization": f"Bearer {api.keys[role]}"}
                for body in (b"{}", NOT_JSON):
                    response = api.client.post(path, content=body, headers=headers)
                    if response.status_code != 401:
                        problems.append(f"POST {path} as {role}: {response.status_code}")
    _fail(problems)


def _routes(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[tuple[str, BaseRoute]]:
    """Every route with its full path, into included routers (FastAPI keeps those whole, as
    ``original_router`` with the prefix it was included under)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            context = getattr(route, "include_context", None)
            yield from _routes(inner.routes, prefix + getattr(context, "prefix", ""))
        else:
            yield prefix + getattr(route, "path", ""), route


def test_no_route_hides_from_the_document(api: Api) -> None:
    # The walk below only sees what the document lists: every API route must be in it.
    documented = {(op.method, op.template) for op in api.operations}
    problems, seen = [], 0
    for path, route in _routes(api.app.routes):
        if path in PUBLIC or path in CONSOLE:
            continue
        if not isinstance(route, APIRoute):
            problems.append(f"{path}: {type(route).__name__}, not an API route")
            continue
        for method in route.methods:
            seen += 1
            if method != "HEAD" and (method, path) not in documented:
                problems.append(f"{method} {path}: not in /openapi.json")
    _fail(problems)
    assert seen >= len(_guarded(api))  # the walk did find the routes


# -- refusals ----------------------------------------------------------------------------------


def test_without_credentials_every_operation_answers_401(api: Api) -> None:
    problems = []
    for op in _guarded(api):
        for body in (b"{}", NOT_JSON):
            response = api.call(op, role=None, body=body)
            if response.status_code != 401:
                problems.append(f"{op} body {body!r}: {response.status_code} {response.text}")
            elif response.headers.get("WWW-Authenticate") != "Bearer":
                problems.append(f"{op}: 401 without WWW-Authenticate: Bearer")
    _fail(problems)


def test_each_role_without_the_permission_gets_403(api: Api) -> None:
    problems = []
    checked = 0
    for op in _guarded(api):
        assert op.permission is not None
        lacking = set(Role) - roles_with(Permission(op.permission))
        for role in sorted(lacking):
            # 403 before the body is parsed or validated: {} and not JSON at all.
            for body in (b"{}", NOT_JSON):
                response = api.call(op, role=role, body=body)
                checked += 1
                if response.status_code != 403:
                    problems.append(
                        f"{op} as {role} (body {body!r}): {response.status_code} {response.text}"
                    )
    _fail(problems)
    assert checked  # some role lacks some permission: the walk did check something


def test_each_role_with_the_permission_gets_past_the_check(api: Api) -> None:
    problems = []
    for op in _guarded(api):
        assert op.permission is not None
        for role in sorted(roles_with(Permission(op.permission))):
            response = api.call(op, role=role)
            # Dummy ids answer 404 and {} may answer 422: anything but a refusal of who asks.
            if response.status_code in (401, 403) or response.status_code >= 500:
                problems.append(f"{op} as {role}: {response.status_code} {response.text}")
    _fail(problems)


def test_admin_reaches_every_operation(api: Api) -> None:
    # The grants say so; a route whose permission the admin lacked would be unusable.
    for op in _guarded(api):
        assert op.permission is not None
        assert Role.ADMIN in roles_with(Permission(op.permission)), op


# -- a merchant's key --------------------------------------------------------------------------


def test_a_merchant_key_reaches_nothing_of_another_merchant(api: Api) -> None:
    problems = []
    ops = _guarded(api)
    for op in ops:
        assert op.permission is not None
        allowed = Role.MERCHANT in roles_with(Permission(op.permission))
        if op.scoped:
            for other in OTHERS:
                for body in (b"{}", NOT_JSON):
                    response = api.call(op, role=Role.MERCHANT, merchant=other, body=body)
                    if response.status_code != 403:
                        problems.append(f"{op} for {other}: {response.status_code} {response.text}")
            if allowed:
                own = api.call(op, role=Role.MERCHANT, merchant=OWN)
                if own.status_code in (401, 403):
                    problems.append(f"{op} for its own {OWN}: {own.status_code} {own.text}")
        elif not allowed:
            # Routes not about one merchant: refused unless the grants allow them outright.
            response = api.call(op, role=Role.MERCHANT)
            if response.status_code != 403:
                problems.append(f"{op}: {response.status_code} {response.text}")
    _fail(problems)
    # What a merchant may reach without naming a merchant is only the ledger's public side.
    unscoped = {
        Permission(op.permission)
        for op in ops
        if not op.scoped
        and op.permission is not None
        and Role.MERCHANT in roles_with(Permission(op.permission))
    }
    assert unscoped <= {Permission.LEDGER_CHECKPOINT}, unscoped


def test_every_route_of_a_merchant_is_scoped_to_it(api: Api) -> None:
    # A route over one merchant's data must name the merchant in its path, where the guard
    # reads it; a merchant's permission on a route without {merchant} would be refused to
    # every merchant key (the guard sees no merchant), so such a route is a mistake.
    problems = [
        f"{op}: needs {op.permission} but has no {{merchant}} in its path"
        for op in _guarded(api)
        if op.permission == Permission.MERCHANT_ACCESSES.value and not op.scoped
    ]
    _fail(problems)


# -- what each operation needs -----------------------------------------------------------------

SAFE = frozenset({"GET", "HEAD", "OPTIONS"})

# The permission of each operation as the design says (sentinelle.access); an operation added
# later is not listed here but is walked by every test above.
EXPECTED = {
    ("POST", "/v1/events"): Permission.EVENTS_WRITE,
    ("GET", "/v1/ledger/checkpoint"): Permission.LEDGER_CHECKPOINT,
    ("GET", "/v1/ledger/key"): Permission.LEDGER_CHECKPOINT,
    ("GET", "/v1/ledger/keys"): Permission.LEDGER_CHECKPOINT,
    ("GET", "/v1/ledger/consistency"): Permission.LEDGER_CHECKPOINT,
    ("GET", "/v1/ledger/proof/{event_id}"): Permission.LEDGER_PROOF,
    ("GET", "/v1/alerts"): Permission.ALERTS_READ,
    ("GET", "/v1/alerts/{alert_id}"): Permission.ALERTS_READ,
    ("POST", "/v1/alerts/{alert_id}/triage"): Permission.ALERTS_TRIAGE,
    ("POST", "/v1/alerts/triage"): Permission.ALERTS_TRIAGE,
    ("GET", "/v1/incidents"): Permission.INCIDENTS_READ,
    ("POST", "/v1/incidents"): Permission.INCIDENTS_WRITE,
    ("GET", "/v1/incidents/{incident_id}"): Permission.INCIDENTS_READ,
    ("POST", "/v1/incidents/{incident_id}/advance"): Permission.INCIDENTS_WRITE,
    ("GET", "/v1/incidents/{incident_id}/scope"): Permission.INCIDENTS_READ,
    ("GET", "/v1/incidents/{incident_id}/facts"): Permission.INCIDENTS_READ,
    ("POST", "/v1/incidents/{incident_id}/assess"): Permission.INCIDENTS_DECIDE,
    ("POST", "/v1/incidents/{incident_id}/phases"): Permission.INCIDENTS_DECIDE,
    ("GET", "/v1/incidents/{incident_id}/notices"): Permission.INCIDENTS_READ,
    # A dry run sends nothing but reads the whole contact directory and previews a decision to
    # notify: it is for those who may send (sentinelle.api.routes.notices).
    ("POST", "/v1/incidents/{incident_id}/notices/{audience}/dry-run"): Permission.INCIDENTS_DECIDE,
    ("POST", "/v1/incidents/{incident_id}/notices/{audience}/send"): Permission.INCIDENTS_DECIDE,
    ("GET", "/v1/incidents/{incident_id}/notices/runs"): Permission.INCIDENTS_READ,
    ("GET", "/v1/incidents/{incident_id}/report"): Permission.INCIDENTS_READ,
    ("GET", "/v1/register"): Permission.REGISTER_READ,
    # Staff profiles are for people who investigate: never a merchant's, nor a tool's (reader).
    ("GET", "/v1/actors"): Permission.ACTORS_READ,
    ("GET", "/v1/actors/{actor}"): Permission.ACTORS_READ,
    # Counts for monitoring tools (reader) and admins.
    ("GET", "/metrics"): Permission.METRICS_READ,
    # The guard (docs/guard.md): decisions for the guard's keys; grants asked by the guard or
    # staff, approved or revoked by the grant's merchant (its own only) or a staff approver.
    ("POST", "/v1/access/decide"): Permission.ACCESS_DECIDE,
    ("POST", "/v1/grants"): Permission.GRANTS_REQUEST,
    ("POST", "/v1/merchants/{merchant}/grants/{grant_id}/approve"): Permission.GRANTS_APPROVE,
    ("POST", "/v1/merchants/{merchant}/grants/{grant_id}/revoke"): Permission.GRANTS_APPROVE,
}


def test_each_known_operation_needs_what_the_design_says(api: Api) -> None:
    declared = {(op.method, op.template): op.permission for op in api.operations}
    problems = [
        f"{method} {path}: declares {declared.get((method, path))!r}, expected {wanted.value!r}"
        for (method, path), wanted in EXPECTED.items()
        if declared.get((method, path)) != wanted.value
    ]
    _fail(problems)


def test_auditors_and_readers_change_nothing(api: Api) -> None:
    # Whatever is added later: an operation that may change something is refused to the
    # roles that only read, so it cannot be declared with a read permission by mistake.
    problems = []
    for op in _guarded(api):
        if op.method in SAFE:
            continue
        for role in (Role.AUDITOR, Role.READER):
            response = api.call(op, role=role)
            if response.status_code != 403:
                problems.append(f"{op} as {role}: {response.status_code} {response.text}")
    _fail(problems)
