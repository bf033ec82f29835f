"""What the browser tests know of their world, and the watched browser page they drive.

* :func:`pair_harvest` and :func:`alerts`: agent-017 and agent-203 read customers of merchants
  m-1 and m-2 without a ticket (agent-017 also reads one m-1 customer under a ticket assigned
  to it); two high ``collusion`` alerts about them and a low ``unusual_context`` one about bob,
  as the detection engine would write them. Event times are relative to now.
* :class:`Visit`: one person's browser context and page during a test. Console errors, page
  errors and Content-Security-Policy violations are collected (the test fails on any);
  :meth:`Visit.shot` checks that every form control of the page has an accessible label, then
  saves a full-page screenshot to ``test-output/screenshots/<test>-<nn>-<step>.png``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

from playwright.sync_api import ConsoleMessage, Page, expect

from console_support import PASSWORD
from sentinelle.access import Role
from sentinelle.api.deps import State
from sentinelle.detect import Alert, Severity
from sentinelle.detect.runner import alert_row
from sentinelle.store.alerts import AlertRow
from sentinelle.timeutil import parse_time
from smtpsink import SmtpSink

CHROMIUM_ARGS: Final = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS: Final = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
ZONE: Final = "Asia/Tokyo"  # UTC+9 all year: no daylight saving time
ZONE_OFFSET: Final = timedelta(hours=9)
TIMEOUT_MS: Final = 15_000  # for Playwright's waits: a loaded CI machine is slow, never wrong

RESPONDER: Final = "responder@example.org"
DPO: Final = "dpo@example.org"
MERCHANT: Final = "m1@example.org"  # bound to m-1
OTHER_MERCHANT: Final = "m2@example.org"  # bound to m-2
USERS: Final = {
    RESPONDER: (Role.RESPONDER, None),
    DPO: (Role.DPO, None),
    MERCHANT: (Role.MERCHANT, "m-1"),
    OTHER_MERCHANT: (Role.MERCHANT, "m-2"),
}
PAIR: Final = ("al-pair-017", "al-pair-203")  # the pair harvest's alerts, one per agent
LOW: Final = "al-odd-bob"
SHOP: Final = "Demo Shop"  # the notices' sender
MERCHANTS: Final = {  # the merchants' contact directory: who their notices go to
    "m-1": ("owner@lune.example", "Boutique Lune"),
    "m-2": ("ops@soleil.example", "Atelier Soleil"),
}


@dataclass
class World:
    """The served console and what the tests know of its data."""

    url: str
    state: State
    sink: SmtpSink
    events_by_merchant: dict[str, list[str]]
    unjustified_subjects: int  # the incident's scope (basis: unjustified accesses)
    unjustified_merchants: int
    incident: str | None = None  # set by the responder's test, used by the DPO's


def _time(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _access(
    event_id: str, at: datetime, actor: str, merchant: str, subjects: list[str], **extra: Any
) -> dict[str, Any]:
    return {
        "id": event_id,
        "time": _time(at),
        "actor": {"id": actor, "kind": "staff", "role": "support", "team": "tier1"},
        "action": "view",
        "merchant": merchant,
        "resource": {"type": "customer", "count": len(subjects)},
        "subjects": subjects,
        "data": ["contact", "address"],
        "channel": "support_console",
        "outcome": "allowed",
        **extra,
    }


def pair_harvest(day: datetime) -> list[dict[str, Any]]:
    """Two tier1 agents reading the customers of m-1 and m-2 without a ticket on ``day``;
    agent-017 also reads one m-1 customer under a ticket assigned to it, the day before."""
    before = day - timedelta(days=1)
    events: list[dict[str, Any]] = [
        {
            "id": "t-1",
            "time": _time(before),
            "type": "ticket.opened",
            "ticket": "T-1",
            "merchant": "m-1",
            "by": "cust",
        },
        {
            "id": "t-2",
            "time": _time(before + timedelta(minutes=5)),
            "type": "ticket.assigned",
            "ticket": "T-1",
            "merchant": "m-1",
            "actor": "agent-017",
        },
        _access(
            "a-0",
            before + timedelta(minutes=10),
            "agent-017",
            "m-1",
            ["c-1-z"],
            justification={"ticket": "T-1", "reason": "customer_request"},
        ),
    ]
    harvest = [
        ("agent-017", "m-1", ["c-1-a", "c-1-b"]),
        ("agent-203", "m-1", ["c-1-c"]),
        ("agent-017", "m-2", ["c-2-a"]),
        ("agent-203", "m-2", ["c-2-b", "c-2-c"]),
    ]
    for i, (actor, merchant, subjects) in enumerate(harvest, start=1):
        events.append(_access(f"a-{i}", day + timedelta(minutes=i), actor, merchant, subjects))
    return events


def alerts(day: datetime) -> list[AlertRow]:
    at = parse_time(_time(day + timedelta(minutes=4)))
    reason = (
        "{} and {} both opened customer data of the same 2 merchants, new to each of them, in "
        "the last 7 days without a ticket or grant (m-1, m-2); that is 100% of the new "
        "merchants the smaller of the two reached."
    )
    alerts = [
        Alert(
            id=alert_id,
            actor=me,
            detector="collusion",
            time_us=at,
            last_us=at,
            severity=Severity.HIGH,
            score=90.0,
            merchants=["m-1", "m-2"],
            events=events,
            reasons=[reason.format(me, other)],
        )
        for alert_id, me, other, events in [
            (PAIR[0], "agent-017", "agent-203", ["a-1", "a-3"]),
            (PAIR[1], "agent-203", "agent-017", ["a-2", "a-4"]),
        ]
    ]
    alerts.append(
        Alert(
            id=LOW,
            actor="bob",
            detector="unusual_context",
            time_us=at + 5_000_000,
            last_us=at + 5_000_000,
            severity=Severity.LOW,
            score=10.0,
            merchants=["m-1"],
            events=["a-0"],
            reasons=["worked from a new country"],
        )
    )
    return [alert_row(a) for a in alerts]


# Every input, select and textarea (hidden inputs aside) without an accessible name from a
# <label for>, an enclosing <label>, aria-label or aria-labelledby: as "tag#id name=…".
UNLABELLED_JS: Final = """() => {
  const out = [];
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden") continue;
    const byFor = el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`);
    const named = (byFor && byFor.textContent.trim()) || el.closest("label") ||
      (el.getAttribute("aria-label") || "").trim() ||
      (el.getAttribute("aria-labelledby") || "").trim();
    if (!named) out.push(`${el.tagName.toLowerCase()}#${el.id} name=${el.name}`);
  }
  return out;
}"""
# Records Content-Security-Policy violations on every document of the context (the console
# message Chromium prints for them is collected too; this one does not depend on its wording).
CSP_WATCH_JS: Final = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.__sentinelleCsp = window.__sentinelleCsp || [];
  window.__sentinelleCsp.push(`${e.violatedDirective} blocked ${e.blockedURI}`);
});
"""


