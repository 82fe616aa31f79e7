-- lifecycle schema, version 6: the call's life from application/outbox.
--
-- * A newer call of a (site, trigger, entity) supersedes the older calls of
--   the pair that were not delivered (outbox.Supersedes): state
--   'superseded', superseded_by names the newer call.
-- * History entries carry a note: what an operator did, or why an outcome
--   was not applied (its lease had ended, the call had left pending).
-- * Fencing: one relay is active per database. outbox_relay holds its
--   lease: who, until when, and a token that grows with every new holder
--   (or every new lease after one ran out). A head claimed by the active
--   relay carries its token in outbox_heads.lease_token; heads of an older
--   token are free again. leased_until is no longer written (a lease an
--   older binary took there is honoured until it ends).
-- * A key whose claimed head left pending while in flight (discarded,
--   superseded) stays leased for that call until its settle or the end of
--   the relay's lease: outbox_leases, a row per such key (rare, small).
-- * What lifecycle believes is live at Wix per pair outlives prune:
--   outbox_beliefs keeps the fold of the calls prune deleted.

ALTER TABLE outbox ADD COLUMN superseded_by TEXT NOT NULL DEFAULT '';

-- 1 when the call left pending (superseded, discarded) while a relay held
-- it: it may have been sent, unrecorded.
ALTER TABLE outbox ADD COLUMN maybe_sent INTEGER NOT NULL DEFAULT 0;

ALTER TABLE outbox_attempts ADD COLUMN note TEXT NOT NULL DEFAULT '';

ALTER TABLE outbox_heads ADD COLUMN lease_token INTEGER NOT NULL DEFAULT 0;

CREATE TABLE outbox_relay (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    holder TEXT    NOT NULL,
    token  INTEGER NOT NULL,
    until  INTEGER NOT NULL
);

CREATE TABLE outbox_leases (
    ordering_key TEXT    PRIMARY KEY,
    token        INTEGER NOT NULL,
    seq          INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE outbox_beliefs (
    site_id            TEXT    NOT NULL,
    external_entity_id TEXT    NOT NULL,
    trigger_key        TEXT    NOT NULL,
    live               INTEGER NOT NULL,
    call_id            TEXT    NOT NULL DEFAULT '',
    payload            TEXT    NOT NULL DEFAULT '',
    scheduled_at       INTEGER NOT NULL DEFAULT 0,
    settled_at         INTEGER NOT NULL DEFAULT 0,
    seq                INTEGER NOT NULL,
    PRIMARY KEY (site_id, external_entity_id, trigger_key)
) WITHOUT ROWID;

-- Prune: settled calls by age, superseded ones included.
DROP INDEX outbox_settled;
CREATE INDEX outbox_settled ON outbox (state, settled_at) WHERE state IN ('delivered', 'discarded', 'superseded');

-- Existing calls, under the rule as it stands in this version (applied once,
-- here; from now on the adapter applies application/outbox's rule).
-- Dead and expired calls with a newer call of their pair:
UPDATE outbox SET state = 'superseded',
    superseded_by = (SELECT n.id FROM outbox AS n WHERE n.ordering_key = outbox.ordering_key
        AND n.trigger_key = outbox.trigger_key AND n.seq > outbox.seq ORDER BY n.seq LIMIT 1)
    WHERE state IN ('dead', 'expired') AND EXISTS (SELECT 1 FROM outbox AS n
        WHERE n.ordering_key = outbox.ordering_key AND n.trigger_key = outbox.trigger_key AND n.seq > outbox.seq);
-- Pending reports with any newer call, pending cancels with a newer cancel:
UPDATE outbox SET state = 'superseded', settled_at = created_at,
    superseded_by = (SELECT n.id FROM outbox AS n WHERE n.ordering_key = outbox.ordering_key
        AND n.trigger_key = outbox.trigger_key AND n.seq > outbox.seq
        AND (outbox.kind = 'report' OR n.kind = 'cancel') ORDER BY n.seq LIMIT 1)
    WHERE state = 'pending' AND EXISTS (SELECT 1 FROM outbox AS n
        WHERE n.ordering_key = outbox.ordering_key AND n.trigger_key = outbox.trigger_key AND n.seq > outbox.seq
        AND (outbox.kind = 'report' OR n.kind = 'cancel'));
-- The heads again: the lowest pending call of each key.
DELETE FROM outbox_heads WHERE seq NOT IN (SELECT seq FROM outbox WHERE state = 'pending');
INSERT INTO outbox_heads (seq, ordering_key, ready_at, more)
    SELECT min(o.seq), o.ordering_key, 0, 1 FROM outbox AS o WHERE o.state = 'pending'
    AND NOT EXISTS (SELECT 1 FROM outbox_heads AS h JOIN outbox AS x ON x.seq = h.seq
        WHERE x.ordering_key = o.ordering_key)
    GROUP BY o.ordering_key;
UPDATE outbox_heads SET ready_at = (SELECT next_attempt_at FROM outbox WHERE outbox.seq = outbox_heads.seq)
    WHERE ready_at = 0;
