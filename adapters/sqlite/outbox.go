package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/bookable/lifecycle/application"
)

// The outbox keeps, beside the outbox table, one row per ordering key with
// pending calls in outbox_heads: the key's head (lowest pending seq) and the
// time it may be claimed (the later of its next attempt and its lease).
// Every write that changes a pending call of a key refreshes that row, so
// Claim and NextDue never search the outbox itself.

// The queries whose plans matter most; plan_test.go checks that each uses
// an index and needs no sort, so its cost does not grow with the tables.
const (
	// qClaimHeads selects the due heads in seq order. "+ready_at" keeps the
	// planner on the seq order of outbox_heads: the scan stops after limit
	// ready heads and skips only heads that are in flight or backing off,
	// however large the backlog.
	qClaimHeads = `SELECT seq FROM outbox_heads WHERE +ready_at <= ?1 AND leased_until <= ?1 ORDER BY seq LIMIT ?2`
	// qHeadOfKey finds the pending call of a key with the lowest seq.
	qHeadOfKey = `SELECT seq, next_attempt_at, lease_until FROM outbox
		WHERE ordering_key = ? AND state = 'pending' ORDER BY seq LIMIT 1`
	// qNewerReport finds a report enqueued after a cancel for the same key
	// and trigger.
	qNewerReport = `SELECT id FROM outbox WHERE ordering_key = ? AND seq > ?
		AND kind = 'report' AND trigger_key = ? LIMIT 1`
	// qPrune deletes one chunk of old settled calls.
	qPrune = `DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox
		WHERE state IN ('delivered', 'discarded') AND settled_at < ? LIMIT ?)`
	// qLeaseHeads leases the due heads until ?3; qClaimedCalls then reads
	// their calls (a JSON array of seqs) that are still pending.
	qLeaseHeads   = `UPDATE outbox_heads SET leased_until = ?3 WHERE seq IN (` + qClaimHeads + `) RETURNING seq`
	qClaimedCalls = `SELECT ` + callCols + ` FROM outbox WHERE seq IN (SELECT value FROM json_each(?)) AND state = 'pending'`
	// qNextDue walks the heads by ready_at; NextDue stops as soon as no later
	// head can be claimed earlier than one already seen.
	qNextDue = `SELECT ready_at, leased_until FROM outbox_heads ORDER BY ready_at`
)

const callCols = `seq, id, site_id, ordering_key, kind, trigger_key, external_entity_id, payload, scheduled_at,
	cause, state, attempts, next_attempt_at, last_error_status, last_error_code, last_error_message, created_at, settled_at`

