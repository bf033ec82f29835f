"""Breach notices: languages, category words, the link and subject rules, planning, versions."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import typing
from pathlib import Path
from typing import Any

import msgspec
import pytest
from babel.dates import format_date
from babel.numbers import format_decimal

from sentinelle.assess import evaluate, parse_facts
from sentinelle.assess.facts import DataCategory
from sentinelle.errors import ConfigError
from sentinelle.incidents.model import Incident, State
from sentinelle.incidents.scope import MerchantScope, Scope
from sentinelle.notify import render
from sentinelle.notify.directory import hash_address, open_directory
from sentinelle.notify.model import Audience
from sentinelle.notify.render import (
    CATEGORY_WORDS,
    LOCALES,
    NoticeConfig,
    NoticeTemplateError,
    check_links,
    check_subject,
    negotiate,
    notice_version,
    plan_notices,
    render_notice,
    render_samples,
)

CATEGORIES = typing.get_args(DataCategory)
KEY = b"k" * 32
US = 1_000_000
T0 = int(dt.datetime(2026, 11, 20, 8, tzinfo=dt.UTC).timestamp()) * US
T1 = int(dt.datetime(2026, 11, 23, 17, tzinfo=dt.UTC).timestamp()) * US


def config(**changes: Any) -> NoticeConfig:
    values: dict[str, Any] = {
        "shop_name": "Marché Vert",
        "shop_domain": "shop.example",
        "dpo_contact": "dpo@shop.example",
        "sender": "Marché Vert <notices@mail.shop.example>",
        "merchant_names": {"m-1": "Boutique Lune", "m-2": "Atelier Soleil"},
        "authority_address": "breach@authority.example",
    }
    values.update(changes)
    return NoticeConfig(**values)


def facts(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "aware_at": "2026-11-24T09:00:00Z",
        "breach_types": ["confidentiality"],
        "data_categories": ["contact", "order_details"],
        "cause": {"source": "internal", "kind": "insider_abuse", "intent": "malicious"},
        "recipients": "unknown",
        "period": {"start": "2026-11-20T08:00:00Z", "end": "2026-11-23T17:00:00Z"},
        "subjects": {"count": 1234},
        "records": 5678,
        "mitigations": ["The agent's access was revoked on 24 November.", "Fix <script>x</script>"],
    }
    values.update(changes)
    return values


def incident(**fact_changes: Any) -> Incident:
    """An assessed incident, typed: its facts, and their assessment deciding people are told."""
    typed = parse_facts(facts(**fact_changes))
    assessment = evaluate(typed, now=typed.aware_at + dt.timedelta(hours=1))
    told = msgspec.structs.replace(assessment.notify_subjects, required=True)
    assessment = msgspec.structs.replace(assessment, notify_subjects=told)
    return Incident(
        id="inc-7",
        title="Agent 42 browsed orders",
        state=State.ASSESSED,
        actors=("agent-42",),
        from_us=T0,
        to_us=T1,
        created_us=T1,
        created_by="dpo",
        facts=typed,
        assessment=assessment,
    )


def scope(**categories: set[str]) -> Scope:
    s = Scope(incident="inc-7", actors=("agent-42",), from_us=T0, to_us=T1, unjustified_only=False)
    s.per_merchant["m-1"] = MerchantScope(
        "m-1",
        {"c-1", "c-2", "c-3"},
        1234,
        categories.get("m1", {"contact", "order_details"}),
        T0,
        T1,
    )
    s.per_merchant["m-2"] = MerchantScope(
        "m-2", {"c-9", "c-10"}, 2, categories.get("m2", {"contact", "address"}), T0, T1
    )
    return s


# --- languages -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "default", "expected"),
    [
        ("fr_CA", "en", "fr"),
        ("fr-BE", "en", "fr"),
        ("fr", "en", "fr"),
        ("en_GB", "fr", "en"),
        ("de_DE", "en", "en"),
        ("de_DE", "fr", "fr"),
        (None, "fr", "fr"),
        ("not a locale", "en", "en"),
    ],
)
def test_language_negotiation(locale: str | None, default: str, expected: str) -> None:
    cfg = config(default_locale=default)
    assert negotiate(locale, cfg) == expected
    notice = render_notice(
        cfg, incident(), Audience.SUBJECTS, scope=scope(), locale=locale, shops=["m-1"]
    )
    assert notice.locale == expected
    start = format_date(dt.date(2026, 11, 20), "long", locale=expected)
    assert start in notice.text


def test_default_locale_must_have_templates() -> None:
    with pytest.raises(ConfigError, match="default_locale"):
        config(default_locale="de")


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("category", CATEGORIES)
def test_every_category_is_translated_in_plain_words(locale: str, category: str) -> None:
    words = CATEGORY_WORDS[locale][category]
    assert words and words != category and "_" not in words
    other = [loc for loc in LOCALES if loc != locale]
    assert all(CATEGORY_WORDS[o][category] != words for o in other)  # translated, not copied
    notice = render_notice(
        config(),
        incident(data_categories=[category]),
        Audience.SUBJECTS,
        scope=scope(m1={category}),
        locale=locale,
        shops=["m-1"],
    )
    assert words in notice.text
    assert words.replace("'", "&#39;") in notice.html or words in notice.html
    assert "_" not in notice.text  # no raw code such as payment_partial


def test_unknown_category_is_refused_not_printed_raw() -> None:
    # The facts refuse it on parsing; a category counted from the stored events still may not be.
    with pytest.raises(ConfigError, match="tattoos"):
        render_notice(
            config(), incident(), Audience.SUBJECTS, scope=scope(m1={"tattoos"}), shops=["m-1"]
        )


# --- content ---------------------------------------------------------------------------------

# Per language, wording a reader needs for each Art. 34(2) element (and the shop's advice).
EXPECTED = {
    "en": {"consequences": "phishing", "dpo": "data protection officer", "orders": "real order"},
    "fr": {
        "consequences": "hameçonnage",
        "dpo": "délégué à la protection",
        "orders": "vraies commandes",
    },
}


@pytest.mark.parametrize("locale", LOCALES)
def test_subject_notice_has_every_required_element(locale: str) -> None:
    inc = incident()
    notice = render_notice(
        config(),
        inc,
        Audience.SUBJECTS,
        scope=scope(),
        locale=locale,
        shops=["m-1", "m-2"],
        name="Ann",
    )
    for body in (notice.text, notice.html):
        # nature and period
        assert format_date(dt.date(2026, 11, 20), "long", locale=locale) in body
        assert format_date(dt.date(2026, 11, 23), "long", locale=locale) in body
        # extent: both shops, each with its own categories in words
        assert "Boutique Lune" in body and "Atelier Soleil" in body
        assert CATEGORY_WORDS[locale]["address"].split()[0] in body
        # likely consequences, and advice fitted to contact + order data
        assert EXPECTED[locale]["consequences"] in body
        assert EXPECTED[locale]["orders"] in body
        # measures taken
        assert "The agent's access was revoked on 24 November." in body.replace("&#39;", "'")
        # DPO contact
        assert EXPECTED[locale]["dpo"] in body
        assert "dpo@shop.example" in body
        # the shop's own domain, for the anti-phishing advice
        assert "shop.example" in body
    assert "Ann" in notice.text
    # the title is internal and must not reach customers
    assert "Agent 42" not in notice.text


@pytest.mark.parametrize("locale", LOCALES)
def test_merchant_notice_gives_counts_and_their_duty(locale: str) -> None:
    notice = render_notice(
        config(), incident(), Audience.MERCHANTS, scope=scope(), locale=locale, shops=["m-1"]
    )
    assert format_decimal(1234, locale=locale) in notice.text  # records at m-1
    assert "Boutique Lune" in notice.text and "Atelier Soleil" not in notice.text
    assert "72" in notice.text and "33" in notice.text  # Art. 33, 72 hours
    assert "Boutique Lune" in notice.subject


@pytest.mark.parametrize(("locale", "on"), [("en", "accesses on "), ("fr", "accès le ")])
def test_a_merchants_accesses_of_one_day_are_on_that_day(locale: str, on: str) -> None:
    # Not "between 20 November and 20 November".
    one_day = scope()
    one_day.per_merchant["m-1"].last_us = T0 + 3_600_000_000
    notice = render_notice(
        config(), incident(), Audience.MERCHANTS, scope=one_day, locale=locale, shops=["m-1"]
    )
    day = format_date(dt.date(2026, 11, 20), "long", locale=locale)
    assert f"{on}{day}" in notice.text
    assert day not in notice.text.split(on, 1)[1].split("\n", 1)[0][len(day) :]


@pytest.mark.parametrize("locale", LOCALES)
def test_authority_cover_gives_counts(locale: str) -> None:
    notice = render_notice(config(), incident(), Audience.AUTHORITY, scope=scope(), locale=locale)
    assert format_decimal(1234, locale=locale) in notice.text  # subjects
    assert format_decimal(5678, locale=locale) in notice.text  # records
    assert "inc-7" in notice.subject
    # The consequences are the people's, told to the authority: never "you" (a customer's).
    them = {"en": "Someone could send the people concerned messages", "fr": "aux personnes"}
    for body in (notice.text, notice.html):
        assert them[locale] in body
        assert EXPECTED[locale]["consequences"] in body
    you = {"en": (" you ", " your "), "fr": (" vous ", " vos ")}[locale]
    consequences = notice.text.split("\n\n")
    told = next(part for part in consequences if EXPECTED[locale]["consequences"] in part)
    assert not any(word in told for word in you), told


def test_notices_read_the_typed_facts_and_assessment() -> None:
    inc = incident(
        summary="An agent browsed orders without a ticket.",
        subjects={"count": 1234, "approximate": True},
        exfiltration="confirmed",
        data_recovered=True,
        data_categories=["contact", "credentials"],
        credentials_for="low_value",
        encryption={"hashed_salted": True},
        period={"start": "2026-11-20T23:30:00-02:00", "end": "2026-11-23T17:00:00Z"},
    )
    cover = render_notice(config(), inc, Audience.AUTHORITY, scope=scope(), locale="en")
    assert "An agent browsed orders without a ticket." in cover.text
    assert "Data subjects concerned: 1,234 (approximate)" in cover.text
    assert "Data subjects are being told individually (Article 34)" in cover.text
    told = render_notice(
        config(),
        inc,
        Audience.SUBJECTS,
        scope=scope(m1={"contact", "credentials"}),
        locale="en",
        shops=["m-1"],
    )
    assert "The data was copied out of our systems." in told.text
    assert "The copies have been recovered or proven deleted." in told.text
    assert "passwords were stored in a protected, scrambled form" in told.text
    assert "Between November 21, 2026 and November 23, 2026" in told.text  # the start in UTC


def test_html_is_escaped_and_text_is_not() -> None:
    notice = render_notice(config(), incident(), Audience.SUBJECTS, scope=scope(), shops=["m-1"])
    assert "Fix <script>x</script>" in notice.text
    assert "<script>" not in notice.html
    assert "Fix &lt;script&gt;x&lt;/script&gt;" in notice.html


def test_a_name_that_looks_like_a_link_is_left_out() -> None:
    notice = render_notice(
        config(),
        incident(),
        Audience.SUBJECTS,
        scope=scope(),
        shops=["m-1"],
        name="www.evil.example",
    )
    assert "evil" not in notice.text


# --- the link rule ---------------------------------------------------------------------------

LINKS = [
    ("see https://shop.example/help", False, True),
    ("see https://help.shop.example/x?y=1", False, True),
    ("see https://evil.example/login", False, False),
    ("see http://shop.example.evil.example/", False, False),
    ("see https://shop.example@evil.example/", False, False),
    ("see https://notshop.example/", False, False),
    ("see www.evil.example today", False, False),
    ("see www.shop.example today", False, True),
    ("see ftp://evil.example/x", False, False),
    ("write to dpo@shop.example", False, True),
    ('<a href="https://shop.example/">shop</a>', True, True),
    ('<a href="https://evil.example/">shop.example</a>', True, False),
    ("<a href='//evil.example/'>x</a>", True, False),
    ('<a href="javascript:alert(1)">x</a>', True, False),
    ('<a href="mailto:dpo@shop.example">dpo</a>', True, True),
    ('<a href="mailto:x@evil.example">dpo</a>', True, False),
    ('<img src="https://tracker.example/p.gif">', True, False),
    ("<p>https&#58;//evil.example/</p>", True, False),
    ('<div style="background: url(https://evil.example/x.png)">', True, False),
]


@pytest.mark.parametrize(("text", "is_html", "allowed"), LINKS)
def test_link_rule(text: str, is_html: bool, allowed: bool) -> None:
    if allowed:
        check_links(text, domain="shop.example", template="t", is_html=is_html)
    else:
        with pytest.raises(NoticeTemplateError, match="only to shop.example"):
            check_links(text, domain="shop.example", template="t", is_html=is_html)


def override(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / "templates" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return tmp_path / "templates"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("en/subjects.txt", "Hello, log in at https://evil.example/account to see more.\n"),
        ("fr/subjects.html", '<p>Voir <a href="https://evil.example/">notre page</a></p>\n'),
        ("en/subjects.txt", "Visit www.shop-example-secure.com today.\n"),
    ],
)
def test_an_override_linking_outside_is_refused(tmp_path: Path, name: str, content: str) -> None:
    cfg = config(templates_dir=override(tmp_path, name, content))
    locale = name.split("/")[0]
    with pytest.raises(NoticeTemplateError) as info:
        render_notice(
            cfg, incident(), Audience.SUBJECTS, scope=scope(), locale=locale, shops=["m-1"]
        )
    assert info.value.template == name
    assert name in info.value.diagnostics()


def test_an_override_wins_and_may_link_to_the_shop(tmp_path: Path) -> None:
    content = (
        '<p>Hello from the override, see <a href="https://help.shop.example/breach">help</a></p>\n'
    )
    cfg = config(templates_dir=override(tmp_path, "en/subjects.html", content))
    notice = render_notice(
        cfg, incident(), Audience.SUBJECTS, scope=scope(), locale="en", shops=["m-1"]
    )
    assert "Hello from the override" in notice.html
    assert "Hello from the override" not in notice.text  # the text template is still built in


def test_an_override_refused_before_anything_is_planned(tmp_path: Path) -> None:
    cfg = config(templates_dir=override(tmp_path, "fr/merchants.txt", "https://evil.example\n"))
    directory = open_directory(str(write_csv(tmp_path, [("m-1", "", "ops@m1.example", "", "")])))
    with pytest.raises(NoticeTemplateError, match="fr/merchants.txt"):
        plan_notices(
            cfg, incident(), scope(), audience=Audience.MERCHANTS, key=KEY, directory=directory
        )


# --- the subject rule ------------------------------------------------------------------------

SUBJECTS = [
    ("Information about your personal data at Marché Vert", True),
    ("Information concernant vos données personnelles chez Marché Vert", True),
    ("Urgent: information about your data", False),
    ("Action urgente concernant vos données", False),
    ("Please verify your account at Marché Vert", False),
    ("Vérifiez votre compte chez Marché Vert", False),
    ("Click here to read about your data", False),
    ("Cliquez ici pour en savoir plus sur vos données", False),
    ("Your password at Marché Vert", False),
    ("Votre mot de passe chez Marché Vert", False),
    ("Information about your personal data!", False),
    ("IMPORTANT information about your data", False),
    ("Information IMPORTANTE sur vos données", False),
    ("Act now about your personal data", False),
    ("Short", False),
    ("Information " * 12, False),
]


@pytest.mark.parametrize(("subject", "allowed"), SUBJECTS)
def test_subject_rule(subject: str, allowed: bool) -> None:
    if allowed:
        check_subject(subject, template="t.subject.txt")
    else:
        with pytest.raises(NoticeTemplateError, match="t.subject.txt"):
            check_subject(subject, template="t.subject.txt")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("en/subjects.subject.txt", "URGENT news about {{ shop_name }}\n"),
        ("fr/authority.subject.txt", "Vérifiez votre compte {{ shop_name }}\n"),
        ("en/merchants.subject.txt", "Your store has a problem!\n"),
    ],
)
def test_a_phishy_override_subject_is_refused(tmp_path: Path, name: str, content: str) -> None:
    cfg = config(templates_dir=override(tmp_path, name, content))
    locale, audience = name.split("/")[0], Audience(name.split("/")[1].split(".")[0])
    with pytest.raises(NoticeTemplateError) as info:
        render_notice(cfg, incident(), audience, scope=scope(), locale=locale, shops=["m-1"])
    assert info.value.template == name


def test_override_templates_name_the_shops_as_shops_or_as_stores(tmp_path: Path) -> None:
    """``shops`` and ``shop_names`` for new templates; ``stores`` and ``store_names``, the
    same values, for the built-in templates and operators' existing overrides."""
    new = (
        "{% for s in shops %}- {{ s.name }}: {{ s.category_list }}\n{% endfor %}{{ shop_names }}\n"
    )
    old = new.replace("shops", "stores").replace("shop_names", "store_names")
    texts = []
    for folder, content in (("new", new), ("old", old)):
        cfg = config(templates_dir=override(tmp_path / folder, "en/subjects.txt", content))
        notice = render_notice(
            cfg, incident(), Audience.SUBJECTS, scope=scope(), locale="en", shops=["m-1", "m-2"]
        )
        texts.append(notice.text)
    assert texts[0] == texts[1]
    assert texts[0] == (
        "- Boutique Lune: name and contact details (e-mail address, phone number) and order"
        " details (products, dates and amounts)\n"
        "- Atelier Soleil: postal address and name and contact details (e-mail address, phone"
        " number)\n"
        "Boutique Lune and Atelier Soleil\n"
    )


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("audience", list(Audience))
def test_built_in_subjects_pass_the_rule(locale: str, audience: Audience) -> None:
    shops = {Audience.SUBJECTS: ["m-1", "m-2"], Audience.MERCHANTS: ["m-1"]}.get(audience, [])
    notice = render_notice(
        config(), incident(), audience, scope=scope(), locale=locale, shops=shops
    )
    check_subject(notice.subject, template="built-in")


