package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/bookable/lifecycle/application/outbox"
)

// Relays share the work: every relay of the fleet claims at once. A claim
// leases up to Limit due heads with one fresh token (outbox_lease_token),
// skipping the head rows other transactions hold (FOR UPDATE SKIP LOCKED),
// and returns their calls. A lease is the key's: a settle with its token
// ends it; until then, or until it runs out, the key offers nothing else,
// so one call of a key is in flight across the fleet. A relay that crashed
// leaves its leases to run out, and the next claim after that takes the
// heads over with a greater token; the late outcomes of the first relay
// are then history only (fencing).

// qClaim leases the due heads, lowest seq first, and returns their calls by
// seq. The heads are matched with = ANY(ARRAY(...)), which the planner
// runs as a lookup per locked head rather than a join over every head.
// The update touches no indexed column: a HOT update. A head that moved to
// a call committed after the statement's snapshot fails the EXISTS when
// its lock is rechecked, and is left to the next claim, so that no head is
// leased without its call returned.
var qClaim = `WITH t AS (SELECT nextval('outbox_lease_token') AS token),
	h AS (UPDATE outbox_heads SET lease_token = (SELECT token FROM t), lease_seq = seq, leased_until = $3, holder = $4
		WHERE ordering_key = ANY(ARRAY(SELECT ordering_key FROM outbox_heads
			WHERE seq IS NOT NULL AND ready_at <= $1 AND (leased_until IS NULL OR leased_until <= $1)
				AND EXISTS (SELECT 1 FROM outbox AS o WHERE o.seq = outbox_heads.seq AND o.state = 'pending')
			ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED))
		RETURNING seq, lease_token)
	SELECT ` + prefixed("o") + `, h.lease_token FROM h JOIN outbox AS o ON o.seq = h.seq ORDER BY o.seq`

// Claim implements outbox.Outbox. It never waits for a command or another
// relay: heads being written are skipped and found by a later claim.
func (s *Store) Claim(ctx context.Context, req outbox.ClaimRequest) ([]outbox.Call, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	if req.Limit <= 0 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	until := micro(req.Now.Add(req.Lease))
	// Heads once leased are read back even if ctx ends now, or they would
	// wait for their lease to run out.
	rows, err := s.pool.Query(context.WithoutCancel(ctx), qClaim, ts(req.Now), req.Limit, ts(until), req.Relay)
	if err != nil {
		return nil, fmt.Errorf("postgres: claim: %w", err)
	}
	defer rows.Close()
	out := make([]outbox.Call, 0, 16)
	for rows.Next() {
		var token int64
		c, err := scanCall(rows, &token)
		if err != nil {
			return nil, fmt.Errorf("postgres: claim: %w", err)
		}
		c.Lease = outbox.Lease{Token: token, Until: until}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: claim: %w", err)
	}
	return out, nil
}

// qRenew extends the leases of held calls (parallel arrays of ordering
// key, token and seq) whose key is still leased with that token for that
// call, and whose call is still pending. The rows are locked in key order.
const qRenew = `WITH r AS (SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS r(key, token, seq)),
	l AS (SELECT h.ordering_key FROM outbox_heads AS h JOIN r ON h.ordering_key = r.key
		AND h.lease_token = r.token AND h.lease_seq = r.seq
		WHERE EXISTS (SELECT 1 FROM outbox AS o WHERE o.seq = r.seq AND o.state = 'pending')
		ORDER BY h.ordering_key FOR UPDATE OF h)
	UPDATE outbox_heads SET leased_until = $4 WHERE ordering_key IN (SELECT ordering_key FROM l)
	RETURNING ordering_key, lease_token`

