"""Breach notices: what they say, in which language, and the rules every notice obeys.

Notices are Jinja2 templates in ``templates/<locale>/`` (English ``en`` and French ``fr``
built in), one set per :class:`~sentinelle.notify.model.Audience`:
``<audience>.subject.txt``, ``<audience>.txt`` and ``<audience>.html``, plus the shared
prose in ``_common.j2``. All are rendered with autoescaping, and the subject and text are
unescaped afterwards: HTML is escaped, text is not, and shared macros are safe in both. An
operator's folder (:attr:`NoticeConfig.templates_dir`, same layout) wins file by file over the
built-in ones.
Templates run in Jinja's sandbox with undefined variables refused.

Content follows GDPR Art. 33(3) for the authority and Art. 34(2) for data subjects (see
``reference/breach-law.md`` §3): the nature of the breach, its extent (shops, categories in
plain words, counts for merchants and the authority), likely consequences, who may hold the
data, the measures taken and proposed, what prevents a repeat, the DPO contact and advice
fitted to the categories leaked. A merchant, controller of its customers' data, is reminded of
its own Art. 33 duty (72 hours from becoming aware).

Two rules are enforced on every rendered notice, built-in or overridden, raising
:class:`NoticeTemplateError` naming the template:

* **links** (:func:`check_links`): no URL, ``www.`` host, ``href``/``src`` (and similar)
  attribute or CSS ``url()`` may point anywhere but the shop's domain or its subdomains. A
  notice that links elsewhere teaches people to follow links to elsewhere;
* **subject lines** (:func:`check_subject`): nothing that reads like phishing (urgency,
  "verify your account", "click", "password", in English and French; no ``!``, no ALL-CAPS
  word of three letters or more; 10 to 120 characters on one line).

Languages are negotiated with Babel from the recipient's locale (``fr_CA`` → ``fr``; unknown →
:attr:`NoticeConfig.default_locale`); dates and numbers are formatted in that language.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email.policy
import functools
import hashlib
import html
import json
import re
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

import jinja2
import markupsafe
from babel import negotiate_locale
from babel.dates import format_date, format_time
from babel.lists import format_list
from babel.numbers import format_decimal
from jinja2.sandbox import SandboxedEnvironment
from msgspec import UnsetType

from sentinelle.assess import facts_to_dict
from sentinelle.assess.facts import Cause, Subjects
from sentinelle.assess.gdpr import DEADLINE
from sentinelle.errors import ConfigError
from sentinelle.incidents.model import Incident
from sentinelle.incidents.scope import MerchantScope, Scope
from sentinelle.notify.directory import (
    Directory,
    Key,
    hash_address,
    parse_locale,
)
from sentinelle.notify.model import Audience, Outbound, RenderedNotice
from sentinelle.timeutil import from_us

__all__ = [
    "CATEGORY_WORDS",
    "LOCALES",
    "NoticeConfig",
    "NoticePlan",
    "NoticeTemplateError",
    "check_links",
    "check_subject",
    "negotiate",
    "notice_version",
    "plan_notices",
    "render_notice",
    "render_samples",
    "sample_notices",
    "template_names",
]

_BUILTIN: Final = Path(__file__).parent / "templates"
_T = TypeVar("_T")

CATEGORY_WORDS: Final[Mapping[str, Mapping[str, str]]] = {
    "en": {
        "contact": "name and contact details (e-mail address, phone number)",
        "address": "postal address",
        "order_details": "order details (products, dates and amounts)",
        "payment_partial": "part of the payment card number (last digits) and its expiry date",
        "payment_full": "full payment card details",
        "credentials": "account login details",
        "identity_document": "identity document",
        "financial": "bank or financial information",
        "location": "location information",
        "behavioral": "browsing and purchase habits",
        "special": "sensitive information, such as health information revealed by purchases",
        "children": "information about children",
    },
    "fr": {
        "contact": "nom et coordonnées (adresse e-mail, numéro de téléphone)",
        "address": "adresse postale",
        "order_details": "détail des commandes (produits, dates et montants)",
        "payment_partial": (
            "une partie du numéro de carte bancaire (derniers chiffres) et sa date d'expiration"
        ),
        "payment_full": "coordonnées bancaires complètes de la carte",
        "credentials": "identifiants de connexion au compte",
        "identity_document": "pièce d'identité",
        "financial": "informations bancaires ou financières",
        "location": "données de localisation",
        "behavioral": "habitudes de navigation et d'achat",
        "special": "informations sensibles, par exemple sur la santé, révélées par les achats",
        "children": "informations concernant des enfants",
    },
}
"""Plain words for each data category (``incident-facts.schema.json``), per built-in language."""

LOCALES: Final = tuple(sorted(CATEGORY_WORDS))
"""Languages notices can be written in."""

_PARTIAL: Final = "_common.j2"
_LISTS: Final = "_lists.j2"  # list helpers shared by every language, at the templates' root
_SUBJECT_MIN, _SUBJECT_MAX = 10, 120
_SAMPLE_NAMES: Final = {"en": "Alex Martin", "fr": "Camille Martin"}


class NoticeTemplateError(ConfigError):
    """A notice template is missing, fails to render, or breaks a rule; ``template`` names it."""

    def __init__(self, template: str, message: str) -> None:
        self.template = template
        self.reason = message
        super().__init__(f"notice template {template}: {message}")


@dataclass(frozen=True, slots=True, kw_only=True)
class NoticeConfig:
    """What notices need to know about who sends them.

    ``shop_domain`` is the only domain notices may link to (with its subdomains);
    ``sender`` (``Name <address>`` or an address) must be at that domain, so that what the
    advice says ("our messages come from …") holds for the notice itself. ``merchant_names``
    gives shops' display names (the id is shown otherwise); ``authority_address`` is where
    the authority cover e-mail goes. ``templates_dir`` holds operator overrides.

    Raises :class:`~sentinelle.errors.ConfigError` on construction if a field is empty or
    malformed, the sender is at another domain or its name shows an address or a link
    elsewhere, a shop's name links outside the shop's domain, or the default locale has no
    templates.
    """

    shop_name: str
    shop_domain: str
    dpo_contact: str
    sender: str
    default_locale: str = "en"
    templates_dir: Path | None = None
    merchant_names: Mapping[str, str] = field(default_factory=dict)
    authority_address: str | None = None

    @property
    def sender_address(self) -> str:
        """The sender's bare address (``privacy@shop.example``), checked on construction."""
        address = _address_of(self.sender)
        assert address is not None  # noqa: S101 - __post_init__ refused a sender without one
        return address

    def __post_init__(self) -> None:
        for name in ("shop_name", "shop_domain", "dpo_contact", "sender"):
            if not getattr(self, name).strip():
                raise ConfigError(f"notice configuration: {name} is empty")
        domain = self.shop_domain.strip().lower().rstrip(".")
        if not re.fullmatch(
            r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+", domain
        ):
            raise ConfigError(
                f"notice configuration: shop_domain {self.shop_domain!r} is not a domain"
            )
        object.__setattr__(self, "shop_domain", domain)
        for shop, name in self.merchant_names.items():
            # Shops' names come from the merchants' directory and go into every customer's
            # notice: one linking elsewhere would fail the link rule, which names templates.
            try:
                check_links(name, domain=domain, template=shop)
            except NoticeTemplateError as exc:
                raise ConfigError(
                    f"notice configuration: the merchants' directory names shop {shop} with a "
                    f"link: {exc.reason}; change its name there"
                ) from None
        sender = _address_of(self.sender)
        if sender is None or not _host_allowed(sender.rpartition("@")[2], domain):
            raise ConfigError(
                f"notice configuration: sender must be an address at {domain} or a subdomain"
            )
        # Mail programs show the sender's name rather than its address: a name showing an
        # address or a link elsewhere is what spoofed mail looks like.
        shown = self.sender.rpartition("<")[0]
        for host in re.findall(r"@([^\s<>\"'@,;()]+)", shown):
            if not _host_allowed(host, domain):
                raise ConfigError(
                    f"notice configuration: the sender's name shows an address at {host}, "
                    f"not at {domain}"
                )
        try:
            check_links(shown, domain=domain, template="sender")
        except NoticeTemplateError as exc:
            raise ConfigError(
                f"notice configuration: the sender's name has a link: {exc.reason}"
            ) from None
        if self.authority_address is not None and _address_of(self.authority_address) is None:
            raise ConfigError("notice configuration: authority_address is not an e-mail address")
        locale = parse_locale(self.default_locale)
        if locale is None or negotiate_locale([locale], list(LOCALES)) is None:
            raise ConfigError(
                f"notice configuration: default_locale {self.default_locale!r} is not one of "
                f"{', '.join(LOCALES)}"
            )
        object.__setattr__(self, "default_locale", negotiate_locale([locale], list(LOCALES)))
        if self.templates_dir is not None and not self.templates_dir.is_dir():
            raise ConfigError(f"notice templates folder {self.templates_dir} does not exist")


