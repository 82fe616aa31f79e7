-- lifecycle schema, version 5: the times an aggregate's desired state needs.
--
-- Which Wix events an aggregate's state calls for depends on when it was
-- booked or last changed, where it started before its last reschedule and
-- when that was, and, for an enrollment, when it got its seat, when it
-- ended and when its class last moved while it was seated. The columns follow the schema's convention: INTEGER unix
-- milliseconds (UTC), 0 = not set.
--
-- Rows written before this version get 0 in every column: their times are
-- unknown, and the domain accepts them so.

ALTER TABLE appointments ADD COLUMN booked_at         INTEGER NOT NULL DEFAULT 0;
ALTER TABLE appointments ADD COLUMN changed_at        INTEGER NOT NULL DEFAULT 0;
ALTER TABLE appointments ADD COLUMN previous_start_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE appointments ADD COLUMN rescheduled_at    INTEGER NOT NULL DEFAULT 0;

ALTER TABLE classes ADD COLUMN scheduled_at      INTEGER NOT NULL DEFAULT 0;
ALTER TABLE classes ADD COLUMN changed_at        INTEGER NOT NULL DEFAULT 0;
ALTER TABLE classes ADD COLUMN previous_start_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE classes ADD COLUMN rescheduled_at    INTEGER NOT NULL DEFAULT 0;

ALTER TABLE enrollments ADD COLUMN seated_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE enrollments ADD COLUMN ended_at  INTEGER NOT NULL DEFAULT 0;
ALTER TABLE enrollments ADD COLUMN class_moved_at INTEGER NOT NULL DEFAULT 0;
