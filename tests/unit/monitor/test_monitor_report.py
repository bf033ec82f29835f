"""The monitor's report channels: a webhook that cannot take a finding is a failed delivery
(tried again next round), never a crash of the round."""

from __future__ import annotations

import pytest

from sentinelle.monitor.monitor import Finding, Outcome, ReportError
from sentinelle.monitor.report import WebhookReporter
from served import not_http

FINDING = Finding(
    Outcome.UNREACHABLE, "the log cannot be reached", "unreachable-0123456789abcdef", "x"
)


def test_a_webhook_that_does_not_speak_http_is_a_failed_delivery() -> None:
    with (
        not_http() as url,
        pytest.raises(ReportError, match=r"^the webhook did not answer HTTP \(BadStatusLine\)$"),
    ):
        WebhookReporter(url + "/hook", "k" * 32).send(FINDING)
