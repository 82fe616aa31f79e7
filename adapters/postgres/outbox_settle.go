package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/outbox"
)

// The statements of a settle, two round trips in one transaction: first
// lock the head rows of the calls' keys (sorted) and read the calls; then,
// with what application/outbox decides, write the calls, their history and
// the heads, and commit.
const (
	// qSettleHeads locks the head rows of the keys of calls (IDs) and
	// returns their leases.
	qSettleHeads = `SELECT h.ordering_key, h.lease_token, h.lease_seq, h.seq, h.more FROM outbox_heads AS h
		WHERE h.ordering_key IN (SELECT ordering_key FROM outbox WHERE id = ANY($1::text[]))
		ORDER BY h.ordering_key FOR UPDATE OF h`
	// qSettleCalls reads the calls (IDs), after the locks, and for those in
	// $2 the first newer call of their pair.
	qSettleCalls = `SELECT ` + callCols + `, delivery_unlogged,
		CASE WHEN id = ANY($2::text[]) THEN (SELECT n.id FROM outbox AS n WHERE n.ordering_key = outbox.ordering_key
			AND n.trigger_key = outbox.trigger_key AND n.seq > outbox.seq ORDER BY n.seq LIMIT 1) END
		FROM outbox WHERE id = ANY($1::text[])`
	// qSettleWrite writes the settled calls: every column for those an
	// outcome applied to, only the attempts (and that the delivery is now
	// logged) for the others.
	qSettleWrite = `UPDATE outbox AS o SET attempts = o.attempts + u.add,
		state = CASE WHEN u.apply THEN u.state ELSE o.state END,
		next_attempt_at = CASE WHEN u.apply THEN u.next ELSE o.next_attempt_at END,
		settled_at = CASE WHEN u.apply THEN u.settled ELSE o.settled_at END,
		last_error_status = CASE WHEN u.apply THEN u.status ELSE o.last_error_status END,
		last_error_code = CASE WHEN u.apply THEN u.code ELSE o.last_error_code END,
		last_error_message = CASE WHEN u.apply THEN u.message ELSE o.last_error_message END,
		superseded_by = CASE WHEN u.apply THEN u.newer ELSE o.superseded_by END,
		delivery_unlogged = u.apply AND u.unlogged
		FROM unnest($1::text[], $2::int[], $3::bool[], $4::text[], $5::timestamptz[], $6::timestamptz[], $7::int[],
			$8::text[], $9::text[], $10::text[], $11::bool[])
			AS u(id, add, apply, state, next, settled, status, code, message, newer, unlogged)
		WHERE o.id = u.id`
	// qDropHeads deletes the head rows of keys (sorted) whose only pending
	// call a fenced outcome settled.
	qDropHeads = `DELETE FROM outbox_heads WHERE ordering_key = ANY($1::text[])`
	// qRefreshHeads makes the lowest pending call of each key (sorted) its
	// head, ends the lease of the key whose token is given ($2, 0 for
	// none), and deletes the row of a key left with no pending call and no
	// lease. A lease not ended stays with the key, whatever its head.
	qRefreshHeads = `WITH k AS (SELECT * FROM unnest($1::text[], $2::bigint[]) AS k(key, release)),
		p AS (SELECT k.key, k.release, x.seq, x.next_attempt_at, coalesce(x.more, false) AS more FROM k
			LEFT JOIN LATERAL (SELECT o.seq, o.next_attempt_at, EXISTS (SELECT 1 FROM outbox AS m
				WHERE m.ordering_key = k.key AND m.state = 'pending' AND m.seq > o.seq) AS more
				FROM outbox AS o WHERE o.ordering_key = k.key AND o.state = 'pending' ORDER BY o.seq LIMIT 1) AS x ON true),
		d AS (DELETE FROM outbox_heads AS h USING p WHERE h.ordering_key = p.key AND p.seq IS NULL
			AND (h.lease_token = 0 OR h.lease_token = p.release) RETURNING 1)
		UPDATE outbox_heads AS h SET seq = p.seq, ready_at = p.next_attempt_at, more = p.more,
			lease_token = CASE WHEN h.lease_token = p.release THEN 0 ELSE h.lease_token END,
			lease_seq = CASE WHEN h.lease_token = p.release THEN NULL ELSE h.lease_seq END,
			leased_until = CASE WHEN h.lease_token = p.release THEN NULL ELSE h.leased_until END,
			holder = CASE WHEN h.lease_token = p.release THEN NULL ELSE h.holder END
		FROM p WHERE h.ordering_key = p.key AND NOT (p.seq IS NULL AND (h.lease_token = 0 OR h.lease_token = p.release))`
)

