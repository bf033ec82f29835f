"""Where the monitor reads the log: whatever a hostile or broken server answers is an unusable
answer (``unreachable``), never a crash of the round."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sentinelle.monitor.source import ApiSource, LogUnreachableError


def _serving(body: bytes) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def deep_json() -> Iterator[str]:
    """An API whose every answer is JSON nested deeper than Python's parser recurses."""
    yield from _serving(b"[" * 200_000)


def test_json_nested_too_deep_is_an_unusable_answer(deep_json: str) -> None:
    source = ApiSource(deep_json, "snl_key")
    with pytest.raises(LogUnreachableError, match=r"/v1/ledger/checkpoint did not answer JSON"):
        source.latest()
