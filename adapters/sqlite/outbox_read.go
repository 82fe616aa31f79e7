package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/outbox"
)

// List implements outbox.Outbox. Seq is drawn by the one writer in commit
// order, so paging by seq never skips a call that commits late.
func (db *DB) List(ctx context.Context, f outbox.Filter) ([]outbox.Call, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	var where []string
	var args []any
	if f.SiteID != "" {
		where, args = append(where, "site_id = ?"), append(args, f.SiteID)
	}
	switch f.State {
	case "":
	case outbox.StateDelivered:
		where = append(where, "(state = 'delivered' OR (state = 'pending' AND call_seq IS NOT NULL))")
	default:
		where, args = append(where, "state = ?"), append(args, string(f.State))
		// The condition of outbox_open, written out so that SQLite uses it.
		where = append(where, openCalls)
		if f.State == outbox.StatePending {
			where = append(where, "call_seq IS NULL")
		}
	}
	where, args = append(where, "outbox.seq > ?"), append(args, f.After, limit)
	rows, err := db.read.QueryContext(ctx, `SELECT `+callCols+` FROM `+callsFrom+` WHERE `+strings.Join(where, " AND ")+
		` ORDER BY outbox.seq LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list calls: %w", err)
	}
	defer rows.Close()
	var out []outbox.Call
	for rows.Next() {
		c, err := scanCall(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list calls: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list calls: %w", err)
	}
	return out, nil
}

// Get implements outbox.Outbox: one call of a site with its history, read
// in one snapshot.
func (db *DB) Get(ctx context.Context, siteID, id string) (outbox.Detail, error) {
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return outbox.Detail{}, fmt.Errorf("sqlite: get call %s: %w", id, err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	c, err := scanCall(tx.QueryRowContext(ctx, `SELECT `+callCols+` FROM `+callsFrom+` WHERE site_id = ? AND id = ?`, siteID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return outbox.Detail{}, fmt.Errorf("call %s: %w", id, application.ErrNotFound)
	}
	if err != nil {
		return outbox.Detail{}, fmt.Errorf("sqlite: get call %s: %w", id, err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT at, state, error_status, error_code, error_message, note
		FROM outbox_attempts WHERE call_id = ? ORDER BY id`, id)
	if err != nil {
		return outbox.Detail{}, fmt.Errorf("sqlite: get call %s: %w", id, err)
	}
	defer rows.Close()
	d := outbox.Detail{Call: c}
	for rows.Next() {
		var (
			at            int64
			state, note   string
			status        sql.NullInt64
			code, message sql.NullString
		)
		if err := rows.Scan(&at, &state, &status, &code, &message, &note); err != nil {
			return outbox.Detail{}, fmt.Errorf("sqlite: get call %s: %w", id, err)
		}
		d.History = append(d.History, outbox.Attempt{At: fromMS(at), State: outbox.State(state),
			Err: callError(status, code, message), Note: note})
	}
	if err := rows.Err(); err != nil {
		return outbox.Detail{}, fmt.Errorf("sqlite: get call %s: %w", id, err)
	}
	if c.State == outbox.StateDelivered {
		// A delivery is logged only when something came after it; the last
		// entry is otherwise the call's own state and time.
		var unlogged bool
		if err := tx.QueryRowContext(ctx, `SELECT delivery_unlogged OR NOT `+notDelivered("outbox")+`
			FROM outbox WHERE seq = ?`, c.Seq).
			Scan(&unlogged); err != nil {
			return outbox.Detail{}, fmt.Errorf("sqlite: get call %s: %w", id, err)
		}
		if unlogged {
			d.History = append(d.History, outbox.Attempt{At: c.SettledAt, State: outbox.StateDelivered})
		}
	}
	return d, nil
}

// openCalls is the condition of the partial index outbox_open: every call
// that is not delivered. A query uses that index only if its WHERE clause
// contains this very term.
const openCalls = `state <> 'delivered'`

// Stats implements outbox.Outbox: every state is present, zero or not.
// Calls delivered before schema version 12, the bulk of an old table, are
// not in outbox_open: they are counted as all the calls less the others,
// both counts read from an index alone. A call delivered since is pending
// in its row, hence in outbox_open, and has a mark: the marks are counted
// and moved from pending to delivered.
func (db *DB) Stats(ctx context.Context, siteID string) (map[outbox.State]int, error) {
	open, total := `SELECT state, count(*) FROM outbox WHERE `+openCalls+` GROUP BY state`, `SELECT count(*) FROM outbox`
	marked := `SELECT count(*) FROM outbox_delivered`
	var args []any
	if siteID != "" {
		open = `SELECT state, count(*) FROM outbox WHERE site_id = ? AND ` + openCalls + ` GROUP BY state`
		total, args = `SELECT count(*) FROM outbox WHERE site_id = ?`, []any{siteID}
		marked = `SELECT count(*) FROM outbox WHERE site_id = ? AND state = 'pending' AND ` + openCalls + `
			AND NOT ` + notDelivered("outbox")
	}
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("sqlite: outbox stats: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	out := make(map[outbox.State]int, len(outbox.States()))
	for _, st := range outbox.States() {
		out[st] = 0
	}
	var all, marks int
	if err := tx.QueryRowContext(ctx, total, args...).Scan(&all); err != nil {
		return nil, fmt.Errorf("sqlite: outbox stats: %w", err)
	}
	if err := tx.QueryRowContext(ctx, marked, args...).Scan(&marks); err != nil {
		return nil, fmt.Errorf("sqlite: outbox stats: %w", err)
	}
	rows, err := tx.QueryContext(ctx, open, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: outbox stats: %w", err)
	}
	defer rows.Close()
	delivered := all
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			return nil, fmt.Errorf("sqlite: outbox stats: %w", err)
		}
		out[outbox.State(state)] = n
		delivered -= n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: outbox stats: %w", err)
	}
	out[outbox.StatePending] -= marks
	out[outbox.StateDelivered] = delivered + marks
	return out, nil
}

const (
	// qCallsOfKeys reads the calls of ordering keys (a JSON array).
	qCallsOfKeys = `SELECT ` + callCols + ` FROM ` + callsFrom + ` WHERE ordering_key IN (SELECT value FROM json_each(?))`
	// qBeliefsOf reads the compacted beliefs of a site's entities.
	qBeliefsOf = `SELECT ` + beliefCols + ` FROM outbox_beliefs
		WHERE site_id = ? AND external_entity_id IN (SELECT value FROM json_each(?))`
)

// Beliefs implements outbox.Histories in the transaction's view: the calls
// of the entities and their compacted beliefs, folded by outbox.FoldBeliefs.
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
	keyJSON, err := jsonArray(keys)
	if err != nil {
		return nil, err
	}
	entJSON, err := jsonArray(entityIDs)
	if err != nil {
		return nil, err
	}
	var calls []outbox.Call
	if err := queryEach(t.q, qCallsOfKeys, []any{keyJSON}, func(r *sql.Rows) error {
		c, err := scanCall(r)
		calls = append(calls, c)
		return err
	}); err != nil {
		return nil, fmt.Errorf("sqlite: beliefs: %w", err)
	}
	var compacted []outbox.Belief
	if err := queryEach(t.q, qBeliefsOf, []any{siteID, entJSON}, func(r *sql.Rows) error {
		b, err := scanBelief(r)
		compacted = append(compacted, b)
		return err
	}); err != nil {
		return nil, fmt.Errorf("sqlite: beliefs: %w", err)
	}
	return outbox.FoldBeliefs(compacted, calls), nil
}
