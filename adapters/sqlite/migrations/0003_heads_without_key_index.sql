-- lifecycle schema, version 3: outbox_heads loses its unique index on
-- ordering_key.
--
-- Every settled head was deleted from that index, at a random position
-- (the keys are UUIDs), which dirtied about one page per delivered call and
-- made a large backlog miss the page cache (docs/performance.md). The
-- heads are now found by seq only. The rule "one head per key with pending
-- calls, its lowest pending call" is kept by the writes instead: an
-- enqueued call becomes its key's head only if outbox_by_key holds no
-- earlier pending call of the key, and a settle, retry or discard replaces
-- the head of the key it changed.
--
-- The constraint was declared on the column, so the table is rebuilt.

CREATE TABLE outbox_heads_v3 (
    seq          INTEGER PRIMARY KEY,
    ordering_key TEXT    NOT NULL,
    ready_at     INTEGER NOT NULL,
    leased_until INTEGER NOT NULL DEFAULT 0
);

INSERT INTO outbox_heads_v3 (seq, ordering_key, ready_at, leased_until)
    SELECT seq, ordering_key, ready_at, leased_until FROM outbox_heads;

DROP TABLE outbox_heads;

ALTER TABLE outbox_heads_v3 RENAME TO outbox_heads;

CREATE INDEX outbox_heads_by_ready ON outbox_heads (ready_at);