def _address_of(text: str) -> str | None:
    try:
        parsed = Address(addr_spec=text) if "<" not in text else None
    except (ValueError, IndexError):
        parsed = None
    if parsed is None:
        match = re.fullmatch(r"[^<>]*<([^<>]+)>\s*", text)
        if match is None:
            return None
        try:
            parsed = Address(addr_spec=match.group(1))
        except (ValueError, IndexError):
            return None
    return parsed.addr_spec if parsed.domain else None


def negotiate(locale: str | None, config: NoticeConfig) -> str:
    """The notice language for a recipient's ``locale``: ``fr_CA`` → ``fr``; unknown or
    ``None`` → ``config.default_locale``."""
    if locale:
        parsed = parse_locale(locale)
        if parsed is not None:
            found = negotiate_locale([parsed], list(LOCALES))
            if found is not None:
                return str(found)
    return config.default_locale


def _partials(audience: Audience, locale: str) -> tuple[str, ...]:
    """The shared prose ``audience``'s templates in ``locale`` import (the authority's own too:
    what the people concerned risk, told to the authority rather than to them)."""
    common = f"{locale}/{_PARTIAL}"
    return (common, f"{locale}/_authority.j2") if audience is Audience.AUTHORITY else (common,)


def template_names(audience: Audience, locale: str) -> tuple[str, str, str]:
    """``(subject, text, html)`` template names of ``audience`` in ``locale``."""
    base = f"{locale}/{audience.value}"
    return f"{base}.subject.txt", f"{base}.txt", f"{base}.html"


# --- the rules -------------------------------------------------------------------------------

_URL_RE: Final = re.compile(r"[a-z][a-z0-9+.-]*://[^\s<>\"'`]+", re.IGNORECASE)
_WWW_RE: Final = re.compile(r"(?<![\w.@/-])www\d{0,3}\.[a-z0-9-]+(?:\.[a-z0-9-]+)*", re.IGNORECASE)
_ATTR_RE: Final = re.compile(
    r"""\b(href|src|srcset|action|formaction|background|poster|cite|data|xlink:href)\s*=\s*"""
    r"""(?:"([^"]*)"|'([^']*)'|([^\s>]+))""",
    re.IGNORECASE,
)
_CSS_URL_RE: Final = re.compile(r"""url\(\s*['"]?([^)'"\s]*)""", re.IGNORECASE)


def _host_allowed(host: str | None, domain: str) -> bool:
    if not host:
        return False
    host = host.lower().rstrip(".")
    return host == domain or host.endswith("." + domain)


def _url_allowed(url: str, domain: str) -> bool:
    """An attribute value: an absolute http(s) URL or a ``mailto:`` at the shop's domain."""
    url = url.strip()
    if url.lower().startswith("mailto:"):
        address = url[len("mailto:") :].split("?", 1)[0]
        return all(_host_allowed(a.rpartition("@")[2], domain) for a in address.split(","))
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and _host_allowed(host, domain)


