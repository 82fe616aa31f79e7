-- lifecycle schema for PostgreSQL, version 1.
--
-- Conventions: times are timestamptz, NULL when not set (the domain's zero
-- time). Every row carries site_id and every query filters on it. The
-- migration runs in the schema the store was opened on (search_path).

CREATE TABLE appointments (
    site_id           text        NOT NULL,
    id                text        NOT NULL,
    contact_id        text        NOT NULL,
    title             text        NOT NULL,
    start_at          timestamptz,
    end_at            timestamptz,
    state             text        NOT NULL,
    cancel_reason     text        NOT NULL DEFAULT '',
    booked_at         timestamptz,
    changed_at        timestamptz,
    previous_start_at timestamptz,
    rescheduled_at    timestamptz,
    version           bigint      NOT NULL,
    PRIMARY KEY (site_id, id)
);

CREATE TABLE classes (
    site_id           text        NOT NULL,
    id                text        NOT NULL,
    title             text        NOT NULL,
    start_at          timestamptz,
    end_at            timestamptz,
    capacity          integer     NOT NULL,
    waitlist          boolean     NOT NULL,
    enrolled          integer     NOT NULL,
    waitlisted        integer     NOT NULL,
    admissions        bigint      NOT NULL,
    state             text        NOT NULL,
    cancel_reason     text        NOT NULL DEFAULT '',
    scheduled_at      timestamptz,
    changed_at        timestamptz,
    previous_start_at timestamptz,
    rescheduled_at    timestamptz,
    version           bigint      NOT NULL,
    PRIMARY KEY (site_id, id)
);

CREATE TABLE enrollments (
    site_id        text        NOT NULL,
    id             text        NOT NULL,
    class_id       text        NOT NULL,
    participant_id text        NOT NULL,
    position       bigint      NOT NULL,
    enrolled_at    timestamptz,
    seated_at      timestamptz,
    ended_at       timestamptz,
    class_moved_at timestamptz,
    state          text        NOT NULL,
    version        bigint      NOT NULL,
    PRIMARY KEY (site_id, id)
);

-- The conditions below are the domain's active and waitlisted states
-- (enrollment.ActiveStates); TestIndexConditionsFollowTheDomain proves it.
-- At most one active enrollment per participant and class.
CREATE UNIQUE INDEX enrollments_one_active ON enrollments (site_id, class_id, participant_id)
    WHERE state IN ('enrolled', 'waitlisted');
-- A class's active enrollments in order of admission, and its waitlist.
CREATE INDEX enrollments_active_by_position ON enrollments (site_id, class_id, position)
    WHERE state IN ('enrolled', 'waitlisted');

-- A site's settings: one row per site that set any (the others are UTC).
CREATE TABLE site_settings (
    site_id    text        PRIMARY KEY,
    time_zone  text        NOT NULL,
    changed_at timestamptz,
    version    bigint      NOT NULL
);

-- Courses, saved whole: their sessions are one JSON array (at most 200) of
-- {"id", "number", "state", "start", "end", "addedAt", "previousStart",
-- "rescheduledAt", "canceledAt", "cancelReason"}, times in RFC 3339.
CREATE TABLE courses (
    site_id       text        NOT NULL,
    id            text        NOT NULL,
    title         text        NOT NULL,
    capacity      integer     NOT NULL,
    enrolled      integer     NOT NULL,
    admissions    bigint      NOT NULL,
    state         text        NOT NULL,
    cancel_reason text        NOT NULL DEFAULT '',
    scheduled_at  timestamptz,
    changed_at    timestamptz,
    sessions      jsonb       NOT NULL DEFAULT '[]',
    version       bigint      NOT NULL,
    PRIMARY KEY (site_id, id)
);

-- Enrollments in courses. lookup_key is what every session entity ID of
-- the enrollment begins with (courseenrollment.LookupKey); its unique index
-- finds the enrollment a session's externalEntityId names (two enrollments
-- whose keys collided would share session IDs: the second is refused).
CREATE TABLE course_enrollments (
    site_id        text        NOT NULL,
    id             text        NOT NULL,
    course_id      text        NOT NULL,
    participant_id text        NOT NULL,
    lookup_key     text        NOT NULL,
    position       bigint      NOT NULL,
    enrolled_at    timestamptz,
    ended_at       timestamptz,
    state          text        NOT NULL,
    version        bigint      NOT NULL,
    PRIMARY KEY (site_id, id)
);
-- The conditions are the domain's active states (courseenrollment.ActiveStates).
CREATE UNIQUE INDEX course_enrollments_one_active ON course_enrollments (site_id, course_id, participant_id)
    WHERE state IN ('enrolled');
CREATE INDEX course_enrollments_active_by_position ON course_enrollments (site_id, course_id, position)
    WHERE state IN ('enrolled');
CREATE UNIQUE INDEX course_enrollments_by_lookup_key ON course_enrollments (site_id, lookup_key);

-- Appointment series: the rule and the zone whose wall clock the
-- occurrences (rows of appointments) keep; cut_from is the first
-- occurrence "this and following" canceled, 0 if none.
CREATE TABLE series (
    site_id        text        NOT NULL,
    id             text        NOT NULL,
    contact_id     text        NOT NULL,
    title          text        NOT NULL,
    first_start_at timestamptz NOT NULL,
    length_ms      bigint      NOT NULL,
    every          text        NOT NULL,
    count          integer     NOT NULL,
    time_zone      text        NOT NULL,
    cut_from       integer     NOT NULL DEFAULT 0,
    state          text        NOT NULL,
    cancel_reason  text        NOT NULL DEFAULT '',
    scheduled_at   timestamptz,
    changed_at     timestamptz,
    version        bigint      NOT NULL,
    PRIMARY KEY (site_id, id)
);