func scanCall(row interface{ Scan(...any) error }) (application.Call, error) {
	var (
		c                        application.Call
		kind, state, payload     string
		scheduled, next, created int64
		settled                  int64
		errStatus                sql.NullInt64
		errCode, errMessage      sql.NullString
	)
	if err := row.Scan(&c.Seq, &c.ID, &c.SiteID, &c.OrderingKey, &kind, &c.TriggerKey, &c.ExternalEntityID,
		&payload, &scheduled, &c.Cause, &state, &c.Attempts, &next, &errStatus, &errCode, &errMessage,
		&created, &settled); err != nil {
		return c, err
	}
	// A row written by hand or damaged on disk must not pass for a call the
	// relay would send (FuzzOutboxRowDecoding).
	var err error
	if c.Kind, err = application.ParseCallKind(kind); err != nil {
		return c, fmt.Errorf("outbox row %d: %w", c.Seq, err)
	}
	if c.State, err = application.ParseCallState(state); err != nil {
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
func callError(status sql.NullInt64, code, message sql.NullString) *application.CallError {
	if !status.Valid && !code.Valid && !message.Valid {
		return nil
	}
	return &application.CallError{Status: int(status.Int64), Code: code.String, Message: message.String}
}

// errorArgs returns the values of the nullable error columns.
func errorArgs(e *application.CallError) (status, code, message any) {
	if e == nil {
		return nil, nil, nil
	}
	return e.Status, e.Code, e.Message
}

// enqueueChunk bounds the rows of one INSERT (11 parameters each).
const enqueueChunk = 50

const enqueueRow = `(?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)`

// enqueueSQL[n] is the INSERT of n calls.
var enqueueSQL = func() []string {
	out := make([]string, enqueueChunk+1)
	for n := 1; n <= enqueueChunk; n++ {
		out[n] = `INSERT INTO outbox (id, site_id, ordering_key, kind, trigger_key, external_entity_id, payload,
			scheduled_at, cause, state, next_attempt_at, created_at) VALUES ` +
			strings.TrimSuffix(strings.Repeat(enqueueRow+", ", n), ", ")
	}
	return out
}()

// offerSelect and offerWhere wrap a VALUES list of (seq, ordering_key,
// ready_at, more) into a head offer: each row becomes a head unless its key
// has an earlier pending call (it is then the head or queued behind it).
// outbox_heads has no index on ordering_key (schema version 3), so the
// question goes to outbox_by_key. The calls offered are already inserted,
// so of several offers of one key only the earliest passes. more is 1 when
// the caller knows of a later call of the key.
const (
	offerSelect = `INSERT INTO outbox_heads (seq, ordering_key, ready_at, more)
		SELECT v.column1, v.column2, v.column3, v.column4 FROM (VALUES `
	offerWhere = ` AS v WHERE NOT EXISTS (SELECT 1 FROM outbox AS o
		WHERE o.ordering_key = v.column2 AND o.seq < v.column1 AND o.state = 'pending')`
)

// markSelect and markWhere wrap the same VALUES list into the other half of
// an offer: the head of each key whose offer failed learns that a call now
// waits behind it. That head is the key's lowest pending call, which is
// earlier than the call offered.
const (
	markSelect = `UPDATE outbox_heads SET more = 1 WHERE more = 0 AND seq IN (SELECT (SELECT o.seq FROM outbox AS o
		WHERE o.ordering_key = v.column2 AND o.seq < v.column1 AND o.state = 'pending' ORDER BY o.seq LIMIT 1)
		FROM (VALUES `
	markWhere = ` AS v)`
)

// offerChunk bounds the rows of one head offer (4 parameters each).
const offerChunk = 100

// offerSQL[n] offers n calls as the heads of their keys; markSQL[n], run
// with the same arguments when fewer than n offers passed, marks the heads
// that the others queue behind.
var offerSQL, markSQL = func() (offer, mark []string) {
	offer, mark = make([]string, offerChunk+1), make([]string, offerChunk+1)
	for n := 1; n <= offerChunk; n++ {
		values := strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?), ", n), ", ") + `)`
		offer[n] = offerSelect + values + offerWhere
		mark[n] = markSelect + values + markWhere
	}
	return offer, mark
}()

// offerHeads offers calls as the heads of their keys: args holds (seq,
// ordering_key, ready_at, more) for each, at most one call per key.
func offerHeads(c querier, args []any) error {
	for len(args) > 0 {
		n := min(len(args)/4, offerChunk)
		res, err := c.ExecContext(context.Background(), offerSQL[n], args[:4*n]...)
		if err != nil {
			return fmt.Errorf("offer heads: %w", err)
		}
		passed, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("offer heads: %w", err)
		}
		if passed < int64(n) {
			if _, err := c.ExecContext(context.Background(), markSQL[n], args[:4*n]...); err != nil {
				return fmt.Errorf("offer heads: mark the heads with calls behind them: %w", err)
			}
		}
		args = args[4*n:]
	}
	return nil
}

func (t *writeTx) enqueueChunk(calls []application.Call) error {
	args := make([]any, 0, 11*len(calls))
	for _, c := range calls {
		args = append(args, c.ID, c.SiteID, c.OrderingKey, string(c.Kind), c.TriggerKey, c.ExternalEntityID,
			string(c.Payload), toMS(c.ScheduledAt), c.Cause, toMS(c.NextAttemptAt), toMS(c.CreatedAt))
	}
	res, err := t.q.ExecContext(context.Background(), enqueueSQL[len(calls)], args...)
	if isUniqueViolation(err) {
		return t.findConflict(calls, args)
	}
	if err != nil {
		return fmt.Errorf("sqlite: enqueue call %s and the next %d: %w", calls[0].ID, len(calls)-1, err)
	}
	last, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("sqlite: enqueue call %s: %w", calls[0].ID, err)
	}
	// The writer is the only writer and seq is AUTOINCREMENT: the rows of
	// one INSERT got consecutive seqs, the last one last.
	first := last - int64(len(calls)) + 1
	heads := make([]any, 0, 4*len(calls))
	for i, c := range calls {
		if seenKey(calls[:i], c.OrderingKey) {
			continue // a call of the chunk before it offered already
		}
		// The first pending call of a key is its head; a later one waits.
		heads = append(heads, first+int64(i), c.OrderingKey, toMS(c.NextAttemptAt), seenKey(calls[i+1:], c.OrderingKey))
	}
	if err := offerHeads(t.q, heads); err != nil {
		return fmt.Errorf("sqlite: enqueue call %s and the next %d: %w", calls[0].ID, len(calls)-1, err)
	}
	return nil
}

