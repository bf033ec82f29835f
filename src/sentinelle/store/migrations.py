"""Versioned schema migrations, one ordered list per SQL dialect.

A migration is applied once, inside the transaction that records it in ``schema_migrations``;
a store refuses to open a database whose schema is newer than this code knows.
"""

from __future__ import annotations

from typing import Final

from sentinelle.store.accesses import backfill_sql
from sentinelle.store.integrations import backfill_sql as integrations_sql

__all__ = ["MIGRATIONS"]

_V1_COMMON: Final = """
CREATE TABLE events (
    seq      {seq} PRIMARY KEY,       -- leaf index in the ledger
    id       TEXT NOT NULL UNIQUE,
    time_us  BIGINT NOT NULL,         -- event time, microseconds since the epoch, UTC
    action   TEXT NOT NULL,           -- access action, or context event type
    actor    TEXT,
    merchant TEXT,
    body     TEXT NOT NULL            -- the leaf: RFC 8785 canonical JSON of the event
);
CREATE TABLE checkpoints (
    size       BIGINT PRIMARY KEY,
    root       {blob} NOT NULL,
    note       TEXT NOT NULL,         -- the signed note, as printed
    created_us BIGINT NOT NULL
);
CREATE TABLE ledger_state (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    size BIGINT NOT NULL
);
INSERT INTO ledger_state (id, size) VALUES (1, 0);
CREATE TABLE tiles (
    level INTEGER NOT NULL,
    idx   BIGINT NOT NULL,
    data  {blob} NOT NULL,
    PRIMARY KEY (level, idx)
);
CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    key_hash   TEXT NOT NULL UNIQUE,  -- SHA-256 of the key (the key itself is never stored)
    created_us BIGINT NOT NULL,
    revoked_us BIGINT
);
"""

_V2_DETECTION: Final = """
CREATE TABLE alerts (
    id        TEXT PRIMARY KEY,       -- derived from detector, actor and triggering event
    actor     TEXT NOT NULL,
    detector  TEXT NOT NULL,
    time_us   BIGINT NOT NULL,        -- the triggering event's time
    last_us   BIGINT NOT NULL,
    severity  INTEGER NOT NULL,       -- 1 low, 2 medium, 3 high, 4 critical
    score     {real} NOT NULL,
    merchants TEXT NOT NULL,          -- JSON array
    events    TEXT NOT NULL,          -- JSON array of event ids
    reasons   TEXT NOT NULL           -- JSON array of sentences
);
CREATE INDEX alerts_actor_time ON alerts (actor, time_us);
CREATE INDEX alerts_time ON alerts (time_us);
CREATE INDEX events_time ON events ({time_index});
CREATE TABLE detect_state (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    cursor BIGINT NOT NULL,           -- events with seq below this were processed
    state  {blob} NOT NULL            -- the engine's context, msgpack
);
"""

_V3_INCIDENTS: Final = """
CREATE TABLE incidents (
    id          TEXT PRIMARY KEY,     -- inc-<date>-<random hex>
    title       TEXT NOT NULL,
    state       TEXT NOT NULL,        -- open, assessed, notifying, closed
    actors      TEXT NOT NULL,        -- JSON array of actor ids
    from_us     BIGINT NOT NULL,      -- the window of the incident, both ends included
    to_us       BIGINT NOT NULL,
    created_us  BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    facts       TEXT,                 -- JSON object, or NULL before the facts are recorded
    assessment  TEXT                  -- JSON object, or NULL before the assessment
);
CREATE TABLE incident_log (
    incident    TEXT NOT NULL REFERENCES incidents (id),
    at_us       BIGINT NOT NULL,
    changed_by  TEXT NOT NULL,        -- who ("by" is a reserved word in SQL)
    change      TEXT NOT NULL,        -- opened, state, facts, assessment
    details     TEXT NOT NULL         -- JSON object: what changed and why
);
CREATE INDEX incident_log_incident ON incident_log (incident, at_us);
CREATE INDEX events_actor_time ON events ({actor_index})
"""

