"""The SCIM provider end to end, as identity providers drive it: Okta's and Microsoft Entra
ID's documented request shapes through the real app (TestClient) into the ledger, on SQLite
and PostgreSQL. Joiners, team and role changes (attributes and groups) and leavers become
``staff.*`` events; refusals (key, role, filter, body, uniqueness, ETag) are SCIM errors and
write nothing; retries write nothing new; nothing of a user but what the mapping needs is kept.
The HR feed's notice, then an export by that person, raises ``export_after_notice``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_support import run_script
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sentinelle.access import Role
from sentinelle.access.accounts import create_key
from sentinelle.api.main import create_app
from sentinelle.config import Settings
from sentinelle.connectors.scim import ScimMapping, ScimService
from sentinelle.store import Store

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
# Personal data the identity providers send: none of it may be stored.
PRIVATE = ("Lima", "Ana Lima", "+1 555", "ana.lima@gmail", "Sup3rSecret", "Rua ", "Lisbon")


@dataclass(frozen=True, slots=True)
class Scim:
    client: TestClient
    app: FastAPI
    store: Store
    headers: dict[str, str]
    keys: dict[Role, str]

    def call(
        self, method: str, path: str, body: Any = None, *, key: str | None = None, **kw: Any
    ) -> httpx.Response:
        headers = {**self.headers, **kw.pop("headers", {})}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        content = None if body is None else (body if isinstance(body, bytes) else json.dumps(body))
        response: httpx.Response = self.client.request(
            method, f"/scim/v2{path}", content=content, headers=headers, **kw
        )
        return response

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(row[-1]) for rows in self.store.iter_events() for row in rows]

    def staff_events(self) -> list[tuple[str, str, str | None, str | None]]:
        return [
            (e["type"], e["actor"], e.get("team"), e.get("role"))
            for e in self.events()
            if e["type"].startswith("staff.")
        ]

    def state(self) -> tuple[Any, ...]:
        """Everything the provider stores: the SCIM tables and the ledger's size."""
        tables = tuple(
            sorted(map(tuple, self.store._x(f"SELECT * FROM {t}")))  # noqa: S608
            for t in ("scim_users", "scim_groups", "scim_members")
        )
        return (*tables, self.store.ledger_size())

    def everything_stored(self) -> str:
        return repr(self.state()) + "\n".join(json.dumps(e) for e in self.events())


def _app(settings: Settings, mapping: ScimMapping) -> Iterator[Scim]:
    app = create_app(settings)
    app.state.sentinelle_scim = ScimService(mapping)
    store = app.state.sentinelle.store
    with TestClient(app) as client:
        keys = {
            role: create_key(store, name=f"k-{role.value}", role=role, by="tests")
            for role in (Role.SCIM, Role.INGEST, Role.READER)
        }
        headers = {
            "Authorization": f"Bearer {keys[Role.SCIM]}",
            "Content-Type": "application/scim+json; charset=utf-8",
            "Accept": "application/scim+json",
        }
        yield Scim(client, app, store, headers, keys)


@pytest.fixture
def okta(settings: Settings) -> Iterator[Scim]:
    # Okta's base attributes carry no department: the role from the title, mapped.
    yield from _app(
        settings,
        ScimMapping(team=None, role="title", roles={"Support Agent II": "tier2"}),
    )


@pytest.fixture
def entra(settings: Settings) -> Iterator[Scim]:
    # Teams from group memberships, roles from the title (the defaults otherwise).
    yield from _app(
        settings,
        ScimMapping(team="group", teams={"SG-Support-Tier1": "tier1", "SG-Fraud": "fraud"}),
    )


def _okta_user(user_name: str) -> dict[str, Any]:
    """Okta's create request (its SCIM 2.0 reference: name, emails, password, groups)."""
    return {
        "schemas": [USER],
        "userName": user_name,
        "name": {"givenName": "Ana", "familyName": "Lima"},
        "emails": [{"primary": True, "value": "ana.lima@gmail.example", "type": "work"}],
        "phoneNumbers": [{"value": "+1 555 0100", "type": "mobile"}],
        "addresses": [{"streetAddress": "Rua Augusta 1", "locality": "Lisbon"}],
        "displayName": "Ana Lima",
        "locale": "en-US",
        "title": "Support Agent",
        "externalId": "00u1ana",
        "groups": [],
        "password": "Sup3rSecret!",
        "active": True,
    }


