-- lifecycle schema, version 4: a head knows whether calls wait behind it.
--
-- When a settle removes a head, the next pending call of its key becomes
-- the head. Finding it searched outbox_by_key, at a random position (the
-- keys are UUIDs), for every delivered call, though most keys have no other
-- pending call (docs/performance.md). outbox_heads.more says whether one
-- may: 0 only when the head is the key's only pending call, so the settle
-- skips the search. Every write that adds a pending call behind a head
-- (enqueue, retry) sets it to 1; a settle, retry or discard that makes a new
-- head computes it.
--
-- Existing heads get 1, which is always safe: the search runs, as before.

ALTER TABLE outbox_heads ADD COLUMN more INTEGER NOT NULL DEFAULT 1;
