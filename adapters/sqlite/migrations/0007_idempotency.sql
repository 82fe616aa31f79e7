-- lifecycle schema, version 7: the idempotency keys of commands.
--
-- One row per site and key that a command ran with: the fingerprint of the
-- command and its arguments, and its result (JSON), to answer a retry with
-- the same key. Written in the command's own transaction. Rows older than
-- the application's IdempotencyTTL (24 h) are ignored, and a site's are
-- deleted whenever a new row of that site is written.

CREATE TABLE idempotency_keys (
    site_id     TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    result      BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (site_id, key)
) WITHOUT ROWID;

-- A site's rows by age, for deleting the expired ones.
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (site_id, created_at);