-- The idempotency keys of commands (application.IdempotencyRecord).
CREATE TABLE idempotency_keys (
    site_id     text        NOT NULL,
    key         text        NOT NULL,
    fingerprint text        NOT NULL,
    result      bytea       NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (site_id, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (site_id, created_at);

-- The transactional outbox. seq is drawn from the transaction's ID
-- (xid8 << 20, plus the call's place in the transaction) after the
-- transaction holds the advisory locks of its ordering keys: within a key
-- seq order is commit order, and across keys seq order is the order of
-- transaction IDs, so that a listing below the oldest open transaction
-- (pg_snapshot_xmin) never skips a call that commits late.
CREATE TABLE outbox (
    seq                bigint      PRIMARY KEY,
    id                 text        NOT NULL UNIQUE,
    site_id            text        NOT NULL,
    ordering_key       text        NOT NULL,
    kind               text        NOT NULL,
    trigger_key        text        NOT NULL,
    external_entity_id text        NOT NULL,
    payload            json,
    scheduled_at       timestamptz,
    cause              text        NOT NULL DEFAULT '',
    state              text        NOT NULL,
    attempts           integer     NOT NULL DEFAULT 0,
    next_attempt_at    timestamptz NOT NULL,
    last_error_status  integer,
    last_error_code    text,
    last_error_message text,
    created_at         timestamptz NOT NULL,
    settled_at         timestamptz,
    superseded_by      text        NOT NULL DEFAULT '',
    -- True when the call left pending (superseded, discarded) while a relay
    -- held its key's lease for it: it may have been sent, unrecorded.
    maybe_sent         boolean     NOT NULL DEFAULT false,
    -- A delivery writes no history row; Get shows it from the call's state
    -- until something else is logged after it.
    delivery_unlogged  boolean     NOT NULL DEFAULT false
);

-- The calls of a pair, and of an ordering key, by seq: supersession, the
-- newer call of a pair, beliefs.
CREATE INDEX outbox_by_pair ON outbox (ordering_key, trigger_key, seq);
-- The pending calls of a key by seq: the next head.
CREATE INDEX outbox_pending ON outbox (ordering_key, seq) WHERE state = 'pending';
-- Operators: the calls that are not delivered, by site and state.
CREATE INDEX outbox_open ON outbox (site_id, state, seq) WHERE state <> 'delivered';
-- Prune: the calls it may delete, by age (outbox.PrunableStates).
CREATE INDEX outbox_settled ON outbox (settled_at) WHERE state IN ('delivered', 'discarded', 'superseded');

-- One row per ordering key with pending calls: its head (the pending call
-- with the lowest seq), when it is due, whether calls wait behind it, and
-- the key's lease: the token, the call it was taken for, until when and by
-- which relay. A lease is per key: when its call leaves pending in flight
-- (discarded, superseded) the row moves to the next call, or keeps seq
-- NULL, and keeps the lease until it is settled or runs out. Claims update
-- only columns without an index, so they are HOT updates. The settings keep
-- the table small under churn: free room on every page for HOT updates, and
-- autovacuum after a fixed number of dead rows, not a fraction of a small
-- table, without cost-based sleeps.
CREATE TABLE outbox_heads (
    ordering_key text        PRIMARY KEY,
    seq          bigint,
    ready_at     timestamptz,
    more         boolean     NOT NULL DEFAULT false,
    lease_token  bigint      NOT NULL DEFAULT 0,
    lease_seq    bigint,
    leased_until timestamptz,
    holder       text
) WITH (fillfactor = 50, autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000,
        autovacuum_vacuum_cost_delay = 0, autovacuum_analyze_scale_factor = 0,
        autovacuum_analyze_threshold = 5000);
CREATE INDEX outbox_heads_by_seq ON outbox_heads (seq);
CREATE INDEX outbox_heads_by_ready ON outbox_heads (ready_at);

-- Lease tokens: one per claim, growing.
CREATE SEQUENCE outbox_lease_token;

-- Every state change of a call but a plain delivery: attempts, operator
-- actions, supersession, outcomes not applied (with a note). It refers to
-- the call's id, which a retry keeps (its seq changes).
CREATE TABLE outbox_attempts (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    call_id       text        NOT NULL,
    at            timestamptz NOT NULL,
    state         text        NOT NULL,
    error_status  integer,
    error_code    text,
    error_message text,
    note          text        NOT NULL DEFAULT ''
);
CREATE INDEX outbox_attempts_by_call ON outbox_attempts (call_id, id);

-- What pruned calls said of Wix, per pair (outbox.Belief.Compact).
CREATE TABLE outbox_beliefs (
    site_id            text        NOT NULL,
    external_entity_id text        NOT NULL,
    trigger_key        text        NOT NULL,
    live               integer     NOT NULL,
    call_id            text        NOT NULL DEFAULT '',
    payload            json,
    scheduled_at       timestamptz,
    settled_at         timestamptz,
    seq                bigint      NOT NULL,
    PRIMARY KEY (site_id, external_entity_id, trigger_key)
);

-- The fleet's per-site rate limit: each site's GCRA theoretical arrival
-- time (NULL: never sent).
CREATE TABLE site_rate (
    site_id text PRIMARY KEY,
    tat     timestamptz
) WITH (fillfactor = 50);

-- lifecycle_expect raises a conflict (SQLSTATE LC409) unless ok: the
-- version checks of a commit sent in one round trip.
CREATE FUNCTION lifecycle_expect(ok boolean, what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION USING ERRCODE = 'LC409', MESSAGE = what;
    END IF;
END
$$;
