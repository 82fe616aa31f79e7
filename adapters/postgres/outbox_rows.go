package postgres

import (
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/bookable/lifecycle/application/outbox"
)

// callCols are the columns scanCall reads, in order.
const callCols = `seq, id, site_id, ordering_key, kind, trigger_key, external_entity_id, payload, scheduled_at,
	cause, state, attempts, next_attempt_at, last_error_status, last_error_code, last_error_message, created_at,
	settled_at, superseded_by, maybe_sent`

// prefixed returns callCols with every column prefixed by alias and a dot.
func prefixed(alias string) string {
	cols := strings.Split(callCols, ",")
	for i, c := range cols {
		cols[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// scanCall reads a call. A row written by hand or damaged must not pass for
// a call the relay would send: its kind and state must parse.
func scanCall(row pgx.Rows, extra ...any) (outbox.Call, error) {
	var (
		c                        outbox.Call
		kind, state              string
		payload                  []byte
		scheduled, next, created pgtype.Timestamptz
		settled                  pgtype.Timestamptz
		errStatus                pgtype.Int4
		errCode, errMessage      pgtype.Text
	)
	dest := append([]any{&c.Seq, &c.ID, &c.SiteID, &c.OrderingKey, &kind, &c.TriggerKey, &c.ExternalEntityID,
		&payload, &scheduled, &c.Cause, &state, &c.Attempts, &next, &errStatus, &errCode, &errMessage,
		&created, &settled, &c.SupersededBy, &c.MaybeSent}, extra...)
	if err := row.Scan(dest...); err != nil {
		return c, err
	}
	var err error
	if c.Kind, err = outbox.ParseKind(kind); err != nil {
		return c, fmt.Errorf("outbox row %d: %w", c.Seq, err)
	}
	if c.State, err = outbox.ParseState(state); err != nil {
		return c, fmt.Errorf("outbox row %d: %w", c.Seq, err)
	}
	if len(payload) > 0 {
		c.Payload = payload
	}
	c.ScheduledAt, c.NextAttemptAt = fromTS(scheduled), fromTS(next)
	c.CreatedAt, c.SettledAt = fromTS(created), fromTS(settled)
	c.LastError = callError(errStatus, errCode, errMessage)
	return c, nil
}

// callError reads the nullable error columns; all NULL is no error.
func callError(status pgtype.Int4, code, message pgtype.Text) *outbox.CallError {
	if !status.Valid && !code.Valid && !message.Valid {
		return nil
	}
	return &outbox.CallError{Status: int(status.Int32), Code: code.String, Message: message.String}
}

// errorCols returns the values of the nullable error columns.
func errorCols(e *outbox.CallError) (status pgtype.Int4, code, message pgtype.Text) {
	if e == nil {
		return
	}
	return pgtype.Int4{Int32: int32(e.Status), Valid: true}, pgtype.Text{String: e.Code, Valid: true},
		pgtype.Text{String: e.Message, Valid: true}
}

// history is entries of calls' histories, as the parallel arrays of
// qAddHistory.
type history struct {
	ids, states, codes, messages, notes []string
	at                                  []pgtype.Timestamptz
	statuses                            []pgtype.Int4
	hasErr                              []bool
}

func (h *history) add(id string, a outbox.Attempt) {
	status, code, message := errorCols(a.Err)
	h.ids = append(h.ids, id)
	h.at = append(h.at, ts(a.At))
	h.states = append(h.states, string(a.State))
	h.statuses = append(h.statuses, status)
	h.codes = append(h.codes, code.String)
	h.messages = append(h.messages, message.String)
	h.hasErr = append(h.hasErr, a.Err != nil)
	h.notes = append(h.notes, a.Note)
}

// qAddHistory appends entries to calls' histories, in array order.
const qAddHistory = `INSERT INTO outbox_attempts (call_id, at, state, error_status, error_code, error_message, note)
	SELECT h.id, h.at, h.state, CASE WHEN h.err THEN h.status END, CASE WHEN h.err THEN h.code END,
		CASE WHEN h.err THEN h.message END, h.note
	FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::int[], $5::text[], $6::text[], $7::bool[], $8::text[])
		WITH ORDINALITY AS h(id, at, state, status, code, message, err, note, n)
	ORDER BY h.n`

// queue queues the entries, if any.
func (h *history) queue(b *pgx.Batch) {
	if len(h.ids) == 0 {
		return
	}
	b.Queue(qAddHistory, h.ids, h.at, h.states, h.statuses, h.codes, h.messages, h.hasErr, h.notes)
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