# --- planning --------------------------------------------------------------------------------


def write_csv(tmp_path: Path, rows: list[tuple[str, str, str, str, str]]) -> Path:
    path = tmp_path / "contacts.csv"
    lines = ["subject,merchant,email,name,locale"] + [",".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_one_notice_per_address_across_shops(tmp_path: Path) -> None:
    rows = [
        ("c-1", "m-1", "ann@home.example", "Ann", "fr_CA"),
        ("c-9", "m-2", "Ann@Home.example", "Ann", "fr"),  # the same person at another shop
        ("c-2", "m-1", "bo@home.example", "", ""),
        ("c-10", "m-2", "cy@home.example", "Cy", "en"),
        ("c-77", "m-1", "zed@home.example", "Zed", "en"),  # not in scope
    ]
    directory = open_directory(str(write_csv(tmp_path, rows)))
    plan = plan_notices(
        config(), incident(), scope(), audience=Audience.SUBJECTS, key=KEY, directory=directory
    )
    assert plan.missing == [("m-1", "c-3")]
    assert plan.recipients == 3
    outbound = list(plan)
    assert len(outbound) == 3
    by_to = {o.to.lower(): o for o in outbound}
    assert set(by_to) == {"ann@home.example", "bo@home.example", "cy@home.example"}
    ann = by_to["ann@home.example"]
    assert ann.recipient == hash_address(KEY, "ann@home.example")
    msg = ann.build("<n-1@shop.example>")
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Boutique Lune" in text and "Atelier Soleil" in text
    bo_text = (
        by_to["bo@home.example"].build("<n-2@shop.example>").get_body(("plain",)).get_content()  # type: ignore[union-attr]
    )
    assert "Boutique Lune" in bo_text and "Atelier Soleil" not in bo_text


def test_built_message_headers_and_parts(tmp_path: Path) -> None:
    directory = open_directory(
        str(write_csv(tmp_path, [("c-1", "m-1", "ann@home.example", "Ann", "fr_CA")]))
    )
    plan = plan_notices(
        config(), incident(), scope(), audience=Audience.SUBJECTS, key=KEY, directory=directory
    )
    (out,) = list(plan)
    raw = out.build("<abc@shop.example>").as_bytes()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Message-ID"] == "<abc@shop.example>"
    assert msg["From"].addresses[0].addr_spec == "notices@mail.shop.example"
    assert msg["To"].addresses[0].addr_spec == "ann@home.example"
    assert msg["Content-Language"] == "fr"
    assert "chez Marché Vert" in msg["Subject"]
    assert msg["Date"].datetime.tzinfo is not None
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]


