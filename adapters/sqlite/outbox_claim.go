package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/bookable/lifecycle/application/outbox"
)

// One relay is active per database (outbox.Outbox admits it; the contract
// suite runs with Features.SingleRelay). Its lease is the row of
// outbox_relay: the holder, until when, and a token. Claim takes the lease
// when it is free or has run out, with a new token, and extends it while it
// is the holder's; another relay's Claim gets a *outbox.StandbyError. The
// heads the active relay claimed carry its token, so that its own claims
// skip them; once the token changes they are free again. A relay whose lease
// ran out must not send, and its settles change nothing but history (see
// Settle): that is the fencing of a relay that paused past its lease.

// relayLease is the row of outbox_relay.
type relayLease struct {
	holder string
	token  int64
	until  int64
}

const (
	qRelayLease    = `SELECT holder, token, until FROM outbox_relay WHERE id = 1`
	qPutRelayLease = `INSERT INTO outbox_relay (id, holder, token, until) VALUES (1, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, token = excluded.token, until = excluded.until`
)

// readRelayLease reads the relay lease; a database that never had a relay
// has the zero lease.
func readRelayLease(c querier) (relayLease, error) {
	var l relayLease
	err := c.QueryRowContext(context.Background(), qRelayLease).Scan(&l.holder, &l.token, &l.until)
	if errors.Is(err, sql.ErrNoRows) {
		return relayLease{}, nil
	}
	return l, err
}

// takeRelayLease gives relay the lease until now+d: a new token unless it
// holds a lease that has not run out. Another relay's live lease is a
// *outbox.StandbyError.
func takeRelayLease(c *writeConn, relay string, now time.Time, d time.Duration) (relayLease, error) {
	l, err := readRelayLease(c)
	if err != nil {
		return l, err
	}
	nowMS := toMS(now)
	live := l.until > nowMS
	if live && l.holder != relay {
		return l, &outbox.StandbyError{Holder: l.holder, Until: fromMS(l.until)}
	}
	if !live || l.holder != relay {
		l = relayLease{holder: relay, token: l.token + 1}
		// The keys held for calls of an older lease are free again.
		if _, err := c.ExecContext(context.Background(), qFreeKeys, l.token); err != nil {
			return l, err
		}
	}
	l.until = max(toMS(now.Add(d)), nowMS+1)
	_, err = c.ExecContext(context.Background(), qPutRelayLease, l.holder, l.token, l.until)
	return l, err
}

const (
	// qLeaseHeads marks the due heads not yet held by the active relay
	// (token ?1) with its token, in seq order, at most ?3. "+ready_at"
	// keeps the planner on the seq order of outbox_heads: the scan stops
	// after limit heads and skips only heads in flight or backing off. A
	// lease taken by a binary of schema version 2 to 5 (leased_until) is
	// honoured until it ends.
	qLeaseHeads = `UPDATE outbox_heads SET lease_token = ?1 WHERE seq IN (SELECT h.seq FROM outbox_heads AS h
		WHERE +h.ready_at <= ?2 AND h.leased_until <= ?2 AND h.lease_token <> ?1
		AND NOT EXISTS (SELECT 1 FROM outbox_leases AS l WHERE l.ordering_key = h.ordering_key AND l.token = ?1)
		ORDER BY h.seq LIMIT ?3) RETURNING seq`
	// qFreeKeys forgets the key leases of older tokens.
	qFreeKeys = `DELETE FROM outbox_leases WHERE token <> ?`
)

// qClaimedCalls reads the claimed calls (a JSON array of seqs) that are
// still pending.
var qClaimedCalls = `SELECT ` + callCols + ` FROM ` + callsFrom + ` WHERE outbox.seq IN (SELECT value FROM json_each(?))
	AND state = 'pending' AND call_seq IS NULL`