# Context events name the ticket or grant they are about; ``ref`` keeps that id in a column
# so scoping an incident reads the history of the tickets and grants its accesses cite
# instead of replaying every context event of the platform. Filled in for stored events.
_V4_REF: Final = """
ALTER TABLE events ADD COLUMN ref TEXT;
UPDATE events SET ref = CASE
    WHEN substr(action, 1, 7) = 'ticket.' THEN {ticket}
    WHEN substr(action, 1, 6) = 'grant.' THEN {grant}
END WHERE substr(action, 1, 7) = 'ticket.' OR substr(action, 1, 6) = 'grant.';
CREATE INDEX events_ref ON events ({ref_index}) WHERE ref IS NOT NULL
"""

# Breach notices (issue "Notify"): one row per (incident, audience, notice version, recipient),
# so a rerun sends only what is missing. ``recipient`` is the keyed hash of the address (the
# address itself is never stored); ``claim`` names the delivery run that queued the row, which
# tells a recipient repeated in one run's input from a row an interrupted run left behind.
_V5_NOTICES: Final = """
CREATE TABLE notices (
    incident   TEXT NOT NULL,
    audience   TEXT NOT NULL,         -- merchants, subjects, authority
    version    INTEGER NOT NULL,      -- version of the notice's content
    recipient  TEXT NOT NULL,         -- keyed hash (HMAC) of the address
    message_id TEXT NOT NULL,         -- derived from the four key columns: a resend reuses it
    status     TEXT NOT NULL,         -- pending, sending (may be in flight), sent, failed
    attempts   INTEGER NOT NULL,      -- SMTP transactions started for it
    updated_us BIGINT NOT NULL,
    reply_code INTEGER,               -- the server's last reply (text without any address)
    reply_text TEXT,
    claim      TEXT,                  -- token of the delivery run that last queued it
    PRIMARY KEY (incident, audience, version, recipient)
);
CREATE INDEX notices_incident_status ON notices (incident, audience, version, status)
"""

# The response engine (issue "One response engine"): what people told the assessment is kept
# apart from what the ledger established (``facts_given``), and the scope basis chosen is a
# column, so re-assessing neither forgets a fact nor widens or narrows the scope by default.
# ``leases``: one holder per name at a time (a notice run per incident and audience), with an
# expiry renewed by a heartbeat, so the rule holds across hosts sharing one database.
_V6_RESPONSE: Final = """
ALTER TABLE incidents ADD COLUMN facts_given TEXT;
ALTER TABLE incidents ADD COLUMN scope_basis TEXT;
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,     -- what is held, e.g. notify:<incident>:<audience>
    holder      TEXT NOT NULL,        -- host, process and a random token of the holder
    acquired_us BIGINT NOT NULL,
    expires_us  BIGINT NOT NULL       -- renewed by the holder's heartbeat
)
"""

# The ledger's verifier keys: the public key that signs this database's checkpoints,
# recorded when a ledger is first opened, so a data directory with another signing key is
# refused; a rotation adds a row, signed by the previous key, from the tree size it happened
# at. Never the private key.
_V7_LEDGER_KEYS: Final = """
CREATE TABLE ledger_keys (
    seq          INTEGER PRIMARY KEY,     -- 0: the key bound on first use, then +1 per rotation
    verifier_key TEXT NOT NULL UNIQUE,    -- <name>+<key id>+<base64(0x01 || public key)>
    from_size    BIGINT NOT NULL,         -- signs checkpoints from this tree size on
    added_us     BIGINT NOT NULL,
    added_by     TEXT NOT NULL,
    reason       TEXT NOT NULL,
    statement    TEXT                     -- a rotation, as a note signed by the previous key
)
"""

# Who may do what (issue "Console"): API keys get a role (existing keys keep sending events
# only: ``ingest``) and, for a merchant's key, its merchant; people's accounts (argon2id
# password hashes, never passwords); and the audit log of administrative changes (accounts,
# keys) with who made them. The ``(merchant, seq)`` index serves a merchant's accesses, newest
# first.
_V8_ACCESS: Final = """
ALTER TABLE api_keys ADD COLUMN role TEXT NOT NULL DEFAULT 'ingest';
ALTER TABLE api_keys ADD COLUMN merchant TEXT;
CREATE TABLE users (
    email         TEXT PRIMARY KEY,   -- lower case
    role          TEXT NOT NULL,
    merchant      TEXT,               -- the merchant a merchant's account is bound to
    password_hash TEXT NOT NULL,      -- argon2id, with its parameters and salt
    created_us    BIGINT NOT NULL,
    created_by    TEXT NOT NULL,
    disabled_us   BIGINT
);
CREATE TABLE audit_log (
    at_us      BIGINT NOT NULL,
    changed_by TEXT NOT NULL,
    action     TEXT NOT NULL,         -- e.g. key.created, user.disabled
    target     TEXT NOT NULL,         -- the key's name or the account's e-mail
    details    TEXT NOT NULL          -- JSON object, never a secret
);
CREATE INDEX audit_log_time ON audit_log (at_us);
CREATE INDEX events_merchant_seq ON events (merchant, seq)
"""

