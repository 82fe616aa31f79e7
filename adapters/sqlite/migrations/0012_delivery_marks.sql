-- lifecycle schema, version 12: deliveries are marks, not row updates.
--
-- A call the relay delivers keeps its outbox row as it was written
-- (state 'pending'); the delivery is one row here, keyed by the call's seq:
-- when it was delivered and whether it counted an attempt. Updating the row
-- instead changed three B-trees per call (the row, an entry out of
-- outbox_open, one into outbox_settled); a mark is one append. Every query
-- reads a marked call as delivered (outbox_rows.go), and the rare writes
-- that touch a delivered call first fold its mark into its row. Rows
-- delivered by earlier versions keep state 'delivered' and no mark.

CREATE TABLE outbox_delivered (
    call_seq     INTEGER PRIMARY KEY,
    delivered_at INTEGER NOT NULL,
    attempted    INTEGER NOT NULL
);
