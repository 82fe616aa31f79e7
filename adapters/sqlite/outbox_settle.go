package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/outbox"
)

// Settle implements outbox.Outbox: every outcome is applied in one
// transaction, or none is (an unknown call is ErrNotFound).
//
// An outcome applies only when it is fenced: its token is the active
// relay's, and the call is still its key's head leased with that token.
// Then it moves the call as outbox.Settled says, and ends the key's lease.
// An outcome of a call that left pending while in flight ends the lease its
// successor inherited and is history only; a stale outcome (the lease had
// ended) is history only and leaves the key to whoever holds it now.
//
// Outcomes that share everything but their call (a request's delivered
// calls) are applied together: one statement marks deliveries delivered
// (qDeliverBySeq: a mark each, the rows untouched, outbox_rows.go), one
// UPDATE sets the calls of other outcomes and one INSERT writes their
// history; then the heads of the settled calls are recomputed in two
// statements (qSettleHeads, qNewHeads). A delivery writes no history row:
// Get shows it from its mark. The rest (calls no longer pending, stale
// outcomes, dead or expired calls a newer call supersedes) are rare and
// applied one by one.
func (db *DB) Settle(ctx context.Context, outcomes []outbox.Outcome) error {
	for _, o := range outcomes {
		if _, ok := outbox.OutcomeEvent(o.State); !ok {
			return fmt.Errorf("settle %s: outcome state %q is not allowed", o.ID, o.State)
		}
	}
	if len(outcomes) == 0 {
		return nil
	}
	// The same call twice in one write: apply the outcomes in order, one
	// by one (the second finds the lease the first ended).
	steps := [][]outbox.Outcome{outcomes}
	if hasDuplicateID(outcomes) {
		steps = steps[:0]
		for i := range outcomes {
			steps = append(steps, outcomes[i:i+1])
		}
	}
	groups := make([][]*settleGroup, len(steps))
	for i, s := range steps {
		g, err := settleGroups(s)
		if err != nil {
			return fmt.Errorf("sqlite: settle: %w", err)
		}
		groups[i] = g
	}
	return db.w.do(ctx, func(ctx context.Context, c *writeConn) error {
		l, err := readRelayLease(c)
		if err != nil {
			return fmt.Errorf("sqlite: settle: %w", err)
		}
		for _, g := range groups {
			if err := settleBulk(c, g, l.token); err != nil {
				return err
			}
		}
		return nil
	})
}

// settleSet is what an outcome writes to its call.
const settleSet = `
	attempts = attempts + ?1,
	state = ?2,
	next_attempt_at = CASE WHEN ?2 = 'pending' THEN ?3 ELSE next_attempt_at END,
	settled_at = CASE WHEN ?2 = 'pending' THEN settled_at ELSE ?4 END,
	delivery_unlogged = ?2 = 'delivered',
	last_error_status = CASE WHEN ?5 THEN ?6 ELSE last_error_status END,
	last_error_code = CASE WHEN ?5 THEN ?7 ELSE last_error_code END,
	last_error_message = CASE WHEN ?5 THEN ?8 ELSE last_error_message END`

// fenced is the condition under which an outcome applies to a call: the
// outcome's token (?10) is the active relay's and the call is its key's head
// leased with it.
const fenced = ` AND ?10 <> 0 AND ?10 = ?11 AND EXISTS (SELECT 1 FROM outbox_heads AS h
	WHERE h.seq = outbox.seq AND h.lease_token = ?10)`