// findConflict names the call of a chunk whose INSERT failed on a unique
// ID. The failed statement wrote nothing; the calls are inserted one by one
// inside a savepoint that is then rolled back.
func (t *writeTx) findConflict(calls []application.Call, args []any) (err error) {
	if _, err := t.q.ExecContext(context.Background(), "SAVEPOINT enqueue_conflict"); err != nil {
		return fmt.Errorf("sqlite: enqueue: %w", err)
	}
	defer func() {
		_, rbErr := t.q.ExecContext(context.Background(), "ROLLBACK TO enqueue_conflict")
		_, relErr := t.q.ExecContext(context.Background(), "RELEASE enqueue_conflict")
		if rbErr != nil || relErr != nil {
			err = fmt.Errorf("sqlite: enqueue: %w", errors.Join(err, rbErr, relErr))
		}
	}()
	for i, c := range calls {
		_, err := t.q.ExecContext(context.Background(), enqueueSQL[1], args[11*i:11*i+11]...)
		if isUniqueViolation(err) {
			return fmt.Errorf("enqueue: call %s: %w", c.ID, application.ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("sqlite: enqueue call %s: %w", c.ID, err)
		}
	}
	return fmt.Errorf("enqueue: call %s and the next %d: %w", calls[0].ID, len(calls)-1, application.ErrConflict)
}

// seenKey reports whether a call of calls has key. Chunks are small, so a
// scan beats a map.
func seenKey(calls []application.Call, key string) bool {
	for _, c := range calls {
		if c.OrderingKey == key {
			return true
		}
	}
	return false
}

// refreshHead makes the outbox_heads row of key agree with its pending calls
// after one of them changed: the lowest pending call is the head, and no
// other call of the key is. A head that stays the head keeps its row, and so
// its ready_at and its lease. outbox_heads has no index on ordering_key: the
// key's calls are found in outbox_by_key and their heads by seq.
func refreshHead(c *writeConn, key string) error {
	var seq, next, lease int64
	err := c.QueryRowContext(context.Background(), qHeadOfKey, key).Scan(&seq, &next, &lease)
	none := errors.Is(err, sql.ErrNoRows)
	if err != nil && !none {
		return err
	}
	if _, err := c.ExecContext(context.Background(), qDropHeadsOfKey, key, seq); err != nil {
		return err
	}
	if none {
		return nil
	}
	_, err = c.ExecContext(context.Background(), qRefreshHead, seq, key, max(next, lease))
	return err
}

// qRefreshHead makes call ?1 the head of key ?2, due at ?3 unless it was
// the head already (it keeps its ready_at and lease), and says whether
// calls of the key wait behind it.
const qRefreshHead = `INSERT INTO outbox_heads (seq, ordering_key, ready_at, more) VALUES (?1, ?2, ?3,
	EXISTS (SELECT 1 FROM outbox AS m WHERE m.ordering_key = ?2 AND m.seq > ?1 AND m.state = 'pending'))
	ON CONFLICT (seq) DO UPDATE SET more = excluded.more`

// qDropHeadsOfKey deletes the heads of a key's calls but one (seq ?2; 0
// for none).
const qDropHeadsOfKey = `DELETE FROM outbox_heads WHERE seq IN (SELECT seq FROM outbox WHERE ordering_key = ?1)
	AND seq <> ?2`

// Claim implements application.Outbox. The lease runs in the writer, so a
// claim never waits behind commands for a lock, and it writes only the
// heads' leased_until: the outbox rows are not rewritten. The claimed calls
// are read after the lease committed, on a read connection, so that reading
// and decoding them does not hold up the writer. A call discarded in
// between is left out.
func (db *DB) Claim(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]application.Call, error) {
	if limit <= 0 {
		return nil, nil
	}
	var seqs []int64
	err := db.w.do(ctx, func(ctx context.Context, c *writeConn) error {
		seqs = seqs[:0]
		nowMS, until := toMS(now), toMS(now.Add(lease))
		return queryEach(c, qLeaseHeads, []any{nowMS, limit, max(until, nowMS)}, func(r *sql.Rows) error {
			var seq int64
			err := r.Scan(&seq)
			seqs = append(seqs, seq)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim: %w", err)
	}
	out := make([]application.Call, 0, len(seqs))
	if len(seqs) == 0 {
		return out, nil
	}
	seqJSON, err := json.Marshal(seqs)
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim: %w", err)
	}
	// The leases are taken: read the calls even if ctx ends now, or they
	// would wait for their lease to run out.
	rows, err := db.read.QueryContext(context.WithoutCancel(ctx), qClaimedCalls, string(seqJSON))
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim: read calls: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		call, err := scanCall(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: claim: %w", err)
		}
		out = append(out, call)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: claim: read calls: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out, nil
}

// Settle implements application.Outbox: every outcome is applied in one
// transaction, or none is (an unknown call is ErrNotFound). A call that left
// pending while in flight (discarded) keeps its state; its history still
// records the outcome.
//
// Outcomes of pending calls that share everything but their call (a
// request's delivered calls) are applied together: one UPDATE sets their
// calls and one INSERT writes their history; then the heads of the keys
// whose head was settled are recomputed in two statements (qSettleGroup,
// qSettleHistory, qSettleHeads, qNewHeads). A delivery writes no history row:
// Get shows it from the call's state and settled_at (delivery_unlogged).
// Outcomes of calls that are no longer pending are rare and are applied one
// by one (settleStale).
func (db *DB) Settle(ctx context.Context, outcomes []application.Outcome) error {
	for _, o := range outcomes {
		switch o.State {
		case application.StatePending, application.StateDelivered, application.StateDead, application.StateExpired:
		default:
			return fmt.Errorf("settle %s: outcome state %q is not allowed", o.ID, o.State)
		}
	}
	if len(outcomes) == 0 {
		return nil
	}
	if hasDuplicateID(outcomes) {
		// The same call twice in one write: apply the outcomes in order, one
		// by one, as the port says.
		steps := make([][]*settleGroup, len(outcomes))
		for i, o := range outcomes {
			g, err := settleGroups(outcomes[i : i+1])
			if err != nil {
				return fmt.Errorf("sqlite: settle %s: %w", o.ID, err)
			}
			steps[i] = g
		}
		return db.w.do(ctx, func(ctx context.Context, c *writeConn) error {
			for _, g := range steps {
				if err := settleBulk(c, g); err != nil {
					return err
				}
			}
			return nil
		})
	}
	groups, err := settleGroups(outcomes)
	if err != nil {
		return fmt.Errorf("sqlite: settle: %w", err)
	}
	return db.w.do(ctx, func(ctx context.Context, c *writeConn) error {
		return settleBulk(c, groups)
	})
}

// settleSet is what an outcome writes to its call.
const settleSet = `
	attempts = attempts + ?1,
	lease_until = 0,
	state = ?2,
	next_attempt_at = CASE WHEN ?2 = 'pending' THEN ?3 ELSE next_attempt_at END,
	settled_at = CASE WHEN ?2 = 'pending' THEN settled_at ELSE ?4 END,
	delivery_unlogged = ?2 = 'delivered',
	last_error_status = CASE WHEN ?5 THEN ?6 ELSE last_error_status END,
	last_error_code = CASE WHEN ?5 THEN ?7 ELSE last_error_code END,
	last_error_message = CASE WHEN ?5 THEN ?8 ELSE last_error_message END`

// The statements of a bulk settle. Their last argument is a JSON array of
// the call IDs or seqs concerned, or a JSON object of ordering keys.
const (
	// qSettleGroup applies one outcome to those of calls (IDs) that are
	// pending; qSettleGroupBySeq to those of calls given as [seq, id] pairs
	// that still have that seq and are pending. A seq finds the row by
	// rowid, in the order the calls were enqueued; an ID searches the
	// random positions of the id index.
	qSettleGroup      = `UPDATE outbox SET ` + settleSet + ` WHERE id IN (SELECT value FROM json_each(?9)) AND +state = 'pending' RETURNING id, seq`
	qSettleGroupBySeq = `UPDATE outbox SET ` + settleSet + `
		FROM (SELECT value ->> 0 AS s, value ->> 1 AS i FROM json_each(?9)) AS j
		WHERE outbox.seq = j.s AND outbox.id = j.i AND +outbox.state = 'pending' RETURNING id, seq`
	// qSettleHistory records one outcome of calls in their history.
	qSettleHistory = `INSERT INTO outbox_attempts (call_id, at, state, error_status, error_code, error_message)
		SELECT value, ?, ?, ?, ?, ? FROM json_each(?)`
	// qSettleHeads removes the heads that were settled (a call no longer the
	// head of its key changes no head).
	qSettleHeads = `DELETE FROM outbox_heads WHERE seq IN (SELECT value FROM json_each(?)) RETURNING ordering_key, seq, more`
	// qNewHeads makes the lowest pending call of each key the key's head. Its
	// argument maps each key to the seq of its settled head: the new head is
	// that call (left pending) or one after it. It is run only for the keys
	// whose settled head had calls behind it or stayed pending.
	qNewHeads = `INSERT INTO outbox_heads (seq, ordering_key, ready_at, more)
		SELECT o.seq, o.ordering_key, max(o.next_attempt_at, o.lease_until), EXISTS (SELECT 1 FROM outbox AS m
			WHERE m.ordering_key = o.ordering_key AND m.seq > o.seq AND m.state = 'pending')
		FROM json_each(?) AS k JOIN outbox AS o ON o.seq = (SELECT h.seq FROM outbox AS h
			WHERE h.ordering_key = k.key AND h.seq >= k.value AND h.state = 'pending' ORDER BY h.seq LIMIT 1)`
	// qStaleCall reads a call that was not pending when an outcome came.
	qStaleCall = `SELECT settled_at, delivery_unlogged FROM outbox WHERE id = ?`
	// qStaleSettle counts the attempt of an outcome that came for a call no
	// longer pending, and notes that its delivery (if any) is now logged.
	qStaleSettle = `UPDATE outbox SET attempts = attempts + ?, lease_until = 0, delivery_unlogged = 0 WHERE id = ?`
)

// settleGroup is outcomes that differ only by their call: the arguments of
// qSettleGroup and qSettleHistory, and the calls as a JSON array.
type settleGroup struct {
	shape settleShape
	ids   []string
	json  string
	// pairs holds [seq, id] for the outcomes that give a Seq, as JSON;
	// empty when none does.
	pairs string
	seqs  []int64 // each outcome's Seq, as ids
}

// settleShape is an outcome without its call.
type settleShape struct {
	state             string
	attempted         bool
	next, settled, at int64
	hasErr            bool
	status            int
	code, message     string
}

// settleGroups groups outcomes (of distinct calls) by shape, in order of
// first appearance, and encodes each group's IDs.
func settleGroups(outcomes []application.Outcome) ([]*settleGroup, error) {
	var groups []*settleGroup
	index := map[settleShape]*settleGroup{}
	for _, o := range outcomes {
		sh := settleShape{state: string(o.State), attempted: o.Attempted, at: toMS(o.At)}
		if o.State == application.StatePending {
			sh.next = toMS(o.NextAttemptAt)
		} else {
			sh.settled = toMS(o.At)
		}
		if e := o.Err; e != nil {
			sh.hasErr, sh.status, sh.code, sh.message = true, e.Status, e.Code, e.Message
		}
		g := index[sh]
		if g == nil {
			g = &settleGroup{shape: sh}
			index[sh] = g
			groups = append(groups, g)
		}
		g.ids = append(g.ids, o.ID)
		g.seqs = append(g.seqs, o.Seq)
	}
	for _, g := range groups {
		b, err := json.Marshal(g.ids)
		if err != nil {
			return nil, err
		}
		g.json = string(b)
		var pairs []any
		for i, seq := range g.seqs {
			if seq > 0 {
				pairs = append(pairs, [2]any{seq, g.ids[i]})
			}
		}
		if len(pairs) > 0 {
			if b, err = json.Marshal(pairs); err != nil {
				return nil, err
			}
			g.pairs = string(b)
		}
	}
	return groups, nil
}

// idsWhere returns, as a JSON array, the group's IDs whose found[id] is
// want: the group's own array when that is all of them.
func (g *settleGroup) idsWhere(found map[string]bool, want bool) (string, error) {
	var ids []string
	for _, id := range g.ids {
		if found[id] == want {
			ids = append(ids, id)
		}
	}
	if len(ids) == len(g.ids) {
		return g.json, nil
	}
	b, err := json.Marshal(ids)
	return string(b), err
}

// args returns the error columns of the shape: NULL without an error.
func (sh settleShape) errArgs() (status, code, message any) {
	if !sh.hasErr {
		return nil, nil, nil
	}
	return sh.status, sh.code, sh.message
}

func hasDuplicateID(outcomes []application.Outcome) bool {
	seen := make(map[string]struct{}, len(outcomes))
	for _, o := range outcomes {
		if _, ok := seen[o.ID]; ok {
			return true
		}
		seen[o.ID] = struct{}{}
	}
	return false
}

// settleBulk applies groups of outcomes of distinct calls: one or two
// statements per group to find the calls (by seq, then by ID for those
// the seqs missed), one for the history (none for a delivery), two for the
// heads, and a few for each call that was no longer pending.
func settleBulk(c *writeConn, groups []*settleGroup) error {
	var seqs []int64
	stayed := map[int64]bool{} // settled calls left pending
	type stale struct {
		id    string
		shape settleShape
	}
	var rest []stale
	for _, g := range groups {
		sh := g.shape
		status, code, message := sh.errArgs()
		found := make(map[string]bool, len(g.ids))
		collect := func(r *sql.Rows) error {
			var id string
			var seq int64
			if err := r.Scan(&id, &seq); err != nil {
				return err
			}
			found[id] = true
			seqs = append(seqs, seq)
			if sh.state == string(application.StatePending) {
				stayed[seq] = true
			}
			return nil
		}
		args := []any{sh.attempted, sh.state, sh.next, sh.settled, sh.hasErr, status, code, message}
		if g.pairs != "" {
			if err := queryEach(c, qSettleGroupBySeq, append(args, g.pairs), collect); err != nil {
				return fmt.Errorf("settle: %w", err)
			}
		}
		if len(found) < len(g.ids) {
			byID, err := g.idsWhere(found, false)
			if err != nil {
				return err
			}
			if err := queryEach(c, qSettleGroup, append(args, byID), collect); err != nil {
				return fmt.Errorf("settle: %w", err)
			}
		}
		for _, id := range g.ids {
			if !found[id] {
				rest = append(rest, stale{id, sh})
			}
		}
		if sh.state == string(application.StateDelivered) || len(found) == 0 {
			continue // a delivery's entry comes from the call itself
		}
		settled, err := g.idsWhere(found, true)
		if err != nil {
			return err
		}
		if _, err := c.ExecContext(context.Background(), qSettleHistory, sh.at, sh.state, status, code, message,
			settled); err != nil {
			return fmt.Errorf("settle: history: %w", err)
		}
	}
	if err := settleHeads(c, seqs, stayed); err != nil {
		return fmt.Errorf("settle: heads: %w", err)
	}
	for _, s := range rest {
		if err := settleStale(c, s.id, s.shape); err != nil {
			return fmt.Errorf("settle %s: %w", s.id, err)
		}
	}
	return nil
}

// settleHeads removes the heads among the settled calls seqs and makes the
// next pending call of each of their keys its head: the call itself when it
// stayed pending, else the first call behind it, if its head said it had
// one (outbox_heads.more).
func settleHeads(c *writeConn, seqs []int64, stayed map[int64]bool) error {
	if len(seqs) == 0 {
		return nil
	}
	seqJSON, err := json.Marshal(seqs)
	if err != nil {
		return err
	}
	keys := map[string]int64{}
	if err := queryEach(c, qSettleHeads, []any{string(seqJSON)}, func(r *sql.Rows) error {
		var key string
		var seq int64
		var more bool
		if err := r.Scan(&key, &seq, &more); err != nil {
			return err
		}
		if more || stayed[seq] {
			keys[key] = seq
		}
		return nil
	}); err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	keyJSON, err := json.Marshal(keys)
	if err != nil {
		return err
	}
	_, err = c.ExecContext(context.Background(), qNewHeads, string(keyJSON))
	return err
}

// settleStale records an outcome for a call that is no longer pending (it
// was discarded in flight, or another relay settled it after its lease): the
// call keeps its state, its attempt counts, and its history gets the outcome,
// after the call's delivery if that was not logged yet.
func settleStale(c *writeConn, id string, sh settleShape) error {
	var settled int64
	var unlogged bool
	err := c.QueryRowContext(context.Background(), qStaleCall, id).Scan(&settled, &unlogged)
	if errors.Is(err, sql.ErrNoRows) {
		return application.ErrNotFound
	}
	if err != nil {
		return err
	}
	if unlogged {
		if err := addHistory(c, id, fromMS(settled), application.StateDelivered, nil); err != nil {
			return err
		}
	}
	if _, err := c.ExecContext(context.Background(), qStaleSettle, sh.attempted, id); err != nil {
		return err
	}
	var e *application.CallError
	if sh.hasErr {
		e = &application.CallError{Status: sh.status, Code: sh.code, Message: sh.message}
	}
	return addHistory(c, id, fromMS(sh.at), application.CallState(sh.state), e)
}

// queryEach runs a query on the writer's connection and calls fn for each
// row.
func queryEach(c *writeConn, query string, args []any, fn func(*sql.Rows) error) error {
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

func addHistory(c *writeConn, id string, at time.Time, state application.CallState, e *application.CallError) error {
	status, code, message := errorArgs(e)
	_, err := c.ExecContext(context.Background(), `INSERT INTO outbox_attempts
		(call_id, at, state, error_status, error_code, error_message) VALUES (?, ?, ?, ?, ?, ?)`,
		id, toMS(at), string(state), status, code, message)
	return err
}

// callRef is what the operator operations need to know of a call.
type callRef struct {
	seq              int64
	key, state, kind string
	triggerKey       string
}

// findCall reads a call of a site for an operator operation, or ErrNotFound.
func findCall(c *writeConn, siteID, id string) (callRef, error) {
	var r callRef
	err := c.QueryRowContext(context.Background(), `SELECT seq, ordering_key, state, kind, trigger_key FROM outbox
		WHERE site_id = ? AND id = ?`, siteID, id).Scan(&r.seq, &r.key, &r.state, &r.kind, &r.triggerKey)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("call %s: %w", id, application.ErrNotFound)
	}
	return r, err
}

// Retry implements application.Outbox: a dead or expired call goes back to
// pending, due at now, with a new seq at the tail of its ordering key.
func (db *DB) Retry(ctx context.Context, siteID, id string, now time.Time) error {
	return db.w.do(ctx, func(ctx context.Context, c *writeConn) error {
		r, err := findCall(c, siteID, id)
		if err != nil {
			return err
		}
		if r.state != string(application.StateDead) && r.state != string(application.StateExpired) {
			return fmt.Errorf("retry call %s in state %s: %w", id, r.state, application.ErrCallState)
		}
		if r.kind == string(application.KindCancel) {
			var newer string
			err := c.QueryRowContext(ctx, qNewerReport, r.key, r.seq, r.triggerKey).Scan(&newer)
			if err == nil {
				return fmt.Errorf("retry cancel %s: report %s of the same trigger and entity came after it and would be canceled: %w",
					id, newer, application.ErrCallState)
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		var seq int64
		if err := c.QueryRowContext(ctx, `UPDATE sqlite_sequence SET seq = seq + 1 WHERE name = 'outbox' RETURNING seq`).
			Scan(&seq); err != nil {
			return fmt.Errorf("sqlite: retry call %s: next seq: %w", id, err)
		}
		if _, err := c.ExecContext(ctx, `UPDATE outbox SET seq = ?, state = 'pending', next_attempt_at = ?,
			lease_until = 0, settled_at = 0 WHERE seq = ?`, seq, toMS(now), r.seq); err != nil {
			return fmt.Errorf("sqlite: retry call %s: %w", id, err)
		}
		if err := addHistory(c, id, now, application.StatePending,
			&application.CallError{Message: "retried by an operator"}); err != nil {
			return fmt.Errorf("sqlite: retry call %s: %w", id, err)
		}
		if err := refreshHead(c, r.key); err != nil {
			return fmt.Errorf("sqlite: retry call %s: %w", id, err)
		}
		return nil
	})
}

// Discard implements application.Outbox: a pending, dead or expired call
// becomes discarded and is never sent.
func (db *DB) Discard(ctx context.Context, siteID, id string, now time.Time) error {
	return db.w.do(ctx, func(ctx context.Context, c *writeConn) error {
		r, err := findCall(c, siteID, id)
		if err != nil {
			return err
		}
		switch application.CallState(r.state) {
		case application.StatePending, application.StateDead, application.StateExpired:
		default:
			return fmt.Errorf("discard call %s in state %s: %w", id, r.state, application.ErrCallState)
		}
		if _, err := c.ExecContext(ctx, `UPDATE outbox SET state = 'discarded', settled_at = ?, lease_until = 0
			WHERE seq = ?`, toMS(now), r.seq); err != nil {
			return fmt.Errorf("sqlite: discard call %s: %w", id, err)
		}
		if err := addHistory(c, id, now, application.StateDiscarded,
			&application.CallError{Message: "discarded by an operator"}); err != nil {
			return fmt.Errorf("sqlite: discard call %s: %w", id, err)
		}
		if r.state == string(application.StatePending) {
			if err := refreshHead(c, r.key); err != nil {
				return fmt.Errorf("sqlite: discard call %s: %w", id, err)
			}
		}
		return nil
	})
}

// pruneChunk bounds how many calls one write of Prune deletes, so that a
// large prune does not hold the writer (and every command) for long.
const pruneChunk = 1000

// Prune implements application.Outbox: it deletes delivered and discarded
// calls settled before cutoff, with their history, in chunks of one
// transaction each.
func (db *DB) Prune(ctx context.Context, before time.Time) (int, error) {
	total := 0
	for {
		var n int64
		err := db.w.do(ctx, func(ctx context.Context, c *writeConn) error {
			res, err := c.ExecContext(ctx, qPrune, toMS(before), pruneChunk)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("sqlite: prune: %w", err)
		}
		total += int(n)
		if n < pruneChunk {
			return total, nil
		}
	}
}

// NextDue implements application.Outbox: the earliest time a head of an
// ordering key may be claimed (its next attempt, or its lease if later).
func (db *DB) NextDue(ctx context.Context) (time.Time, bool, error) {
	rows, err := db.read.QueryContext(ctx, qNextDue)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("sqlite: next due: %w", err)
	}
	defer rows.Close()
	best, found := int64(0), false
	for rows.Next() {
		var ready, leased int64
		if err := rows.Scan(&ready, &leased); err != nil {
			return time.Time{}, false, fmt.Errorf("sqlite: next due: %w", err)
		}
		if found && ready >= best {
			break // every later head is ready no sooner
		}
		if at := max(ready, leased); !found || at < best {
			best, found = at, true
		}
	}
	if err := rows.Err(); err != nil {
		return time.Time{}, false, fmt.Errorf("sqlite: next due: %w", err)
	}
	return fromMS(best), found, nil
}

// List implements application.Outbox.
func (db *DB) List(ctx context.Context, f application.Filter) ([]application.Call, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	var where []string
	var args []any
	if f.SiteID != "" {
		where, args = append(where, "site_id = ?"), append(args, f.SiteID)
	}
	if f.State != "" {
		where, args = append(where, "state = ?"), append(args, string(f.State))
		if f.State != application.StateDelivered {
			// The condition of outbox_open, written out so that SQLite uses it.
			where = append(where, openCalls)
		}
	}
	where, args = append(where, "seq > ?"), append(args, f.After, limit)
	rows, err := db.read.QueryContext(ctx, `SELECT `+callCols+` FROM outbox WHERE `+strings.Join(where, " AND ")+
		` ORDER BY seq LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list calls: %w", err)
	}
	defer rows.Close()
	var out []application.Call
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

// Get implements application.Outbox: one call of a site with its history,
// read in one snapshot.
func (db *DB) Get(ctx context.Context, siteID, id string) (application.CallDetail, error) {
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return application.CallDetail{}, fmt.Errorf("sqlite: get call %s: %w", id, err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	c, err := scanCall(tx.QueryRowContext(ctx, `SELECT `+callCols+` FROM outbox WHERE site_id = ? AND id = ?`, siteID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return application.CallDetail{}, fmt.Errorf("call %s: %w", id, application.ErrNotFound)
	}
	if err != nil {
		return application.CallDetail{}, fmt.Errorf("sqlite: get call %s: %w", id, err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT at, state, error_status, error_code, error_message FROM outbox_attempts
		WHERE call_id = ? ORDER BY id`, id)
	if err != nil {
		return application.CallDetail{}, fmt.Errorf("sqlite: get call %s: %w", id, err)
	}
	defer rows.Close()
	d := application.CallDetail{Call: c}
	for rows.Next() {
		var (
			at      int64
			state   string
			status  sql.NullInt64
			code    sql.NullString
			message sql.NullString
		)
		if err := rows.Scan(&at, &state, &status, &code, &message); err != nil {
			return application.CallDetail{}, fmt.Errorf("sqlite: get call %s: %w", id, err)
		}
		d.History = append(d.History, application.Attempt{At: fromMS(at), State: application.CallState(state),
			Err: callError(status, code, message)})
	}
	if err := rows.Err(); err != nil {
		return application.CallDetail{}, fmt.Errorf("sqlite: get call %s: %w", id, err)
	}
	if c.State == application.StateDelivered {
		// A delivery is logged only when something came after it; the last
		// entry is otherwise the call's own state and time.
		var unlogged bool
		if err := tx.QueryRowContext(ctx, `SELECT delivery_unlogged FROM outbox WHERE seq = ?`, c.Seq).
			Scan(&unlogged); err != nil {
			return application.CallDetail{}, fmt.Errorf("sqlite: get call %s: %w", id, err)
		}
		if unlogged {
			d.History = append(d.History, application.Attempt{At: c.SettledAt, State: application.StateDelivered})
		}
	}
	return d, nil
}

// openCalls is the condition of the partial index outbox_open: every call
// that is not delivered. A query uses that index only if its WHERE clause
// contains this very term.
const openCalls = `state <> 'delivered'`

// Stats implements application.Outbox: every state is present, zero or not.
// Delivered calls, the bulk of the table, are not in outbox_open: they are
// counted as all the calls less the others, both counts read from an index
// alone.
func (db *DB) Stats(ctx context.Context, siteID string) (map[application.CallState]int, error) {
	open, total := `SELECT state, count(*) FROM outbox WHERE `+openCalls+` GROUP BY state`, `SELECT count(*) FROM outbox`
	var args []any
	if siteID != "" {
		open = `SELECT state, count(*) FROM outbox WHERE site_id = ? AND ` + openCalls + ` GROUP BY state`
		total, args = `SELECT count(*) FROM outbox WHERE site_id = ?`, []any{siteID}
	}
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("sqlite: outbox stats: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	out := make(map[application.CallState]int, len(application.CallStates))
	for _, st := range application.CallStates {
		out[st] = 0
	}
	var all int
	if err := tx.QueryRowContext(ctx, total, args...).Scan(&all); err != nil {
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
		out[application.CallState(state)] = n
		delivered -= n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: outbox stats: %w", err)
	}
	out[application.StateDelivered] = delivered
	return out, nil
}