def test_merchant_plan_and_missing_merchants(tmp_path: Path) -> None:
    rows = [("m-1", "", "ops@lune.example", "Ops", "fr"), ("m-1", "", "dpo@lune.example", "", "en")]
    directory = open_directory(str(write_csv(tmp_path, rows)))
    plan = plan_notices(
        config(), incident(), scope(), audience=Audience.MERCHANTS, key=KEY, directory=directory
    )
    assert plan.missing == [(None, "m-2")]
    out = list(plan)
    assert sorted(o.to for o in out) == ["dpo@lune.example", "ops@lune.example"]
    langs = sorted(o.build("<x@shop.example>")["Content-Language"] for o in out)
    assert langs == ["en", "fr"]


def test_authority_plan() -> None:
    plan = plan_notices(config(), incident(), scope(), audience=Audience.AUTHORITY, key=KEY)
    (out,) = list(plan)
    assert out.to == "breach@authority.example"
    with pytest.raises(ConfigError, match="authority_address"):
        plan_notices(
            config(authority_address=None),
            incident(),
            scope(),
            audience=Audience.AUTHORITY,
            key=KEY,
        )
    with pytest.raises(ConfigError, match="directory"):
        plan_notices(config(), incident(), scope(), audience=Audience.SUBJECTS, key=KEY)


