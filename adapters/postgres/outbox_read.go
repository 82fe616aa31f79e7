package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/outbox"
)

// horizon is the first seq that a transaction still open may hold: the
// seqs of the oldest open transaction (pg_snapshot_xmin) and after. Every
// call below it is committed or never will be.
const horizon = `(pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 20)`

// listWait bounds how long List waits for the transactions that hold back
// calls it can already see.
const listWait = 5 * time.Second

// List implements outbox.Outbox. Seq order is the order of the calls'
// transactions, which PostgreSQL assigns before commit: a call may commit
// after one with a greater seq. So List returns only calls below the
// horizon of the oldest open transaction, and paging by seq (Filter.After)
// never skips a call that commits late. When the page it can see goes
// beyond that horizon (calls committed, but behind a transaction still
// open), List waits for those transactions, up to listWait, and then
// returns what is below the horizon: a transaction left open for longer
// (idle in transaction) holds the listing of newer calls back until it
// ends. Within an ordering key seq order is commit order.
func (s *Store) List(ctx context.Context, f outbox.Filter) ([]outbox.Call, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	var where []string
	args := []any{f.After, limit}
	if f.SiteID != "" {
		args = append(args, f.SiteID)
		where = append(where, fmt.Sprintf("site_id = $%d", len(args)))
	}
	if f.State != "" {
		args = append(args, string(f.State))
		where = append(where, fmt.Sprintf("state = $%d", len(args)))
		if f.State != outbox.StateDelivered {
			where = append(where, openCalls) // so that the planner may use outbox_open
		}
	}
	where = append(where, "seq > $1")
	q := `WITH hz AS (SELECT ` + horizon + ` AS h) SELECT ` + callCols + `, seq >= hz.h FROM outbox, hz WHERE ` +
		strings.Join(where, " AND ") + ` ORDER BY seq LIMIT $2`
	deadline := time.Now().Add(listWait)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		calls, held, err := s.listOnce(ctx, q, args)
		if err != nil || !held || time.Now().After(deadline) {
			return calls, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// listOnce runs one listing and returns the calls below the horizon, and
// whether calls it saw were held back.
func (s *Store) listOnce(ctx context.Context, q string, args []any) ([]outbox.Call, bool, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, false, fmt.Errorf("postgres: list calls: %w", err)
	}
	defer rows.Close()
	var out []outbox.Call
	for rows.Next() {
		var beyond bool
		c, err := scanCall(rows, &beyond)
		if err != nil {
			return nil, false, fmt.Errorf("postgres: list calls: %w", err)
		}
		if beyond {
			return out, true, nil
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("postgres: list calls: %w", err)
	}
	return out, false, nil
}

// openCalls is the condition of the partial index outbox_open.
const openCalls = `state <> 'delivered'`

// Get implements outbox.Outbox: one call of a site with its history, read
// in one snapshot.
func (s *Store) Get(ctx context.Context, siteID, id string) (outbox.Detail, error) {
	if s.isClosed() {
		return outbox.Detail{}, ErrClosed
	}
	var d outbox.Detail
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`SELECT `+callCols+`, delivery_unlogged FROM outbox WHERE site_id = $1 AND id = $2`, siteID, id)
		b.Queue(`SELECT at, state, error_status, error_code, error_message, note FROM outbox_attempts
			WHERE call_id = $1 ORDER BY id`, id)
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		rows, err := br.Query()
		if err != nil {
			return err
		}
		var unlogged, found bool
		if rows.Next() {
			found = true
			d.Call, err = scanCall(rows, &unlogged)
		}
		rows.Close()
		if err := errors.Join(err, rows.Err()); err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("call %s: %w", id, application.ErrNotFound)
		}
		if rows, err = br.Query(); err != nil {
			return err
		}
		for rows.Next() {
			var (
				at            time.Time
				state, note   string
				status        pgtype.Int4
				code, message pgtype.Text
			)
			if err := rows.Scan(&at, &state, &status, &code, &message, &note); err != nil {
				rows.Close()
				return err
			}
			d.History = append(d.History, outbox.Attempt{At: at.UTC(), State: outbox.State(state),
				Err: callError(status, code, message), Note: note})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if unlogged {
			d.History = append(d.History, outbox.Attempt{At: d.SettledAt, State: outbox.StateDelivered})
		}
		return nil
	})
	if errors.Is(err, application.ErrNotFound) {
		return outbox.Detail{}, err
	}
	if err != nil {
		return outbox.Detail{}, fmt.Errorf("postgres: get call %s: %w", id, err)
	}
	return d, nil
}

// Stats implements outbox.Outbox: every state is present, zero or not. It
// counts by a scan of the site's calls (or all): an operator's question,
// not a relay's.
func (s *Store) Stats(ctx context.Context, siteID string) (map[outbox.State]int, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	q, args := `SELECT state, count(*) FROM outbox GROUP BY state`, []any{}
	if siteID != "" {
		q, args = `SELECT state, count(*) FROM outbox WHERE site_id = $1 GROUP BY state`, []any{siteID}
	}
	out := make(map[outbox.State]int, len(outbox.States()))
	for _, st := range outbox.States() {
		out[st] = 0
	}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = on`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var state string
			var n int
			if err := rows.Scan(&state, &n); err != nil {
				return err
			}
			out[outbox.State(state)] = n
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: outbox stats: %w", err)
	}
	return out, nil
}

const (
	// qCallsOfKeys reads the calls of ordering keys.
	qCallsOfKeys = `SELECT ` + callCols + ` FROM outbox WHERE ordering_key = ANY($1::text[])`
	// qBeliefsOf reads the compacted beliefs of a site's entities.
	qBeliefsOf = `SELECT ` + beliefCols + ` FROM outbox_beliefs WHERE site_id = $1 AND external_entity_id = ANY($2::text[])`
)

// Beliefs implements outbox.Histories in the transaction's snapshot: the
// calls of the entities and their compacted beliefs, folded by
// outbox.FoldBeliefs.
func (t *readTx) Beliefs(ctx context.Context, siteID string, entityIDs []string) ([]outbox.Belief, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	if len(entityIDs) == 0 {
		return nil, nil
	}
	keys := make([]string, len(entityIDs))
	for i, e := range entityIDs {
		keys[i] = outbox.OrderingKey(siteID, e)
	}
	var calls []outbox.Call
	if err := t.query(ctx, qCallsOfKeys, []any{keys}, func(r pgx.Rows) error {
		c, err := scanCall(r)
		calls = append(calls, c)
		return err
	}); err != nil {
		return nil, fmt.Errorf("postgres: beliefs: %w", err)
	}
	var compacted []outbox.Belief
	if err := t.query(ctx, qBeliefsOf, []any{siteID, entityIDs}, func(r pgx.Rows) error {
		b, err := scanBelief(r)
		compacted = append(compacted, b)
		return err
	}); err != nil {
		return nil, fmt.Errorf("postgres: beliefs: %w", err)
	}
	return outbox.FoldBeliefs(compacted, calls), nil
}