def check_links(text: str, *, domain: str, template: str, is_html: bool = False) -> None:
    """Refuse any link in ``text`` that leads outside ``domain`` and its subdomains.

    Looks at ``scheme://`` URLs and ``www.`` hosts in the text (after decoding HTML
    entities), and, for HTML, at every URL-bearing attribute and CSS ``url()``: those must be
    absolute ``http(s)`` URLs or ``mailto:`` addresses at the shop's domain.

    Raises :class:`NoticeTemplateError` naming ``template`` and the host at fault.
    """
    plain = html.unescape(text) if is_html else text
    for match in _URL_RE.finditer(plain):
        url = match.group(0).rstrip(".,;:!?)]}")
        if not _url_allowed(url, domain):
            raise NoticeTemplateError(template, _link_refusal(url, domain))
    for match in _WWW_RE.finditer(plain):
        if not _host_allowed(match.group(0), domain):
            raise NoticeTemplateError(template, _link_refusal(match.group(0), domain))
    if not is_html:
        return
    for match in _ATTR_RE.finditer(text):
        value = html.unescape(next(g for g in match.groups()[1:] if g is not None))
        values = (
            [v.split()[0] for v in value.split(",") if v.strip()]
            if match.group(1).lower() == "srcset"
            else [value]
        )
        for v in values:
            if not _url_allowed(v, domain):
                raise NoticeTemplateError(
                    template, f"{match.group(1)} attribute: {_link_refusal(v, domain)}"
                )
    for match in _CSS_URL_RE.finditer(plain):
        if not _url_allowed(match.group(1), domain):
            raise NoticeTemplateError(
                template, f"CSS url(): {_link_refusal(match.group(1), domain)}"
            )


def _link_refusal(url: str, domain: str) -> str:
    try:
        host = urlsplit(url if "//" in url else "//" + url).hostname or url[:60]
    except ValueError:
        host = url[:60]
    return (
        f"links only to {domain} are allowed, found one to {host!r} "
        "(a notice that links elsewhere teaches people to follow such links)"
    )


_PHISHY: Final = (
    (r"\burgen", "urgent"),
    (r"\bimmediate|\bimmediatement\b|\bimmedia", "immediately"),
    (r"\bact now\b|\bagissez\b|\bagir vite\b", "act now"),
    (r"\bverif\w*\s+(your|votre|vos)\b", "verify your account"),
    (r"\bconfirm\w*\s+(your|votre|vos)\b", "confirm your details"),
    (r"\bclick|\bclic|\bcliqu", "click"),
    (r"\bpassword|\bpasscode|\bmot de passe\b|\bmots de passe\b", "password"),
    (r"\bsuspen|\bblocked\b|\bbloque", "account suspended"),
    (r"\blog ?in\b|\bsign ?in\b|\bconnectez\b|\bidentifiez\b", "log in"),
    (r"\blast chance\b|\bderniere chance\b|\bexpire", "deadline pressure"),
)