# Alert triage (issue "Triage"): every decision on an alert, append-only (who, when, why, the
# incident an escalation joined, the end of a dismissal's suppression); the alert's current
# status kept on the alert itself, written in the same transaction, so lists filter on it in
# one index range; and the suppressions in force, one per dismissed alert, which detection
# reads to leave the same actor and detector alone for the period.
_V9_TRIAGE: Final = """
CREATE TABLE alert_triage (
    alert_id          TEXT NOT NULL,
    at_us             BIGINT NOT NULL,
    decided_by        TEXT NOT NULL,  -- who ("by" is a reserved word in SQL)
    status            TEXT NOT NULL,  -- acknowledged, dismissed, escalated
    reason            TEXT NOT NULL,
    incident          TEXT,           -- the incident an escalation joined or opened
    suppress_until_us BIGINT          -- a dismissal's suppression ends here
);
CREATE INDEX alert_triage_alert ON alert_triage (alert_id, at_us);
ALTER TABLE alerts ADD COLUMN status TEXT NOT NULL DEFAULT 'new';
CREATE INDEX alerts_status_time ON alerts (status, time_us);
CREATE TABLE alert_suppressions (
    alert_id TEXT PRIMARY KEY,        -- the dismissed alert (a later decision lifts it)
    actor    TEXT NOT NULL,
    detector TEXT NOT NULL,
    from_us  BIGINT NOT NULL,         -- findings in [from, until) raise no alert
    until_us BIGINT NOT NULL
)
"""

# The console's sessions (issue "Console"): a session is known by the SHA-256 of its token
# (the token itself is only in the browser's cookie), with its account, when it began, when it
# was last used and when it ends at the latest; and the recent failed logins, by the SHA-256 of
# the e-mail or the client's address, that the login rate limit counts.
_V10_SESSIONS: Final = """
CREATE TABLE sessions (
    token_hash   TEXT PRIMARY KEY,    -- SHA-256 of the session token (never the token)
    email        TEXT NOT NULL,       -- the account
    created_us   BIGINT NOT NULL,
    last_seen_us BIGINT NOT NULL,
    expires_us   BIGINT NOT NULL      -- the absolute end, whatever the activity
);
CREATE INDEX sessions_email ON sessions (email);
CREATE TABLE login_failures (
    subject TEXT NOT NULL,            -- email:<SHA-256 of the e-mail> or addr:<client address>
    at_us   BIGINT NOT NULL
);
CREATE INDEX login_failures_subject ON login_failures (subject, at_us)
"""

# Actors' activity per day (issue "Console"): one row per actor and UTC day (days since
# 1970-01-01) with what their access events did that day, kept up to date by ingest in the
# transaction that stores the events (:mod:`sentinelle.store.activity`), so an actor's months
# and their team's per-day average are read from a few hundred rows instead of millions of
# events. Distinct merchants per day need the set itself, kept with the row (``merchant_ids``)
# so that a later batch of the same day adds only merchants not seen yet; ``merchants`` is its
# size. Filled in for stored events.
_V11_ACTIVITY: Final = """
CREATE TABLE actor_days (
    actor        TEXT NOT NULL,
    day          INTEGER NOT NULL,    -- UTC day of the events, days since 1970-01-01
    team         TEXT,                -- actor.team of the day's last access event naming one
    accesses     BIGINT NOT NULL,     -- access events, whatever their outcome
    merchants    INTEGER NOT NULL,    -- distinct merchants (the size of merchant_ids)
    list_views   BIGINT NOT NULL,     -- customer_list or order_list reads, and searches
    exports      BIGINT NOT NULL,     -- export and download
    unjustified  BIGINT NOT NULL,     -- citing no ticket and no grant
    records      BIGINT NOT NULL,     -- records exposed by allowed accesses
    merchant_ids TEXT NOT NULL,       -- JSON array of the distinct merchants, in any order
    PRIMARY KEY (actor, day)
){without_rowid};
CREATE INDEX actor_days_team ON actor_days (team, day);
INSERT INTO actor_days (actor, day, team, accesses, merchants, list_views, exports,
    unjustified, records, merchant_ids)
SELECT actor, day, NULL, count(*), count(DISTINCT merchant),
    sum(CASE WHEN action NOT IN ('export', 'download')
        AND (action = 'search' OR rtype IN ('customer_list', 'order_list')) THEN 1 ELSE 0 END),
    sum(CASE WHEN action IN ('export', 'download') THEN 1 ELSE 0 END),
    sum(CASE WHEN ticket IS NULL AND grant_id IS NULL THEN 1 ELSE 0 END),
    sum(CASE WHEN outcome = 'allowed' THEN coalesce(rcount, nsubjects, 1) ELSE 0 END),
    {merchant_set}
FROM ({fields}) AS e
GROUP BY actor, day;
UPDATE actor_days SET team = t.team FROM ({last_team}) AS t
WHERE actor_days.actor = t.actor AND actor_days.day = t.day
"""

