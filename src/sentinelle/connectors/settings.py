"""The connectors' settings: one webhook secret per vendor and the mapping file.

Read from ``SENTINELLE_*`` environment variables (and a ``.env`` file), like
:class:`sentinelle.config.Settings`, when a connector is first used. A receiver whose secret
is unset answers 503 naming the variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["MIN_SECRET_LENGTH", "ConnectorSettings"]

#: Shorter secrets are refused: the secret is all that authenticates Freshdesk and Gorgias.
MIN_SECRET_LENGTH: Final = 16


def _secret(vendor: str, how: str) -> SecretStr | None:
    return Field(
        default=None,
        min_length=MIN_SECRET_LENGTH,
        description=f"{vendor}'s webhook secret ({how}); unset: POST /v1/connectors/"
        f"{vendor.lower().split()[0]} answers 503.",
    )


class ConnectorSettings(BaseSettings):
    """Secrets of the help-desk webhooks and how their tickets map (docs/connectors.md)."""

    model_config = SettingsConfigDict(env_prefix="SENTINELLE_", env_file=".env", extra="ignore")

    zendesk_webhook_secret: SecretStr | None = _secret("Zendesk", "its signing secret")
    freshdesk_webhook_secret: SecretStr | None = _secret("Freshdesk", "a shared secret header")
    jira_webhook_secret: SecretStr | None = _secret("Jira", "the admin webhook's secret")
    gorgias_webhook_secret: SecretStr | None = _secret("Gorgias", "a shared secret header")
    connectors_map: Path | None = Field(
        default=None,
        description="TOML or CSV file mapping vendor organization ids to merchants and "
        "agent ids to staff ids; unset: the organization id is the merchant, agents are "
        "stored as <vendor>:<agent id>.",
    )

    @staticmethod
    def variable(vendor: str) -> str:
        """The environment variable of ``vendor``'s secret."""
        return f"SENTINELLE_{vendor.upper()}_WEBHOOK_SECRET"

    def secret(self, vendor: str) -> str | None:
        """``vendor``'s webhook secret, if set."""
        value: SecretStr | None = getattr(self, f"{vendor}_webhook_secret")
        return None if value is None else value.get_secret_value()
