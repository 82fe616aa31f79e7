package postgres

import (
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/bookable/lifecycle/application/outbox"
)

// The outbox keeps, beside the outbox table, one row per ordering key with
// pending calls in outbox_heads (its head, due time, whether calls wait
// behind it, and the key's lease). Every write that changes the pending
// calls of a key refreshes that row, so Claim and NextDue never search the
// outbox itself. The files outbox_*.go hold it by concern: enqueue (this
// file), claim, settle, operate, read and rows. Every rule of a call's life
// comes from application/outbox; these files store.
//
// Locks: a transaction that adds calls to a key (a command, an operator's
// retry) first takes the key's advisory lock, then locks the key's head row,
// then touches the key's calls; a settle or discard locks the head rows
// (sorted) before the calls; a claim never waits (SKIP LOCKED). Advisory
// locks are taken sorted by their keys and head rows sorted by ordering key,
// so no two writers wait for each other in a cycle.
//
// Seq: a call's seq is its transaction's ID (xid8) shifted left by
// seqShift, plus its place in the transaction. The ID is assigned at the
// transaction's first write, after its advisory locks, so within a key seq
// order is commit order; across keys it is the order of transaction IDs,
// which List uses to page without skipping a call that commits late.

// seqShift is how many low bits of a seq number the calls of one
// transaction.
const seqShift = 20

// maxCallsPerTx bounds the calls of one transaction (2^seqShift - 1).
const maxCallsPerTx = 1<<seqShift - 1

// txSeq is the first seq of the current transaction; the seqs of its calls
// are in (txSeq, txSeq + 2^seqShift).
const txSeq = `(pg_current_xact_id()::text::bigint << 20)`

const (
	// qLockKeys takes the advisory locks of ordering keys (their sorted
	// int64 keys, Store.lockKeys) until commit.
	qLockKeys = `SELECT count(pg_advisory_xact_lock(k)) FROM unnest($1::bigint[]) AS k`
	// qLockHeads locks the head rows of ordering keys (sorted) before their
	// calls are touched.
	qLockHeads = `SELECT count(*) FROM (SELECT 1 FROM outbox_heads WHERE ordering_key = ANY($1::text[])
		ORDER BY ordering_key FOR UPDATE) AS l`
	// qInsertCalls inserts calls given as parallel arrays, pending, with
	// the seqs of this transaction in array order.
	qInsertCalls = `INSERT INTO outbox (seq, id, site_id, ordering_key, kind, trigger_key, external_entity_id, payload,
		scheduled_at, cause, state, next_attempt_at, created_at)
		SELECT ` + txSeq + ` + c.n, c.id, c.site, c.okey, c.kind, c.trig, c.ent, c.payload::json, c.sched, c.cause,
			'pending', c.next, c.created
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
			$8::timestamptz[], $9::text[], $10::timestamptz[], $11::timestamptz[])
			WITH ORDINALITY AS c(id, site, okey, kind, trig, ent, payload, sched, cause, next, created, n)`
	// qEnqueueHeads makes the lowest pending call of each key (sorted) its
	// head, inserting the rows of keys that had none. A row whose head and
	// due time stay is not rewritten, and a lease is kept: a key whose
	// leased call left pending waits for that lease.
	qEnqueueHeads = `INSERT INTO outbox_heads AS h (ordering_key, seq, ready_at, more)
		SELECT k.key, p.seq, p.next_attempt_at, p.more FROM unnest($1::text[]) AS k(key)
		CROSS JOIN LATERAL (SELECT o.seq, o.next_attempt_at, EXISTS (SELECT 1 FROM outbox AS m
			WHERE m.ordering_key = k.key AND m.state = 'pending' AND m.seq > o.seq) AS more
			FROM outbox AS o WHERE o.ordering_key = k.key AND o.state = 'pending' ORDER BY o.seq LIMIT 1) AS p
		ON CONFLICT (ordering_key) DO UPDATE SET seq = excluded.seq, ready_at = excluded.ready_at, more = excluded.more
		WHERE h.seq IS DISTINCT FROM excluded.seq OR h.ready_at IS DISTINCT FROM excluded.ready_at
			OR h.more <> excluded.more`
)

// heldByRelay is true of a call o whose key's lease a relay took for it: a
// call that leaves pending so may have been sent (outbox.Call.MaybeSent).
const heldByRelay = `EXISTS (SELECT 1 FROM outbox_heads AS l WHERE l.ordering_key = o.ordering_key AND l.lease_seq = o.seq)`

// supersedeNote is the history entry of a superseded call, before the ID
// of the call that superseded it.
const supersedeNote = "superseded by call "

// qSupersede supersedes, for every call of this transaction's seqs, the
// older calls of its pair that outbox.Supersedes says it supersedes: each
// by the first newer call that does, as if the calls were committed one by
// one. Its condition is built from outbox.SupersedeRules, not restated. $1
// is the note's prefix, $2 the time to settle them at (NULL: the newer
// call's CreatedAt).
var qSupersede = func() string {
	var rules []string
	for _, r := range outbox.SupersedeRules() {
		rules = append(rules, fmt.Sprintf("('%s', '%s', '%s')", r.Newer, r.Older, r.OlderKind))
	}
	return `WITH n AS (SELECT seq, id, ordering_key, trigger_key, kind, created_at FROM outbox
			WHERE seq > ` + txSeq + ` AND seq < ` + txSeq + ` + ` + fmt.Sprint(1<<seqShift) + `),
		s AS (SELECT DISTINCT ON (o.seq) o.seq, n.id AS newer, coalesce($2, n.created_at) AS at
			FROM n JOIN outbox AS o ON o.ordering_key = n.ordering_key AND o.trigger_key = n.trigger_key
				AND o.seq < n.seq
			WHERE (n.kind, o.state, o.kind) IN (VALUES ` + strings.Join(rules, ", ") + `)
			ORDER BY o.seq, n.seq),
		u AS (UPDATE outbox AS o SET state = 'superseded', superseded_by = s.newer, settled_at = s.at,
				maybe_sent = o.state = 'pending' AND ` + heldByRelay + `
			FROM s WHERE o.seq = s.seq RETURNING o.id, s.newer, s.at)
		INSERT INTO outbox_attempts (call_id, at, state, error_message)
			SELECT id, at, 'superseded', $1 || newer FROM u`
}()

// queueEnqueue queues the statements that write calls, after the locks
// (qLockKeys, qLockHeads): the calls, their supersession of older calls,
// and the heads of their keys (sorted).
func queueEnqueue(b *pgx.Batch, calls []outbox.Call, keys []string) {
	n := len(calls)
	ids, sites, okeys, kinds := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	trigs, ents, causes := make([]string, n), make([]string, n), make([]string, n)
	payloads := make([]pgtype.Text, n)
	sched, next, created := make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n)
	for i, c := range calls {
		ids[i], sites[i], okeys[i], kinds[i] = c.ID, c.SiteID, c.OrderingKey, string(c.Kind)
		trigs[i], ents[i], causes[i] = c.TriggerKey, c.ExternalEntityID, c.Cause
		if len(c.Payload) > 0 {
			payloads[i] = pgtype.Text{String: string(c.Payload), Valid: true}
		}
		sched[i], next[i], created[i] = ts(c.ScheduledAt), ts(c.NextAttemptAt), ts(c.CreatedAt)
	}
	b.Queue(qInsertCalls, ids, sites, okeys, kinds, trigs, ents, payloads, sched, causes, next, created)
	b.Queue(qSupersede, supersedeNote, pgtype.Timestamptz{})
	b.Queue(qEnqueueHeads, keys)
}