def test_notices_are_rendered_only_when_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sentinelle.notify import render

    rows = [(f"c-{i}", "m-1", f"p{i}@home.example", "", "") for i in (1, 2, 3)]
    directory = open_directory(str(write_csv(tmp_path, rows)))
    plan = plan_notices(
        config(), incident(), scope(), audience=Audience.SUBJECTS, key=KEY, directory=directory
    )
    calls: list[str] = []
    original = render._Renderer.render

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append("render")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(render._Renderer, "render", counting)
    outbound = list(plan)
    assert len(outbound) == 3 and calls == []
    outbound[0].build("<a@shop.example>")
    assert calls == ["render"]


# --- versions --------------------------------------------------------------------------------


LISTS = (Path(render.__file__).parent / "templates" / "_lists.j2").read_text(encoding="utf-8")


def test_version_is_stable_and_changes_with_what_the_notice_says(tmp_path: Path) -> None:
    base = notice_version(config(), incident(), Audience.SUBJECTS)
    assert base == notice_version(config(), incident(), Audience.SUBJECTS)
    changed = {
        "facts": notice_version(config(), incident(records=9), Audience.SUBJECTS),
        "mitigations": notice_version(config(), incident(mitigations=["Other"]), Audience.SUBJECTS),
        "audience": notice_version(config(), incident(), Audience.MERCHANTS),
        "dpo": notice_version(
            config(dpo_contact="privacy@shop.example"), incident(), Audience.SUBJECTS
        ),
        "template": notice_version(
            config(templates_dir=override(tmp_path, "fr/subjects.txt", "Bonjour\n")),
            incident(),
            Audience.SUBJECTS,
        ),
        "lists": notice_version(
            config(templates_dir=override(tmp_path / "l", "_lists.j2", LISTS + "{# ours #}\n")),
            incident(),
            Audience.SUBJECTS,
        ),
    }
    assert all(v != base for v in changed.values()), changed
    assert len(set(changed.values())) == len(changed)
    unrelated = override(tmp_path / "x", "en/authority.txt", "Dear authority\n")
    assert notice_version(config(templates_dir=unrelated), incident(), Audience.SUBJECTS) == base


