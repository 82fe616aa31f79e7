package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/outbox"
)

const (
	qCallKey  = `SELECT ordering_key FROM outbox WHERE site_id = $1 AND id = $2`
	qSiteCall = `SELECT ` + callCols + ` FROM outbox WHERE site_id = $1 AND id = $2`
	// qRetryCall moves a call to the tail of its key: a seq of this
	// transaction, pending, due at $2.
	qRetryCall   = `UPDATE outbox SET seq = ` + txSeq + ` + 1, state = 'pending', next_attempt_at = $2, settled_at = NULL WHERE id = $1`
	qDiscardCall = `UPDATE outbox AS o SET state = 'discarded', settled_at = $2,
		maybe_sent = o.state = 'pending' AND ` + heldByRelay + ` WHERE id = $1`
)

// operate runs an operator's change of one call of a site in a
// transaction: it takes the lock of the call's key (advisory, then its head
// row), reads the call, and lets change decide and queue its writes.
func (s *Store) operate(ctx context.Context, siteID, id string, change func(b *pgx.Batch, c outbox.Call) error) error {
	if s.isClosed() {
		return ErrClosed
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer conn.Release()
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var key string
		err := tx.QueryRow(ctx, qCallKey, siteID, id).Scan(&key)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("call %s: %w", id, application.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("postgres: call %s: %w", id, err)
		}
		b := &pgx.Batch{}
		b.Queue(qLockKeys, s.lockKeys([]string{key}))
		b.Queue(qLockHeads, []string{key})
		b.Queue(qSiteCall, siteID, id)
		br := tx.SendBatch(ctx, b)
		_, err1 := br.Exec()
		_, err2 := br.Exec()
		rows, err3 := br.Query()
		var c outbox.Call
		if err := errors.Join(err1, err2, err3); err != nil {
			_ = br.Close()
			return fmt.Errorf("postgres: lock call %s: %w", id, err)
		}
		if !rows.Next() {
			rows.Close()
			_ = br.Close()
			return fmt.Errorf("call %s: %w", id, application.ErrNotFound)
		}
		c, err = scanCall(rows)
		rows.Close()
		if err := errors.Join(err, br.Close()); err != nil {
			return fmt.Errorf("postgres: read call %s: %w", id, err)
		}
		w := &pgx.Batch{}
		if err := change(w, c); err != nil {
			return err
		}
		if err := tx.SendBatch(ctx, w).Close(); err != nil {
			return fmt.Errorf("postgres: call %s: %w", id, err)
		}
		return nil
	})
}

// Retry implements outbox.Outbox: a dead or expired call that is the newest
// of its pair goes back to pending, due at now, with a seq of this
// transaction: the tail of its ordering key (outbox.CheckRetry). It
// supersedes what it would have superseded when first committed.
func (s *Store) Retry(ctx context.Context, siteID, id string, now time.Time) error {
	err := s.operate(ctx, siteID, id, func(b *pgx.Batch, c outbox.Call) error {
		if err := outbox.CheckRetry(c); err != nil {
			return fmt.Errorf("retry: %w", err)
		}
		var h history
		h.add(id, outbox.Attempt{At: now, State: outbox.StatePending, Note: "retried by an operator"})
		b.Queue(qRetryCall, id, ts(now))
		h.queue(b)
		b.Queue(qSupersede, supersedeNote, ts(now))
		b.Queue(qEnqueueHeads, []string{c.OrderingKey})
		return nil
	})
	if err == nil {
		s.wake.changed()
	}
	return err
}

// Discard implements outbox.Outbox: a pending, dead or expired call becomes
// discarded and is never sent (outbox.CheckDiscard). A head a relay holds
// keeps its key's lease: the key's next call waits until that lease is
// settled or runs out.
func (s *Store) Discard(ctx context.Context, siteID, id string, now time.Time) error {
	return s.operate(ctx, siteID, id, func(b *pgx.Batch, c outbox.Call) error {
		if err := outbox.CheckDiscard(c); err != nil {
			return fmt.Errorf("discard: %w", err)
		}
		var h history
		h.add(id, outbox.Attempt{At: now, State: outbox.StateDiscarded, Note: "discarded by an operator"})
		b.Queue(qDiscardCall, id, ts(now))
		h.queue(b)
		if c.State == outbox.StatePending {
			b.Queue(qRefreshHeads, []string{c.OrderingKey}, []int64{0})
		}
		return nil
	})
}

