"""A merchant sees the staff of its grants as its accesses list shows staff (issue 12 §1), on
both stores: through the API (a merchant key) and the console (a merchant's session), the
grantee by the pseudonym that day's accesses give it, with team, role and country, and no
staff member named where one asked, approved or saw; a responder sees every name; with
``merchant_staff_identity = "named"`` the merchant does too."""

from __future__ import annotations

import email
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from console_support import Console, login, open_console
from guard_support import ASK_AGENT_7, POLICY, access_citing
from sentinelle.access import Role
from sentinelle.access.accounts import create_key
from sentinelle.api.staff_view import STAFF
from sentinelle.config import Settings
from sentinelle.timeutil import MINUTE, iso
from sentinelle.transparency.accesses import Pseudonyms
from smtpsink import SmtpSink


class World(Console):
    keys: dict[str, str]

    def call(self, method: str, path: str, key: str, body: Any = None) -> httpx.Response:
        client = self.clients[0]
        headers = {"Authorization": f"Bearer {self.keys[key]}"}
        response: httpx.Response = client.request(method, path, json=body, headers=headers)
        return response

    def pseudonym(self, merchant: str, actor: str, at_us: int) -> str:
        return Pseudonyms.load_or_create(self.settings.data_dir).of(
            merchant, actor, iso(at_us)[:10]
        )


def _world(
    settings: Settings, tmp_path: Path, identity: str, mail: SmtpSink | None = None
) -> Iterator[World]:
    policy = tmp_path / "guard.toml"
    policy.write_text(POLICY)
    update: dict[str, Any] = {"guard_policy": policy, "merchant_staff_identity": identity}
    if mail is not None:  # the merchant is e-mailed one-time links to answer
        directory = tmp_path / "merchants.csv"
        directory.write_text(
            "subject,merchant,email,name,locale\nm-2,,owner@shop2.example,Shop 2,en\n"
        )
        update |= {
            "smtp": f"127.0.0.1:{mail.port}",
            "smtp_tls": "none",
            "notify_from": "Sentinelle <guard@platform.example>",
            "merchant_directory": str(directory),
            "public_url": "https://sentinelle.example",
        }
    configured = settings.model_copy(update=update)
    for w in open_console(configured, World):
        store = w.store
        w.keys = {
            "guard": create_key(store, name="console", role=Role.GUARD, by="t"),
            "resp": create_key(store, name="rita-key", role=Role.RESPONDER, by="t"),
            "ingest": create_key(store, name="ingest", role=Role.INGEST, by="t"),
            "m-2": create_key(store, name="shop2", role=Role.MERCHANT, merchant="m-2", by="t"),
        }
        w.user("owner@shop2.example", Role.MERCHANT, "m-2")
        w.user("rita@platform.example", Role.RESPONDER)
        # A grant of m-2 for agent-7, asked by a responder, approved by the merchant and by
        # staff; then an access of agent-7 citing it.
        asked = w.call("POST", "/v1/grants", "resp", ASK_AGENT_7)
        assert asked.status_code == 201, asked.text
        grant = asked.json()["id"]
        merchant = w.call("POST", f"/v1/merchants/m-2/grants/{grant}/approve", "m-2")
        assert merchant.json()["state"] == "requested", merchant.text  # staff's next
        staff = create_key(store, name="sam-key", role=Role.RESPONDER, by="t")
        w.keys["sam"] = staff
        done = w.call("POST", f"/v1/merchants/m-2/grants/{grant}/approve", "sam")
        assert done.json()["state"] == "approved", done.text
        access = access_citing(grant, iso(w.clock.now + MINUTE))
        stored = w.call("POST", "/v1/events", "ingest", [access])
        assert stored.status_code == 200, stored.text
        w.clock.advance(2 * MINUTE)
        w.grant = grant  # type: ignore[attr-defined]
        yield w


@pytest.fixture
def world(settings: Settings, tmp_path: Path) -> Iterator[World]:
    yield from _world(settings, tmp_path, "pseudonymous")


@pytest.fixture
def named(settings: Settings, tmp_path: Path) -> Iterator[World]:
    yield from _world(settings, tmp_path, "named")


@pytest.fixture
def mailing(settings: Settings, tmp_path: Path, smtp_sink: SmtpSink) -> Iterator[World]:
    yield from _world(settings, tmp_path, "pseudonymous", smtp_sink)


def test_a_merchant_key_sees_grant_staff_as_its_accesses_show_them(world: World) -> None:
    grant = world.grant  # type: ignore[attr-defined]
    row = world.store.grant(grant)
    assert row is not None
    pseudonym = world.pseudonym("m-2", "agent-7", row.requested_us)
    listed = world.call("GET", "/v1/merchants/m-2/grants", "m-2").json()["grants"]
    detail = world.call("GET", f"/v1/merchants/m-2/grants/{grant}", "m-2").json()
    for seen in (listed[0], detail):
        assert seen["actor"] == pseudonym
        assert seen["actor_shown"] == {
            "actor": pseudonym, "named": False, "team": "tier1", "role": "support",
            "country": "PT",
        }  # fmt: skip
        assert seen["requested_by"] is None  # a responder's key: staff
        assert {a["as"]: a["by"] for a in seen["approvals"]} == {
            "merchant": "key:shop2",
            "staff": None,
        }
    assert {s["kind"]: s["by"] for s in detail["history"]} == {
        "requested": None,
        "approved": None,  # the last approval (staff's) made it approved
    }
    text = json.dumps([listed, detail])
    assert "agent-7" not in text and "rita-key" not in text and "sam-key" not in text
    # The accesses list shows the same person that day with the same pseudonym.
    accesses = world.call("GET", "/v1/merchants/m-2/accesses", "m-2").json()
    (item,) = accesses["items"]
    assert item["shown"]["actor"] == pseudonym and item["shown"]["named"] is False
    # The merchant's answer to a grant is shown the same way.
    body = {"actor": "agent-7", "merchant": "m-2", "actions": ["view"], "data": ["contact"],
            "reason": "second"}  # fmt: skip
    second = world.call("POST", "/v1/grants", "guard", body).json()["id"]
    answered = world.call(
        "POST", f"/v1/merchants/m-2/grants/{second}/deny", "m-2", {"reason": "no"}
    )
    assert answered.status_code == 200, answered.text
    assert answered.json()["actor"].startswith("staff-")
    assert answered.json()["requested_by"] == "key:console"  # the guard: a service, named