# What these inputs' notices say, as recorded by campaigns under way. A refactoring must not
# change it: a resumed campaign would be refused as "content changed". Change it only with
# what notices say (templates, category words, what the version covers), on purpose.
PINNED_VERSIONS = {
    # Phishers may pretend to be the shop the customer knows, not only the operator; the
    # merchants' extent ends with a blank line (a shared template: every audience changed).
    Audience.MERCHANTS: "438a56f884661991",
    Audience.SUBJECTS: "843ff2020f9158d6",
    Audience.AUTHORITY: "df9c29ad358d2d88",
}


@pytest.mark.parametrize("audience", list(Audience))
def test_version_is_pinned(audience: Audience) -> None:
    assert notice_version(config(), incident(), audience) == PINNED_VERSIONS[audience]


# --- dry run ---------------------------------------------------------------------------------


def test_render_samples(tmp_path: Path) -> None:
    paths = render_samples(config(), incident(), scope(), tmp_path / "dry")
    assert len(paths) == len(Audience) * len(LOCALES) * 3
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths)
    eml = tmp_path / "dry" / "subjects-fr.eml"
    assert eml in paths
    msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert msg["Content-Language"] == "fr"
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Boutique Lune" in text and "Atelier Soleil" in text
    assert (
        (tmp_path / "dry" / "merchants-en.html")
        .read_text(encoding="utf-8")
        .startswith("<!DOCTYPE html>")
    )