// The statements of a bulk settle. Their ?9 is a JSON array of the call IDs
// or seqs concerned, or a JSON object of ordering keys. Those the fence
// guards (qSettleGroup, qSettleGroupBySeq, qDeliverBySeq) need not rule out
// a delivered call: a call the fence admits is its key's head, and a marked
// call never is (its head goes in the transaction that marks it).
var (
	// qSettleGroup applies one outcome to those of calls (IDs) that are
	// pending and fenced; qSettleGroupBySeq to those of calls given as a
	// JSON object of seq to ID that still have that seq (an object, not
	// [seq, id] pairs: SQLite then parses the argument once, not each
	// pair again to extract its two members). A seq finds the row by
	// rowid, in the order the calls were enqueued; an ID searches the
	// random positions of the id index.
	qSettleGroup = `UPDATE outbox SET ` + settleSet + ` WHERE id IN (SELECT value FROM json_each(?9))
		AND +state = 'pending'` + fenced + ` RETURNING id, seq, ordering_key, trigger_key`
	qSettleGroupBySeq = `UPDATE outbox SET ` + settleSet + `
		FROM (SELECT CAST(key AS INTEGER) AS s, value AS i FROM json_each(?9)) AS j
		WHERE outbox.seq = j.s AND outbox.id = j.i AND +outbox.state = 'pending'` + fenced + `
		RETURNING id, seq, ordering_key, trigger_key`
	// qDeliverBySeq marks the calls given as a JSON object of seq to ID (?9) that are
	// pending and fenced delivered at ?1, with an attempt if ?2: one append
	// to outbox_delivered each, the row untouched (outbox_rows.go). The
	// fence alone keeps a call from being marked twice; not reading
	// outbox_delivered here also spares SQLite copying the SELECT into a
	// temporary table before the INSERT.
	qDeliverBySeq = `INSERT INTO outbox_delivered (call_seq, delivered_at, attempted)
		SELECT outbox.seq, ?1, ?2 FROM (SELECT CAST(key AS INTEGER) AS s, value AS i FROM json_each(?9)) AS j, outbox
		WHERE outbox.seq = j.s AND outbox.id = j.i AND +outbox.state = 'pending'` + fenced + `
		RETURNING call_seq`
	// qSeqsOfIDs finds the seqs of calls (a JSON array of IDs).
	qSeqsOfIDs = `SELECT seq, id FROM outbox WHERE id IN (SELECT value FROM json_each(?))`
	// qSettleHistory records one outcome of calls in their history.
	qSettleHistory = `INSERT INTO outbox_attempts (call_id, at, state, error_status, error_code, error_message)
		SELECT value, ?, ?, ?, ?, ? FROM json_each(?)`
	// qSettleHeads removes the heads that were settled.
	qSettleHeads = `DELETE FROM outbox_heads WHERE seq IN (SELECT value FROM json_each(?)) RETURNING ordering_key, seq, more`
	// qNewHeads makes the lowest pending call of each key the key's head. Its
	// argument maps each key to the seq of its settled head: the new head is
	// that call (left pending) or one after it. It is run only for the keys
	// whose settled head had calls behind it or stayed pending.
	qNewHeads = `INSERT INTO outbox_heads (seq, ordering_key, ready_at, more)
		SELECT o.seq, o.ordering_key, o.next_attempt_at, EXISTS (SELECT 1 FROM outbox AS m
			WHERE m.ordering_key = o.ordering_key AND m.seq > o.seq AND ` + pendingCall("m") + `)
		FROM json_each(?) AS k JOIN outbox AS o ON o.seq = (SELECT h.seq FROM outbox AS h
			WHERE h.ordering_key = k.key AND h.seq >= k.value AND ` + pendingCall("h") + ` ORDER BY h.seq LIMIT 1)`
	// qNewerOfPair finds the first call of a pair after a seq.
	qNewerOfPair = `SELECT id FROM outbox WHERE ordering_key = ? AND trigger_key = ? AND seq > ? ORDER BY seq LIMIT 1`
	// qSupersedeOne supersedes one call that an outcome left dead or expired.
	qSupersedeOne = `UPDATE outbox SET state = 'superseded', superseded_by = ? WHERE seq = ?`
)

// settleGroup is outcomes that differ only by their call: the arguments of
// qSettleGroup and qSettleHistory, and the calls as a JSON array.
type settleGroup struct {
	shape settleShape
	ids   []string
	json  string
	// pairs maps seq to ID for the outcomes that give a Seq, as a JSON
	// object; empty when none does. A seq that two outcomes give is left out
	// (at most one of them is right; each is found by its ID): a
	// delivery's mark returns only its seq, which must name one call.
	pairs string
	idOf  map[int64]string // the call each seq in pairs names
	seqs  []int64          // each outcome's Seq, as ids
}

// settleShape is an outcome without its call.
type settleShape struct {
	state             string
	attempted         bool
	next, settled, at int64
	token             int64
	hasErr            bool
	status            int
	code, message     string
}

func (sh settleShape) err() *outbox.CallError {
	if !sh.hasErr {
		return nil
	}
	return &outbox.CallError{Status: sh.status, Code: sh.code, Message: sh.message}
}