def test_a_responder_sees_every_name(world: World) -> None:
    grant = world.grant  # type: ignore[attr-defined]
    detail = world.call("GET", f"/v1/merchants/m-2/grants/{grant}", "resp").json()
    assert detail["actor"] == "agent-7" and detail["actor_shown"]["named"] is True
    assert detail["requested_by"] == "key:rita-key"
    assert {a["as"]: a["by"] for a in detail["approvals"]} == {
        "merchant": "key:shop2",
        "staff": "key:sam-key",
    }
    listed = world.call("GET", "/v1/merchants/m-2/grants", "resp").json()["grants"]
    assert listed[0]["actor"] == "agent-7"


def test_under_the_named_policy_the_merchant_sees_names(named: World) -> None:
    grant = named.grant  # type: ignore[attr-defined]
    detail = named.call("GET", f"/v1/merchants/m-2/grants/{grant}", "m-2").json()
    assert detail["actor"] == "agent-7" and detail["requested_by"] == "key:rita-key"
    assert detail["actor_shown"]["team"] == "tier1"


def test_the_merchants_console_follows_the_policy(world: World) -> None:
    grant = world.grant  # type: ignore[attr-defined]
    row = world.store.grant(grant)
    assert row is not None
    pseudonym = world.pseudonym("m-2", "agent-7", row.requested_us)
    owner = world.client()
    assert login(owner, "owner@shop2.example").status_code == 303
    page = owner.get("/merchants/m-2")
    assert page.status_code == 200
    assert f'<span class="pseudonym">{pseudonym}</span>' in page.text
    assert "team tier1" in page.text and "from PT" in page.text
    one = owner.get(f"/merchants/m-2/grants/{grant}")
    assert one.status_code == 200
    for text in (page.text, one.text):
        assert "agent-7" not in text and "rita-key" not in text and "sam-key" not in text
    assert pseudonym in one.text and STAFF in one.text
    # The grant's page shows the grantee as the panel does: with role, team and country.
    shown = f'<span class="pseudonym">{pseudonym}</span> <span class="small">'
    assert shown + "(support, team tier1, from PT)" in one.text
    # The responder's console names them.
    rita = world.client()
    assert login(rita, "rita@platform.example").status_code == 303
    theirs = rita.get(f"/merchants/m-2/grants/{grant}")
    assert "agent-7" in theirs.text and "key:rita-key" in theirs.text


def test_the_page_an_e_mail_link_opens_follows_the_policy(
    mailing: World, smtp_sink: SmtpSink
) -> None:
    body = {"actor": "agent-7", "merchant": "m-2", "actions": ["view"], "data": ["contact"],
            "reason": "second"}  # fmt: skip
    asked = mailing.call("POST", "/v1/grants", "resp", body).json()
    assert asked["email"]["sent"] is True, asked
    text = email.message_from_bytes(smtp_sink.messages()[-1].data).get_payload(decode=True)
    link = re.search(r"https://sentinelle\.example(/grant-links/\S+/approve)", text.decode())
    assert link is not None
    row = mailing.store.grant(asked["id"])
    assert row is not None
    # The e-mail itself names the grantee as the merchant's page does, and no requester.
    mail = text.decode()
    assert mailing.pseudonym("m-2", "agent-7", row.requested_us) in mail
    assert "agent-7" not in mail and row.requested_by not in mail, mail
    assert "The platform asks that support staff member staff-" in mail
    page = mailing.clients[0].get(link.group(1))
    assert page.status_code == 200, page.text
    assert mailing.pseudonym("m-2", "agent-7", row.requested_us) in page.text
    assert "team tier1" in page.text  # no use of this grant yet: the team of their activity
    assert "agent-7" not in page.text and "rita-key" not in page.text and STAFF in page.text
    done = mailing.clients[0].post(link.group(1), data={"confirm": "yes"})
    assert done.status_code == 200 and "agent-7" not in done.text


def test_an_unreadable_pseudonym_key_is_a_mail_outcome_not_a_failed_request(
    mailing: World, smtp_sink: SmtpSink
) -> None:
    (mailing.settings.data_dir / "pseudonyms.key").write_text("not a key\n")
    sent = len(smtp_sink.messages())
    body = {"actor": "agent-7", "merchant": "m-2", "actions": ["view"], "data": ["contact"],
            "reason": "second"}  # fmt: skip
    asked = mailing.call("POST", "/v1/grants", "resp", body)
    assert asked.status_code == 201, asked.text  # the request is stored and answered
    assert asked.json()["email"]["sent"] is False
    assert "pseudonyms.key" in asked.json()["email"]["detail"], asked.json()
    assert len(smtp_sink.messages()) == sent