def test_sender_must_be_at_the_shop_domain() -> None:
    with pytest.raises(ConfigError, match="sender"):
        config(sender="notices@mailer.other.example")
    assert config().sender_address == "notices@mail.shop.example"
    assert config(sender="privacy@shop.example").sender_address == "privacy@shop.example"


@pytest.mark.parametrize(
    "sender",
    [
        '"security@paypal.example" <privacy@shop.example>',
        "Refunds at www.refunds.example <privacy@shop.example>",
        "Marché Vert https://refunds.example <privacy@shop.example>",
    ],
)
def test_the_senders_name_may_not_show_another_address_or_link(sender: str) -> None:
    # Mail programs show the name, not the address: one naming another domain is what
    # spoofed mail looks like, and contradicts the advice on where our messages come from.
    with pytest.raises(ConfigError, match="sender"):
        config(sender=sender)
    kept = '"privacy@shop.example" <notices@mail.shop.example>'
    assert config(sender=kept).sender_address == "notices@mail.shop.example"


@pytest.mark.parametrize(
    "name", ["Atelier Soleil https://soleil-refunds.example", "Soleil (www.soleil.example)"]
)
def test_a_shop_name_linking_elsewhere_is_refused_naming_the_shop(name: str) -> None:
    # The name comes from the merchants' directory, not a template: the error must say so,
    # and which shop, or the operator looks for the fault in the templates.
    with pytest.raises(ConfigError) as info:
        config(merchant_names={"m-1": "Boutique Lune", "m-2": name})
    assert not isinstance(info.value, NoticeTemplateError)
    assert "m-2" in str(info.value) and "merchants' directory" in str(info.value)
    kept = config(merchant_names={"m-2": "Atelier Soleil (shop.example)"})
    assert kept.merchant_names["m-2"] == "Atelier Soleil (shop.example)"


# --- the fast path: variants with the name put in, bytes assembled ----------------------------

NAMES = [
    "Zoë Ørsted",
    "Łukasz Wiśniewski",
    "Ann",
    None,
    "",
    'J. R. "Bo" O\'Neil & Co',
    "Anne-Marie de la Tour",
    "Tom <b>x</b>",  # refused: left out in both paths
    "www1.evil.example",  # refused
]


def parsed(raw: bytes) -> email.message.EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    return msg


def slow_and_fast(
    cfg: NoticeConfig, locale: str, shops: tuple[str, ...], name: str | None, *, sc: Any = None
) -> tuple[bytes, bytes]:
    from sentinelle.notify.render import _SMTP, _Renderer

    renderer = _Renderer(cfg, incident(), sc or scope())
    fast = renderer.message_bytes(
        Audience.SUBJECTS, locale, shops=shops, to="ann@home.example", name=name,
        message_id="<n-1@shop.example>",
    )  # fmt: skip
    notice = renderer.render(Audience.SUBJECTS, locale, shops=shops, name=name)
    slow = renderer.message(
        notice, to="ann@home.example", name=name, message_id="<n-1@shop.example>"
    ).as_bytes(policy=_SMTP)
    return slow, fast


