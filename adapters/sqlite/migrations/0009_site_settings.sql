-- lifecycle schema, version 9: a site's settings.
--
-- One row per site that set any; a site without a row has the defaults
-- (time zone UTC). time_zone is an IANA zone name. Times follow the schema's
-- convention: INTEGER unix milliseconds (UTC), 0 = not set.

CREATE TABLE site_settings (
    site_id    TEXT    NOT NULL PRIMARY KEY,
    time_zone  TEXT    NOT NULL,
    changed_at INTEGER NOT NULL DEFAULT 0,
    version    INTEGER NOT NULL
) WITHOUT ROWID;
