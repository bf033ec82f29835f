"""``python -m examples.support_console``: serve the example console with uvicorn.

The environment configures it (see :func:`examples.support_console.app.from_environment`):
``SENTINELLE_URL``, ``SENTINELLE_GUARD_KEY``, ``SENTINELLE_INGEST_KEY``, ``CONSOLE_JOURNAL``.
"""

from __future__ import annotations

import argparse
import logging
import sys

from .app import from_environment


def main(argv: list[str] | None = None) -> int:
    """Parse the options and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m examples.support_console", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8001, help="port to listen on")
    args = parser.parse_args(argv)
    import uvicorn

    logging.basicConfig(level=logging.INFO)
    uvicorn.run(from_environment(), host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
