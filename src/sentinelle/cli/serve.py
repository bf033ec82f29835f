"""``sentinelle serve``: the REST API."""

from __future__ import annotations

import click

from sentinelle.cli.app import App, cli_group, pass_app
from sentinelle.errors import ConfigError


@cli_group.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@pass_app
def serve(app: App, host: str, port: int) -> None:
    """Serve the REST API (POST /v1/events; every route needs an API key)."""
    try:
        import uvicorn

        from sentinelle.api.main import create_app
    except ImportError as exc:
        raise ConfigError(
            f"the API needs the 'api' extra: pip install 'sentinelle[api]' ({exc})"
        ) from None
    uvicorn.run(create_app(app.settings), host=host, port=port, log_level="info")
