package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/outbox"
)

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
var (
	offerSelect = `INSERT INTO outbox_heads (seq, ordering_key, ready_at, more)
		SELECT v.column1, v.column2, v.column3, v.column4 FROM (VALUES `
	offerWhere = ` AS v WHERE NOT EXISTS (SELECT 1 FROM outbox AS o
		WHERE o.ordering_key = v.column2 AND o.seq < v.column1 AND ` + pendingCall("o") + `)`
)

// markSelect and markWhere wrap the same VALUES list into the other half of
// an offer: the head of each key whose offer failed learns that a call now
// waits behind it. That head is the key's lowest pending call, which is
// earlier than the call offered.
var (
	markSelect = `UPDATE outbox_heads SET more = 1 WHERE more = 0 AND seq IN (SELECT (SELECT o.seq FROM outbox AS o
		WHERE o.ordering_key = v.column2 AND o.seq < v.column1 AND ` + pendingCall("o") + ` ORDER BY o.seq LIMIT 1)
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

// insertCalls appends checked calls to the outbox: multi-row INSERTs, then
// the first call of each ordering key offered as the key's head, then the
// older calls of each call's pair that it supersedes. It is the one
// implementation of Enqueue, for one write set or for the calls of several
// gathered across a batch. A duplicate call ID is ErrConflict naming the
// call, and nothing of the chunk is written.
func insertCalls(c *writeConn, calls []outbox.Call) error {
	if len(calls) == 0 {
		return nil
	}
	heads := make([]any, 0, 4*len(calls))
	// left counts the calls of each key not yet inserted: a head offered
	// while its key has more has calls behind it.
	left := make(map[string]int, len(calls))
	for _, c := range calls {
		left[c.OrderingKey]++
	}
	seen := make(map[string]struct{}, len(calls))
	seqs := make([]int64, 0, len(calls))
	args := make([]any, 0, 11*enqueueChunk)
	for rows := calls; len(rows) > 0; {
		n := min(len(rows), enqueueChunk)
		args = args[:0]
		for _, c := range rows[:n] {
			args = append(args, c.ID, c.SiteID, c.OrderingKey, string(c.Kind), c.TriggerKey, c.ExternalEntityID,
				string(c.Payload), toMS(c.ScheduledAt), c.Cause, toMS(c.NextAttemptAt), toMS(c.CreatedAt))
		}
		res, err := c.ExecContext(context.Background(), enqueueSQL[n], args...)
		if isUniqueViolation(err) {
			return findConflict(c, rows[:n], args)
		}
		if err != nil {
			return fmt.Errorf("sqlite: enqueue call %s and the next %d: %w", rows[0].ID, n-1, err)
		}
		last, err := res.LastInsertId()
		if err != nil {
			return fmt.Errorf("sqlite: enqueue call %s: %w", rows[0].ID, err)
		}
		// The writer is the only writer and seq is AUTOINCREMENT: the rows
		// of one INSERT got consecutive seqs, the last one last.
		first := last - int64(n) + 1
		for i, c := range rows[:n] {
			seqs = append(seqs, first+int64(i))
			left[c.OrderingKey]--
			if _, ok := seen[c.OrderingKey]; ok {
				continue
			}
			seen[c.OrderingKey] = struct{}{}
			heads = append(heads, first+int64(i), c.OrderingKey, toMS(c.NextAttemptAt), left[c.OrderingKey] > 0)
		}
		rows = rows[n:]
	}
	if err := offerHeads(c, heads); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	keys := make([]string, 0, len(left))
	for k := range left {
		keys = append(keys, k)
	}
	crowded, err := crowdedPairs(c, keys)
	if err != nil {
		return fmt.Errorf("sqlite: enqueue: %w", err)
	}
	for i, call := range calls {
		if !crowded[pair{call.OrderingKey, call.TriggerKey}] {
			continue // the call is its pair's only one that a call could supersede
		}
		call.Seq = seqs[i]
		if err := supersedeOlder(c, call, call.CreatedAt); err != nil {
			return fmt.Errorf("sqlite: enqueue call %s: supersede: %w", call.ID, err)
		}
	}
	return nil
}

// pair is a call's (ordering key, trigger key): its ordering key names its
// site and entity, so this is the pair supersession is about.
type pair struct{ key, trigger string }

// qCrowdedPairs finds, among the keys of a JSON array, the pairs that hold
// more than one call in a state a newer call may supersede (the older
// states of outbox.SupersedeRules, not restated). The calls just inserted
// count: a pair whose only such call is the new one has nothing to
// supersede, which is every pair of a new booking, so that one statement
// per batch spares a supersede statement per call.
var qCrowdedPairs = crowdedPairsOf(`ordering_key IN (SELECT value FROM json_each(?))`)

// qCrowdedPairsOfKey is qCrowdedPairs for one key, given as itself: the
// enqueue of a single command, which spares the JSON.
var qCrowdedPairsOfKey = crowdedPairsOf(`ordering_key = ?`)

func crowdedPairsOf(keys string) string {
	seen := map[outbox.State]bool{}
	var states []string
	for _, r := range outbox.SupersedeRules() {
		if !seen[r.Older] {
			seen[r.Older] = true
			states = append(states, "'"+string(r.Older)+"'")
		}
	}
	return `SELECT ordering_key, trigger_key FROM outbox WHERE ` + keys + `
		AND state IN (` + strings.Join(states, ", ") + `) AND (state <> 'pending' OR ` + notDelivered("outbox") + `)
		GROUP BY ordering_key, trigger_key HAVING count(*) > 1`
}

// crowdedPairs returns the pairs of keys whose calls (inserted already)
// have an older call their new ones may supersede.
func crowdedPairs(c *writeConn, keys []string) (map[pair]bool, error) {
	q, args := qCrowdedPairsOfKey, []any{nil}
	if len(keys) == 1 {
		args[0] = keys[0]
	} else {
		arg, err := json.Marshal(keys)
		if err != nil {
			return nil, err
		}
		q, args[0] = qCrowdedPairs, string(arg)
	}
	out := map[pair]bool{}
	err := queryEach(c, q, args, func(r *sql.Rows) error {
		var p pair
		err := r.Scan(&p.key, &p.trigger)
		out[p] = true
		return err
	})
	return out, err
}

// findConflict names the call of a chunk whose INSERT failed on a unique
// ID. The failed statement wrote nothing; the calls are inserted one by one
// inside a savepoint that is then rolled back.
func findConflict(c *writeConn, calls []outbox.Call, args []any) (err error) {
	if err := c.execRaw("SAVEPOINT enqueue_conflict"); err != nil {
		return fmt.Errorf("sqlite: enqueue: %w", err)
	}
	defer func() {
		rbErr, relErr := c.execRaw("ROLLBACK TO enqueue_conflict"), c.execRaw("RELEASE enqueue_conflict")
		if rbErr != nil || relErr != nil {
			err = fmt.Errorf("sqlite: enqueue: %w", errors.Join(err, rbErr, relErr))
		}
	}()
	for i, call := range calls {
		_, err := c.ExecContext(context.Background(), enqueueSQL[1], args[11*i:11*i+11]...)
		if isUniqueViolation(err) {
			return fmt.Errorf("enqueue: call %s: %w", call.ID, application.ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("sqlite: enqueue call %s: %w", call.ID, err)
		}
	}
	return fmt.Errorf("enqueue: call %s and the next %d: %w", calls[0].ID, len(calls)-1, application.ErrConflict)
}

// supersedeSQL[kind] supersedes, for a newer call of kind, the older calls
// of its pair that outbox.Supersedes says it supersedes. The condition is
// built from outbox.SupersedeRules, not restated.
var supersedeSQL = func() map[outbox.Kind]string {
	cases := map[outbox.Kind][]string{}
	for _, r := range outbox.SupersedeRules() {
		cases[r.Newer] = append(cases[r.Newer], fmt.Sprintf("('%s', '%s')", r.Older, r.OlderKind))
	}
	out := map[outbox.Kind]string{}
	for kind, values := range cases {
		out[kind] = `UPDATE outbox SET state = 'superseded', superseded_by = ?1, settled_at = ?2
			WHERE ordering_key = ?3 AND trigger_key = ?4 AND seq < ?5 AND (state, kind) IN (VALUES ` +
			strings.Join(values, ", ") + `) AND (state <> 'pending' OR ` + notDelivered("outbox") + `) RETURNING seq, id`
	}
	return out
}()

// supersedeOlder supersedes the older calls of newer's pair at time at,
// logs it in their history, and moves the key's head past those that were
// heads.
func supersedeOlder(c *writeConn, newer outbox.Call, at time.Time) error {
	var seqs []int64
	var ids []string
	err := queryEach(c, supersedeSQL[newer.Kind],
		[]any{newer.ID, toMS(at), newer.OrderingKey, newer.TriggerKey, newer.Seq},
		func(r *sql.Rows) error {
			var seq int64
			var id string
			err := r.Scan(&seq, &id)
			seqs, ids = append(seqs, seq), append(ids, id)
			return err
		})
	if err != nil || len(seqs) == 0 {
		return err
	}
	for _, id := range ids {
		if err := addHistory(c, id, outbox.Attempt{At: at, State: outbox.StateSuperseded,
			Err: &outbox.CallError{Message: "superseded by call " + newer.ID}}); err != nil {
			return err
		}
	}
	return resetHead(c, newer.OrderingKey)
}

// resetHead makes the outbox_heads row of key agree with its pending calls
// after some of them changed: the lowest pending call is the head, and no
// other call of the key is. A head that stays the head keeps its row (its
// due time and its claim). A claimed head that left pending (discarded,
// superseded) may still be in flight: its key stays leased for it in
// outbox_leases, so that its successor is not sent beside it, until its
// settle ends the lease or the relay's lease runs out. outbox_heads has no
// index on ordering_key: the key's calls are found in outbox_by_key and
// their heads by seq.
func resetHead(c *writeConn, key string) error {
	var oldSeq, oldReady, oldToken int64
	err := queryEach(c, qDropHeadsOfKey, []any{key}, func(r *sql.Rows) error {
		return r.Scan(&oldSeq, &oldReady, &oldToken)
	})
	if err != nil {
		return err
	}
	var seq, next int64
	err = c.QueryRowContext(context.Background(), qHeadOfKey, key).Scan(&seq, &next)
	none := errors.Is(err, sql.ErrNoRows)
	if err != nil && !none {
		return err
	}
	if oldSeq != 0 && (none || seq != oldSeq) && oldToken != 0 {
		if _, err := c.ExecContext(context.Background(), qLeaseKey, key, oldToken, oldSeq); err != nil {
			return err
		}
		if _, err := c.ExecContext(context.Background(), qMaybeSent, oldSeq); err != nil {
			return err
		}
	}
	if none {
		return nil
	}
	ready, token := next, int64(0)
	if seq == oldSeq {
		ready, token = oldReady, oldToken
	}
	_, err = c.ExecContext(context.Background(), qInsertHead, seq, key, ready, token)
	return err
}

var (
	// qHeadOfKey finds the pending call of a key with the lowest seq.
	qHeadOfKey = `SELECT seq, next_attempt_at FROM outbox WHERE ordering_key = ? AND ` + pendingCall("outbox") + `
		ORDER BY seq LIMIT 1`
	// qDropHeadsOfKey deletes the heads of a key's calls.
	qDropHeadsOfKey = `DELETE FROM outbox_heads WHERE seq IN (SELECT seq FROM outbox WHERE ordering_key = ?1)
		RETURNING seq, ready_at, lease_token`
	// qMaybeSent marks a claimed head that left pending: it may have been
	// sent.
	qMaybeSent = `UPDATE outbox SET maybe_sent = 1 WHERE seq = ? AND NOT (` + pendingCall("outbox") + `)`
	// qLeaseKey keeps key ?1 leased with token ?2 for call ?3, which left
	// pending while it was claimed.
	qLeaseKey = `INSERT INTO outbox_leases (ordering_key, token, seq) VALUES (?, ?, ?)
		ON CONFLICT (ordering_key) DO UPDATE SET token = excluded.token, seq = excluded.seq`
	// qInsertHead makes call ?1 the head of key ?2, due at ?3, claimed with
	// token ?4, and says whether calls of the key wait behind it.
	qInsertHead = `INSERT INTO outbox_heads (seq, ordering_key, ready_at, lease_token, more) VALUES (?1, ?2, ?3, ?4,
		EXISTS (SELECT 1 FROM outbox AS m WHERE m.ordering_key = ?2 AND m.seq > ?1 AND ` + pendingCall("m") + `))`
)

// seqsJSON encodes seqs as a JSON array for json_each.
func seqsJSON(seqs []int64) (string, error) {
	b, err := json.Marshal(seqs)
	return string(b), err
}