// keyLease is the lease of an ordering key as its head row holds it.
type keyLease struct {
	token, seq int64 // the lease's token and the call it was taken for
	head       int64 // the head's seq (0: none)
	more       bool  // calls wait behind the head
}

// settled is a call as a settle found it, and what the settle makes of it.
type settled struct {
	call     outbox.Call
	unlogged bool   // its delivery has no history row yet
	newer    string // the first newer call of its pair, if asked for
	add      int    // attempts to add
	apply    bool   // an outcome applied: write every column
}

// Settle implements outbox.Outbox: every outcome is applied in one
// transaction, or none is (an unknown call is ErrNotFound).
//
// An outcome applies when it is fenced (its token is the key's lease and
// the lease was taken for this call) and outbox.Settled says it changes the
// call; the key's lease then ends. An outcome of a call that left pending in
// flight ends its lease too but is history only; a stale outcome (the lease
// had ended) is history only and leaves the key to whoever holds it now.
// Either way an attempt counts. A delivery writes no history row: Get shows
// it from the call's state and settled_at until something is logged after
// it.
func (s *Store) Settle(ctx context.Context, outcomes []outbox.Outcome) error {
	if s.isClosed() {
		return ErrClosed
	}
	ids := make([]string, 0, len(outcomes))
	var needNewer []string
	for _, o := range outcomes {
		if _, ok := outbox.OutcomeEvent(o.State); !ok {
			return fmt.Errorf("settle %s: outcome state %q is not allowed", o.ID, o.State)
		}
		ids = append(ids, o.ID)
		if o.State == outbox.StateDead || o.State == outbox.StateExpired {
			needNewer = append(needNewer, o.ID)
		}
	}
	if len(outcomes) == 0 {
		return nil
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: settle: %w", err)
	}
	defer conn.Release()
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		leases, calls, err := readSettle(ctx, tx, ids, needNewer)
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		if err := planSettle(b, outcomes, leases, calls); err != nil {
			return err
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if errors.Is(err, application.ErrNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("postgres: settle: %w", err)
	}
	return nil
}

// readSettle locks the head rows of the calls' keys and reads the calls.
func readSettle(ctx context.Context, tx pgx.Tx, ids, needNewer []string) (map[string]keyLease, map[string]*settled, error) {
	b := &pgx.Batch{}
	b.Queue(qSettleHeads, ids)
	b.Queue(qSettleCalls, ids, needNewer)
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	leases := map[string]keyLease{}
	rows, err := br.Query()
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		var key string
		var l keyLease
		var seq, head pgtype.Int8
		if err := rows.Scan(&key, &l.token, &seq, &head, &l.more); err != nil {
			rows.Close()
			return nil, nil, err
		}
		l.seq, l.head = seq.Int64, head.Int64
		leases[key] = l
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	calls := map[string]*settled{}
	if rows, err = br.Query(); err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		st := &settled{}
		var newer pgtype.Text
		if st.call, err = scanCall(rows, &st.unlogged, &newer); err != nil {
			rows.Close()
			return nil, nil, err
		}
		st.newer = newer.String
		calls[st.call.ID] = st
	}
	rows.Close()
	return leases, calls, rows.Err()
}