# The console's second factor (issue "Console"): an account's TOTP secret, encrypted with
# AES-256-GCM under a key kept in the data directory (never the secret in clear: a dump of the
# database alone yields no second factor), and the last time-step a code was accepted for, so
# that a code is refused when presented again; and the logins waiting for their code, known by
# the SHA-256 of the token in the browser's cookie, as sessions are.
_V12_TOTP: Final = """
ALTER TABLE users ADD COLUMN totp_secret TEXT;     -- v1:<base64 nonce + AES-GCM ciphertext>
ALTER TABLE users ADD COLUMN totp_last_step BIGINT; -- unix time // 30 of the last code accepted
CREATE TABLE login_challenges (
    token_hash TEXT PRIMARY KEY,      -- SHA-256 of the pending login's token (never the token)
    email      TEXT NOT NULL,         -- the account whose password was right
    created_us BIGINT NOT NULL,
    expires_us BIGINT NOT NULL
);
CREATE INDEX login_challenges_email ON login_challenges (email)
"""

# The guard (issue "Guard"): just-in-time grants, one row per grant with its scope, its
# approvals (a JSON list of {"as": "merchant"|"staff", "by", "at_us"}) and its state, read by
# ``(actor, merchant)`` so a decision looks at one actor's few grants at one merchant, never
# every live grant; the actors suspended (filled by the automatic response), checked on every
# decision; and the decisions recorded, by the id of the access event that records each in the
# ledger, so a retried request (same request_id) gets the same answer.
_V13_GUARD: Final = """
CREATE TABLE grants (
    id           TEXT PRIMARY KEY,    -- g-<random hex>
    actor        TEXT NOT NULL,       -- the grantee
    merchant     TEXT NOT NULL,
    actions      TEXT NOT NULL,       -- JSON array of access actions
    categories   TEXT NOT NULL,       -- JSON array of data categories
    max_records  BIGINT NOT NULL,
    purpose      TEXT,
    reason       TEXT NOT NULL,
    ticket       TEXT,
    requested_by TEXT NOT NULL,
    requested_us BIGINT NOT NULL,
    approvals    TEXT NOT NULL,       -- JSON array of {"as", "by", "at_us"}
    expires_us   BIGINT NOT NULL,     -- requested: approve before it, approved: holds until
    state        TEXT NOT NULL,       -- requested, approved, denied, revoked, expired
    changed_us   BIGINT NOT NULL
);
CREATE INDEX grants_actor_merchant ON grants (actor, merchant, expires_us);
CREATE TABLE suspensions (
    actor        TEXT PRIMARY KEY,
    since_us     BIGINT NOT NULL,
    suspended_by TEXT NOT NULL,       -- who ("by" is a reserved word in SQL)
    reason       TEXT NOT NULL,
    lifted_us    BIGINT               -- NULL while in force
);
CREATE TABLE guard_decisions (
    id           TEXT PRIMARY KEY,    -- the access event's id
    request_hash TEXT NOT NULL,       -- SHA-256 of the request, canonical: a reused id differs
    at_us        BIGINT NOT NULL,
    response     TEXT NOT NULL        -- the decision as answered (JSON)
)
"""