// pruneChunk bounds how many calls one transaction of Prune deletes.
const pruneChunk = 1000

// pruneLock serializes prunes (salted with the schema): two prunes folding
// the same pair must not both read its belief before either writes it.
const pruneLock = 0x70727a6e // "przn"

// The statements of Prune. prunedStates repeats the condition of the
// partial index outbox_settled, which the query must contain to use it.
var (
	prunedStates = stateList(outbox.PrunableStates())
	qPruneChunk  = `SELECT ` + callCols + ` FROM outbox WHERE seq IN (SELECT seq FROM outbox
		WHERE state IN ` + prunedStates + ` AND settled_at < $1 ORDER BY settled_at LIMIT $2) ORDER BY seq`
	qPruneHistory = `DELETE FROM outbox_attempts WHERE call_id = ANY($1::text[])`
	qPruneCalls   = `DELETE FROM outbox WHERE seq = ANY($1::bigint[])`
	// qPruneHeads deletes the rows kept for leases that ran out long ago on
	// keys without pending calls.
	qPruneHeads = `DELETE FROM outbox_heads WHERE seq IS NULL AND leased_until < $1`
)

// Prune implements outbox.Outbox: it deletes delivered, discarded and
// superseded calls settled before cutoff, with their history, in chunks of
// one transaction each. Before a call goes, what it says of Wix is folded
// into outbox_beliefs (outbox.Belief), so reconcile still knows what is
// live. Within a chunk calls fold in seq order; a pair whose calls span
// chunks may fold a superseded or discarded call after a later delivered
// one, which can only make the belief unsure, never wrongly sure.
func (s *Store) Prune(ctx context.Context, before time.Time) (int, error) {
	if s.isClosed() {
		return 0, ErrClosed
	}
	total := 0
	for {
		n := 0
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			var err error
			n, err = s.pruneChunk(ctx, tx, before)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("postgres: prune: %w", err)
		}
		total += n
		if n < pruneChunk {
			break
		}
	}
	if _, err := s.pool.Exec(ctx, qPruneHeads, ts(before)); err != nil {
		return total, fmt.Errorf("postgres: prune heads: %w", err)
	}
	return total, nil
}

func (s *Store) pruneChunk(ctx context.Context, tx pgx.Tx, before time.Time) (int, error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(pruneLock^s.lockSalt)); err != nil {
		return 0, err
	}
	rows, err := tx.Query(ctx, qPruneChunk, ts(before), pruneChunk)
	if err != nil {
		return 0, err
	}
	var calls []outbox.Call
	for rows.Next() {
		c, err := scanCall(rows)
		if err != nil {
			rows.Close()
			return 0, err
		}
		calls = append(calls, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(calls) == 0 {
		return 0, err
	}
	var pairs []outbox.Pair
	seen := map[outbox.Pair]bool{}
	for _, c := range calls {
		if p := c.Pair(); !seen[p] {
			seen[p] = true
			pairs = append(pairs, p)
		}
	}
	stored, err := readBeliefs(ctx, tx, pairs)
	if err != nil {
		return 0, err
	}
	beliefs := map[outbox.Pair]*outbox.Belief{}
	for _, p := range pairs {
		b := stored[p]
		if b == nil {
			b = &outbox.Belief{Pair: p}
		}
		beliefs[p] = b
	}
	ids, seqs := make([]string, len(calls)), make([]int64, len(calls))
	for i, c := range calls {
		ids[i], seqs[i] = c.ID, c.Seq
		beliefs[c.Pair()].Fold(c)
	}
	sort.Slice(pairs, func(i, j int) bool { return pairs[i].String() < pairs[j].String() })
	b := &pgx.Batch{}
	queueBeliefs(b, pairs, beliefs)
	b.Queue(qPruneHistory, ids)
	b.Queue(qPruneCalls, seqs)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return 0, err
	}
	return len(calls), nil
}

