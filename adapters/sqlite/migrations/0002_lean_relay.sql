-- lifecycle schema, version 2: delivering a call writes less.
--
-- Measured on the relay's drain (docs/performance.md), a first-try delivery
-- wrote its outbox row twice (lease, then outcome), a history row, and
-- moved the call in four outbox indexes and the heads' ready_at index. From
-- this version:
--
-- * The lease lives in outbox_heads.leased_until. A claim writes only that
--   column, which no index holds; ready_at is the head's next attempt.
--   outbox.lease_until is no longer written (it stays 0 for new leases).
-- * A delivery of a pending call writes no history row. delivery_unlogged
--   = 1 says "delivered, and the delivery is not in outbox_attempts": Get
--   shows it from state and settled_at. Whatever is logged for such a call
--   later (an outcome a second relay reports after its lease ran out)
--   first logs the delivery and clears the flag, so the history keeps its
--   order. Existing rows keep 0: their deliveries are logged.
-- * The operator indexes no longer hold a delivered call's state: a call
--   enters outbox_by_site once, leaves outbox_open when it is delivered and
--   enters outbox_settled once settled (delivered or discarded). Settling a
--   delivery moves it in two indexes, not four.

ALTER TABLE outbox ADD COLUMN delivery_unlogged INTEGER NOT NULL DEFAULT 0;

ALTER TABLE outbox_heads ADD COLUMN leased_until INTEGER NOT NULL DEFAULT 0;

DROP INDEX outbox_by_site_state;
DROP INDEX outbox_by_state_settled;

-- Operators: list a site's calls in seq order, and count them.
CREATE INDEX outbox_by_site ON outbox (site_id, seq);
-- Operators: list and count a site's calls that are not delivered (pending,
-- dead, expired, discarded) by state, in seq order. Queries must repeat the
-- condition (state <> 'delivered') for SQLite to use it.
CREATE INDEX outbox_open ON outbox (site_id, state, seq) WHERE state <> 'delivered';
-- Prune: settled calls by age.
CREATE INDEX outbox_settled ON outbox (state, settled_at) WHERE state IN ('delivered', 'discarded');