def test_okta_walk(okta: Scim) -> None:
    # Okta first asks whether the user exists.
    query = {"filter": 'userName eq "ana@shop.example"', "startIndex": "1", "count": "100"}
    found = okta.call("GET", "/Users", params=query)
    assert found.status_code == 200 and found.headers["content-type"].startswith(
        "application/scim+json"
    )
    assert found.json() == {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": 0,
        "itemsPerPage": 0,
        "startIndex": 1,
        "Resources": [],
    }
    created = okta.call("POST", "/Users", _okta_user("ana@shop.example"))
    assert created.status_code == 201, created.text
    user = created.json()
    uid = user["id"]
    assert created.headers["Location"] == user["meta"]["location"].replace(
        "http://testserver", "http://testserver"
    )
    assert created.headers["ETag"] == user["meta"]["version"] == 'W/"1"'
    assert user["userName"] == "ana@shop.example" and user["active"] is True
    assert "emails" not in user and "name" not in user and "password" not in user
    # The filter is case-insensitive on userName (caseExact false), and pages.
    query["filter"] = 'userName eq "ANA@Shop.Example"'
    listed = okta.call("GET", "/Users", params=query).json()
    assert listed["totalResults"] == 1 and listed["Resources"][0]["id"] == uid
    assert okta.call("GET", "/Users", params={"startIndex": "2"}).json()["Resources"] == []
    # A profile update is a PUT of the whole user: the title maps to a role.
    put = okta.call(
        "PUT",
        f"/Users/{uid}",
        {**_okta_user("ana@shop.example"), "id": uid, "title": "Support Agent II"},
    )
    assert put.status_code == 200 and put.json()["title"] == "Support Agent II"
    # Deactivation: a path-less PATCH; Okta retries on a timeout: the retry stores nothing.
    deactivate = {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": False}}]}
    done = okta.call("PATCH", f"/Users/{uid}", deactivate)
    assert done.status_code == 200 and done.json()["active"] is False
    size = okta.store.ledger_size()
    again = okta.call("PATCH", f"/Users/{uid}", deactivate)
    assert (
        again.status_code == 200
        and again.json()["meta"]["version"] == done.json()["meta"]["version"]
    )
    assert okta.store.ledger_size() == size
    assert okta.staff_events() == [
        ("staff.joined", "ana@shop.example", None, "Support Agent"),
        ("staff.role_changed", "ana@shop.example", None, "tier2"),
        ("staff.left", "ana@shop.example", None, "tier2"),
    ]
    left = okta.events()[-1]
    assert left["by"] == "scim:k-scim" and left["reason"] == "scim: active set to false"
    # Reactivation by PUT (older Okta integrations): a joiner again.
    back = okta.call(
        "PUT", f"/Users/{uid}", {**_okta_user("ana@shop.example"), "title": "Support Agent II"}
    )
    assert back.json()["active"] is True
    assert okta.staff_events()[-1] == ("staff.joined", "ana@shop.example", None, "tier2")
    # Group push: create, add a member, rename (path-less, with the id), remove by filter.
    group = okta.call(
        "POST", "/Groups", {"schemas": [GROUP], "displayName": "Support", "members": []}
    )
    assert group.status_code == 201, group.text
    gid = group.json()["id"]
    add = {
        "schemas": [PATCH],
        "Operations": [
            {
                "op": "add",
                "path": "members",
                "value": [{"value": uid, "display": "ana@shop.example"}],
            }
        ],
    }
    assert okta.call("PATCH", f"/Groups/{gid}", add).json()["members"][0]["value"] == uid
    rename = {
        "schemas": [PATCH],
        "Operations": [{"op": "replace", "value": {"id": gid, "displayName": "Support EU"}}],
    }
    assert okta.call("PATCH", f"/Groups/{gid}", rename).json()["displayName"] == "Support EU"
    assert okta.call("GET", f"/Users/{uid}").json()["groups"][0]["display"] == "Support EU"
    remove = {
        "schemas": [PATCH],
        "Operations": [{"op": "remove", "path": f'members[value eq "{uid}"]'}],
    }
    assert okta.call("PATCH", f"/Groups/{gid}", remove).json()["members"] == []
    assert okta.call("DELETE", f"/Groups/{gid}").status_code == 204
    assert okta.call("GET", f"/Groups/{gid}").status_code == 404
    # Groups map to nothing here: no more events; and no personal data was kept anywhere.
    assert len(okta.staff_events()) == 4
    stored = okta.everything_stored()
    assert not [word for word in PRIVATE if word in stored]


def _entra_user(user_name: str, external_id: str) -> dict[str, Any]:
    """Entra's create request (its SCIM tutorial), with the enterprise extension."""
    return {
        "schemas": [USER, ENTERPRISE],
        "externalId": external_id,
        "userName": user_name,
        "active": True,
        "emails": [{"primary": True, "type": "work", "value": "ana.lima@gmail.example"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Ana Lima", "familyName": "Lima", "givenName": "Ana"},
        "title": "agent",
        "roles": [],
        ENTERPRISE: {"department": "Customer Care", "employeeNumber": "100009"},
    }


def test_entra_walk(entra: Scim) -> None:
    created = entra.call("POST", "/Users", _entra_user("ana@shop.example", "0a21f0f2"))
    assert created.status_code == 201, created.text
    uid = created.json()["id"]
    # The department is not the team here (team = "group"): not kept, not returned.
    assert ENTERPRISE not in created.json()
    found = entra.call("GET", "/Users", params={"filter": 'externalId eq "0a21f0f2"'}).json()
    assert [r["id"] for r in found["Resources"]] == [uid]
    assert (
        entra.call("GET", "/Users", params={"filter": 'externalId eq "0A21F0F2"'}).json()[
            "totalResults"
        ]
        == 0
    )
    # Entra's multi-valued update: nothing kept changes, nothing is written.
    before = entra.state()
    update = {
        "schemas": [PATCH],
        "Operations": [
            {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "new@gmail.example"},
            {"op": "Replace", "path": "name.familyName", "value": "Lima-Souza"},
        ],
    }
    unchanged = entra.call("PATCH", f"/Users/{uid}", update)
    assert unchanged.status_code == 200, unchanged.text
    assert unchanged.json()["meta"]["version"] == 'W/"1"' and entra.state() == before
    # Groups: create, look up by name without members, add and remove members.
    group = entra.call(
        "POST",
        "/Groups",
        {
            "schemas": [
                GROUP,
                "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/Group",
            ],
            "externalId": "8aa1a0c0",
            "displayName": "SG-Support-Tier1",
            "meta": {"resourceType": "Group"},
        },
    )
    assert group.status_code == 201, group.text
    gid = group.json()["id"]
    look = entra.call(
        "GET",
        "/Groups",
        params={"excludedAttributes": "members", "filter": 'displayName eq "sg-support-tier1"'},
    ).json()
    assert look["totalResults"] == 1 and "members" not in look["Resources"][0]
    add = {
        "schemas": [PATCH],
        "Operations": [{"op": "Add", "path": "members", "value": [{"$ref": None, "value": uid}]}],
    }
    assert entra.call("PATCH", f"/Groups/{gid}", add).status_code == 200
    remove = {
        "schemas": [PATCH],
        "Operations": [
            {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": uid}]}
        ],
    }
    assert entra.call("PATCH", f"/Groups/{gid}", remove).status_code == 200
    assert entra.call("PATCH", f"/Groups/{gid}", add).status_code == 200
    # The title, as Entra sends a single-valued change: a role change.
    title = {
        "schemas": [PATCH],
        "Operations": [{"op": "Replace", "path": "title", "value": "lead"}],
    }
    assert entra.call("PATCH", f"/Users/{uid}", title).json()["title"] == "lead"
    # Disable: Entra has sent the boolean as a string.
    disable = {
        "schemas": [PATCH],
        "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
    }
    assert entra.call("PATCH", f"/Users/{uid}", disable).json()["active"] is False
    # The hard delete, 30 days later: already a leaver, no second staff.left.
    assert entra.call("DELETE", f"/Users/{uid}").status_code == 204
    assert entra.call("GET", f"/Users/{uid}").status_code == 404
    assert entra.call("DELETE", f"/Users/{uid}").status_code == 404
    assert entra.staff_events() == [
        ("staff.joined", "ana@shop.example", None, "agent"),
        ("staff.role_changed", "ana@shop.example", "tier1", "agent"),
        ("staff.role_changed", "ana@shop.example", None, "agent"),
        ("staff.role_changed", "ana@shop.example", "tier1", "agent"),
        ("staff.role_changed", "ana@shop.example", "tier1", "lead"),
        ("staff.left", "ana@shop.example", "tier1", "lead"),
    ]
    assert entra.call("GET", f"/Groups/{gid}").json()["members"] == []
    stored = entra.everything_stored()
    assert not [word for word in PRIVATE if word in stored] and "100009" not in stored


def test_a_delete_of_an_active_user_is_a_leaver(settings: Settings) -> None:
    for scim in _app(settings, ScimMapping()):
        body = {**_entra_user("bo@shop.example", "b-1")}
        uid = scim.call("POST", "/Users", body).json()["id"]
        assert scim.call("DELETE", f"/Users/{uid}").status_code == 204
        assert scim.staff_events() == [
            ("staff.joined", "bo@shop.example", "Customer Care", "agent"),
            ("staff.left", "bo@shop.example", "Customer Care", "agent"),
        ]
        assert scim.events()[-1]["reason"] == "scim: deleted"


# -- refusals ----------------------------------------------------------------------------------


def _refused(response: httpx.Response, status: int, scim_type: str | None, *words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/scim+json")
    body = response.json()
    assert body["schemas"] == [ERROR] and body["status"] == str(status)
    assert body.get("scimType") == scim_type, body
    for word in words:
        assert word in body["detail"], body


def test_refusals_are_scim_errors_and_write_nothing(okta: Scim) -> None:
    uid = okta.call("POST", "/Users", _okta_user("ana@shop.example")).json()["id"]
    before = okta.state()
    no_key = okta.client.get("/scim/v2/Users")
    _refused(no_key, 401, None, "API key")
    assert no_key.headers["WWW-Authenticate"] == "Bearer"
    _refused(okta.call("GET", "/Users", key="snl_not-a-key"), 401, None)
    for role in (Role.INGEST, Role.READER):
        _refused(
            okta.call("POST", "/Users", _okta_user("x@shop.example"), key=okta.keys[role]),
            403,
            None,
            role.value,
        )
    _refused(
        okta.call("GET", "/Users", params={"filter": "userName eq"}), 400, "invalidFilter", "filter"
    )
    _refused(
        okta.call("GET", "/Users", params={"filter": 'nickname eq "a" or'}), 400, "invalidFilter"
    )
    _refused(
        okta.call("GET", "/Users", params={"filter": "shoeSize gt 40"}),
        400,
        "invalidFilter",
        "shoeSize",
    )
    _refused(
        okta.call("GET", "/Users", params={"startIndex": "first"}),
        400,
        "invalidValue",
        "startIndex",
    )
    duplicate = okta.call("POST", "/Users", _okta_user("ANA@shop.example"))
    _refused(duplicate, 409, "uniqueness", "userName")
    _refused(okta.call("POST", "/Users", b'{"schemas": ['), 400, "invalidSyntax", "JSON")
    _refused(okta.call("POST", "/Users", [1, 2]), 400, "invalidSyntax")
    _refused(
        okta.call("POST", "/Users", {**_okta_user("b@x"), "schemas": []}),
        400,
        "invalidValue",
        "schemas",
    )
    _refused(
        okta.call("POST", "/Users", {**_okta_user(""), "userName": ""}),
        400,
        "invalidValue",
        "userName",
    )
    _refused(
        okta.call("POST", "/Users", {**_okta_user("c@x"), "active": "yes"}),
        400,
        "invalidValue",
        "active",
    )
    _refused(
        okta.call("POST", "/Users", {**_okta_user("d@x"), "title": "t" * 65}),
        400,
        "invalidValue",
        "[roles]",
    )
    # A PATCH whose second operation is wrong applies neither.
    half = {
        "schemas": [PATCH],
        "Operations": [
            {"op": "replace", "path": "active", "value": False},
            {"op": "replace", "path": "userName", "value": 7},
        ],
    }
    _refused(
        okta.call("PATCH", f"/Users/{uid}", half), 400, "invalidValue", "Operations[1]", "userName"
    )
    bad_path = {
        "schemas": [PATCH],
        "Operations": [{"op": "replace", "path": "emails[type eq work]", "value": "x"}],
    }
    _refused(okta.call("PATCH", f"/Users/{uid}", bad_path), 400, "invalidPath", "Operations[0]")
    bad_op = {"schemas": [PATCH], "Operations": [{"op": "merge", "path": "active", "value": False}]}
    _refused(okta.call("PATCH", f"/Users/{uid}", bad_op), 400, "invalidValue", "Operations[0].op")
    read_only = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "id", "value": "x"}]}
    _refused(okta.call("PATCH", f"/Users/{uid}", read_only), 400, "mutability", "id")
    no_target = {"schemas": [PATCH], "Operations": [{"op": "remove"}]}
    _refused(okta.call("PATCH", f"/Users/{uid}", no_target), 400, "noTarget")
    stale = {"If-Match": 'W/"7"'}
    deactivate = {
        "schemas": [PATCH],
        "Operations": [{"op": "replace", "path": "active", "value": False}],
    }
    _refused(okta.call("PATCH", f"/Users/{uid}", deactivate, headers=stale), 412, None, 'W/"1"')
    _refused(okta.call("DELETE", f"/Users/{uid}", headers=stale), 412, None)
    _refused(okta.call("PATCH", "/Users/nobody", deactivate), 404, None, "nobody")
    members = {
        "schemas": [GROUP],
        "displayName": "G",
        "members": [{"value": uid}, {"value": "ghost"}],
    }
    _refused(
        okta.call("POST", "/Groups", members), 400, "invalidValue", "members[1].value", "ghost"
    )
    nested = {"schemas": [GROUP], "displayName": "G", "members": [{"value": uid, "type": "Group"}]}
    _refused(okta.call("POST", "/Groups", nested), 400, "invalidValue", "nested")
    big = {**_okta_user("e@x"), "pad": "x" * (1024 * 1024)}
    _refused(okta.call("POST", "/Users", big), 413, None)
    assert okta.state() == before
    # The right ETag is taken.
    done = okta.call("PATCH", f"/Users/{uid}", deactivate, headers={"If-Match": 'W/"1"'})
    assert done.status_code == 200 and done.headers["ETag"] == 'W/"2"'


def test_a_staff_id_two_users_would_share_is_refused(settings: Settings) -> None:
    for scim in _app(settings, ScimMapping(strip_domain=True)):
        assert scim.call("POST", "/Users", _okta_user("ana@shop.example")).status_code == 201
        clash = scim.call("POST", "/Users", _okta_user("ana@other.example"))
        _refused(clash, 409, "uniqueness", "staff id 'ana'")
        assert scim.staff_events() == [("staff.joined", "ana", None, "Support Agent")]


def test_discovery_documents(okta: Scim) -> None:
    config = okta.call("GET", "/ServiceProviderConfig").json()
    assert config["patch"] == {"supported": True} and config["bulk"]["supported"] is False
    assert config["filter"] == {"supported": True, "maxResults": 1000}
    assert config["authenticationSchemes"][0]["type"] == "oauthbearertoken"
    types = okta.call("GET", "/ResourceTypes").json()
    assert [t["id"] for t in types["Resources"]] == ["User", "Group"]
    assert (
        okta.call("GET", "/ResourceTypes/User").json()["schemaExtensions"][0]["schema"]
        == ENTERPRISE
    )
    schemas = okta.call("GET", "/Schemas").json()["Resources"]
    assert [s["id"] for s in schemas] == [USER, ENTERPRISE, GROUP]
    user = {a["name"]: a for a in schemas[0]["attributes"]}
    assert user["userName"]["returned"] == "default" and user["userName"]["uniqueness"] == "server"
    assert user["title"]["returned"] == "default"  # the mapping reads it
    assert user["emails"]["returned"] == "never" and user["password"]["returned"] == "never"
    assert okta.call("GET", f"/Schemas/{GROUP}").json()["name"] == "Group"
    _refused(okta.call("GET", "/Schemas/urn:nope"), 404, None)


# -- the HR feed and detection -----------------------------------------------------------------


def test_hr_notice_then_an_export_raises_export_after_notice(
    settings: Settings, tmp_path: Path
) -> None:
    # Notice four days ago; the export 3 days and 1 hour after that day began (yesterday,
    # whatever the time of day now: more than a day before the wall clock, which live
    # detection's reorder buffer needs).
    notice_day = (dt.datetime.now(dt.UTC) - dt.timedelta(days=4)).date()
    exported = dt.datetime.combine(notice_day, dt.time(1), dt.UTC) + dt.timedelta(days=3)
    notices = tmp_path / "notices.csv"
    notices.write_text(
        "employee_name,staff,notice_date,reason,personal_email\n"
        f"Ana Lima,ana,{notice_day},resignation,ana.lima@gmail.example\n"
    )
    env = {**os.environ, "SENTINELLE_DATA_DIR": str(settings.data_dir)}
    env.pop("SENTINELLE_DATABASE_URL", None)
    if settings.database_url:
        env["SENTINELLE_DATABASE_URL"] = settings.database_url
    done = run_script(env, "connectors", "hr-notices", str(notices), "--json")
    assert json.loads(done.stdout)["stored"] == 1
    again = run_script(env, "connectors", "hr-notices", str(notices), "--json")
    assert (json.loads(again.stdout)["stored"], json.loads(again.stdout)["duplicates"]) == (0, 1)
    for scim in _app(settings, ScimMapping()):
        assert "gmail" not in scim.everything_stored() and "Lima" not in scim.everything_stored()
        export = {
            "id": "x-1",
            "time": exported.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "actor": {"id": "ana", "kind": "staff"},
            "action": "export",
            "merchant": "m-1",
            "resource": {"type": "customer_list", "count": 500},
            "data": ["contact", "address"],
            "channel": "export",
            "outcome": "allowed",
        }
        sent = scim.client.post(
            "/v1/events",
            json=[export],
            headers={"Authorization": f"Bearer {scim.keys[Role.INGEST]}"},
        )
        assert sent.status_code == 200, sent.text
        alerts = [a for a in scim.store.alerts() if a.detector == "export_after_notice"]
        assert [a.actor for a in alerts] == ["ana"], scim.store.alerts()
        assert "gave notice 3.0 days ago" in alerts[0].reasons_json


def test_hr_feed_refuses_a_bad_file_whole(tmp_path: Path) -> None:
    env = {**os.environ, "SENTINELLE_DATA_DIR": str(tmp_path / "data")}
    env.pop("SENTINELLE_DATABASE_URL", None)
    bad = tmp_path / "notices.json"
    bad.write_text(
        json.dumps(
            {
                "notices": [
                    {"staff": "ana", "notice_date": "2026-11-04"},
                    {"staff": "bo", "notice_date": "2026-11-31"},
                    {"notice_date": "2026-11-04"},
                    {"staff": "cid", "notice_date": "2026-11-04T10:00:00", "reason": "ill"},
                    {"staff": "dee", "notice_date": "2999-01-01"},
                    {"staff": "eve", "notice_date": "2026-11-04", "reason": "She was ill"},
                ]
            }
        )
    )
    refused = run_script(env, "connectors", "hr-notices", str(bad), code=1)
    for line in (
        "index 1: notice_date: not a date",
        "index 2: staff: missing",
        "index 3: notice_date: a time needs its UTC offset",
        "index 4: notice_date: 2999-01-01 is in the future",
        "index 5: reason: must be a category",
    ):
        assert line in refused.stderr, refused.stderr
    assert "nothing was written" in refused.stderr
    header = tmp_path / "notices.csv"
    header.write_text("name,date\nAna,2026-11-04\n")
    missing = run_script(env, "connectors", "hr-notices", str(header), code=1)
    assert "line 1: staff: missing from the header row" in missing.stderr
    assert not (tmp_path / "data" / "sentinelle.db").exists() or "stored" not in missing.stdout