def assert_same_message(slow_raw: bytes, fast_raw: bytes, *, assembled: bool = True) -> None:
    slow, fast = parsed(slow_raw), parsed(fast_raw)
    for header in ("From", "To", "Subject", "Message-ID", "Content-Language", "MIME-Version"):
        assert str(fast[header]) == str(slow[header]), header
    assert fast["To"].addresses == slow["To"].addresses
    assert fast["Date"].datetime.tzinfo is not None
    assert abs((fast["Date"].datetime - slow["Date"].datetime).total_seconds()) < 5
    assert fast.get_content_type() == slow.get_content_type() == "multipart/alternative"
    fast_parts, slow_parts = list(fast.iter_parts()), list(slow.iter_parts())
    assert [p.get_content_type() for p in fast_parts] == ["text/plain", "text/html"]
    assert [p.get_content_type() for p in slow_parts] == ["text/plain", "text/html"]
    for f, s in zip(fast_parts, slow_parts, strict=True):
        assert f.get_content_charset() == s.get_content_charset() == "utf-8"
        # The slow path base64-encodes mostly non-ASCII text with LF line ends; the fast path
        # writes CRLF (the canonical form of text, RFC 2046 §4.1.1). The lines are the same.
        assert f.get_content().splitlines() == s.get_content().splitlines()
    if not assembled:  # the slow path's bytes: 8bit parts are possible
        return
    # 7-bit, CRLF only, lines of at most 78 characters, the boundary nowhere in the bodies.
    assert fast_raw.isascii()
    assert fast_raw.count(b"\n") == fast_raw.count(b"\r\n") == fast_raw.count(b"\r")
    assert max(len(line) for line in fast_raw.split(b"\r\n")) <= 78
    boundary = fast.get_boundary()
    assert boundary is not None and fast_raw.count(boundary.encode()) == 4  # header + 3 lines


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("shops", [("m-1",), ("m-1", "m-2")])
@pytest.mark.parametrize("name", NAMES)
def test_fast_message_is_the_slow_message(
    locale: str, shops: tuple[str, ...], name: str | None
) -> None:
    slow, fast = slow_and_fast(config(), locale, shops, name)
    assert_same_message(slow, fast)
    text = parsed(fast).get_body(("plain",)).get_content()  # type: ignore[union-attr]
    if name in ("Zoë Ørsted", "Łukasz Wiśniewski", "Ann"):
        assert name in text and name in parsed(fast)["To"].addresses[0].display_name
    if name in (None, "", "Tom <b>x</b>", "www1.evil.example"):
        assert "evil" not in text and "<b>" not in text and fast.count(b"\r\nTo: ann@") == 1


def test_fast_message_with_a_long_name_uses_several_encoded_words() -> None:
    import email.header

    name = "Żaneta " + "é" * 60
    slow, fast = slow_and_fast(config(), "fr", ("m-1",), name)
    head = fast.split(b"\r\n\r\n", 1)[0].decode("ascii")
    to = head.split("\r\nTo: ", 1)[1].split("\r\nSubject:", 1)[0]
    assert to.count("=?utf-8?b?") > 1 and max(len(w) for w in to.split()) <= 75
    # RFC 2047: whitespace between encoded words is dropped. (Python's address parser keeps
    # it, for the slow path's encoded words as for these, so compare with a conforming one.)
    decoded = str(email.header.make_header(email.header.decode_header(to)))
    assert decoded == f"{name} <ann@home.example>"
    f, s = parsed(fast), parsed(slow)
    assert f.get_body(("plain",)).get_content().splitlines() == (  # type: ignore[union-attr]
        s.get_body(("plain",)).get_content().splitlines()  # type: ignore[union-attr]
    )


def test_plan_build_bytes_matches_build(tmp_path: Path) -> None:
    rows = [
        ("c-1", "m-1", "zoe@home.example", "Zoë Ørsted", "fr_CA"),
        ("c-9", "m-2", "zoe@home.example", "Zoë Ørsted", "fr"),  # two shops, one notice
        ("c-2", "m-1", "lw@home.example", "Łukasz Wiśniewski", "de_DE"),
        ("c-10", "m-2", "x@home.example", "", ""),
    ]
    directory = open_directory(str(write_csv(tmp_path, rows)))
    plan = plan_notices(
        config(), incident(), scope(), audience=Audience.SUBJECTS, key=KEY, directory=directory
    )
    outbound = list(plan)
    assert len(outbound) == 3
    for out in outbound:
        assert out.build_bytes is not None
        message = out.build("<m@shop.example>")
        slow = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
        assert_same_message(slow, out.build_bytes("<m@shop.example>"))


# Names that _safe_name must refuse: each would add a link or an attribute somewhere.
LINKY_NAMES = [
    "https://evil.example",
    "see evil.example/x",
    "www.evil.example",
    "WWW1.evil.example",
    "x www12.evil.example",
    "Burl url(evil.example)",
    "Url (x)",
    "a href=evil.example",
    "data = x",
    "bob@evil.example",
    "a\\b",
    "<b>",
    "x" * 81,
    "tab\x07bell",
]


@pytest.mark.parametrize("name", LINKY_NAMES)
def test_names_that_could_add_a_link_are_refused(name: str) -> None:
    from sentinelle.notify.render import _safe_name

    assert _safe_name(name) is None


