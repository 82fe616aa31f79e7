package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/outbox"
)

// findCall reads a call of a site for an operator operation, or ErrNotFound.
func findCall(c *writeConn, siteID, id string) (outbox.Call, error) {
	call, err := scanCall(c.QueryRowContext(context.Background(), `SELECT `+callCols+` FROM `+callsFrom+`
		WHERE site_id = ? AND id = ?`, siteID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return call, fmt.Errorf("call %s: %w", id, application.ErrNotFound)
	}
	return call, err
}

// Retry implements outbox.Outbox: a dead or expired call that is the newest
// of its pair goes back to pending, due at now, with a new seq at the tail
// of its ordering key (outbox.CheckRetry).
func (db *DB) Retry(ctx context.Context, siteID, id string, now time.Time) error {
	return db.w.do(ctx, func(ctx context.Context, c *writeConn) error {
		call, err := findCall(c, siteID, id)
		if err != nil {
			return err
		}
		if err := outbox.CheckRetry(call); err != nil {
			return fmt.Errorf("retry: %w", err)
		}
		if err := c.QueryRowContext(ctx, `UPDATE sqlite_sequence SET seq = seq + 1 WHERE name = 'outbox' RETURNING seq`).
			Scan(&call.Seq); err != nil {
			return fmt.Errorf("sqlite: retry call %s: next seq: %w", id, err)
		}
		if _, err := c.ExecContext(ctx, `UPDATE outbox SET seq = ?, state = 'pending', next_attempt_at = ?,
			settled_at = 0 WHERE id = ?`, call.Seq, toMS(now), id); err != nil {
			return fmt.Errorf("sqlite: retry call %s: %w", id, err)
		}
		if err := addHistory(c, id, outbox.Attempt{At: now, State: outbox.StatePending, Note: "retried by an operator"}); err != nil {
			return fmt.Errorf("sqlite: retry call %s: %w", id, err)
		}
		if err := supersedeOlder(c, call, now); err != nil {
			return fmt.Errorf("sqlite: retry call %s: %w", id, err)
		}
		if err := resetHead(c, call.OrderingKey); err != nil {
			return fmt.Errorf("sqlite: retry call %s: %w", id, err)
		}
		return nil
	})
}

// Discard implements outbox.Outbox: a pending, dead or expired call becomes
// discarded and is never sent (outbox.CheckDiscard). A head a relay holds
// passes its lease to the next call of its key (resetHead).
func (db *DB) Discard(ctx context.Context, siteID, id string, now time.Time) error {
	return db.w.do(ctx, func(ctx context.Context, c *writeConn) error {
		call, err := findCall(c, siteID, id)
		if err != nil {
			return err
		}
		if err := outbox.CheckDiscard(call); err != nil {
			return fmt.Errorf("discard: %w", err)
		}
		if _, err := c.ExecContext(ctx, `UPDATE outbox SET state = 'discarded', settled_at = ? WHERE id = ?`,
			toMS(now), id); err != nil {
			return fmt.Errorf("sqlite: discard call %s: %w", id, err)
		}
		if err := addHistory(c, id, outbox.Attempt{At: now, State: outbox.StateDiscarded, Note: "discarded by an operator"}); err != nil {
			return fmt.Errorf("sqlite: discard call %s: %w", id, err)
		}
		if call.State == outbox.StatePending {
			if err := resetHead(c, call.OrderingKey); err != nil {
				return fmt.Errorf("sqlite: discard call %s: %w", id, err)
			}
		}
		return nil
	})
}

// pruneChunk bounds how many calls one write of Prune deletes, so that a
// large prune does not hold the writer (and every command) for long.
const pruneChunk = 1000

// The statements of Prune. prunedStates is the condition of the partial
// index outbox_settled, which the query must repeat to use it.
var (
	prunedStates = stateList(outbox.PrunableStates())
	qPruneChunk  = `SELECT ` + callCols + ` FROM ` + callsFrom + ` WHERE outbox.seq IN (
		SELECT seq FROM (SELECT seq FROM outbox WHERE state IN ` + prunedStates + ` AND settled_at < ?1 LIMIT ?2)
		UNION ALL SELECT call_seq FROM (SELECT call_seq FROM outbox_delivered WHERE delivered_at < ?1
			ORDER BY call_seq LIMIT ?2)) ORDER BY outbox.seq`
	qPruneDelete = `DELETE FROM outbox WHERE seq IN (SELECT value FROM json_each(?))`
	qPruneMarks  = `DELETE FROM outbox_delivered WHERE call_seq IN (SELECT value FROM json_each(?))`
)

// Prune implements outbox.Outbox: it deletes delivered, discarded and
// superseded calls settled before cutoff, with their history, in chunks of
// one transaction each. Before a call goes, what it says of Wix is folded
// into outbox_beliefs (outbox.Belief), so reconcile still knows what is
// live. Within a chunk calls fold in seq order; a pair whose calls span
// chunks may fold a superseded or discarded call after a later delivered
// one, which can only make the belief unsure (reconcile then cancels and
// reports again), never wrongly sure.
func (db *DB) Prune(ctx context.Context, before time.Time) (int, error) {
	total := 0
	for {
		n := 0
		err := db.w.do(ctx, func(ctx context.Context, c *writeConn) error {
			var err error
			n, err = pruneChunkOnce(c, before)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("sqlite: prune: %w", err)
		}
		total += n
		if n < pruneChunk {
			return total, nil
		}
	}
}

func pruneChunkOnce(c *writeConn, before time.Time) (int, error) {
	var calls []outbox.Call
	err := queryEach(c, qPruneChunk, []any{toMS(before), pruneChunk}, func(r *sql.Rows) error {
		call, err := scanCall(r)
		calls = append(calls, call)
		return err
	})
	if err != nil || len(calls) == 0 {
		return 0, err
	}
	beliefs := map[outbox.Pair]*outbox.Belief{}
	var order []outbox.Pair
	seqs := make([]int64, len(calls))
	for i, call := range calls {
		seqs[i] = call.Seq
		p := call.Pair()
		b := beliefs[p]
		if b == nil {
			stored, err := readBelief(c, p)
			if err != nil {
				return 0, err
			}
			b = &stored
			beliefs[p] = b
			order = append(order, p)
		}
		b.Fold(call)
	}
	sort.Slice(order, func(i, j int) bool { return order[i].String() < order[j].String() })
	for _, p := range order {
		if err := writeBelief(c, beliefs[p].Compact()); err != nil {
			return 0, err
		}
	}
	seqJSON, err := seqsJSON(seqs)
	if err != nil {
		return 0, err
	}
	if _, err := c.ExecContext(context.Background(), qPruneDelete, seqJSON); err != nil {
		return 0, err
	}
	if _, err := c.ExecContext(context.Background(), qPruneMarks, seqJSON); err != nil {
		return 0, err
	}
	return len(calls), nil
}

const (
	beliefCols  = `site_id, external_entity_id, trigger_key, live, call_id, payload, scheduled_at, settled_at, seq`
	qReadBelief = `SELECT ` + beliefCols + ` FROM outbox_beliefs
		WHERE site_id = ? AND external_entity_id = ? AND trigger_key = ?`
	qWriteBelief = `INSERT INTO outbox_beliefs (` + beliefCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (site_id, external_entity_id, trigger_key) DO UPDATE SET live = excluded.live,
		call_id = excluded.call_id, payload = excluded.payload, scheduled_at = excluded.scheduled_at,
		settled_at = excluded.settled_at, seq = excluded.seq`
)

// scanBelief reads a row of outbox_beliefs.
func scanBelief(row interface{ Scan(...any) error }) (outbox.Belief, error) {
	var (
		b                       outbox.Belief
		live                    int
		callID, payload         string
		scheduled, settled, seq int64
	)
	if err := row.Scan(&b.SiteID, &b.ExternalEntityID, &b.TriggerKey, &live, &callID, &payload, &scheduled, &settled, &seq); err != nil {
		return b, err
	}
	b.Live, b.Seq = outbox.Liveness(live), seq
	if b.Live != outbox.LiveNone {
		b.Event = &outbox.Reported{CallID: callID, ScheduledAt: fromMS(scheduled), At: fromMS(settled)}
		if payload != "" {
			b.Event.Payload = []byte(payload)
		}
	}
	return b, nil
}

// readBelief reads the compacted belief of a pair; none is LiveNone.
func readBelief(c querier, p outbox.Pair) (outbox.Belief, error) {
	b, err := scanBelief(c.QueryRowContext(context.Background(), qReadBelief, p.SiteID, p.ExternalEntityID, p.TriggerKey))
	if errors.Is(err, sql.ErrNoRows) {
		return outbox.Belief{Pair: p}, nil
	}
	return b, err
}

func writeBelief(c *writeConn, b outbox.Belief) error {
	var callID, payload string
	var scheduled, settled int64
	if e := b.Event; e != nil {
		callID, payload, scheduled, settled = e.CallID, string(e.Payload), toMS(e.ScheduledAt), toMS(e.At)
	}
	_, err := c.ExecContext(context.Background(), qWriteBelief, b.SiteID, b.ExternalEntityID, b.TriggerKey,
		int(b.Live), callID, payload, scheduled, settled, b.Seq)
	return err
}