# The UTC day of ``time_us``, rounded down also before 1970 (SQL's ``/`` and ``%`` truncate).
_DAY: Final = "(time_us - ((time_us % 86400000000) + 86400000000) % 86400000000) / 86400000000"
# PostgreSQL's driver reads "%" as a placeholder: its mod() instead.
_PG_DAY: Final = (
    "(time_us - mod(mod(time_us, 86400000000) + 86400000000, 86400000000)) / 86400000000"
)
_ACCESS: Final = "action IN ('view', 'search', 'export', 'download', 'update', 'delete')"

# The console's alert queue (issue "Console"): alerts of one triage status (or all), most
# severe, then newest first, and their counts by severity. Without them, 100,000 new alerts
# took 120-150 ms a page (every matching row sorted) and 143 ms to count; 0.1 ms and 5 ms with.
_V14_QUEUE: Final = """
CREATE INDEX alerts_status_severity ON alerts (status, severity, time_us, id);
CREATE INDEX alerts_severity_time ON alerts (severity, time_us, id)
"""

# Guard, part 2: who suspended an actor and on which alert, who lifted it and why; a log of the
# guard's human steps (suspensions and lifts, who saw a grant request, approval links sent and
# used), kept after the grant or suspension ended; approval links (one-time, expiring: only the
# SHA-256 of a link's token is stored); and the indexes that find requests to expire (state,
# expiry) and a merchant's grants, newest first.
_V15_GUARD_RESPONSE: Final = """
ALTER TABLE suspensions ADD COLUMN alert TEXT;       -- the alert that suspended, if automatic
ALTER TABLE suspensions ADD COLUMN lifted_by TEXT;
ALTER TABLE suspensions ADD COLUMN lift_reason TEXT;
CREATE TABLE guard_log (
    id         TEXT PRIMARY KEY,      -- random, or derived from what it records (idempotent)
    at_us      BIGINT NOT NULL,
    subject    TEXT NOT NULL,         -- the actor (suspensions) or the grant id
    kind       TEXT NOT NULL,         -- suspended, lifted, seen, link_sent, link_used, expired
    done_by    TEXT NOT NULL,         -- who (a label, account or "sentinelle")
    reason     TEXT NOT NULL
);
CREATE INDEX guard_log_subject ON guard_log (subject, at_us);
CREATE TABLE approval_links (
    token_hash TEXT PRIMARY KEY,      -- SHA-256 of the link's token (never the token)
    grant_id   TEXT NOT NULL,
    merchant   TEXT NOT NULL,
    created_us BIGINT NOT NULL,
    expires_us BIGINT NOT NULL,
    used_us    BIGINT,                -- NULL until used (a link works once)
    used_as    TEXT                   -- approved or denied
);
CREATE INDEX approval_links_grant ON approval_links (grant_id);
CREATE INDEX grants_state_expires ON grants (state, expires_us);
CREATE INDEX grants_merchant ON grants (merchant, requested_us)
"""

# Witnesses of the ledger (docs/ledger.md): the cosignatures each witness gave a checkpoint
# (C2SP tlog-cosignature lines, with the root they sign, so a deleted checkpoint row cannot
# take its witnesses' word with it), and per witness the size it last cosigned (where the next
# consistency proof starts).
_V16_WITNESSES: Final = """
CREATE TABLE cosignatures (
    size       BIGINT NOT NULL,       -- tree size of the cosigned checkpoint
    witness    TEXT NOT NULL,         -- the witness's verifier key (name+id+base64 key)
    root       {blob} NOT NULL,       -- the root hash it cosigned
    line       TEXT NOT NULL,         -- the signature line, as the witness gave it
    cosigned_s BIGINT NOT NULL,       -- the cosignature's own time, seconds since the epoch
    PRIMARY KEY (size, witness)
);
CREATE TABLE witness_state (
    witness    TEXT PRIMARY KEY,      -- verifier key
    url        TEXT NOT NULL,
    size       BIGINT NOT NULL,       -- the tree size it last cosigned (its 'old' size)
    updated_us BIGINT NOT NULL
)
"""

