"""Settings shared by the CLI, the API and workers.

Read from ``SENTINELLE_*`` environment variables (and a ``.env`` file). Built once at
start-up and passed down; never at import time.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


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

    detect_config: Path | None = Field(
        default=None,
        description="TOML file with detection thresholds; built-in defaults when unset.",
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

    # -- the console (sentinelle serve: /login, /) -------------------------------------------
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

    @field_validator("log_origin")
    @classmethod
    def _origin_is_one_line(cls, value: str) -> str:
        # The origin is the first line of every checkpoint and the key name of its signature:
        # a newline, space or '+' would make the note or the verifier key ambiguous.
        if not value or any(c.isspace() or c == "+" for c in value):
            raise ValueError("log_origin must be non-empty, with no spaces, newlines or '+'")
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
