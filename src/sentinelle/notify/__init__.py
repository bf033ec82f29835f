"""Notify: tell merchants, data subjects and the authority about an incident.

Contacts are resolved at send time from the shop's own directory and never stored (only a
keyed hash of each address); notices are rendered from Jinja2 templates per language;
delivery is by SMTP, each (incident, notice version, recipient) exactly once.
"""