_V17_ALERT_DELIVERIES: Final = """
CREATE TABLE alert_deliveries (
    alert_id     TEXT NOT NULL,       -- the alert sent (no foreign key: alerts are replaced)
    destination  TEXT NOT NULL,       -- the webhook's NAME in alert_webhooks
    state        TEXT NOT NULL,       -- pending, sending, delivered, failed
    attempts     INTEGER NOT NULL,    -- POSTs tried
    last_error   TEXT,                -- HTTP status or exception type of the last failure
    next_at_us   BIGINT NOT NULL,     -- pending: when due, sending: when its lease ends
    delivered_us BIGINT,
    PRIMARY KEY (alert_id, destination)
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (state, next_at_us)
"""

# The inventory of apps, integrations and services (issue "Connectors" §4): per machine, its
# kind, first and latest access and the data categories it read (a bit set); per machine and
# merchant, the same there and the records exposed (:mod:`sentinelle.store.integrations`).
# Filled in for stored events.
_V21_INTEGRATIONS: Final = """
CREATE TABLE integrations (
    actor    TEXT PRIMARY KEY,
    kind     TEXT NOT NULL,           -- actor.kind: app, integration or service
    first_us BIGINT NOT NULL,         -- its first allowed access event
    last_us  BIGINT NOT NULL,         -- its latest
    data     BIGINT NOT NULL          -- data categories read (store.accesses.CATEGORY_BITS)
);
CREATE TABLE integration_merchants (
    actor    TEXT NOT NULL,
    merchant TEXT NOT NULL,
    first_us BIGINT NOT NULL,
    last_us  BIGINT NOT NULL,
    records  BIGINT NOT NULL,         -- records exposed: resource.count, else subjects, else 1
    data     BIGINT NOT NULL,
    PRIMARY KEY (actor, merchant)
){without_rowid};
CREATE INDEX integration_merchants_merchant ON integration_merchants (merchant, actor);
{backfill}
"""

# The merchants' page (issue "Transparency"): each access event's filterable facets (actor
# kind, action, outcome, justified, categories) as one bit set in its own row (``NULL`` for
# context events: a page walks the merchant's range of ``events_merchant_seq``), and the
# customers each access names, keyed (merchant, customer, seq), so a filtered page and "every
# access that touched customer X" walk one key range instead of decoding the merchant's every
# event (:mod:`sentinelle.store.accesses`). Filled in for stored events.
_V22_MERCHANT_VIEW: Final = """
ALTER TABLE events ADD COLUMN facets BIGINT; -- access events: actor kind, action, outcome, ...
CREATE TABLE access_subjects (
    merchant TEXT NOT NULL,
    subject  TEXT NOT NULL,           -- a customer id the event names in subjects
    seq      BIGINT NOT NULL,
    PRIMARY KEY (merchant, subject, seq)
){without_rowid};
{backfill}
"""

# Everything sent out (issue "Connectors" §5): the alert deliveries become the deliveries of any
# message (an alert, a suspension or its lift, a 72-hour deadline warning), keyed by the
# message's id and the destination. The rows of migration 17 are kept, as alerts.
_V19_OUTBOUND: Final = """
ALTER TABLE alert_deliveries RENAME TO outbound_deliveries;
ALTER TABLE outbound_deliveries RENAME COLUMN alert_id TO message;
ALTER TABLE outbound_deliveries ADD COLUMN kind TEXT NOT NULL DEFAULT 'alert';
ALTER TABLE outbound_deliveries ADD COLUMN facts TEXT;
DROP INDEX alert_deliveries_due;
CREATE INDEX outbound_deliveries_due ON outbound_deliveries (state, next_at_us)
"""

# The SCIM provider (issue "Connectors" §2): the identity provider's users and groups as
# provisioned, what their staff.* events were computed from (:mod:`sentinelle.store.scim`).
# Only what provisioning needs: ids, userName (its case-folded key is unique), the staff id
# (unique), active, the mapped team and role and the raw attributes the mapping reads; never
# names, e-mails or phone numbers.
_V20_SCIM: Final = """
CREATE TABLE scim_users (
    id          TEXT PRIMARY KEY,     -- Sentinelle's SCIM id (random hex)
    user_name   TEXT NOT NULL,        -- userName as the identity provider sent it
    user_key    TEXT NOT NULL UNIQUE, -- userName case-folded: uniqueness, the eq filter
    external_id TEXT,                 -- the identity provider's id of the user
    staff       TEXT NOT NULL UNIQUE, -- the staff id its events carry (actor)
    active      INTEGER NOT NULL,     -- 1 active, 0 not (a leaver)
    team        TEXT,                 -- as mapped, what its last staff.* event said
    role        TEXT,
    attrs       TEXT NOT NULL,        -- JSON: raw values of the attributes the mapping reads
    version     BIGINT NOT NULL,      -- +1 on every change: the ETag W/"<version>"
    created_us  BIGINT NOT NULL,
    modified_us BIGINT NOT NULL
);
CREATE INDEX scim_users_external ON scim_users (external_id);
CREATE TABLE scim_groups (
    id           TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    display_key  TEXT NOT NULL,       -- displayName case-folded: the eq filter
    external_id  TEXT,
    version      BIGINT NOT NULL,
    created_us   BIGINT NOT NULL,
    modified_us  BIGINT NOT NULL
);
CREATE INDEX scim_groups_display ON scim_groups (display_key);
CREATE TABLE scim_members (
    group_id TEXT NOT NULL,
    user_id  TEXT NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX scim_members_user ON scim_members (user_id, group_id)
"""

