"""Notify: tell merchants, data subjects and the authority about an incident.

Contacts are resolved at send time from the shop's own directory and never stored (only a
keyed hash of each address); notices are rendered from Jinja2 templates per language;
delivery is by SMTP, each (incident, audience, notice version, recipient) exactly once.

Start with :func:`open_directory` (contacts), :func:`plan_notices` (who gets what, streamed),
:func:`deliver` (SMTP) and :func:`notice_status`; :func:`render_samples` for a dry run;
:func:`authority_report` for the authority's form.
"""

from __future__ import annotations

from sentinelle.notify.delivery import (
    DeliveryError,
    DeliveryReport,
    SmtpConfig,
    TlsMode,
    deliver,
    notice_status,
)
from sentinelle.notify.directory import (
    Directory,
    DirectoryError,
    address_key,
    hash_address,
    open_directory,
)
from sentinelle.notify.model import Audience, Contact, Outbound, RenderedNotice
from sentinelle.notify.render import (
    NoticeConfig,
    NoticePlan,
    NoticeTemplateError,
    notice_version,
    plan_notices,
    render_samples,
)
from sentinelle.notify.report import (
    authority_report,
    render_authority_report_html,
    render_authority_report_text,
)

__all__ = [
    "Audience",
    "Contact",
    "DeliveryError",
    "DeliveryReport",
    "Directory",
    "DirectoryError",
    "NoticeConfig",
    "NoticePlan",
    "NoticeTemplateError",
    "Outbound",
    "RenderedNotice",
    "SmtpConfig",
    "TlsMode",
    "address_key",
    "authority_report",
    "deliver",
    "hash_address",
    "notice_status",
    "notice_version",
    "open_directory",
    "plan_notices",
    "render_authority_report_html",
    "render_authority_report_text",
    "render_samples",
]
