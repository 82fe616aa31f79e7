-- lifecycle schema, version 1.
--
-- Conventions: every time is an INTEGER of unix milliseconds (UTC); 0 means
-- "not set". Every row carries site_id and every query filters on it.

CREATE TABLE appointments (
    site_id       TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    contact_id    TEXT    NOT NULL,
    title         TEXT    NOT NULL,
    start_at      INTEGER NOT NULL,
    end_at        INTEGER NOT NULL,
    state         TEXT    NOT NULL,
    cancel_reason TEXT    NOT NULL DEFAULT '',
    version       INTEGER NOT NULL,
    PRIMARY KEY (site_id, id)
) WITHOUT ROWID;

CREATE TABLE classes (
    site_id       TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    title         TEXT    NOT NULL,
    start_at      INTEGER NOT NULL,
    end_at        INTEGER NOT NULL,
    capacity      INTEGER NOT NULL,
    waitlist      INTEGER NOT NULL,
    enrolled      INTEGER NOT NULL,
    waitlisted    INTEGER NOT NULL,
    admissions    INTEGER NOT NULL,
    state         TEXT    NOT NULL,
    cancel_reason TEXT    NOT NULL DEFAULT '',
    version       INTEGER NOT NULL,
    PRIMARY KEY (site_id, id)
) WITHOUT ROWID;

CREATE TABLE enrollments (
    site_id        TEXT    NOT NULL,
    id             TEXT    NOT NULL,
    class_id       TEXT    NOT NULL,
    participant_id TEXT    NOT NULL,
    position       INTEGER NOT NULL,
    enrolled_at    INTEGER NOT NULL,
    state          TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    PRIMARY KEY (site_id, id)
) WITHOUT ROWID;

-- At most one active enrollment per participant and class.
CREATE UNIQUE INDEX enrollments_one_active
    ON enrollments (site_id, class_id, participant_id)
    WHERE state IN ('enrolled', 'waitlisted');

-- A class's active enrollments in order of admission.
CREATE INDEX enrollments_active_by_position
    ON enrollments (site_id, class_id, position)
    WHERE state IN ('enrolled', 'waitlisted');

-- A class's waitlist, oldest first.
CREATE INDEX enrollments_waitlist
    ON enrollments (site_id, class_id, position)
    WHERE state = 'waitlisted';

-- The transactional outbox. seq is the rowid: it increases in commit order
-- because one writer goroutine assigns it; AUTOINCREMENT keeps pruned
-- numbers from being reused.
CREATE TABLE outbox (
    seq                  INTEGER PRIMARY KEY AUTOINCREMENT,
    id                   TEXT    NOT NULL UNIQUE,
    site_id              TEXT    NOT NULL,
    ordering_key         TEXT    NOT NULL,
    kind                 TEXT    NOT NULL,
    trigger_key          TEXT    NOT NULL,
    external_entity_id   TEXT    NOT NULL,
    payload              TEXT    NOT NULL DEFAULT '',
    scheduled_at         INTEGER NOT NULL DEFAULT 0,
    cause                TEXT    NOT NULL DEFAULT '',
    state                TEXT    NOT NULL,
    attempts             INTEGER NOT NULL DEFAULT 0,
    next_attempt_at      INTEGER NOT NULL,
    lease_until          INTEGER NOT NULL DEFAULT 0,
    last_error_status    INTEGER,
    last_error_code      TEXT,
    last_error_message   TEXT,
    created_at           INTEGER NOT NULL,
    settled_at           INTEGER NOT NULL DEFAULT 0
);

-- The calls of one ordering key in seq order: the next head after a
-- settle, and the check that a retried cancel would not remove a newer
-- report. An entity has few calls, so this stays cheap.
CREATE INDEX outbox_by_key ON outbox (ordering_key, seq);
-- Operators: list and count by site and state, in seq order.
CREATE INDEX outbox_by_site_state ON outbox (site_id, state, seq);
-- Operators: list and count by state across sites; prune by age.
CREATE INDEX outbox_by_state_settled ON outbox (state, settled_at);

-- One row per ordering key that has pending calls: its head (the pending
-- call with the lowest seq) and when that head may be claimed, the later of
-- its next attempt and its lease. Claim reads this table in seq order
-- instead of searching the outbox, so it never walks the calls queued behind
-- a head; NextDue is the smallest ready_at.
CREATE TABLE outbox_heads (
    seq          INTEGER PRIMARY KEY,
    ordering_key TEXT    NOT NULL UNIQUE,
    ready_at     INTEGER NOT NULL
);

CREATE INDEX outbox_heads_by_ready ON outbox_heads (ready_at);

-- Every state change of a call (delivery attempts and operator actions).
-- It refers to the call's id, not its seq, because a retry gives the call a
-- new seq.
CREATE TABLE outbox_attempts (
    id            INTEGER PRIMARY KEY,
    call_id       TEXT    NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    at            INTEGER NOT NULL,
    state         TEXT    NOT NULL,
    error_status  INTEGER,
    error_code    TEXT,
    error_message TEXT
);

CREATE INDEX outbox_attempts_by_call ON outbox_attempts (call_id, id);