// Renew implements outbox.Outbox: a held call keeps its key's lease, to
// now+d, while the key is leased with the call's token for that call and
// the call is pending. Others get the zero Lease: a call discarded or
// superseded in flight, or whose lease another relay took over.
func (s *Store) Renew(ctx context.Context, relay string, held []outbox.Call, now time.Time, d time.Duration) ([]outbox.Lease, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	out := make([]outbox.Lease, len(held))
	if len(held) == 0 {
		return out, nil
	}
	keys, tokens, seqs := make([]string, len(held)), make([]int64, len(held)), make([]int64, len(held))
	for i, c := range held {
		keys[i], tokens[i], seqs[i] = c.OrderingKey, c.Lease.Token, c.Seq
	}
	until := micro(now.Add(d))
	rows, err := s.pool.Query(ctx, qRenew, keys, tokens, seqs, ts(until))
	if err != nil {
		return nil, fmt.Errorf("postgres: renew: %w", err)
	}
	renewed := map[string]int64{}
	for rows.Next() {
		var key string
		var token int64
		if err := rows.Scan(&key, &token); err != nil {
			rows.Close()
			return nil, fmt.Errorf("postgres: renew: %w", err)
		}
		renewed[key] = token
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: renew: %w", err)
	}
	for i, c := range held {
		if token, ok := renewed[c.OrderingKey]; ok && token == c.Lease.Token {
			out[i] = outbox.Lease{Token: token, Until: until}
		}
	}
	return out, nil
}

// qNextDue walks the heads by due time; NextDue stops at the first one due
// no sooner than the best found (a head may be claimed at the later of its
// due time and the end of its key's lease).
const qNextDue = `SELECT ready_at, leased_until FROM outbox_heads WHERE seq IS NOT NULL ORDER BY ready_at`

// Resign implements outbox.Outbox. Relays on PostgreSQL share the work, each
// key held by one of them: there is no store lease to end.
func (s *Store) Resign(ctx context.Context, relay string) error {
	if s.isClosed() {
		return ErrClosed
	}
	return ctx.Err()
}

// NextDue implements outbox.Outbox.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	if s.isClosed() {
		return time.Time{}, false, ErrClosed
	}
	rows, err := s.pool.Query(ctx, qNextDue)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("postgres: next due: %w", err)
	}
	defer rows.Close()
	var best time.Time
	found := false
	for rows.Next() {
		var ready, leased pgtype.Timestamptz
		if err := rows.Scan(&ready, &leased); err != nil {
			return time.Time{}, false, fmt.Errorf("postgres: next due: %w", err)
		}
		at := fromTS(ready)
		if found && !at.Before(best) {
			break // every later head is due no sooner
		}
		if l := fromTS(leased); l.After(at) {
			at = l
		}
		if !found || at.Before(best) {
			best, found = at, true
		}
	}
	if err := rows.Err(); err != nil {
		return time.Time{}, false, fmt.Errorf("postgres: next due: %w", err)
	}
	return best, found, nil
}

// qRelease ends the leases a relay holds (in key order), and deletes the
// rows kept only for them.
const qRelease = `WITH l AS (SELECT ordering_key FROM outbox_heads WHERE holder = $1 ORDER BY ordering_key FOR UPDATE),
	d AS (DELETE FROM outbox_heads WHERE ordering_key IN (SELECT ordering_key FROM l) AND seq IS NULL RETURNING 1)
	UPDATE outbox_heads SET lease_token = 0, lease_seq = NULL, leased_until = NULL, holder = NULL
	WHERE ordering_key IN (SELECT ordering_key FROM l) AND seq IS NOT NULL`

// Release ends every lease relay holds, at once, instead of leaving them to
// run out: a relay calls it when it stops, after settling or handing back
// what it held, so that the other relays of the fleet may take those keys
// now. The store records each lease's holder for this. A lease released
// while its call is still being sent would let the key's next call start
// beside it: a relay releases only once its requests are over.
func (s *Store) Release(ctx context.Context, relay string) error {
	if s.isClosed() {
		return ErrClosed
	}
	tag, err := s.pool.Exec(ctx, qRelease, relay)
	if err != nil {
		return fmt.Errorf("postgres: release leases of relay %s: %w", relay, err)
	}
	if tag.RowsAffected() > 0 {
		s.wake.changed()
	}
	return nil
}