def test_a_kept_name_cannot_add_a_link() -> None:
    """Every name _safe_name keeps, put into the checked variants, passes the link rule."""
    import random

    from sentinelle.notify.render import _Renderer, _safe_name

    rng = random.Random(5)
    alphabet = "aw.W1:;,()[]{}'\"&#=-_?!%+ éØ\u00a0" + "url" + "http" + "sw"
    pieces = ["www", "http", "://", "url(", "&amp;", "&#39;", "href", "=", ".example", "wWw1."]
    renderer = _Renderer(config(), incident(), scope())
    kept = 0
    for _ in range(400):
        name = "".join(
            rng.choice(pieces) if rng.random() < 0.3 else rng.choice(alphabet)
            for _ in range(rng.randint(1, 12))
        )
        safe = _safe_name(name)
        if safe is None:
            continue
        kept += 1
        raw = renderer.message_bytes(
            Audience.SUBJECTS, "en", shops=("m-1",), to="a@home.example", name=name,
            message_id="<x@shop.example>",
        )  # fmt: skip
        msg = parsed(raw)
        text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        html_part = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
        check_links(text, domain="shop.example", template="text")
        check_links(html_part, domain="shop.example", template="html", is_html=True)
        check_links(safe, domain="shop.example", template="name")
        assert f"Dear {safe}," in text
    assert kept > 50


@pytest.mark.parametrize(
    ("content", "fast"),
    [
        ("Dear {{ name }},\n", True),
        ("Dear {{ name|upper }},\n", False),  # transformed
        ("Dear {{ name[:3] }},\n", False),  # sliced
        ("{% if name|length > 9 %}Dear you{% else %}Dear {{ name }}{% endif %},\n", False),
        ("See https://shop.example{{ name }} for more.\n", False),  # glued to a host
        ("See https://{{ name }}.shop.example/ for more.\n", False),
        ("Dear x{{ name }},\n", False),  # glued to a word
        ("Dear {{ name }} = friend,\n", False),  # an attribute in the making
    ],
)
def test_templates_using_the_name_otherwise_render_in_full(
    tmp_path: Path, content: str, fast: bool
) -> None:
    from sentinelle.notify.render import _Renderer

    cfg = config(templates_dir=override(tmp_path, "en/subjects.txt", content))
    renderer = _Renderer(cfg, incident(), scope())
    variant = renderer.variant(Audience.SUBJECTS, "en", ("m-1",), named=True)
    assert (variant is not None) is fast
    for name in ("Zoë Ørsted", "Ann", "evil.example#"):
        try:
            slow, quick = slow_and_fast(cfg, "en", ("m-1",), name)
        except NoticeTemplateError:
            # Refused by the slow path: the fast one must refuse it too.
            with pytest.raises(NoticeTemplateError):
                renderer.message_bytes(
                    Audience.SUBJECTS, "en", shops=("m-1",), to="a@home.example", name=name,
                    message_id="<x@shop.example>",
                )  # fmt: skip
            continue
        assert_same_message(slow, quick, assembled=fast)


@pytest.mark.parametrize("name", ["Bob Martin", "BOB MARTIN", "Ann"])
def test_a_name_in_the_subject_is_checked_per_message(tmp_path: Path, name: str) -> None:
    from sentinelle.notify.render import _Renderer

    cfg = config(
        templates_dir=override(
            tmp_path, "en/subjects.subject.txt", "About your data at {{ shop_name }}, {{ name }}\n"
        )
    )
    renderer = _Renderer(cfg, incident(), scope())
    if name.isupper():  # shouting: refused by the subject rule, in both paths
        with pytest.raises(NoticeTemplateError, match="capitals"):
            renderer.render(Audience.SUBJECTS, "en", shops=("m-1",), name=name)
        with pytest.raises(NoticeTemplateError, match="capitals"):
            renderer.message_bytes(
                Audience.SUBJECTS, "en", shops=("m-1",), to="a@home.example", name=name,
                message_id="<x@shop.example>",
            )  # fmt: skip
        return
    slow, fast = slow_and_fast(cfg, "en", ("m-1",), name)
    assert_same_message(slow, fast)
    assert str(parsed(fast)["Subject"]).endswith(f", {name}")


def test_variants_are_rendered_once_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from sentinelle.notify import render

    renderer = render._Renderer(config(), incident(), scope())
    calls: list[int] = []
    original = render._Renderer.templates

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(render._Renderer, "templates", counting)
    for i in range(50):
        renderer.message_bytes(
            Audience.SUBJECTS, "fr", shops=("m-1",), to=f"p{i}@home.example", name=f"Zoé {i}",
            message_id=f"<{i}@shop.example>",
        )  # fmt: skip
    assert len(calls) == 2  # the variant and its probe, once
    monkeypatch.setattr(render, "_MAX_VARIANTS", 2)
    for shops in (("m-1",), ("m-2",), ("m-1", "m-2")):
        renderer.variant(Audience.SUBJECTS, "en", shops, named=False)
    assert len(renderer._variants) == 2