def _folded(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def check_subject(subject: str, *, template: str) -> None:
    """Refuse a subject line that reads like phishing, in English or French.

    Refused: wording of urgency or credential requests ("urgent", "verify your account",
    "click", "password", "act now", "suspended", "log in"…), ``!``, a word of three or more
    letters in capitals, a line break, fewer than 10 or more than 120 characters.

    Raises :class:`NoticeTemplateError` naming ``template`` and what is wrong.
    """
    if any(c in subject for c in "\r\n\x00"):
        raise NoticeTemplateError(template, "the subject must be a single line")
    length = len(subject)
    if not _SUBJECT_MIN <= length <= _SUBJECT_MAX:
        raise NoticeTemplateError(
            template,
            f"the subject has {length} characters, expected {_SUBJECT_MIN} to {_SUBJECT_MAX}",
        )
    if any(c in subject for c in "!¡‼❗❕"):
        raise NoticeTemplateError(
            template, "the subject must not contain '!' (reads like phishing)"
        )
    for word in re.findall(r"[^\W\d_]+", subject):
        if len(word) >= 3 and word.isupper():
            raise NoticeTemplateError(
                template,
                f"the subject must not shout: {word!r} is in capitals (reads like phishing)",
            )
    folded = _folded(subject)
    for pattern, what in _PHISHY:
        if re.search(pattern, folded):
            raise NoticeTemplateError(
                template, f"the subject reads like phishing ({what!r} wording): {subject!r}"
            )


# --- rendering -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Shop:
    id: str
    name: str
    customers: str
    records: str
    categories: tuple[str, ...]
    category_words: tuple[str, ...]
    category_list: str
    first: str | None
    last: str | None


def _environment(config: NoticeConfig) -> SandboxedEnvironment:
    loaders: list[jinja2.BaseLoader] = []
    if config.templates_dir is not None:
        loaders.append(jinja2.FileSystemLoader(config.templates_dir))
    loaders.append(jinja2.FileSystemLoader(_BUILTIN))
    # Every template is autoescaped, and text output is unescaped afterwards (_Renderer.render).
    # Jinja wraps a macro's output in Markup when the *caller* autoescapes, even if the macro's
    # own template did not escape; so a shared partial compiled without escaping would let a
    # fact such as a mitigation written with "<script>" into the HTML unescaped.
    return SandboxedEnvironment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _known(value: _T | UnsetType) -> _T | None:
    """A fact as recorded, ``None`` when the facts leave it out."""
    return None if isinstance(value, UnsetType) else value


class _Renderer:
    """Renders one incident's notices; facts are formatted once per language."""

    def __init__(self, config: NoticeConfig, incident: Incident, scope: Scope | None) -> None:
        self.config = config
        self.incident = incident
        self.scope = scope
        self.env = _environment(config)
        self._base: dict[str, dict[str, Any]] = {}
        self._variants: OrderedDict[tuple[Audience, str, tuple[str, ...], bool], _Variant | None]
        self._variants = OrderedDict()
        self._from_header = _fold("From", config.sender)

    def words(self, categories: Iterable[str], locale: str) -> tuple[str, ...]:
        table = CATEGORY_WORDS[locale]
        out = []
        for c in categories:
            if c not in table:
                raise ConfigError(f"no plain words for data category {c!r} in language {locale}")
            out.append(table[c])
        return tuple(out)

    def when(self, value: dt.datetime, locale: str) -> str:
        value = value.astimezone(dt.UTC)
        day = format_date(value.date(), "long", locale=locale)
        return f"{day}, {format_time(value, 'short', tzinfo=dt.UTC, locale=locale)} UTC"

    def day(self, value: dt.datetime | None, locale: str) -> str | None:
        return (
            format_date(value.astimezone(dt.UTC).date(), "long", locale=locale) if value else None
        )

    def number(self, value: Any, locale: str) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return None
        return str(format_decimal(value, locale=locale))

    def base(self, locale: str) -> dict[str, Any]:
        if locale in self._base:
            return self._base[locale]
        f = self.incident.facts
        cause = (_known(f.cause) if f else None) or Cause()
        period = _known(f.period) if f else None
        start, end = (_known(period.start), _known(period.end)) if period else (None, None)
        if self.scope is not None and self.scope.per_merchant and (start is None or end is None):
            ms = self.scope.per_merchant.values()
            start = start or from_us(min(m.first_us for m in ms))
            end = end or from_us(max(m.last_us for m in ms))
        aware = f.aware_at if f else None
        assessment = self.incident.assessment
        subjects = (_known(f.subjects) if f else None) or Subjects()
        count = _known(subjects.count)
        if count is None and self.scope is not None:
            count = len(self.scope.subject_ids)
        records = _known(f.records) if f else None
        if records is None and self.scope is not None:
            records = self.scope.records
        categories: list[str] = (
            list(f.data_categories) if f else list(self.scope.categories if self.scope else [])
        )
        encryption = _known(f.encryption) if f else None
        mitigations = _known(f.mitigations) if f else None
        ctx: dict[str, Any] = {
            "locale": locale,
            "shop_name": self.config.shop_name,
            "shop_domain": self.config.shop_domain,
            "dpo": self.config.dpo_contact,
            "incident_id": self.incident.id,
            "summary": _known(f.summary) if f else None,
            "breach_types": list(f.breach_types) if f else ["confidentiality"],
            "cause_kind": _known(cause.kind),
            "cause_source": _known(cause.source),
            "cause_intent": _known(cause.intent),
            "recipients": _known(f.recipients) if f else None,
            "exfiltration": _known(f.exfiltration) if f else None,
            "data_recovered": _known(f.data_recovered) if f else None,
            "hashed_passwords": _known(encryption.hashed_salted) if encryption else None,
            "mitigations": list(mitigations or []),
            "aware_at": self.when(aware, locale) if aware else None,
            "deadline": self.when(aware + DEADLINE, locale) if aware else None,
            "period_start": self.day(start, locale),
            "period_end": self.day(end, locale),
            "subjects_count": self.number(count, locale),
            "subjects_approximate": bool(_known(subjects.approximate)),
            "records_count": self.number(records, locale),
            "all_categories": categories,
            "all_category_words": self.words(categories, locale),
            "all_category_list": format_list(list(self.words(categories, locale)), locale=locale),
            "severity": assessment.severity.level if assessment else None,
            "subjects_notified": assessment.notify_subjects.required if assessment else None,
            "authority_notified": assessment.notify_authority.required if assessment else None,
        }
        self._base[locale] = ctx
        return ctx

    def shop(self, merchant: str, locale: str) -> _Shop:
        m = self.scope.per_merchant.get(merchant) if self.scope is not None else None
        if m is None:
            m = MerchantScope(merchant)
        categories = sorted(m.categories) or list(self.base(locale)["all_categories"])
        words = self.words(categories, locale)
        return _Shop(
            id=merchant,
            name=self.config.merchant_names.get(merchant, merchant),
            customers=str(format_decimal(len(m.subject_ids), locale=locale)),
            records=str(format_decimal(m.records, locale=locale)),
            categories=tuple(categories),
            category_words=words,
            category_list=format_list(list(words), locale=locale),
            first=self.day(from_us(m.first_us), locale) if m.first_us else None,
            last=self.day(from_us(m.last_us), locale) if m.last_us else None,
        )

    def templates(
        self,
        audience: Audience,
        locale: str,
        shops: Sequence[str],
        name: str | None,
    ) -> tuple[tuple[str, str, str], list[str]]:
        """The template names and their raw output (escaped, unchecked) for ``name`` as is."""
        ctx = dict(self.base(locale))
        shop_list = [self.shop(s, locale) for s in shops]
        if shop_list:
            categories = sorted({c for s in shop_list for c in s.categories})
        else:
            categories = list(ctx["all_categories"])
        shop_names = format_list([s.name for s in shop_list], locale=locale) if shop_list else ""
        ctx.update(
            audience=audience.value,
            name=name,
            shops=shop_list,
            shop_names=shop_names,
            # The same under their former names, which the built-in templates and operators'
            # existing overrides use: a built-in template's text is part of the notice version,
            # so changing it would make a resumed campaign be refused as "content changed".
            stores=shop_list,
            store_names=shop_names,
            categories=categories,
            category_list=format_list(list(self.words(categories, locale)), locale=locale),
        )
        names = template_names(audience, locale)
        out = []
        for template in names:
            try:
                out.append(self.env.get_template(template).render(ctx))
            except jinja2.TemplateNotFound as exc:
                raise NoticeTemplateError(template, f"not found ({exc.message})") from None
            except jinja2.TemplateError as exc:
                raise NoticeTemplateError(template, f"{type(exc).__name__}: {exc}") from None
        return names, out

    def check(
        self, names: tuple[str, str, str], subject: str | None, text: str, html_text: str
    ) -> None:
        """Both rules on a rendered notice (the subject's skipped when ``None``)."""
        domain = self.config.shop_domain
        if subject is not None:
            check_subject(subject, template=names[0])
            check_links(subject, domain=domain, template=names[0])
        check_links(text, domain=domain, template=names[1])
        check_links(html_text, domain=domain, template=names[2], is_html=True)

    def render(
        self,
        audience: Audience,
        locale: str,
        *,
        shops: Sequence[str] = (),
        name: str | None = None,
    ) -> RenderedNotice:
        names, out = self.templates(audience, locale, shops, _safe_name(name))
        subject = " ".join(html.unescape(out[0]).split())
        text = html.unescape(out[1])  # text/plain: no entities, see _environment
        self.check(names, subject, text, out[2])
        return RenderedNotice(subject=subject, text=text, html=out[2], locale=locale)

    # -- the fast path: one rendering per variant, the name put in per message ----------------

    def variant(
        self, audience: Audience, locale: str, shops: tuple[str, ...], *, named: bool
    ) -> _Variant | None:
        """The notice of ``audience`` in ``locale`` about ``shops``, with the name left out.

        ``None`` when the templates use the name other than by printing it apart from
        other words (see :func:`_isolated`), or break a rule with the name left out: such
        notices are rendered in full for every recipient, checks included. Kept in a small
        LRU cache, so memory stays bounded whatever the number of shop combinations.
        """
        key = (audience, locale, shops, named)
        cache = self._variants
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
        found = self._make_variant(audience, locale, shops, named=named)
        cache[key] = found
        if len(cache) > _MAX_VARIANTS:
            cache.popitem(last=False)
        return found

    def _make_variant(
        self, audience: Audience, locale: str, shops: tuple[str, ...], *, named: bool
    ) -> _Variant | None:
        if not named:
            # Nothing varies but the address: the notice is the slow path's, checks and all.
            notice = self.render(audience, locale, shops=shops, name=None)
            names = template_names(audience, locale)
            subject, text, html_text = notice.subject, notice.text, notice.html
        else:
            names, raw = self.templates(audience, locale, shops, _NAME_MARK)
            _, probe = self.templates(audience, locale, shops, _NAME_PROBE)
            probe_escaped = str(markupsafe.escape(_NAME_PROBE))
            # The name must be printed as it is (escaped, neither transformed nor tested) and
            # stand apart: then the notice for any name is this one with the name put in.
            if any(
                r.replace(_NAME_MARK, probe_escaped) != p for r, p in zip(raw, probe, strict=True)
            ):
                return None
            if not all(_isolated(r, is_html=i == 2) for i, r in enumerate(raw)):
                return None
            subject = " ".join(html.unescape(raw[0]).split())
            text, html_text = html.unescape(raw[1]), raw[2]
            try:
                # With the name left out; _safe_name and _isolated make sure no name can add
                # a link. A subject that shows the name is checked again per message.
                self.check(names, None if _NAME_MARK in subject else subject, text, html_text)
            except NoticeTemplateError:
                return None  # the full rendering of each message raises it, naming the name
        boundary = (
            "=_"
            + hashlib.sha256(
                "\x00".join((audience.value, locale, *shops, str(named))).encode()
            ).hexdigest()[:32]
        )
        lang = locale.replace("_", "-")
        part = (
            'Content-Type: text/{}; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        )
        return _Variant(
            names=names,
            subject=tuple(subject.split(_NAME_MARK)),
            subject_header=None if _NAME_MARK in subject else _fold("Subject", subject),
            text=tuple(text.split(_NAME_MARK)),
            html=tuple(html_text.split(_NAME_MARK)),
            text_qp=None if _NAME_MARK in text else _qp(text),
            html_qp=None if _NAME_MARK in html_text else _qp(html_text),
            head=(
                "MIME-Version: 1.0\r\nContent-Type: multipart/alternative;\r\n"
                f' boundary="{boundary}"\r\nContent-Language: {lang}\r\n\r\n'
                f"--{boundary}\r\n" + part.format("plain")
            ).encode("ascii"),
            between=(f"\r\n--{boundary}\r\n" + part.format("html")).encode("ascii"),
            tail=f"\r\n--{boundary}--\r\n".encode("ascii"),
        )

    def message_bytes(
        self,
        audience: Audience,
        locale: str,
        *,
        shops: tuple[str, ...],
        to: str,
        name: str | None,
        message_id: str,
    ) -> bytes:
        """The message :meth:`message` would build, as RFC 5322 bytes with CRLF line ends.

        The same headers and the same decoded text and HTML as the slow path; bodies are
        quoted-printable (7-bit, lines of at most 76 octets), so the fixed MIME boundary of
        the variant (it starts with ``=_``) cannot occur in them.

        Raises :class:`NoticeTemplateError` as :meth:`render` does.
        """
        if "\r" in message_id or "\n" in message_id:
            raise ConfigError("a Message-ID must be a single line")
        safe = _safe_name(name)
        to_header = _to_header(to, safe)
        variant = (
            self.variant(audience, locale, shops, named=safe is not None)
            if to_header is not None
            else None
        )
        if variant is None:
            notice = self.render(audience, locale, shops=shops, name=name)
            message = self.message(notice, to=to, name=name, message_id=message_id)
            return message.as_bytes(policy=_SMTP)
        assert to_header is not None  # noqa: S101 - for mypy: no variant without it
        name_text = safe or ""
        subject_header = variant.subject_header
        if subject_header is None:
            subject = name_text.join(variant.subject)
            check_subject(subject, template=variant.names[0])
            check_links(subject, domain=self.config.shop_domain, template=variant.names[0])
            subject_header = _fold("Subject", subject)
        text_qp = variant.text_qp
        if text_qp is None:
            text_qp = _qp(name_text.join(variant.text))
        html_qp = variant.html_qp
        if html_qp is None:
            html_qp = _qp(str(markupsafe.escape(name_text)).join(variant.html))
        date = format_datetime(dt.datetime.now(dt.UTC))
        return b"".join(
            (
                self._from_header,
                to_header,
                subject_header,
                f"Date: {date}\r\nMessage-ID: {message_id}\r\n".encode("ascii"),
                variant.head,
                text_qp,
                variant.between,
                html_qp,
                variant.tail,
            )
        )

    def message(
        self,
        notice: RenderedNotice,
        *,
        to: str,
        name: str | None,
        message_id: str,
    ) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.config.sender
        safe = _safe_name(name)
        try:
            msg["To"] = Address(display_name=safe or "", addr_spec=to)
        except (ValueError, IndexError):
            msg["To"] = to
        msg["Subject"] = notice.subject
        msg["Date"] = format_datetime(dt.datetime.now(dt.UTC))
        msg["Message-ID"] = message_id
        msg.set_content(notice.text)
        msg.add_alternative(notice.html, subtype="html")
        # After the parts: set_content and add_alternative move Content-* headers away.
        msg["Content-Language"] = notice.locale.replace("_", "-")
        return msg


def _safe_name(name: str | None) -> str | None:
    """A recipient's name fit for a greeting, or ``None``.

    Names come from the shop's database; one that looks like a link or markup, or is long,
    is left out rather than letting it break the link rule or the layout. What is refused
    covers every pattern :func:`check_links` looks for (``://``, ``www.`` hosts, attributes
    with ``=``, CSS ``url(``), so a name put into a checked notice cannot add a link (the
    fast path relies on it, with :func:`_isolated` for what surrounds the name).
    """
    if not name:
        return None
    name = " ".join(name.split())
    if not name or len(name) > 80 or _NAME_REFUSED.search(name):
        return None
    return name


# Placeholders for the name while a variant renders: private-use characters (never escaped,
# never whitespace) around ASCII letters, so that a template that transforms the name
# (upper-cased, sliced, tested) renders them differently and is caught. The probe also has
# a character autoescaping changes, so a name printed unescaped (``|safe``) is caught too.
_NAME_MARK: Final = "\ue000SentinelleName\ue001"
_NAME_PROBE: Final = "\ue002n&m\ue003"
_NAME_REFUSED: Final = re.compile(
    r"[<>@/\\=\x00-\x1f\x7f]|://|www\d{0,3}\.|url\s*\(", re.IGNORECASE
)
# What may stand right before and right after a name (``.`` and ``:`` after it only when
# followed by one of these): nothing that could join the name into a link, a host, an entity,
# an attribute or an encoded word.
_BEFORE_NAME: Final = frozenset(" \t\r\n(\"'«“‘[>")
_AFTER_NAME: Final = frozenset(" \t\r\n,;!?)\"'»”’]<")
_MAX_VARIANTS: Final = 1024
_SMTP: Final = email.policy.SMTP  # the default policy with CRLF, as delivery serialises


def _isolated(text: str, *, is_html: bool) -> bool:
    """Whether every name placeholder in raw template output stands apart.

    Each must follow whitespace or an opening bracket or quote and precede whitespace,
    punctuation or a tag, with no ``=`` as the nearest other character on either side; in
    HTML it must be in text, not inside a tag, a comment, a ``<style>`` or a ``<script>``.
    Then the link rule finds in the notice with a name (that :func:`_safe_name` kept) what it
    finds with the placeholder, and unescaping the text does too.
    """
    start = 0
    while (i := text.find(_NAME_MARK, start)) >= 0:
        j = i + len(_NAME_MARK)
        before = text[i - 1] if i else " "
        after = text[j] if j < len(text) else " "
        if after in ".:":
            after = text[j + 1] if j + 1 < len(text) else " "
        if before not in _BEFORE_NAME or after not in _AFTER_NAME:
            return False
        if text[:i].rstrip()[-1:] == "=" or text[j:].lstrip()[:1] == "=":
            return False
        if is_html and _in_markup(text[:i]):
            return False
        start = j
    return True


def _in_markup(head: str) -> bool:
    """Whether the end of ``head`` (HTML) is inside a tag, comment, style or script."""
    if head.rfind("<") > head.rfind(">"):
        return True
    low = head.lower()
    for opening, closing in (("<style", "</style"), ("<script", "</script"), ("<!--", "-->")):
        k = low.rfind(opening)
        if k >= 0 and low.find(closing, k) < 0:
            return True
    return False


@dataclass(frozen=True, slots=True, kw_only=True)
class _Variant:
    """One notice with the name left out, split where it goes, and its MIME pieces.

    ``subject_header``, ``text_qp`` and ``html_qp`` are ready when the name is not in them.
    """

    names: tuple[str, str, str]
    subject: tuple[str, ...]
    subject_header: bytes | None
    text: tuple[str, ...]
    html: tuple[str, ...]
    text_qp: bytes | None
    html_qp: bytes | None
    head: bytes
    between: bytes
    tail: bytes


def _fold(name: str, value: str) -> bytes:
    """One header as the email package writes it (encoded words, folded, CRLF)."""
    folded: str = _SMTP.header_factory(name, value).fold(policy=_SMTP)
    return folded.encode("ascii")


def _qp(text: str) -> bytes:
    """A text body as ``set_content`` stores it (lines ended by CRLF), quoted-printable."""
    lines = text.encode("utf-8").splitlines()
    return binascii.b2a_qp(b"\r\n".join(lines) + b"\r\n", istext=True)


_PLAIN_PHRASE: Final = re.compile(r"[A-Za-z0-9'-]+(?: [A-Za-z0-9'-]+)*")
_PLAIN_ADDRESS: Final = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
)
_WORD_OCTETS: Final = 45  # base64 of 45 octets is 60 characters: 72 with =?utf-8?b?…?=


def _to_header(to: str, name: str | None) -> bytes | None:
    """``To: name <to>`` (RFC 5322 §3.4, RFC 2047 for a name that is not ASCII), folded at
    78 characters; ``None`` for an address this does not handle (the slow path does)."""
    if _PLAIN_ADDRESS.fullmatch(to) is None or len(to) > 254:
        return None
    if name is None:
        return f"To: {to}\r\n".encode("ascii")
    words: list[str] = []
    if not name.isascii():
        chunk: list[str] = []
        size = 0
        for c in name:
            n = len(c.encode("utf-8"))
            if size + n > _WORD_OCTETS:
                words.append("".join(chunk))
                chunk, size = [], 0
            chunk.append(c)
            size += n
        words.append("".join(chunk))
        words = [
            "=?utf-8?b?" + base64.b64encode(w.encode("utf-8")).decode("ascii") + "?=" for w in words
        ]
    elif _PLAIN_PHRASE.fullmatch(name):
        words = [name]
    else:
        words = ['"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"']
    line, lines = "To:", []
    for word in [*words, f"<{to}>"]:
        if len(line) + 1 + len(word) > 78 and line != "To:":
            lines.append(line)
            line = ""
        line += " " + word
    lines.append(line)
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def render_notice(
    config: NoticeConfig,
    incident: Incident,
    audience: Audience,
    *,
    scope: Scope | None = None,
    locale: str | None = None,
    shops: Sequence[str] = (),
    name: str | None = None,
) -> RenderedNotice:
    """Render one notice for ``audience`` in the language negotiated from ``locale``.

    ``shops`` are the merchant ids the notice is about (the shops a customer bought from,
    or the merchant's own); their details come from ``scope``.

    Raises :class:`NoticeTemplateError` if a template is missing, fails, or breaks the link
    or subject rule, and :class:`~sentinelle.errors.ConfigError` for a data category
    without words in the language.
    """
    renderer = _Renderer(config, incident, scope)
    return renderer.render(audience, negotiate(locale, config), shops=shops, name=name)


def notice_version(config: NoticeConfig, incident: Incident, audience: Audience) -> str:
    """A short stable hash of what ``audience``'s notices for ``incident`` say.

    It covers the incident's id, actors and window (which decide the scope), its facts and
    assessment (their JSON forms, as stored), the audience, the configuration shown in
    notices, the category words, and the source of every template used (overrides included),
    in every language. It changes when any of them does, so a corrected notice is a new
    version to deliver.

    Raises :class:`NoticeTemplateError` if a template is missing.
    """
    env = _environment(config)
    assert env.loader is not None  # noqa: S101 - set by _environment; for mypy
    sources: dict[str, str] = {}
    names = [
        name
        for locale in LOCALES
        for name in (*template_names(audience, locale), *_partials(audience, locale))
    ]
    for name in (*names, _LISTS):
        try:
            sources[name] = env.loader.get_source(env, name)[0]
        except jinja2.TemplateNotFound:
            raise NoticeTemplateError(name, "not found") from None
    payload = {
        "audience": audience.value,
        "incident": {
            "id": incident.id,
            "actors": list(incident.actors),
            "window": [incident.from_us, incident.to_us],
            "facts": facts_to_dict(incident.facts) if incident.facts is not None else None,
            "assessment": (
                incident.assessment.to_dict() if incident.assessment is not None else None
            ),
        },
        "config": {
            "shop_name": config.shop_name,
            "shop_domain": config.shop_domain,
            "dpo_contact": config.dpo_contact,
            "sender": config.sender,
            "default_locale": config.default_locale,
            "merchant_names": dict(config.merchant_names),
        },
        "words": CATEGORY_WORDS,
        "templates": sources,
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


# --- planning --------------------------------------------------------------------------------


class NoticePlan(Iterable[Outbound]):
    """The notices of one audience for one incident, ready to stream.

    Built by :func:`plan_notices`, which has already read the directory once: the directory
    is valid, :attr:`missing` lists the keys it did not resolve and :attr:`recipients` counts
    the distinct addresses. Iterating reads the directory again and yields one
    :class:`~sentinelle.notify.model.Outbound` per address; each renders its message only
    when ``build`` (an :class:`~email.message.EmailMessage`) or ``build_bytes`` is called.

    ``build_bytes`` renders each variant of the notice (audience, language, shops, with a
    name or not) once, with the name left out, and puts each recipient's name in; the
    message is assembled from per-variant pieces. It is the same message as ``build``'s.
    """

    def __init__(
        self,
        *,
        renderer: _Renderer,
        audience: Audience,
        version: str,
        key: bytes,
        directory: Directory | None,
        keys: list[Key],
        groups: dict[str, list[str]],
        missing: list[Key],
    ) -> None:
        self._renderer = renderer
        self.audience = audience
        self.version = version
        self._key = key
        self._directory = directory
        self._keys = keys
        self._groups = groups
        self.missing = missing
        self.recipients = len(groups)
        self._languages: dict[str | None, str] = {}

    def __iter__(self) -> Iterator[Outbound]:
        config = self._renderer.config
        if self.audience is Audience.AUTHORITY:
            assert config.authority_address is not None  # noqa: S101 - checked by plan_notices
            yield self._outbound(config.authority_address, None, None, [])
            return
        assert self._directory is not None  # noqa: S101 - checked by plan_notices
        # Memory is taken here, before the first notice, and stays flat while they stream:
        # the recipients not yet yielded are those planned (their hashes are shared with the
        # plan), and the directory's contacts are read without Directory.lookup, whose
        # record of the keys found (for ``missing``, known since planning) grows with each.
        unsent = set(self._groups)
        unplanned: set[str] = set()  # addresses the file gained since planning (rare)
        for contact in self._directory.contacts(set(self._keys)):
            recipient = hash_address(self._key, contact.email)
            if recipient in unsent:
                unsent.remove(recipient)
            elif recipient in self._groups or recipient in unplanned:
                continue
            else:
                unplanned.add(recipient)
            own = contact.merchant if self.audience is Audience.SUBJECTS else contact.party
            shops = self._groups.get(recipient) or [own or contact.party]
            yield self._outbound(
                contact.email, contact.name, contact.locale, shops, recipient=recipient
            )

    def _outbound(
        self,
        to: str,
        name: str | None,
        locale: str | None,
        shops: list[str],
        *,
        recipient: str | None = None,
    ) -> Outbound:
        lang = self._languages.get(locale)
        if lang is None:
            lang = self._languages[locale] = negotiate(locale, self._renderer.config)
        kw: dict[str, Any] = {"to": to, "name": name, "locale": lang, "shops": tuple(shops)}
        return Outbound(
            recipient=recipient or hash_address(self._key, to),
            to=to,
            build=functools.partial(self._build, **kw),
            build_bytes=functools.partial(self._build_bytes, **kw),
        )

    def _build(
        self, message_id: str, *, to: str, name: str | None, locale: str, shops: tuple[str, ...]
    ) -> EmailMessage:
        notice = self._renderer.render(self.audience, locale, shops=shops, name=name)
        return self._renderer.message(notice, to=to, name=name, message_id=message_id)

    def _build_bytes(
        self, message_id: str, *, to: str, name: str | None, locale: str, shops: tuple[str, ...]
    ) -> bytes:
        return self._renderer.message_bytes(
            self.audience, locale, shops=shops, to=to, name=name, message_id=message_id
        )


def plan_notices(
    config: NoticeConfig,
    incident: Incident,
    scope: Scope,
    *,
    audience: Audience,
    key: bytes,
    directory: Directory | None = None,
) -> NoticePlan:
    """Plan ``audience``'s notices: one per distinct address, streamed.

    * subjects: every (shop, customer) of ``scope`` is looked up; a person (an address) who
      is a customer of several affected shops gets one notice naming all of them;
    * merchants: every affected shop's own contacts (``(None, merchant id)``) are looked up;
      an address that is the contact of several shops gets one notice covering them;
    * authority: one cover e-mail to ``config.authority_address`` (no directory).

    The directory is read once here, so it is validated before anything is sent, and the
    ids it does not resolve are reported in :attr:`NoticePlan.missing`. Every template of
    the audience is rendered once per language with the incident's facts, so a template
    that breaks a rule is refused before the first message.

    Raises :class:`~sentinelle.notify.directory.DirectoryError` if the directory is bad,
    :class:`NoticeTemplateError` for a bad template, and
    :class:`~sentinelle.errors.ConfigError` when the audience's directory or the authority
    address is missing.
    """
    renderer = _Renderer(config, incident, scope)
    version = notice_version(config, incident, audience)
    shops = sorted(scope.per_merchant)
    for locale in LOCALES:  # refuse a bad template before the first message, not mid-way
        renderer.render(audience, locale, shops=shops, name=_SAMPLE_NAMES.get(locale))
    groups: dict[str, list[str]] = {}
    if audience is Audience.AUTHORITY:
        if config.authority_address is None:
            raise ConfigError("notice configuration: authority_address is not set")
        groups[hash_address(key, config.authority_address)] = []
        return NoticePlan(
            renderer=renderer,
            audience=audience,
            version=version,
            key=key,
            directory=None,
            keys=[],
            groups=groups,
            missing=[],
        )
    if directory is None:
        raise ConfigError(f"notices to {audience.value} need a contact directory")
    if audience is Audience.SUBJECTS:
        keys: list[Key] = [(m, s) for m in shops for s in sorted(scope.per_merchant[m].subject_ids)]
    else:
        keys = [(None, m) for m in shops]
    lookup = directory.lookup(keys)
    for contact in lookup:
        shop = contact.merchant if audience is Audience.SUBJECTS else contact.party
        group = groups.setdefault(hash_address(key, contact.email), [])
        if shop is not None and shop not in group:
            group.append(shop)
    return NoticePlan(
        renderer=renderer,
        audience=audience,
        version=version,
        key=key,
        directory=directory,
        keys=keys,
        groups=groups,
        missing=lookup.missing,
    )


def _samples(
    renderer: _Renderer, scope: Scope, audience: Audience
) -> Iterator[tuple[str | None, RenderedNotice]]:
    """The sample notices of ``audience``, one per language, with the sample name used."""
    shops = sorted(scope.per_merchant)
    chosen = {Audience.SUBJECTS: shops[:2], Audience.MERCHANTS: shops[:1]}.get(audience, [])
    for locale in LOCALES:
        name = _SAMPLE_NAMES.get(locale)
        yield name, renderer.render(audience, locale, shops=chosen, name=name)


def sample_notices(
    config: NoticeConfig, incident: Incident, scope: Scope, audience: Audience
) -> list[RenderedNotice]:
    """The samples :func:`render_samples` writes, in memory: ``audience``'s notice in each
    language (subject, text and HTML), for review over the API. Nothing is looked up, written
    or sent; a placeholder name stands for the recipient's.

    Raises :class:`NoticeTemplateError` for a template that is missing or breaks a rule.
    """
    renderer = _Renderer(config, incident, scope)
    return [notice for _name, notice in _samples(renderer, scope, audience)]


def render_samples(
    config: NoticeConfig,
    incident: Incident,
    scope: Scope,
    out_dir: Path,
    *,
    audiences: Iterable[Audience] = tuple(Audience),
) -> list[Path]:
    """Write a dry-run folder for review and return the files written.

    For each audience and language: ``<audience>-<locale>.txt`` and ``.html`` previews and a
    ``.eml`` message, addressed to a placeholder at ``example.invalid``. Subject samples
    name up to two shops (to show a notice covering several), merchant samples the first
    shop. Nothing is looked up and nothing is sent (:func:`sample_notices`: the same in
    memory).

    Raises :class:`NoticeTemplateError` for a template that is missing or breaks a rule.
    """
    renderer = _Renderer(config, incident, scope)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for audience in audiences:
        for name, notice in _samples(renderer, scope, audience):
            msg = renderer.message(
                notice,
                to=f"sample-{audience.value}@example.invalid",
                name=name,
                message_id=make_msgid(domain=config.shop_domain),
            )
            stem = out_dir / f"{audience.value}-{notice.locale}"
            for suffix, content in (
                (".txt", notice.text),
                (".html", notice.html),
                (".eml", msg.as_string()),
            ):
                path = stem.with_suffix(suffix)
                path.write_text(content, encoding="utf-8")
                written.append(path)
    return written