// Claim implements outbox.Outbox. The lease runs in the writer, so a claim
// never waits behind commands for a lock, and it writes only the relay's
// lease and the heads' lease_token: the outbox rows are not rewritten. The
// claimed calls are read after the lease committed, on a read connection,
// so that reading and decoding them does not hold up the writer.
func (db *DB) Claim(ctx context.Context, req outbox.ClaimRequest) ([]outbox.Call, error) {
	if req.Limit <= 0 {
		return nil, nil
	}
	var seqs []int64
	var l relayLease
	err := db.w.do(ctx, func(ctx context.Context, c *writeConn) error {
		seqs = seqs[:0]
		var err error
		if l, err = takeRelayLease(c, req.Relay, req.Now, req.Lease); err != nil {
			return err
		}
		return queryEach(c, qLeaseHeads, []any{l.token, toMS(req.Now), req.Limit}, func(r *sql.Rows) error {
			var seq int64
			err := r.Scan(&seq)
			seqs = append(seqs, seq)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim: %w", err)
	}
	out := make([]outbox.Call, 0, len(seqs))
	if len(seqs) == 0 {
		return out, nil
	}
	if db.afterLease != nil {
		db.afterLease()
	}
	seqJSON, err := seqsJSON(seqs)
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim: %w", err)
	}
	// The heads are taken: read the calls even if ctx ends now, or they
	// would wait for the lease to run out.
	rows, err := db.read.QueryContext(context.WithoutCancel(ctx), qClaimedCalls, seqJSON)
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim: read calls: %w", err)
	}
	defer rows.Close()
	lease := outbox.Lease{Token: l.token, Until: fromMS(l.until)}
	for rows.Next() {
		call, err := scanCall(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: claim: %w", err)
		}
		call.Lease = lease
		out = append(out, call)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: claim: read calls: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	if len(out) < len(seqs) {
		// Calls that left pending between the lease and the read (a newer
		// call superseded them, an operator discarded them) are never
		// sent: the key lease their supersession kept for them must end
		// now, or their keys would wait for as long as this relay holds
		// the database.
		if err := db.releaseUnread(ctx, l.token, seqs, out); err != nil {
			return nil, fmt.Errorf("sqlite: claim: %w", err)
		}
	}
	return out, nil
}

// qReleaseUnread ends the key leases of token ?1 held for calls (a JSON
// array of seqs) that are no longer pending.
var qReleaseUnread = `DELETE FROM outbox_leases WHERE token = ?1 AND seq IN (SELECT value FROM json_each(?2))
	AND NOT EXISTS (SELECT 1 FROM outbox WHERE outbox.seq = outbox_leases.seq AND ` + pendingCall("outbox") + `)`

// releaseUnread ends the key leases of the leased seqs that the claim did
// not read.
func (db *DB) releaseUnread(ctx context.Context, token int64, leased []int64, read []outbox.Call) error {
	got := make(map[int64]bool, len(read))
	for _, c := range read {
		got[c.Seq] = true
	}
	var missing []int64
	for _, seq := range leased {
		if !got[seq] {
			missing = append(missing, seq)
		}
	}
	seqJSON, err := seqsJSON(missing)
	if err != nil {
		return err
	}
	return db.w.do(context.WithoutCancel(ctx), func(ctx context.Context, c *writeConn) error {
		_, err := c.ExecContext(ctx, qReleaseUnread, token, seqJSON)
		return err
	})
}

// qPendingOf returns which of the seqs (a JSON array) are pending calls.
var qPendingOf = `SELECT id FROM outbox WHERE seq IN (SELECT value FROM json_each(?)) AND ` + pendingCall("outbox")

// Renew implements outbox.Outbox: while relay holds the lease it claimed
// held with, and that lease has not run out, the lease is extended to
// now+d, and every held call still pending keeps it. Calls that left
// pending (discarded, superseded) get the zero Lease, and all do once the
// lease is lost.
func (db *DB) Renew(ctx context.Context, relay string, held []outbox.Call, now time.Time, d time.Duration) ([]outbox.Lease, error) {
	out := make([]outbox.Lease, len(held))
	if len(held) == 0 {
		return out, nil
	}
	seqs := make([]int64, len(held))
	for i, c := range held {
		seqs[i] = c.Seq
	}
	seqJSON, err := seqsJSON(seqs)
	if err != nil {
		return nil, fmt.Errorf("sqlite: renew: %w", err)
	}
	pending := map[string]bool{}
	var l relayLease
	err = db.w.do(ctx, func(ctx context.Context, c *writeConn) error {
		clear(pending)
		var err error
		if l, err = readRelayLease(c); err != nil {
			return err
		}
		if l.holder != relay || l.until <= toMS(now) {
			l = relayLease{}
			return nil
		}
		l.until = max(toMS(now.Add(d)), toMS(now)+1)
		if _, err := c.ExecContext(ctx, qPutRelayLease, l.holder, l.token, l.until); err != nil {
			return err
		}
		return queryEach(c, qPendingOf, []any{seqJSON}, func(r *sql.Rows) error {
			var id string
			err := r.Scan(&id)
			pending[id] = true
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: renew: %w", err)
	}
	for i, c := range held {
		if l.token != 0 && c.Lease.Token == l.token && pending[c.ID] {
			out[i] = outbox.Lease{Token: l.token, Until: fromMS(l.until)}
		}
	}
	return out, nil
}

// qResignRelayLease ends the relay lease of its holder. The token stays:
// the next relay takes a new one, which frees the keys of this one.
const qResignRelayLease = `UPDATE outbox_relay SET until = 0 WHERE id = 1 AND holder = ?`

// Resign implements outbox.Outbox: the relay lease ends at once if relay
// holds it.
func (db *DB) Resign(ctx context.Context, relay string) error {
	err := db.w.do(ctx, func(ctx context.Context, c *writeConn) error {
		_, err := c.ExecContext(context.Background(), qResignRelayLease, relay)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: resign the relay lease of %s: %w", relay, err)
	}
	return nil
}

// qNextDue walks the heads by ready_at; NextDue stops at the first one not
// held by the active relay.
const qNextDue = `SELECT h.ready_at, h.lease_token = ?1 OR EXISTS (SELECT 1 FROM outbox_leases AS l
	WHERE l.ordering_key = h.ordering_key AND l.token = ?1), h.leased_until FROM outbox_heads AS h ORDER BY h.ready_at`

// NextDue implements outbox.Outbox: the earliest time a head may be
// claimed. A head the active relay holds may be claimed when its lease runs
// out.
func (db *DB) NextDue(ctx context.Context) (time.Time, bool, error) {
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("sqlite: next due: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	l, err := readRelayLease(tx)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("sqlite: next due: %w", err)
	}
	rows, err := tx.QueryContext(ctx, qNextDue, l.token)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("sqlite: next due: %w", err)
	}
	defer rows.Close()
	best, found := int64(0), false
	for rows.Next() {
		var ready, oldLease int64
		var held bool
		if err := rows.Scan(&ready, &held, &oldLease); err != nil {
			return time.Time{}, false, fmt.Errorf("sqlite: next due: %w", err)
		}
		if found && ready >= best {
			break // every later head is ready no sooner
		}
		at := max(ready, oldLease)
		if held && l.token != 0 {
			at = max(ready, l.until)
		}
		if !found || at < best {
			best, found = at, true
		}
	}
	if err := rows.Err(); err != nil {
		return time.Time{}, false, fmt.Errorf("sqlite: next due: %w", err)
	}
	return fromMS(best), found, nil
}