@dataclass
class Visit:
    """One person's browser (a context and its page) during a test, watched for errors."""

    page: Page
    base_url: str
    test: str
    folder: Path
    problems: list[str] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)  # URLs the test expects to be refused
    pages: list[str] = field(default_factory=list)  # every page the browser loaded
    checked: set[str] = field(default_factory=set)  # every page checked (see check)
    _shots: int = 0

    def __post_init__(self) -> None:
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        self.page.on("framenavigated", self._navigated)

    def _console(self, message: ConsoleMessage) -> None:
        text = message.text
        where = message.location.get("url", "")
        if message.type == "error" and "Failed to load resource" in text:
            if where in self.refused:
                return  # the status of a page the test expects to be refused (403)
            if where.endswith("/favicon.ico"):
                return  # Chromium asks for one on every page; the console has none (404)
        if message.type in ("error", "warning") or "Content Security Policy" in text:
            self.problems.append(f"console {message.type} on {where}: {text}")

    def _navigated(self, frame: Any) -> None:
        if frame == self.page.main_frame:
            self.pages.append(frame.url)

    def url(self, path: str) -> str:
        return self.base_url + path

    def login(self, email: str, password: str = PASSWORD) -> None:
        """Log in through the form, as a person does."""
        self.page.goto(self.url("/login"))
        self.page.get_by_label("E-mail").fill(email)
        self.page.get_by_label("Password").fill(password)
        self.shot("login")
        self.page.get_by_role("button", name="Log in").click()
        expect(self.page.locator("header .who")).to_have_text(email)
        self.shot("landing")

    def csp_violations(self) -> list[str]:
        return list(self.page.evaluate("() => window.__sentinelleCsp || []"))

    def check(self) -> None:
        """The current page: no CSP violation so far, every form control labelled."""
        page = self.page.url
        self.checked.add(page)
        self.problems.extend(f"CSP violation on {page}: {v}" for v in self.csp_violations())
        self.page.evaluate("() => { window.__sentinelleCsp = []; }")
        unlabelled = self.page.evaluate(UNLABELLED_JS)
        self.problems.extend(f"form control without a label on {page}: {u}" for u in unlabelled)

    def shot(self, step: str) -> Path:
        """Check the current page, then save its full-page screenshot."""
        self.check()
        self._shots += 1
        path = self.folder / f"{self.test}-{self._shots:02d}-{step}.png"
        self.page.screenshot(path=path, full_page=True)
        return path

    def assert_clean(self) -> None:
        """No problem seen, and every page the browser loaded was checked."""
        self.check()
        unchecked = [p for p in self.pages if p not in self.checked and p != "about:blank"]
        self.problems.extend(f"page loaded but never checked: {p}" for p in unchecked)
        assert not self.problems, "\n".join(self.problems)
