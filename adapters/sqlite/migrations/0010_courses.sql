-- lifecycle schema, version 10: courses, their sessions, and enrollments in
-- them.
--
-- A course is saved as a whole, so its sessions are one JSON array in the
-- course's row (at most 200): [{"id", "number", "state", "start", "end",
-- "addedAt", "previousStart", "rescheduledAt", "canceledAt", "cancelReason"}],
-- times in unix milliseconds like every column.
--
-- lookup_key is the first 24 hex digits of every session entity ID of the
-- enrollment (courseenrollment.LookupKey): the index on it finds the
-- enrollment a session's externalEntityId names.

CREATE TABLE courses (
    site_id       TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    title         TEXT    NOT NULL,
    capacity      INTEGER NOT NULL,
    enrolled      INTEGER NOT NULL,
    admissions    INTEGER NOT NULL,
    state         TEXT    NOT NULL,
    cancel_reason TEXT    NOT NULL DEFAULT '',
    scheduled_at  INTEGER NOT NULL DEFAULT 0,
    changed_at    INTEGER NOT NULL DEFAULT 0,
    sessions      TEXT    NOT NULL DEFAULT '[]',
    version       INTEGER NOT NULL,
    PRIMARY KEY (site_id, id)
) WITHOUT ROWID;

CREATE TABLE course_enrollments (
    site_id        TEXT    NOT NULL,
    id             TEXT    NOT NULL,
    course_id      TEXT    NOT NULL,
    participant_id TEXT    NOT NULL,
    lookup_key     TEXT    NOT NULL,
    position       INTEGER NOT NULL,
    enrolled_at    INTEGER NOT NULL,
    ended_at       INTEGER NOT NULL DEFAULT 0,
    state          TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    PRIMARY KEY (site_id, id)
) WITHOUT ROWID;

-- At most one active enrollment per participant and course.
CREATE UNIQUE INDEX course_enrollments_one_active
    ON course_enrollments (site_id, course_id, participant_id)
    WHERE state IN ('enrolled');

-- A course's active enrollments in order of admission.
CREATE INDEX course_enrollments_active_by_position
    ON course_enrollments (site_id, course_id, position)
    WHERE state IN ('enrolled');

-- The enrollment a session entity ID names. Unique: two enrollments whose
-- keys collided (90 bits of SHA-1) would share session entity IDs, so the
-- second is refused (a conflict) instead.
CREATE UNIQUE INDEX course_enrollments_by_lookup_key ON course_enrollments (site_id, lookup_key);
