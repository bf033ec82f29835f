"""Settings shared by the CLI, the API and workers.

Read from ``SENTINELLE_*`` environment variables (and a ``.env`` file). Built once at
start-up and passed down; never at import time.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Final, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sentinelle.access import USER_ROLES
from sentinelle.errors import ConfigError

__all__ = ["MIN_SECRET_CHARS", "Settings", "parse_host_port"]

#: Shorter webhook secrets are refused: a help desk's is all that authenticates Freshdesk and
#: Gorgias, and the alert webhooks' signs every body sent out.
MIN_SECRET_CHARS: Final = 16


def parse_host_port(text: str) -> tuple[str, int]:
    """``"relay.example:587"`` → ``("relay.example", 587)``; ``"[::1]:25"`` → ``("::1", 25)``.

    Raises :class:`ValueError` naming the text when it is not HOST:PORT with a port 1–65535.
    """
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


class Settings(BaseSettings):
    """Where Sentinelle keeps its data and how it names its ledger."""

    model_config = SettingsConfigDict(env_prefix="SENTINELLE_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        default=Path("sentinelle-data"),
        description="Folder for the SQLite database and the ledger signing key.",
    )
    database_url: str | None = Field(
        default=None,
        # It may hold a password: kept out of repr(settings), so a log of them cannot leak it.
        repr=False,
        description="postgresql://… to use PostgreSQL; unset for the embedded SQLite file.",
    )
    busy_timeout: float = Field(
        default=30.0,
        gt=0,
        le=86_400,
        description="Seconds to wait for the database's write lock (held by another "
        "process) before giving up with 'the database is busy' (HTTP 503).",
    )
    log_origin: str = Field(
        default="sentinelle.local/ledger",
        description="Origin line of checkpoints, and the signing key's name (C2SP signed note).",
    )
    witnesses: str = Field(
        default="",
        description="Witnesses of the ledger (C2SP tlog-witness), URL=VERIFIER_KEY items "
        "separated by spaces or commas: `sentinelle ledger witness` asks each to cosign the "
        "newest checkpoint, and `sentinelle ledger verify` requires their cosignatures.",
    )

    detect_config: Path | None = Field(
        default=None,
        description="TOML file with detection thresholds; built-in defaults when unset.",
    )

    guard_policy: Path | None = Field(
        default=None,
        description="TOML guard policy (docs/guard.md) that POST /v1/access/decide and the "
        "grants API decide by; read once, when first needed. Unset: they answer 503.",
    )

    # -- notices (sentinelle incident notify) -----------------------------------------------
    shop_name: str | None = Field(
        default=None, description="Who notices come from, as people know it (the platform)."
    )
    shop_domain: str | None = Field(
        default=None,
        description="The shop's own domain: the only one notices may link to; the sender's.",
    )
    dpo_contact: str | None = Field(
        default=None, description="How to reach the data protection officer (address, phone)."
    )
    notify_from: str | None = Field(
        default=None, description="Sender of notices, 'Name <address>', at the shop's domain."
    )
    notify_locale: str = Field(
        default="en", description="Language of notices for people whose locale has none."
    )
    notify_templates: Path | None = Field(
        default=None, description="Folder of template overrides (same layout as the built-in)."
    )
    authority_email: str | None = Field(
        default=None, description="Where the cover e-mail to the supervisory authority goes."
    )
    smtp_username: str | None = Field(
        default=None, description="SMTP login, if the relay needs one."
    )
    smtp_password: SecretStr | None = Field(
        default=None, description="SMTP password (environment only; never printed)."
    )
    dkim_key: Path | None = Field(
        default=None, description="PEM private key to DKIM-sign notices; unset: no signature."
    )
    dkim_selector: str | None = Field(default=None, description="DKIM selector of dkim_key.")
    # Where and to whom notices go when they are sent over HTTP (sentinelle serve); the CLI's
    # --smtp, --starttls/--tls/--plain, --directory, --query and --merchant-directory win.
    smtp: str = Field(
        default="localhost:25",
        description="SMTP relay notices are handed to, HOST:PORT. Without TLS (smtp_tls) only "
        "a relay on this host (localhost, 127.0.0.1, ::1) is accepted.",
    )
    smtp_tls: Literal["none", "starttls", "implicit"] = Field(
        default="none",
        description="How the SMTP connection is protected: none (a relay on this host only), "
        "starttls (upgrade, port 587) or implicit (TLS from the first byte, port 465).",
    )
    notify_directory: str | None = Field(
        default=None,
        description="Customers' contacts for notices to subjects: PATH.csv, PATH.jsonl or "
        "sql:<SQLAlchemy URL> (then notify_query).",
    )
    notify_query: str | None = Field(
        default=None,
        description="The query of an sql: directory (customers' or merchants'), taking "
        ":subject (the customer's or the merchant's id).",
    )
    merchant_directory: str | None = Field(
        default=None,
        description="Merchants' contacts (subject = the merchant id): the recipients of notices "
        "to merchants, and the shops' names in customers' notices.",
    )

    # -- the console (sentinelle serve: /login, /) -------------------------------------------
    public_url: str | None = Field(
        default=None,
        description="The console's address as people reach it (https://sentinelle.example): "
        "the base of the links e-mailed to merchants to approve grants; unset: none is sent.",
    )
    session_idle_timeout: int = Field(
        default=30 * 60,
        ge=60,
        le=86_400,
        description="Seconds without a request after which a console session ends.",
    )
    session_max_age: int = Field(
        default=12 * 3600,
        ge=60,
        le=30 * 86_400,
        description="Seconds after login at which a console session ends, whatever its use.",
    )
    cookie_secure: bool = Field(
        default=False,
        description="Mark the console's cookies Secure even when the request came over plain "
        "HTTP (behind a proxy that ends TLS); they are always Secure over HTTPS.",
    )
    login_max_failures: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="Failed logins (per e-mail, and per client address) within login_window "
        "after which further attempts are refused (HTTP 429) until the window has passed.",
    )
    login_window: int = Field(
        default=15 * 60,
        ge=1,
        le=86_400,
        description="Seconds over which failed logins are counted, and how long they lock.",
    )
    merchant_staff_identity: Literal["pseudonymous", "named"] = Field(
        default="pseudonymous",
        description="How a merchant (its account or key) sees the platform's staff in its "
        "accesses: pseudonymous (team, role, country and a pseudonym that changes every UTC "
        "day and differs per merchant; the event text, which names the person, is withheld "
        "and the row proven by its leaf hash) or named (staff ids, every event text). The "
        "platform's own roles always see names (docs/console.md).",
    )
    totp_required_roles: str = Field(
        default="",
        description="Roles whose accounts must have a TOTP second factor to log in, separated "
        "by commas (e.g. 'admin,dpo'); empty: none (an enrolled account always needs its code).",
    )

    # -- help-desk connectors (docs/connectors.md; POST /v1/connectors/VENDOR) -------------------
    zendesk_webhook_secret: SecretStr | None = Field(
        default=None,
        min_length=MIN_SECRET_CHARS,
        description="Zendesk's webhook secret (its signing secret); unset: POST "
        "/v1/connectors/zendesk answers 503.",
    )
    freshdesk_webhook_secret: SecretStr | None = Field(
        default=None,
        min_length=MIN_SECRET_CHARS,
        description="Freshdesk's webhook secret (a shared secret header); unset: POST "
        "/v1/connectors/freshdesk answers 503.",
    )
    jira_webhook_secret: SecretStr | None = Field(
        default=None,
        min_length=MIN_SECRET_CHARS,
        description="Jira's webhook secret (the admin webhook's secret); unset: POST "
        "/v1/connectors/jira answers 503.",
    )
    gorgias_webhook_secret: SecretStr | None = Field(
        default=None,
        min_length=MIN_SECRET_CHARS,
        description="Gorgias's webhook secret (a shared secret header); unset: POST "
        "/v1/connectors/gorgias answers 503.",
    )
    connectors_map: Path | None = Field(
        default=None,
        description="TOML or CSV file mapping vendor organization ids to merchants and "
        "agent ids to staff ids; unset: the organization id is the merchant, agents are "
        "stored as <vendor>:<agent id>.",
    )
    scim_map: Path | None = Field(
        default=None,
        description="TOML file saying which SCIM attributes give the staff id, team and role "
        "(docs/connectors.md, Identity); unset: userName, the enterprise department and title.",
    )

    # -- alerts out (docs/connectors.md, "Alerts out: webhooks") -------------------------------
    alert_webhooks: str = Field(
        default="",
        # A webhook URL often holds its token (Slack's do): kept out of repr(settings).
        repr=False,
        description="Webhooks that receive every alert of medium severity or more, exactly "
        "once: NAME=URL items separated by spaces or commas; a URL prefixed slack: is a "
        'Slack-compatible webhook ({"text": ...}), any other gets signed OCSF JSON.',
    )
    alert_webhook_secret: SecretStr | None = Field(
        default=None,
        validate_default=True,  # checked even when unset: a JSON webhook requires it
        description="HMAC-SHA256 key (16 characters or more) that signs the JSON webhooks' "
        "bodies (X-Sentinelle-Signature); required with a JSON webhook. Never printed.",
    )
    alert_syslog: str = Field(
        default="",
        description="Syslog servers that receive the same messages as the webhooks (alerts, "
        "suspensions, 72-hour deadline warnings), exactly once, as RFC 5424 messages: "
        "NAME=udp://HOST[:514], NAME=tcp://HOST[:601] (octet counting, RFC 6587) or "
        "NAME=tls://HOST[:6514] (RFC 5425) items separated by spaces or commas, each optionally "
        "ending ?facility=NAME (default auth).",
    )
    alert_syslog_ca: Path | None = Field(
        default=None,
        description="PEM file of the certificate authorities that tls:// syslog servers' "
        "certificates must chain to; unset: the system's.",
    )
    alert_emails: str = Field(
        default="",
        validate_default=True,  # checked even when unset: names are unique across destinations
        description="Addresses that receive the same messages as the webhooks, exactly once, as "
        "plain-text e-mails through the notices' relay (SENTINELLE_SMTP, SENTINELLE_SMTP_TLS, "
        "the SMTP login) from SENTINELLE_NOTIFY_FROM: NAME=ADDRESS items separated by spaces or "
        "commas.",
    )

    outbound_every: float = Field(
        default=15.0,
        ge=0,
        le=3_600,
        description="Seconds between the API server's own rounds of the alert destinations: "
        "the 72-hour deadline warnings that fell due are queued and every delivery due is sent "
        "(besides the round after each events batch), so a lift in the console or a deadline "
        "reaches them with no batch arriving; 0 turns the rounds off.",
    )

    @field_validator("log_origin")
    @classmethod
    def _origin_is_one_line(cls, value: str) -> str:
        # The origin is the first line of every checkpoint and the key name of its signature:
        # a newline, space or '+' would make the note or the verifier key ambiguous.
        if not value or any(c.isspace() or c == "+" for c in value):
            raise ValueError("log_origin must be non-empty, with no spaces, newlines or '+'")
        return value

    @field_validator("witnesses", "alert_webhooks", "alert_syslog")
    @classmethod
    def _items_parse(cls, value: str, info: ValidationInfo) -> str:
        from sentinelle.connectors.outbound import parse_syslog, parse_webhooks
        from sentinelle.ledger.witnessing import parse_witnesses

        parsers = {"witnesses": parse_witnesses, "alert_syslog": parse_syslog}
        try:
            parsers.get(info.field_name or "", parse_webhooks)(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return value.strip()

    @field_validator("alert_syslog_ca")
    @classmethod
    def _ca_loads(cls, value: Path | None) -> Path | None:
        import ssl

        if value is not None:
            try:
                ssl.create_default_context(cafile=str(value))
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(f"cannot load {value} as PEM certificates ({exc})") from None
        return value

    @field_validator("alert_emails")
    @classmethod
    def _destinations(cls, value: str, info: ValidationInfo) -> str:
        # Declared after the other destinations and the relay settings: here every name is
        # checked unique across them, and e-mail destinations need a sender and a safe relay.
        from sentinelle.connectors.mail_out import check_relay
        from sentinelle.connectors.outbound import Destinations

        try:
            found = Destinations.parse(
                webhooks=info.data.get("alert_webhooks", ""),
                syslog=info.data.get("alert_syslog", ""),
                mail=value,
            )
            if found.mail:
                check_relay(
                    smtp=info.data.get("smtp", "localhost:25"),
                    tls=info.data.get("smtp_tls", "none"),
                    sender=info.data.get("notify_from"),
                )
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return value.strip()

    @field_validator("public_url")
    @classmethod
    def _public_url_is_http(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise ValueError(f"public_url must be an http(s) address, not {value!r}")
        return value

    @field_validator("smtp")
    @classmethod
    def _smtp_is_host_port(cls, value: str) -> str:
        parse_host_port(value)  # its ValueError names the value
        return value

    @field_validator("notify_directory", "notify_query", "merchant_directory")
    @classmethod
    def _unset_when_empty(cls, value: str | None) -> str | None:
        # SENTINELLE_NOTIFY_DIRECTORY= (empty) means none, as for database_url.
        return value if value and value.strip() else None

    @field_validator("totp_required_roles")
    @classmethod
    def _known_roles(cls, value: str) -> str:
        # "admin, DPO" -> "admin,dpo"; a role that no account can have is a typo, refused.
        names = {r.strip().lower() for r in value.split(",") if r.strip()}
        known = {r.value for r in USER_ROLES}
        if unknown := names - known:
            raise ValueError(
                f"unknown role(s) {', '.join(sorted(unknown))} in totp_required_roles; "
                f"accounts have the roles {', '.join(sorted(known))}"
            )
        return ",".join(sorted(names))

    @property
    def totp_roles(self) -> frozenset[str]:
        """:attr:`totp_required_roles` as a set of role names."""
        return frozenset(r for r in self.totp_required_roles.split(",") if r)

    def webhook_secret(self, vendor: str) -> str | None:
        """The help-desk ``vendor``'s webhook secret (``zendesk``, …), if set."""
        value: SecretStr | None = getattr(self, f"{vendor}_webhook_secret")
        return None if value is None else value.get_secret_value()

    @field_validator("alert_webhook_secret")
    @classmethod
    def _webhook_secret_when_json(
        cls, value: SecretStr | None, info: ValidationInfo
    ) -> SecretStr | None:
        from sentinelle.connectors.outbound import parse_webhooks

        if value is not None and not value.get_secret_value():
            value = None  # SENTINELLE_ALERT_WEBHOOK_SECRET= (empty) means none
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_CHARS:
            raise ValueError(f"must be at least {MIN_SECRET_CHARS} characters")
        # alert_webhooks is declared first: here it is validated, or absent if it was refused.
        hooks = parse_webhooks(info.data.get("alert_webhooks", ""))
        if hooks and importlib.util.find_spec("httpx") is None:
            raise ValueError("alert_webhooks needs httpx: pip install 'sentinelle[client]'")
        if value is None and any(not h.slack for h in hooks):
            raise ValueError(
                "required: alert_webhooks has a JSON webhook, whose bodies this key signs"
            )
        return value

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None  # noqa: S101  (narrowing for mypy; pydantic already typed it)
        if not value.startswith(("postgresql://", "postgres://", "sqlite:///")):
            raise ValueError("database_url must start with postgresql:// or sqlite:///")
        return value
