-- lifecycle schema, version 11: appointment series.
--
-- A series keeps its rule (the first occurrence's start, each occurrence's
-- length, day or week, how many) and the zone whose wall clock its
-- occurrences keep; each occurrence is a row of appointments, with an ID
-- derived from the series' (series.OccurrenceID). cut_from is the first
-- occurrence "this and following" canceled, 0 if none.

CREATE TABLE series (
    site_id        TEXT    NOT NULL,
    id             TEXT    NOT NULL,
    contact_id     TEXT    NOT NULL,
    title          TEXT    NOT NULL,
    first_start_at INTEGER NOT NULL,
    length_ms      INTEGER NOT NULL,
    every          TEXT    NOT NULL,
    count          INTEGER NOT NULL,
    time_zone      TEXT    NOT NULL,
    cut_from       INTEGER NOT NULL DEFAULT 0,
    state          TEXT    NOT NULL,
    cancel_reason  TEXT    NOT NULL DEFAULT '',
    scheduled_at   INTEGER NOT NULL DEFAULT 0,
    changed_at     INTEGER NOT NULL DEFAULT 0,
    version        INTEGER NOT NULL,
    PRIMARY KEY (site_id, id)
) WITHOUT ROWID;