const (
	beliefCols   = `site_id, external_entity_id, trigger_key, live, call_id, payload, scheduled_at, settled_at, seq`
	qReadBeliefs = `SELECT ` + beliefCols + ` FROM outbox_beliefs AS b
		JOIN unnest($1::text[], $2::text[], $3::text[]) AS p(site, ent, trig)
		ON b.site_id = p.site AND b.external_entity_id = p.ent AND b.trigger_key = p.trig`
	qWriteBeliefs = `INSERT INTO outbox_beliefs (` + beliefCols + `)
		SELECT site, ent, trig, live, call, payload::json, sched, settled, seq FROM unnest($1::text[], $2::text[],
			$3::text[], $4::int[], $5::text[], $6::text[], $7::timestamptz[], $8::timestamptz[], $9::bigint[])
			AS b(site, ent, trig, live, call, payload, sched, settled, seq)
		ON CONFLICT (site_id, external_entity_id, trigger_key) DO UPDATE SET live = excluded.live,
			call_id = excluded.call_id, payload = excluded.payload, scheduled_at = excluded.scheduled_at,
			settled_at = excluded.settled_at, seq = excluded.seq`
)

// scanBelief reads a row of outbox_beliefs.
func scanBelief(row pgx.Rows) (outbox.Belief, error) {
	var (
		b                  outbox.Belief
		live               int
		callID             string
		payload            []byte
		scheduled, settled pgtype.Timestamptz
	)
	if err := row.Scan(&b.SiteID, &b.ExternalEntityID, &b.TriggerKey, &live, &callID, &payload, &scheduled, &settled, &b.Seq); err != nil {
		return b, err
	}
	b.Live = outbox.Liveness(live)
	if b.Live != outbox.LiveNone {
		b.Event = &outbox.Reported{CallID: callID, ScheduledAt: fromTS(scheduled), At: fromTS(settled)}
		if len(payload) > 0 {
			b.Event.Payload = payload
		}
	}
	return b, nil
}

// readBeliefs reads the compacted beliefs of pairs that have one.
func readBeliefs(ctx context.Context, tx pgx.Tx, pairs []outbox.Pair) (map[outbox.Pair]*outbox.Belief, error) {
	sites, ents, trigs := make([]string, len(pairs)), make([]string, len(pairs)), make([]string, len(pairs))
	for i, p := range pairs {
		sites[i], ents[i], trigs[i] = p.SiteID, p.ExternalEntityID, p.TriggerKey
	}
	rows, err := tx.Query(ctx, qReadBeliefs, sites, ents, trigs)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[outbox.Pair]*outbox.Belief{}
	for rows.Next() {
		b, err := scanBelief(rows)
		if err != nil {
			return nil, err
		}
		out[b.Pair] = &b
	}
	return out, rows.Err()
}

// queueBeliefs writes the compacted beliefs of pairs.
func queueBeliefs(b *pgx.Batch, pairs []outbox.Pair, beliefs map[outbox.Pair]*outbox.Belief) {
	n := len(pairs)
	sites, ents, trigs, calls := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	lives, seqs := make([]int32, n), make([]int64, n)
	payloads := make([]pgtype.Text, n)
	sched, settled := make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n)
	for i, p := range pairs {
		bl := beliefs[p].Compact()
		sites[i], ents[i], trigs[i], lives[i], seqs[i] = p.SiteID, p.ExternalEntityID, p.TriggerKey, int32(bl.Live), bl.Seq
		if e := bl.Event; e != nil {
			calls[i], sched[i], settled[i] = e.CallID, ts(e.ScheduledAt), ts(e.At)
			if len(e.Payload) > 0 {
				payloads[i] = pgtype.Text{String: string(e.Payload), Valid: true}
			}
		}
	}
	b.Queue(qWriteBeliefs, sites, ents, trigs, lives, calls, payloads, sched, settled, seqs)
}
