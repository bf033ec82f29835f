"""Delivery's last commit: when recording the final outcomes fails, ``deliver`` must not
report those notices as sent (their rows stay ``sending``), it raises instead.

Real SMTP (``smtp_sink``) into a real SQLite store. The one fake: the run's commit of outcomes
alone (no ``sending`` mark with them, which in a one-notice run is the final flush) waits until
the run is closing and then fails, as a disk error or a lost database would at that moment.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from sentinelle.config import Settings
from sentinelle.errors import StoreError
from sentinelle.notify import delivery
from sentinelle.notify.delivery import Retry, SmtpConfig, TlsMode, deliver
from sentinelle.notify.model import Outbound
from sentinelle.store import Store, open_store
from smtpsink import SmtpSink

INCIDENT = "inc-20250101-flush"
RECIPIENT = "a" * 64  # a recipient hash: the store never sees the address


def _build(message_id: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Sentinelle <notices@sentinelle.test>"
    message["To"] = "person@example.org"
    message["Subject"] = "Important: your data"
    message["Message-ID"] = message_id
    message.set_content("Your data was exposed.\n")
    return message


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(Settings(_env_file=None, data_dir=tmp_path / "data"))
    try:
        yield s
    finally:
        s.close()


def test_a_failed_final_commit_is_raised_not_reported_as_sent(
    store: Store, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_commit = delivery._Run._commit
    failed: list[int] = []

    def commit(self: Any, finals: Sequence[Any], sending: Sequence[str]) -> set[str]:
        if finals and not sending:  # the outcome of the only notice: the final flush
            deadline = time.monotonic() + 30
            while not self.closing and time.monotonic() < deadline:
                time.sleep(0.005)
            failed.append(len(finals))
            raise StoreError("cannot record notices: disk I/O error")
        result: set[str] = real_commit(self, finals, sending)
        return result

    monkeypatch.setattr(delivery._Run, "_commit", commit)
    smtp = SmtpConfig(
        host="127.0.0.1",
        port=smtp_sink.port,
        sender="notices@sentinelle.test",
        tls=TlsMode.NONE,
        helo="client.test",
    )
    with pytest.raises(StoreError) as caught:
        deliver(
            store,
            incident=INCIDENT,
            audience="subjects",
            version=1,
            outbound=[Outbound(RECIPIENT, "person@example.org", _build)],
            smtp=smtp,
            concurrency=1,
            retry=Retry(attempts=1, base=0.01, cap=0.01),
        )
    assert failed == [1]
    assert len(smtp_sink.messages()) == 1  # it did reach the server
    message = str(caught.value)
    assert "1 notices were sent but not recorded as sent" in message
    assert "disk I/O error" in message and "rerun" in message
    assert "person@example.org" not in message
    # The store says what is true: not sent, to be sent again by a rerun.
    statuses = [r[4] for batch in store.notice_rows(INCIDENT) for r in batch]
    assert statuses == ["sending"]