# Merchant slices (issue 12, docs/ledger.md "Merchant slices"): each merchant's access events as
# its own RFC 9162 log, kept at ingest in the events' transaction. ``slice_state`` is the global
# tree size the slices are built to (behind the ledger only before the first ingest after this
# migration, which builds them from the stored events: SQL cannot hash). ``slice_nodes`` has one
# row per merchant per batch that grew its slice from ``lo`` to ``size`` entries: the slice root
# then, at tree size ``gsize`` (the merchant's head at any checkpoint), its frontier (the roots of
# its perfect subtrees, to append to it), and every node the batch completed (level by level, at
# level L those of index lo>>L .. size>>L - 1), so any node of a slice is one row away. A
# merchant's latest row is its slice now: no separate table of heads for every batch to update
# (one row per merchant and batch, not two); a new process reads every merchant's latest row by
# jumping from merchant to merchant along the key. A witness's cosignature covers the
# checkpoint's extension lines (the merchant-map line): kept with it, to verify it alone.
_V18_SLICES: Final = """
CREATE TABLE slice_state (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    size BIGINT NOT NULL              -- global tree size the slices are built to
);
INSERT INTO slice_state (id, size) VALUES (1, 0);
CREATE TABLE slice_nodes (
    merchant TEXT NOT NULL,
    size     BIGINT NOT NULL,         -- entries after the batch
    lo       BIGINT NOT NULL,         -- entries before it
    gsize    BIGINT NOT NULL,         -- global tree size after the batch (its checkpoint)
    root     {blob} NOT NULL,         -- the slice root at size
    frontier {blob} NOT NULL,         -- its perfect subtrees' roots at size, largest first
    nodes    {blob} NOT NULL,         -- the nodes the batch completed, 32 bytes each
    PRIMARY KEY (merchant, size)
){without_rowid};
ALTER TABLE cosignatures ADD COLUMN extensions TEXT NOT NULL DEFAULT ''
"""

