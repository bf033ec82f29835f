"""The monitor's report channels: a webhook that cannot take a finding is a failed delivery
(tried again next round), never a crash of the round."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from sentinelle.monitor.monitor import Finding, Outcome, ReportError
from sentinelle.monitor.report import WebhookReporter

FINDING = Finding(
    Outcome.UNREACHABLE, "the log cannot be reached", "unreachable-0123456789abcdef", "x"
)


@pytest.fixture
def not_http() -> Iterator[str]:
    """A server that answers every connection with an SSH banner, not HTTP."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()

        def banner() -> None:
            conn, _ = server.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"SSH-2.0-OpenSSH_9.0\r\n\r\n")

        thread = threading.Thread(target=banner, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{server.getsockname()[1]}/hook"
        thread.join(10)


def test_a_webhook_that_does_not_speak_http_is_a_failed_delivery(not_http: str) -> None:
    reporter = WebhookReporter(not_http, "k" * 32)
    with pytest.raises(ReportError, match=r"^the webhook did not answer HTTP \(BadStatusLine\)$"):
        reporter.send(FINDING)
