package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bookable/lifecycle/application/outbox"
)

// The outbox keeps, beside the outbox table, one row per ordering key with
// pending calls in outbox_heads: the key's head (lowest pending seq), when
// it is due, whether calls wait behind it, and the lease token of the relay
// that claimed it. Every write that changes a pending call of a key
// refreshes that row, so Claim and NextDue never search the outbox itself.
// The files outbox_*.go hold it by concern: rows (this file), enqueue,
// claim, settle, operate and read. Every rule of a call's life comes from
// application/outbox; these files store.

// A delivery writes a mark (outbox_delivered, schema version 12) instead of
// updating its call's row: the row keeps state 'pending', and the mark says
// when the call was delivered and whether that counted an attempt. Every
// read of calls joins the marks (callsFrom) and reads a marked call as
// delivered (callCols); every statement that looks for pending calls adds
// notDelivered. The rare writes to a delivered call (an outcome that comes
// after its delivery) first fold its mark into its row (foldMark), so that
// they find it as earlier versions wrote it.

// callsFrom is the FROM of a read of calls: each row with its delivery
// mark, if any. The mark's columns have names of their own, so a query's
// unqualified columns stay the row's.
const callsFrom = `outbox LEFT JOIN outbox_delivered ON call_seq = outbox.seq`

// callCols are the columns scanCall reads, from callsFrom: a marked call is
// delivered at its mark's time, with its mark's attempt counted.
const callCols = `outbox.seq, id, site_id, ordering_key, kind, trigger_key, external_entity_id, payload, scheduled_at,
	cause, ` + callState + `, attempts + coalesce(attempted, 0), next_attempt_at, last_error_status, last_error_code,
	last_error_message, created_at, coalesce(delivered_at, settled_at), superseded_by, maybe_sent`

// callState is a call's state, read from callsFrom.
const callState = `CASE WHEN call_seq IS NOT NULL AND state = 'pending' THEN 'delivered' ELSE state END`

// notDelivered is the condition that the call of alias has no delivery
// mark; with alias.state = 'pending' it says that the call is pending.
func notDelivered(alias string) string {
	return `NOT EXISTS (SELECT 1 FROM outbox_delivered WHERE call_seq = ` + alias + `.seq)`
}

// pendingCall is the condition that the call of alias is pending.
func pendingCall(alias string) string {
	return alias + `.state = 'pending' AND ` + notDelivered(alias)
}

const (
	// qFoldMark writes the delivery mark of call ?1 into its row, as a
	// delivery did before schema version 12 (delivery_unlogged: its history
	// shows the delivery from the row); qDropMark then deletes the mark.
	qFoldMark = `UPDATE outbox SET state = 'delivered', settled_at = d.delivered_at, attempts = attempts + d.attempted,
		delivery_unlogged = 1 FROM outbox_delivered AS d WHERE d.call_seq = outbox.seq AND outbox.id = ?1
		AND outbox.state = 'pending' RETURNING outbox.seq`
	qDropMark = `DELETE FROM outbox_delivered WHERE call_seq = ?`
)

// foldMark makes a delivered call's row say so itself, if its delivery is
// a mark; a call without a mark is left as it is.
func foldMark(c *writeConn, id string) error {
	var seq int64
	err := c.QueryRowContext(context.Background(), qFoldMark, id).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("fold the delivery of call %s: %w", id, err)
	}
	_, err = c.ExecContext(context.Background(), qDropMark, seq)
	return err
}

func scanCall(row interface{ Scan(...any) error }) (outbox.Call, error) {
	var (
		c                        outbox.Call
		kind, state, payload     string
		scheduled, next, created int64
		settled                  int64
		errStatus                sql.NullInt64
		errCode, errMessage      sql.NullString
	)
	if err := row.Scan(&c.Seq, &c.ID, &c.SiteID, &c.OrderingKey, &kind, &c.TriggerKey, &c.ExternalEntityID,
		&payload, &scheduled, &c.Cause, &state, &c.Attempts, &next, &errStatus, &errCode, &errMessage,
		&created, &settled, &c.SupersededBy, &c.MaybeSent); err != nil {
		return c, err
	}
	// A row written by hand or damaged on disk must not pass for a call the
	// relay would send (FuzzOutboxRowDecoding).
	var err error
	if c.Kind, err = outbox.ParseKind(kind); err != nil {
		return c, fmt.Errorf("outbox row %d: %w", c.Seq, err)
	}
	if c.State, err = outbox.ParseState(state); err != nil {
		return c, fmt.Errorf("outbox row %d: %w", c.Seq, err)
	}
	if payload != "" {
		c.Payload = []byte(payload)
	}
	c.ScheduledAt, c.NextAttemptAt = fromMS(scheduled), fromMS(next)
	c.CreatedAt, c.SettledAt = fromMS(created), fromMS(settled)
	c.LastError = callError(errStatus, errCode, errMessage)
	return c, nil
}

// callError reads the nullable error columns; all NULL is no error.
func callError(status sql.NullInt64, code, message sql.NullString) *outbox.CallError {
	if !status.Valid && !code.Valid && !message.Valid {
		return nil
	}
	return &outbox.CallError{Status: int(status.Int64), Code: code.String, Message: message.String}
}

// errorArgs returns the values of the nullable error columns.
func errorArgs(e *outbox.CallError) (status, code, message any) {
	if e == nil {
		return nil, nil, nil
	}
	return e.Status, e.Code, e.Message
}

// stateList renders states as an SQL list, e.g. ('pending', 'dead'), so that
// queries take their states from application/outbox instead of restating
// them. States are fixed identifiers, never input.
func stateList(states []outbox.State) string {
	quoted := make([]string, len(states))
	for i, s := range states {
		quoted[i] = "'" + string(s) + "'"
	}
	return "(" + strings.Join(quoted, ", ") + ")"
}

// queryEach runs a query on the writer's connection and calls fn for each
// row.
func queryEach(c querier, query string, args []any, fn func(*sql.Rows) error) error {
	rows, err := c.QueryContext(context.Background(), query, args...)
	if err != nil {
		return err
	}
	for rows.Next() {
		if err := fn(rows); err != nil {
			rows.Close()
			return err
		}
	}
	return errors.Join(rows.Err(), rows.Close())
}

const qAddHistory = `INSERT INTO outbox_attempts (call_id, at, state, error_status, error_code, error_message, note)
	VALUES (?, ?, ?, ?, ?, ?, ?)`

// addHistory appends one entry to a call's history.
func addHistory(c *writeConn, id string, a outbox.Attempt) error {
	status, code, message := errorArgs(a.Err)
	_, err := c.ExecContext(context.Background(), qAddHistory, id, toMS(a.At), string(a.State), status, code, message, a.Note)
	return err
}

// nowOr returns t, or the clock's now when t is zero.
func nowOr(t time.Time, clock interface{ Now() time.Time }) time.Time {
	if t.IsZero() {
		return clock.Now()
	}
	return t
}

// jsonArray encodes strings as a JSON array for json_each.
func jsonArray(values []string) (string, error) {
	b, err := json.Marshal(values)
	return string(b), err
}