MIGRATIONS: Final[dict[str, list[tuple[int, str]]]] = {
    "sqlite": [
        # INTEGER PRIMARY KEY makes seq SQLite's rowid: one B-tree less per insert, and
        # every index on events already ends with seq.
        (1, _V1_COMMON.format(blob="BLOB", seq="INTEGER")),
        (2, _V2_DETECTION.format(blob="BLOB", real="REAL", time_index="time_us")),
        (3, _V3_INCIDENTS.format(actor_index="actor, time_us")),
        (
            4,
            _V4_REF.format(
                ticket="json_extract(body, '$.ticket')",
                grant="json_extract(body, '$.grant')",
                ref_index="ref, time_us",
            ),
        ),
        (5, _V5_NOTICES),
        (6, _V6_RESPONSE),
        (7, _V7_LEDGER_KEYS),
        (8, _V8_ACCESS),
        (9, _V9_TRIAGE),
        (10, _V10_SESSIONS),
        (
            11,
            _V11_ACTIVITY.format(
                without_rowid=" WITHOUT ROWID",  # one B-tree, not a rowid table and its key
                merchant_set="json_group_array(DISTINCT merchant)",
                fields=(
                    f"SELECT actor, {_DAY} AS day, action, merchant, "  # noqa: S608
                    "json_extract(body, '$.resource.type') AS rtype, "
                    "json_extract(body, '$.justification.ticket') AS ticket, "
                    "json_extract(body, '$.justification.grant') AS grant_id, "
                    "json_extract(body, '$.outcome') AS outcome, "
                    "json_extract(body, '$.resource.count') AS rcount, "
                    "json_array_length(body, '$.subjects') AS nsubjects "
                    f"FROM events WHERE {_ACCESS}"
                ),
                # SQLite takes the other columns of a max() query from the row of the maximum.
                last_team=(
                    f"SELECT actor, {_DAY} AS day, max(seq), "  # noqa: S608
                    "json_extract(body, '$.actor.team') AS team FROM events "
                    f"WHERE {_ACCESS} AND json_extract(body, '$.actor.team') IS NOT NULL "
                    "GROUP BY actor, day"
                ),
            ),
        ),
        (12, _V12_TOTP),
        (13, _V13_GUARD),
        (14, _V14_QUEUE),
        (15, _V15_GUARD_RESPONSE),
        (16, _V16_WITNESSES.format(blob="BLOB")),
        (17, _V17_ALERT_DELIVERIES),
        (
            18,
            _V18_SLICES.format(blob="BLOB", without_rowid=" WITHOUT ROWID"),
        ),
        (19, _V19_OUTBOUND),
        (20, _V20_SCIM),
        (
            21,
            _V21_INTEGRATIONS.format(
                without_rowid=" WITHOUT ROWID", backfill=integrations_sql("sqlite")
            ),
        ),
        (
            22,
            _V22_MERCHANT_VIEW.format(
                without_rowid=" WITHOUT ROWID", backfill=backfill_sql("sqlite")
            ),
        ),
    ],
    "postgresql": [
        (1, _V1_COMMON.format(blob="BYTEA", seq="BIGINT")),
        (2, _V2_DETECTION.format(blob="BYTEA", real="DOUBLE PRECISION", time_index="time_us, seq")),
        (3, _V3_INCIDENTS.format(actor_index="actor, time_us, seq")),
        (
            4,
            _V4_REF.format(
                ticket="body::jsonb ->> 'ticket'",
                grant="body::jsonb ->> 'grant'",
                ref_index="ref, time_us, seq",
            ),
        ),
        (5, _V5_NOTICES),
        (6, _V6_RESPONSE),
        (7, _V7_LEDGER_KEYS),
        (8, _V8_ACCESS),
        (9, _V9_TRIAGE),
        (10, _V10_SESSIONS),
        (
            11,
            _V11_ACTIVITY.format(
                without_rowid="",
                merchant_set="json_agg(DISTINCT merchant)::text",
                # Each body parsed once (the lateral jsonb), not once per field.
                fields=(
                    f"SELECT actor, {_PG_DAY} AS day, action, merchant, "  # noqa: S608
                    "j -> 'resource' ->> 'type' AS rtype, "
                    "j -> 'justification' ->> 'ticket' AS ticket, "
                    "j -> 'justification' ->> 'grant' AS grant_id, "
                    "j ->> 'outcome' AS outcome, "
                    "(j -> 'resource' ->> 'count')::bigint AS rcount, "
                    "jsonb_array_length(j -> 'subjects') AS nsubjects "
                    "FROM events CROSS JOIN LATERAL (SELECT body::jsonb AS j) AS parsed "
                    f"WHERE {_ACCESS}"
                ),
                last_team=(
                    f"SELECT DISTINCT ON (actor, day) actor, {_PG_DAY} AS day, team FROM events "  # noqa: S608
                    "CROSS JOIN LATERAL (SELECT body::jsonb -> 'actor' ->> 'team' AS team) AS p "
                    f"WHERE {_ACCESS} AND team IS NOT NULL ORDER BY actor, day, seq DESC"
                ),
            ),
        ),
        (12, _V12_TOTP),
        (13, _V13_GUARD),
        (14, _V14_QUEUE),
        (15, _V15_GUARD_RESPONSE),
        (16, _V16_WITNESSES.format(blob="BYTEA")),
        (17, _V17_ALERT_DELIVERIES),
        (
            18,
            _V18_SLICES.format(blob="BYTEA", without_rowid=""),
        ),
        (19, _V19_OUTBOUND),
        (20, _V20_SCIM),
        (21, _V21_INTEGRATIONS.format(without_rowid="", backfill=integrations_sql("postgresql"))),
        (22, _V22_MERCHANT_VIEW.format(without_rowid="", backfill=backfill_sql("postgresql"))),
    ],
}
