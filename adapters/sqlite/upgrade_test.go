package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/outbox"
	"github.com/bookable/lifecycle/application/storetest"
)

// TestUpgradeFromVersion1 opens a database written by schema version 1 (a
// delivered call with its logged delivery, a dead call, a head leased the
// old way in outbox.lease_until and outbox_heads.ready_at, and a key waiting
// behind it) and checks that the upgraded adapter keeps every history as it
// was, honors the old lease, and goes on delivering.
func TestUpgradeFromVersion1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	t0 := storetest.T0
	ms := func(d time.Duration) int64 { return t0.Add(d).UnixMilli() }
	site := storetest.SiteA

	raw, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	conn, err := raw.Conn(ctx)
	require.NoError(t, err)
	_, err = conn.ExecContext(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,
		applied_at INTEGER NOT NULL)`)
	require.NoError(t, err)
	body, err := migrationFS.ReadFile("migrations/0001_init.sql")
	require.NoError(t, err)
	_, err = applyMigration(ctx, conn, 1, "0001_init.sql", string(body), t0)
	require.NoError(t, err)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		// Call 1 delivered, logged; call 2 dead; call 3 pending, leased until
		// +2m (the old way); call 4 waits behind call 3 on the same key.
		{`INSERT INTO outbox (seq, id, site_id, ordering_key, kind, trigger_key, external_entity_id, state, attempts,
			next_attempt_at, lease_until, created_at, settled_at) VALUES
			(1, 'c1', ?1, 'k1', 'report', 't', 'e1', 'delivered', 1, ?2, 0, ?2, ?3),
			(2, 'c2', ?1, 'k2', 'report', 't', 'e2', 'dead', 1, ?2, 0, ?2, ?3),
			(3, 'c3', ?1, 'k3', 'report', 't', 'e3', 'pending', 0, ?2, ?4, ?2, 0),
			(4, 'c4', ?1, 'k3', 'cancel', 't2', 'e3', 'pending', 0, ?2, 0, ?2, 0)`,
			[]any{site.String(), ms(0), ms(time.Second), ms(2 * time.Minute)}},
		{`INSERT INTO outbox_attempts (call_id, at, state, error_status) VALUES ('c1', ?1, 'delivered', NULL),
			('c2', ?1, 'dead', 400)`, []any{ms(time.Second)}},
		{`INSERT INTO outbox_heads (seq, ordering_key, ready_at) VALUES (3, 'k3', ?)`, []any{ms(2 * time.Minute)}},
	} {
		_, err := conn.ExecContext(ctx, q.sql, q.args...)
		require.NoError(t, err)
	}
	require.NoError(t, conn.Close())
	require.NoError(t, raw.Close())

	db, err := Open(ctx, path)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })

	d, err := db.Get(ctx, site.String(), "c1")
	require.NoError(t, err)
	assert.Equal(t, []application.Attempt{{At: t0.Add(time.Second), State: application.StateDelivered}}, d.History,
		"a delivery logged by version 1 is shown once")
	stats, err := db.Stats(ctx, site.String())
	require.NoError(t, err)
	assert.Equal(t, map[application.CallState]int{application.StateDelivered: 1, application.StateDead: 1,
		application.StatePending: 2, application.StateExpired: 0, application.StateDiscarded: 0,
		application.StateSuperseded: 0}, stats)

	claim := func(at time.Time) ([]application.Call, error) {
		return db.Claim(ctx, outbox.ClaimRequest{Relay: "r", Now: at, Limit: 10, Lease: time.Minute})
	}
	got, err := claim(t0.Add(time.Minute))
	require.NoError(t, err)
	assert.Empty(t, got, "the lease taken by version 1 still holds")
	at, ok, err := db.NextDue(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	assert.True(t, at.Equal(t0.Add(2*time.Minute)), "next due at the old lease's end, got %v", at)

	got, err = claim(t0.Add(2 * time.Minute))
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, "c3", got[0].ID)
	require.NoError(t, db.Settle(ctx, []application.Outcome{{ID: "c3", Token: got[0].Lease.Token,
		State: application.StateDelivered, Attempted: true, At: t0.Add(3 * time.Minute)}}))
	got, err = claim(t0.Add(3 * time.Minute))
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, "c4", got[0].ID, "the key goes on after the upgrade")
	d, err = db.Get(ctx, site.String(), "c3")
	require.NoError(t, err)
	assert.Equal(t, []application.Attempt{{At: t0.Add(3 * time.Minute), State: application.StateDelivered}}, d.History)
	// c1 was delivered by version 1 (its row says so), c3 since version 12
	// (a mark): both count, list and prune as delivered.
	stats, err = db.Stats(ctx, site.String())
	require.NoError(t, err)
	assert.Equal(t, 2, stats[application.StateDelivered])
	assert.Equal(t, 1, stats[application.StatePending])
	delivered, err := db.List(ctx, outbox.Filter{SiteID: site.String(), State: application.StateDelivered})
	require.NoError(t, err)
	require.Len(t, delivered, 2)
	assert.Equal(t, []string{"c1", "c3"}, []string{delivered[0].ID, delivered[1].ID})
	pruned, err := db.Prune(ctx, t0.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, 2, pruned, "the delivery of version 1 and the mark of version 12")

	require.NoError(t, db.Retry(ctx, site.String(), "c2", t0.Add(4*time.Minute)))
	d, err = db.Get(ctx, site.String(), "c2")
	require.NoError(t, err)
	require.Len(t, d.History, 2)
	assert.Equal(t, application.StateDead, d.History[0].State)
	assert.Equal(t, application.StatePending, d.History[1].State)
}

// TestLateOutcomeAfterDeliveryKeepsHistoryOrder settles a call delivered,
// then reports a second outcome for it, as a relay whose lease ran out
// would: the delivery, not logged when it happened, comes first in the
// history, and is shown once.
func TestLateOutcomeAfterDeliveryKeepsHistoryOrder(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "late.db"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	t0 := storetest.T0
	c := application.Call{ID: storetest.ID("d0000000", 1).String(), SiteID: storetest.SiteA.String(), OrderingKey: "k",
		Kind: application.KindReport, TriggerKey: "t", ExternalEntityID: "e", CreatedAt: t0}
	require.NoError(t, db.Update(ctx, func(ctx context.Context, tx application.Tx) error {
		return tx.Enqueue(ctx, []application.Call{c})
	}))
	got, err := db.Claim(ctx, outbox.ClaimRequest{Relay: "r", Now: t0, Limit: 10, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, got, 1)
	tok := got[0].Lease.Token
	require.NoError(t, db.Settle(ctx, []application.Outcome{{ID: c.ID, Token: tok, State: application.StateDelivered,
		Attempted: true, At: t0.Add(time.Second)}}))
	late := &application.CallError{Status: 503, Message: "unavailable"}
	require.NoError(t, db.Settle(ctx, []application.Outcome{{ID: c.ID, Token: tok, State: application.StatePending,
		Attempted: true, NextAttemptAt: t0.Add(time.Hour), Err: late, At: t0.Add(2 * time.Second)}}))

	d, err := db.Get(ctx, storetest.SiteA.String(), c.ID)
	require.NoError(t, err)
	assert.Equal(t, application.StateDelivered, d.State, "a late outcome does not change a delivered call")
	assert.Equal(t, 2, d.Attempts)
	assert.Equal(t, []application.Attempt{
		{At: t0.Add(time.Second), State: application.StateDelivered},
		{At: t0.Add(2 * time.Second), State: application.StatePending, Err: late,
			Note: "not applied: the call is delivered"},
	}, d.History)
}

// TestUpgradeToAggregateTimes opens a database of schema version 4 with an
// appointment, a class and an enrollment written the old way: version 5
// gives them zero times, the domain restores them, and the next save keeps
// the times of what happened since.
func TestUpgradeToAggregateTimes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v4.db")
	t0 := storetest.T0
	ms := func(d time.Duration) int64 { return t0.Add(d).UnixMilli() }
	site := storetest.SiteA
	apptID, classID, enrID := storetest.ID("a1000000", 1), storetest.ID("c1000000", 1), storetest.ID("e0000000", 1)

	raw, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	conn, err := raw.Conn(ctx)
	require.NoError(t, err)
	_, err = conn.ExecContext(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,
		applied_at INTEGER NOT NULL)`)
	require.NoError(t, err)
	for v, name := range []string{"0001_init.sql", "0002_lean_relay.sql", "0003_heads_without_key_index.sql",
		"0004_heads_know_their_queue.sql"} {
		body, err := migrationFS.ReadFile("migrations/" + name)
		require.NoError(t, err)
		_, err = applyMigration(ctx, conn, v+1, name, string(body), t0)
		require.NoError(t, err)
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO appointments (site_id, id, contact_id, title, start_at, end_at, state, cancel_reason, version)
			VALUES (?, ?, ?, 'Haircut', ?, ?, 'scheduled', '', 1)`,
			[]any{site.String(), apptID.String(), storetest.ID("c0000000", 1).String(), ms(48 * time.Hour), ms(49 * time.Hour)}},
		{`INSERT INTO classes (site_id, id, title, start_at, end_at, capacity, waitlist, enrolled, waitlisted,
			admissions, state, cancel_reason, version) VALUES (?, ?, 'Yoga', ?, ?, 2, 1, 1, 0, 1, 'scheduled', '', 1)`,
			[]any{site.String(), classID.String(), ms(72 * time.Hour), ms(73 * time.Hour)}},
		{`INSERT INTO enrollments (site_id, id, class_id, participant_id, position, enrolled_at, state, version)
			VALUES (?, ?, ?, ?, 1, ?, 'enrolled', 1)`,
			[]any{site.String(), enrID.String(), classID.String(), storetest.ID("f0000000", 1).String(), ms(0)}},
	} {
		_, err := conn.ExecContext(ctx, q.sql, q.args...)
		require.NoError(t, err)
	}
	require.NoError(t, conn.Close())
	require.NoError(t, raw.Close())

	db, err := Open(ctx, path)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })

	later := t0.Add(time.Hour)
	require.NoError(t, db.Update(ctx, func(ctx context.Context, tx application.Tx) error {
		a, err := tx.Appointment(ctx, site, apptID)
		require.NoError(t, err)
		assert.Equal(t, "Haircut", a.Title())
		assert.Zero(t, a.BookedAt())
		assert.Zero(t, a.ChangedAt())
		assert.Zero(t, a.PreviousStart())
		assert.Zero(t, a.RescheduledAt())
		c, err := tx.Class(ctx, site, classID)
		require.NoError(t, err)
		assert.Equal(t, 1, c.Enrolled())
		assert.Zero(t, c.ScheduledAt())
		assert.Zero(t, c.ChangedAt())
		e, err := tx.Enrollment(ctx, site, enrID)
		require.NoError(t, err)
		assert.Equal(t, t0, e.EnrolledAt())
		assert.Zero(t, e.SeatedAt(), "unknown for a row of version 4")
		assert.Zero(t, e.EndedAt())

		require.NoError(t, a.Reschedule(t0.Add(96*time.Hour), t0.Add(97*time.Hour), later))
		require.NoError(t, c.Cancel("storm", later))
		require.NoError(t, e.ClassCanceled(c, "storm", later))
		return errors.Join(tx.SaveAppointment(ctx, a), tx.SaveClass(ctx, c), tx.SaveEnrollment(ctx, e))
	}))
	require.NoError(t, db.View(ctx, func(ctx context.Context, tx application.ReadTx) error {
		a, err := tx.Appointment(ctx, site, apptID)
		require.NoError(t, err)
		assert.Zero(t, a.BookedAt(), "still unknown")
		assert.Equal(t, later, a.ChangedAt())
		assert.Equal(t, t0.Add(48*time.Hour), a.PreviousStart())
		assert.Equal(t, later, a.RescheduledAt())
		c, err := tx.Class(ctx, site, classID)
		require.NoError(t, err)
		assert.Equal(t, later, c.ChangedAt())
		e, err := tx.Enrollment(ctx, site, enrID)
		require.NoError(t, err)
		assert.Equal(t, later, e.EndedAt())
		return nil
	}))
}
