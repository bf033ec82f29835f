"""What a notice run needs, from the settings and the caller's overrides: one place for
``sentinelle incident notify`` and the API (:mod:`sentinelle.response.runs`), so the rules
cannot drift apart between them.

Every value comes from the settings (``SENTINELLE_…``, :class:`~sentinelle.config.Settings`);
a CLI flag given wins over its setting (``--smtp`` over ``SENTINELLE_SMTP``, ``--starttls``
over ``SENTINELLE_SMTP_TLS``, ``--directory`` over ``SENTINELLE_NOTIFY_DIRECTORY`` …), the API
has no flags. Errors are :class:`~sentinelle.errors.ConfigError` naming the setting (and the
flag, for the CLI's user) at fault.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sentinelle.config import Settings, parse_host_port
from sentinelle.errors import ConfigError
from sentinelle.notify.delivery import DkimConfig, SmtpConfig, TlsMode
from sentinelle.notify.directory import open_directory
from sentinelle.notify.model import Audience
from sentinelle.notify.render import NoticeConfig

__all__ = [
    "LOOPBACK",
    "NoticeSetup",
    "contacts_for",
    "merchant_names",
    "notice_config",
    "notice_setup",
    "smtp_config",
]

LOOPBACK = ("localhost", "127.0.0.1", "::1")
"""Relays plain SMTP may go to: on this host, the message never crosses a network."""


@dataclass(frozen=True, slots=True)
class NoticeSetup:
    """What one audience's notices are made and addressed with: the notice configuration and
    the contact directory (``None`` for the authority, whose address is configured, or when
    none is set: sending then refuses, a dry run renders samples without counts)."""

    config: NoticeConfig
    directory: str | None
    query: str | None


def notice_config(
    settings: Settings,
    *,
    sender: str | None = None,
    merchant_names: dict[str, str] | None = None,
) -> NoticeConfig:
    """Who notices come from, from the settings (``sender`` wins over
    ``SENTINELLE_NOTIFY_FROM``). Raises :class:`ConfigError` naming every setting missing."""
    s = settings
    missing = [
        f"SENTINELLE_{name.upper()}"
        for name, value in (
            ("shop_name", s.shop_name),
            ("shop_domain", s.shop_domain),
            ("dpo_contact", s.dpo_contact),
        )
        if not value
    ]
    if not (sender or s.notify_from):
        missing.append("SENTINELLE_NOTIFY_FROM (or --from)")
    if missing:
        raise ConfigError(f"notices need {', '.join(missing)}")
    return NoticeConfig(
        shop_name=s.shop_name or "",
        shop_domain=s.shop_domain or "",
        dpo_contact=s.dpo_contact or "",
        sender=sender or s.notify_from or "",
        default_locale=s.notify_locale,
        templates_dir=s.notify_templates,
        merchant_names=merchant_names or {},
        authority_address=s.authority_email,
    )


def merchant_names(spec: str | None, query: str | None, merchants: Sequence[str]) -> dict[str, str]:
    """The display names of ``merchants`` in the merchants' directory ``spec`` (none: ids are
    shown). ``query`` is used only for an ``sql:`` directory."""
    if spec is None or not merchants:
        return {}
    directory = open_directory(spec, query=query if spec.startswith("sql:") else None)
    try:
        return {c.party: c.name for c in directory.lookup([(None, m) for m in merchants]) if c.name}
    finally:
        directory.close()


def contacts_for(
    settings: Settings,
    audience: Audience,
    *,
    directory: str | None = None,
    query: str | None = None,
) -> tuple[str | None, str | None]:
    """The contact directory and its query for ``audience``: ``directory`` (a flag) if given,
    else the setting — ``SENTINELLE_NOTIFY_DIRECTORY`` for subjects,
    ``SENTINELLE_MERCHANT_DIRECTORY`` for merchants; the authority has none (its address is
    ``SENTINELLE_AUTHORITY_EMAIL``). ``SENTINELLE_NOTIFY_QUERY`` serves an ``sql:`` one."""
    if audience is Audience.AUTHORITY:
        return None, None
    if directory is None:
        directory = (
            settings.notify_directory
            if audience is Audience.SUBJECTS
            else settings.merchant_directory
        )
        if directory is not None and query is None and directory.startswith("sql:"):
            query = settings.notify_query
    return directory, query


def notice_setup(
    settings: Settings,
    audience: Audience,
    *,
    shops: Callable[[], Sequence[str]],
    directory: str | None = None,
    query: str | None = None,
    merchant_directory: str | None = None,
    sender: str | None = None,
) -> NoticeSetup:
    """Everything but SMTP for ``audience``'s notices; flags given win over the settings.

    ``shops`` gives the incident's merchant ids; it is called only when a directory can name
    them, whose names the notices then show: for notices to subjects, the merchants'
    directory (flag or ``SENTINELLE_MERCHANT_DIRECTORY``); for notices to merchants, their
    own contacts (the audience's directory). Raises :class:`ConfigError` naming what is
    missing: the notice settings, or ``SENTINELLE_AUTHORITY_EMAIL`` for the authority.
    """
    names: dict[str, str] = {}
    spec, spec_query = contacts_for(settings, audience, directory=directory, query=query)
    # The shops by name: for customers, from the merchants' directory; for the merchants
    # themselves, from their own contacts (the directory the notices go to).
    named_by = (
        merchant_directory or settings.merchant_directory
        if audience is Audience.SUBJECTS
        else spec
        if audience is Audience.MERCHANTS
        else None
    )
    if named_by is not None:
        query_of = spec_query if audience is Audience.MERCHANTS else settings.notify_query
        names = merchant_names(named_by, query_of, shops())
    config = notice_config(settings, sender=sender, merchant_names=names)
    if audience is Audience.AUTHORITY and config.authority_address is None:
        raise ConfigError("notices to the authority need SENTINELLE_AUTHORITY_EMAIL")
    return NoticeSetup(config=config, directory=spec, query=spec_query)


def smtp_config(
    settings: Settings,
    *,
    sender: str,
    target: str | None = None,
    tls: TlsMode | str | None = None,
) -> SmtpConfig:
    """Where notices are handed over: ``target`` (HOST:PORT) and ``tls`` win over
    ``SENTINELLE_SMTP`` and ``SENTINELLE_SMTP_TLS``; the login and DKIM come from the settings.

    Raises :class:`ConfigError` for a target that is not HOST:PORT, plain SMTP to a relay not
    on this host (the notices, and any login, would cross the network in clear), or DKIM
    without its selector.
    """
    try:
        host, port = parse_host_port(target or settings.smtp)
    except ValueError as exc:
        raise ConfigError(f"SMTP relay (SENTINELLE_SMTP or --smtp): {exc}") from None
    mode = TlsMode(tls if tls is not None else settings.smtp_tls)
    if mode is TlsMode.NONE and host not in LOOPBACK:
        raise ConfigError(
            f"plain SMTP is only allowed to a relay on this host ({', '.join(LOOPBACK)}): "
            f"for {host}, set SENTINELLE_SMTP_TLS=starttls or implicit (or --starttls / --tls)"
        )
    s = settings
    dkim = None
    if s.dkim_key is not None:
        if not s.dkim_selector:
            raise ConfigError("SENTINELLE_DKIM_KEY needs SENTINELLE_DKIM_SELECTOR")
        dkim = DkimConfig(
            selector=s.dkim_selector, domain=sender.rpartition("@")[2], key_file=s.dkim_key
        )
    return SmtpConfig(
        host=host,
        port=port,
        sender=sender,
        tls=mode,
        username=s.smtp_username,
        password=s.smtp_password.get_secret_value() if s.smtp_password is not None else None,
        dkim=dkim,
    )
