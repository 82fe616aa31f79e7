-- lifecycle schema, version 8: the per-site Wix rate limit, shared by every
-- process on the file.
--
-- One row per site that sent a request: its GCRA theoretical arrival time
-- (when its allowance is full again), in unix microseconds (UTC). Every
-- relay reads and moves it in a write transaction, so that the requests of
-- all of them to one site count against one limit. A site without a row has
-- its full allowance.

CREATE TABLE site_rates (
    site_id TEXT    NOT NULL PRIMARY KEY,
    tat_us  INTEGER NOT NULL
) WITHOUT ROWID;