// settleGroups groups outcomes (of distinct calls) by shape, in order of
// first appearance, and encodes each group's IDs.
func settleGroups(outcomes []outbox.Outcome) ([]*settleGroup, error) {
	var groups []*settleGroup
	index := map[settleShape]*settleGroup{}
	for _, o := range outcomes {
		sh := settleShape{state: string(o.State), attempted: o.Attempted, at: toMS(o.At), token: o.Token}
		if o.State == outbox.StatePending {
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
		given := map[int64]int{}
		for _, seq := range g.seqs {
			given[seq]++
		}
		g.idOf = make(map[int64]string, len(g.seqs))
		for i, seq := range g.seqs {
			if seq > 0 && given[seq] == 1 {
				g.idOf[seq] = g.ids[i]
			}
		}
		if len(g.idOf) > 0 {
			if b, err = json.Marshal(g.idOf); err != nil {
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

func hasDuplicateID(outcomes []outbox.Outcome) bool {
	seen := make(map[string]struct{}, len(outcomes))
	for _, o := range outcomes {
		if _, ok := seen[o.ID]; ok {
			return true
		}
		seen[o.ID] = struct{}{}
	}
	return false
}

// settledCall is a call an outcome applied to.
type settledCall struct {
	id, key, trigger string
	seq              int64
	shape            settleShape
}

// settleBulk applies groups of outcomes of distinct calls: one or two
// statements per group to find the fenced pending calls (by seq, then by ID
// for those the seqs missed), one for the history (none for a delivery),
// two for the heads, and a few for each of the rest.
func settleBulk(c *writeConn, groups []*settleGroup, token int64) error {
	var seqs []int64
	stayed := map[int64]bool{} // settled calls left pending
	type other struct {
		id    string
		shape settleShape
	}
	var rest []other
	var final []settledCall // dead or expired: a newer call may supersede them
	for _, g := range groups {
		sh := g.shape
		status, code, message := errorArgs(sh.err())
		found := make(map[string]bool, len(g.ids))
		collect := func(r *sql.Rows) error {
			var s settledCall
			if err := r.Scan(&s.id, &s.seq, &s.key, &s.trigger); err != nil {
				return err
			}
			found[s.id] = true
			seqs = append(seqs, s.seq)
			switch outbox.State(sh.state) {
			case outbox.StatePending:
				stayed[s.seq] = true
			case outbox.StateDead, outbox.StateExpired:
				s.shape = sh
				final = append(final, s)
			}
			return nil
		}
		if sh.state == string(outbox.StateDelivered) && !sh.hasErr {
			if err := deliverGroup(c, g, token, found, &seqs); err != nil {
				return fmt.Errorf("settle: %w", err)
			}
			for _, id := range g.ids {
				if !found[id] {
					rest = append(rest, other{id, sh})
				}
			}
			continue // a delivery's entry comes from its mark
		}
		args := []any{sh.attempted, sh.state, sh.next, sh.settled, sh.hasErr, status, code, message}
		if g.pairs != "" {
			if err := queryEach(c, qSettleGroupBySeq, append(args, g.pairs, sh.token, token), collect); err != nil {
				return fmt.Errorf("settle: %w", err)
			}
		}
		if len(found) < len(g.ids) {
			byID, err := g.idsWhere(found, false)
			if err != nil {
				return err
			}
			if err := queryEach(c, qSettleGroup, append(args, byID, sh.token, token), collect); err != nil {
				return fmt.Errorf("settle: %w", err)
			}
		}
		for _, id := range g.ids {
			if !found[id] {
				rest = append(rest, other{id, sh})
			}
		}
		if sh.state == string(outbox.StateDelivered) || len(found) == 0 {
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
	for _, s := range final {
		if err := supersedeSettled(c, s); err != nil {
			return fmt.Errorf("settle %s: %w", s.id, err)
		}
	}
	for _, o := range rest {
		if err := settleOther(c, o.id, o.shape, token); err != nil {
			return fmt.Errorf("settle %s: %w", o.id, err)
		}
	}
	return nil
}

// deliverGroup marks the fenced pending calls of a group of deliveries
// delivered (qDeliverBySeq): by the seqs the outcomes give, then, for those
// the seqs missed, by the seqs their IDs have now. It sets found[id] for
// each call marked and appends its seq to seqs.
func deliverGroup(c *writeConn, g *settleGroup, token int64, found map[string]bool, seqs *[]int64) error {
	sh := g.shape
	mark := func(pairs string, idOf map[int64]string) error {
		return queryEach(c, qDeliverBySeq, []any{sh.settled, sh.attempted, 8: pairs, 9: sh.token, 10: token},
			func(r *sql.Rows) error {
				var seq int64
				if err := r.Scan(&seq); err != nil {
					return err
				}
				found[idOf[seq]] = true
				*seqs = append(*seqs, seq)
				return nil
			})
	}
	if g.pairs != "" {
		if err := mark(g.pairs, g.idOf); err != nil {
			return err
		}
	}
	if len(found) == len(g.ids) {
		return nil
	}
	missed, err := g.idsWhere(found, false)
	if err != nil {
		return err
	}
	idOf := make(map[int64]string, len(g.ids)-len(found))
	if err := queryEach(c, qSeqsOfIDs, []any{missed}, func(r *sql.Rows) error {
		var seq int64
		var id string
		err := r.Scan(&seq, &id)
		idOf[seq] = id
		return err
	}); err != nil || len(idOf) == 0 {
		return err
	}
	b, err := json.Marshal(idOf)
	if err != nil {
		return err
	}
	return mark(string(b), idOf)
}

// settleHeads removes the heads among the settled calls seqs and makes the
// next pending call of each of their keys its head: the call itself when it
// stayed pending, else the first call behind it, if its head said it had
// one (outbox_heads.more). The new heads are not leased.
func settleHeads(c *writeConn, seqs []int64, stayed map[int64]bool) error {
	if len(seqs) == 0 {
		return nil
	}
	seqJSON, err := seqsJSON(seqs)
	if err != nil {
		return err
	}
	keys := map[string]int64{}
	if err := queryEach(c, qSettleHeads, []any{seqJSON}, func(r *sql.Rows) error {
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

// supersedeSettled supersedes a call an outcome left dead or expired when a
// newer call of its pair exists (outbox.Settled).
func supersedeSettled(c *writeConn, s settledCall) error {
	var newer string
	err := c.QueryRowContext(context.Background(), qNewerOfPair, s.key, s.trigger, s.seq).Scan(&newer)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	to, _, err := outbox.Settled(outbox.StatePending, outbox.State(s.shape.state), true)
	if err != nil || to != outbox.StateSuperseded {
		return err
	}
	if _, err := c.ExecContext(context.Background(), qSupersedeOne, newer, s.seq); err != nil {
		return err
	}
	return addHistory(c, s.id, outbox.Attempt{At: fromMS(s.shape.at), State: outbox.StateSuperseded,
		Err: &outbox.CallError{Message: "superseded by call " + newer}})
}

const (
	// qOtherCall reads a call an outcome did not apply to.
	qOtherCall = `SELECT seq, ordering_key, state, settled_at, delivery_unlogged FROM outbox WHERE id = ?`
	// qCountAttempt counts the attempt of an outcome that was not applied,
	// and notes that the call's delivery (if any) is now logged.
	qCountAttempt = `UPDATE outbox SET attempts = attempts + ?, delivery_unlogged = 0 WHERE id = ?`
	// qReleaseKey ends the lease of a key held for a call that left pending
	// in flight.
	qReleaseKey = `DELETE FROM outbox_leases WHERE ordering_key = ? AND token = ? AND seq = ?`
)

// settleOther records an outcome that was not applied: its call had left
// pending (discarded, superseded, or already settled), or its lease had
// ended. The call keeps its state, its attempt counts, and its history gets
// the outcome with a note (outbox.NotApplied), after the call's delivery if
// that was not logged yet. An outcome with the active relay's token ends the
// lease its key was held with for this call, if any.
func settleOther(c *writeConn, id string, sh settleShape, token int64) error {
	var (
		seq, settled int64
		key, state   string
		unlogged     bool
	)
	if err := foldMark(c, id); err != nil {
		return err
	}
	err := c.QueryRowContext(context.Background(), qOtherCall, id).Scan(&seq, &key, &state, &settled, &unlogged)
	if errors.Is(err, sql.ErrNoRows) {
		return application.ErrNotFound
	}
	if err != nil {
		return err
	}
	if sh.token != 0 && sh.token == token {
		if _, err := c.ExecContext(context.Background(), qReleaseKey, key, sh.token, seq); err != nil {
			return err
		}
	}
	if unlogged {
		if err := addHistory(c, id, outbox.Attempt{At: fromMS(settled), State: outbox.StateDelivered}); err != nil {
			return err
		}
	}
	if _, err := c.ExecContext(context.Background(), qCountAttempt, sh.attempted, id); err != nil {
		return err
	}
	return addHistory(c, id, outbox.Attempt{At: fromMS(sh.at), State: outbox.State(sh.state), Err: sh.err(),
		Note: outbox.NotApplied(outbox.State(state))})
}