// planSettle applies the outcomes, in order, to the calls as read, and
// queues what they write.
func planSettle(b *pgx.Batch, outcomes []outbox.Outcome, leases map[string]keyLease, calls map[string]*settled) error {
	var h history
	release := map[string]int64{}
	// drop holds the keys whose only pending call, their head, left
	// pending through a fenced outcome: their rows go without a search.
	drop := map[string]bool{}
	var order []*settled
	for _, o := range outcomes {
		st := calls[o.ID]
		if st == nil {
			return fmt.Errorf("settle %s: %w", o.ID, application.ErrNotFound)
		}
		if st.add == 0 && !st.apply {
			order = append(order, st)
		}
		c := &st.call
		if o.Attempted {
			st.add++
		}
		l, leased := leases[c.OrderingKey]
		fenced := leased && l.token != 0 && l.token == o.Token && l.seq == c.Seq
		if fenced {
			release[c.OrderingKey] = l.token
			leases[c.OrderingKey] = keyLease{head: l.head, more: l.more}
		}
		to, applies, err := outbox.Settled(c.State, o.State, st.newer != "")
		if err != nil {
			return fmt.Errorf("settle %s: %w", o.ID, err)
		}
		entry := outbox.Attempt{At: o.At, State: o.State, Err: copyErr(o.Err)}
		if !fenced || !applies {
			if st.unlogged {
				h.add(c.ID, outbox.Attempt{At: c.SettledAt, State: outbox.StateDelivered})
				st.unlogged = false
			}
			entry.Note = outbox.NotApplied(c.State)
			h.add(c.ID, entry)
			continue
		}
		st.apply = true
		if o.State != outbox.StateDelivered {
			h.add(c.ID, entry)
		}
		st.unlogged = o.State == outbox.StateDelivered
		if entry.Err != nil {
			c.LastError = entry.Err
		}
		c.State = to
		if to != outbox.StatePending && l.head == c.Seq && !l.more {
			drop[c.OrderingKey] = true
		}
		switch to {
		case outbox.StatePending:
			c.NextAttemptAt = o.NextAttemptAt
		case outbox.StateSuperseded:
			c.SupersededBy = st.newer
			c.SettledAt = o.At
			h.add(c.ID, outbox.Attempt{At: o.At, State: to, Err: &outbox.CallError{Message: supersedeNote + st.newer}})
		default:
			c.SettledAt = o.At
		}
	}
	n := len(order)
	ids, states, newer := make([]string, n), make([]string, n), make([]string, n)
	adds, statuses := make([]int32, n), make([]pgtype.Int4, n)
	apply, unlogged := make([]bool, n), make([]bool, n)
	next, settledAt := make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n)
	codeCols, messageCols := make([]pgtype.Text, n), make([]pgtype.Text, n)
	for i, st := range order {
		c := st.call
		ids[i], adds[i], apply[i], states[i] = c.ID, int32(st.add), st.apply, string(c.State)
		next[i], settledAt[i], newer[i], unlogged[i] = ts(c.NextAttemptAt), ts(c.SettledAt), c.SupersededBy, st.unlogged
		statuses[i], codeCols[i], messageCols[i] = errorCols(c.LastError)
	}
	b.Queue(qSettleWrite, ids, adds, apply, states, next, settledAt, statuses, codeCols, messageCols, newer, unlogged)
	h.queue(b)
	// The keys whose lease a fenced outcome ended: only their pending calls
	// or leases changed.
	var keys, dropped []string
	for k := range release {
		if drop[k] {
			dropped = append(dropped, k)
		} else {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	sort.Strings(dropped)
	tokens := make([]int64, len(keys))
	for i, k := range keys {
		tokens[i] = release[k]
	}
	if len(dropped) > 0 {
		b.Queue(qDropHeads, dropped)
	}
	if len(keys) > 0 {
		b.Queue(qRefreshHeads, keys, tokens)
	}
	return nil
}

func copyErr(e *outbox.CallError) *outbox.CallError {
	if e == nil {
		return nil
	}
	cp := *e
	return &cp
}
