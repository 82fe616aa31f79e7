// Package outboxtest is the contract suite of the application.Outbox port.
// Every adapter runs it from its own tests:
//
//	func TestOutboxContract(t *testing.T) {
//		outboxtest.Run(t, func(t *testing.T) (application.Store, application.Outbox) {
//			db := open(t)
//			return db, db
//		})
//	}
//
// Calls are enqueued through the Store, as commands do, and read, claimed
// and settled through the Outbox, as the relay and operators do.
package outboxtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/application"
)

// Fixed identities and times of the suite.
const (
	SiteA = "a0000000-0000-4000-8000-000000000001"
	SiteB = "b0000000-0000-4000-8000-000000000002"
)

// T0 is the suite's "now".
var T0 = time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)

const lease = time.Minute

func id(prefix string, n int) string { return fmt.Sprintf("%s-0000-4000-8000-%012d", prefix, n) }

// Run runs the suite; newAdapter must return a fresh, empty adapter.
func Run(t *testing.T, newAdapter func(t *testing.T) (application.Store, application.Outbox)) {
	cases := []struct {
		name string
		test func(t *testing.T, s application.Store, o application.Outbox)
	}{
		{"claim returns heads of keys by seq", testClaimHeads},
		{"claim respects due time, lease and limit", testClaimDueLeaseLimit},
		{"settle delivered advances the key", testSettleDelivered},
		{"settle retry keeps the key waiting", testSettleRetry},
		{"an outcome's Seq is only a hint", testSettleSeqHint},
		{"dead call keeps its error and the key goes on", testSettleDead},
		{"expired call is not sent", testSettleExpired},
		{"retry re-queues dead and expired calls at the tail", testRetry},
		{"retry refuses a cancel that would cancel a newer report", testRetryCancelGuard},
		{"discard", testDiscard},
		{"list filters and pages", testList},
		{"stats count by state and site", testStats},
		{"next due", testNextDue},
		{"prune deletes old settled calls only", testPrune},
		{"operations are scoped to their site", testTenancy},
		{"payload and times round-trip", testRoundTrip},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, o := newAdapter(t)
			c.test(t, s, o)
		})
	}
}

// call returns test call n of entity on site.
func call(site string, entity, n int, kind application.CallKind, trigger string) application.Call {
	e := id("e0000000", entity)
	c := application.Call{
		ID: id("d0000000", n), SiteID: site, OrderingKey: application.OrderingKey(site, e),
		Kind: kind, TriggerKey: trigger, ExternalEntityID: e, Cause: "test",
		State: application.StatePending, CreatedAt: T0, NextAttemptAt: T0,
	}
	if kind == application.KindReport {
		c.Payload = []byte(fmt.Sprintf(`{"n":%d}`, n))
	}
	return c
}

func report(site string, entity, n int) application.Call {
	return call(site, entity, n, application.KindReport, "appointment_scheduled")
}

func enqueue(t *testing.T, s application.Store, calls ...application.Call) {
	t.Helper()
	require.NoError(t, s.Update(context.Background(), func(ctx context.Context, tx application.Tx) error {
		return tx.Enqueue(ctx, calls)
	}))
}

func ids(calls []application.Call) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		out[i] = c.ID
	}
	return out
}

func claim(t *testing.T, o application.Outbox, now time.Time, limit int) []application.Call {
	t.Helper()
	calls, err := o.Claim(context.Background(), now, limit, lease)
	require.NoError(t, err)
	return calls
}

func settle(t *testing.T, o application.Outbox, outcomes ...application.Outcome) {
	t.Helper()
	require.NoError(t, o.Settle(context.Background(), outcomes))
}

func delivered(c application.Call, at time.Time) application.Outcome {
	return application.Outcome{ID: c.ID, State: application.StateDelivered, Attempted: true, At: at}
}

func get(t *testing.T, o application.Outbox, site, callID string) application.CallDetail {
	t.Helper()
	d, err := o.Get(context.Background(), site, callID)
	require.NoError(t, err)
	return d
}

func testClaimHeads(t *testing.T, s application.Store, o application.Outbox) {
	// Entity 1 gets calls 1, 3, 4; entity 2 gets call 2 (interleaved commits).
	enqueue(t, s, report(SiteA, 1, 1))
	enqueue(t, s, report(SiteA, 2, 2), report(SiteA, 1, 3))
	enqueue(t, s, report(SiteA, 1, 4))
	got := claim(t, o, T0, 100)
	assert.Equal(t, []string{id("d0000000", 1), id("d0000000", 2)}, ids(got), "one head per key, by seq")
	assert.Empty(t, claim(t, o, T0, 100), "leased heads are not claimed again, and their keys wait")
}

func testClaimDueLeaseLimit(t *testing.T, s application.Store, o application.Outbox) {
	later := report(SiteA, 1, 1)
	later.NextAttemptAt = T0.Add(time.Hour)
	later.CreatedAt = T0
	enqueue(t, s, later, report(SiteA, 2, 2), report(SiteA, 3, 3), report(SiteA, 4, 4))
	got := claim(t, o, T0, 2)
	assert.Equal(t, []string{id("d0000000", 2), id("d0000000", 3)}, ids(got), "not due yet is skipped; limit holds")
	got = claim(t, o, T0.Add(lease/2), 10)
	assert.Equal(t, []string{id("d0000000", 4)}, ids(got))
	got = claim(t, o, T0.Add(lease+time.Second), 10)
	assert.Equal(t, []string{id("d0000000", 2), id("d0000000", 3)}, ids(got), "an expired lease is claimed again")
	got = claim(t, o, T0.Add(2*time.Hour), 10)
	assert.Contains(t, ids(got), id("d0000000", 1), "due now")
}

func testSettleDelivered(t *testing.T, s application.Store, o application.Outbox) {
	enqueue(t, s, report(SiteA, 1, 1), call(SiteA, 1, 2, application.KindCancel, "appointment_starting"))
	first := claim(t, o, T0, 10)
	require.Len(t, first, 1)
	settle(t, o, delivered(first[0], T0.Add(time.Second)))
	d := get(t, o, SiteA, first[0].ID)
	assert.Equal(t, application.StateDelivered, d.State)
	assert.Equal(t, 1, d.Attempts)
	assert.True(t, d.SettledAt.Equal(T0.Add(time.Second)))
	require.Len(t, d.History, 1)
	assert.Equal(t, application.StateDelivered, d.History[0].State)

	next := claim(t, o, T0.Add(time.Second), 10)
	require.Len(t, next, 1)
	assert.Equal(t, id("d0000000", 2), next[0].ID, "the key goes on with its next call")
	assert.Equal(t, application.KindCancel, next[0].Kind)
	assert.Empty(t, next[0].Payload)
}

func testSettleSeqHint(t *testing.T, s application.Store, o application.Outbox) {
	enqueue(t, s, report(SiteA, 1, 1), report(SiteA, 2, 2), report(SiteA, 3, 3))
	got := claim(t, o, T0, 10)
	require.Len(t, got, 3)
	at := T0.Add(time.Second)
	// The right seq, another pending call's seq, and one no call has: each
	// outcome settles the call its ID names, and only that call.
	right, wrong, none := delivered(got[0], at), delivered(got[1], at), delivered(got[2], at)
	right.Seq, wrong.Seq, none.Seq = got[0].Seq, got[2].Seq, got[2].Seq+1000
	settle(t, o, right)
	settle(t, o, wrong)
	assert.Equal(t, application.StateDelivered, get(t, o, SiteA, got[1].ID).State)
	assert.Equal(t, application.StatePending, get(t, o, SiteA, got[2].ID).State, "a wrong seq settles nothing else")
	settle(t, o, none)
	for _, c := range got {
		d := get(t, o, SiteA, c.ID)
		assert.Equal(t, application.StateDelivered, d.State, c.ID)
		assert.Equal(t, 1, d.Attempts, c.ID)
	}
	// A retried call has a new seq: an outcome with its old one still
	// finds it by ID.
	enqueue(t, s, report(SiteA, 4, 4))
	c := claim(t, o, at, 10)
	require.Len(t, c, 1)
	settle(t, o, application.Outcome{ID: c[0].ID, Seq: c[0].Seq, State: application.StateDead, Attempted: true,
		Err: &application.CallError{Status: 400}, At: at})
	require.NoError(t, o.Retry(context.Background(), SiteA, c[0].ID, at))
	again := claim(t, o, at, 10)
	require.Len(t, again, 1)
	assert.Greater(t, again[0].Seq, c[0].Seq)
	stale := delivered(c[0], at.Add(time.Second))
	stale.Seq = c[0].Seq
	settle(t, o, stale)
	assert.Equal(t, application.StateDelivered, get(t, o, SiteA, c[0].ID).State)
}

func testSettleRetry(t *testing.T, s application.Store, o application.Outbox) {
	enqueue(t, s, report(SiteA, 1, 1), report(SiteA, 1, 2))
	c := claim(t, o, T0, 10)[0]
	retryAt := T0.Add(30 * time.Second)
	settle(t, o, application.Outcome{ID: c.ID, State: application.StatePending, NextAttemptAt: retryAt, Attempted: true,
		Err: &application.CallError{Status: 503, Message: "unavailable"}, At: T0})
	assert.Empty(t, claim(t, o, T0.Add(10*time.Second), 10), "the key waits for its head; the next call does not overtake")
	again := claim(t, o, retryAt, 10)
	require.Len(t, again, 1)
	assert.Equal(t, c.ID, again[0].ID)
	assert.Equal(t, 1, again[0].Attempts)
	require.NotNil(t, again[0].LastError)
	assert.Equal(t, 503, again[0].LastError.Status)
	assert.Equal(t, application.StatePending, again[0].State)
}

func testSettleDead(t *testing.T, s application.Store, o application.Outbox) {
	enqueue(t, s, report(SiteA, 1, 1), report(SiteA, 1, 2))
	c := claim(t, o, T0, 10)[0]
	settle(t, o, application.Outcome{ID: c.ID, State: application.StateDead, Attempted: true,
		Err: &application.CallError{Status: 400, Code: "INVALID_ARGUMENT", Message: "bad payload"}, At: T0})
	d := get(t, o, SiteA, c.ID)
	assert.Equal(t, application.StateDead, d.State)
	require.NotNil(t, d.LastError)
	assert.Equal(t, application.CallError{Status: 400, Code: "INVALID_ARGUMENT", Message: "bad payload"}, *d.LastError)
	next := claim(t, o, T0, 10)
	require.Len(t, next, 1)
	assert.Equal(t, id("d0000000", 2), next[0].ID)
}

func testSettleExpired(t *testing.T, s application.Store, o application.Outbox) {
	c := report(SiteA, 1, 1)
	c.ScheduledAt = T0.Add(-time.Minute)
	enqueue(t, s, c)
	got := claim(t, o, T0, 10)
	require.Len(t, got, 1)
	assert.True(t, got[0].ScheduledAt.Equal(T0.Add(-time.Minute)))
	settle(t, o, application.Outcome{ID: c.ID, State: application.StateExpired, At: T0,
		Err: &application.CallError{Message: "scheduled time passed"}})
	d := get(t, o, SiteA, c.ID)
	assert.Equal(t, application.StateExpired, d.State)
	assert.Equal(t, 0, d.Attempts, "an expired call was never sent")
}

func testRetry(t *testing.T, s application.Store, o application.Outbox) {
	enqueue(t, s, report(SiteA, 1, 1), report(SiteA, 1, 2))
	c := claim(t, o, T0, 10)[0]
	settle(t, o, application.Outcome{ID: c.ID, State: application.StateDead, Attempted: true, Err: &application.CallError{Status: 404}, At: T0})
	second := claim(t, o, T0, 10)
	require.Len(t, second, 1)
	settle(t, o, delivered(second[0], T0))

	ctx := context.Background()
	require.NoError(t, o.Retry(ctx, SiteA, c.ID, T0.Add(time.Hour)))
	d := get(t, o, SiteA, c.ID)
	assert.Equal(t, application.StatePending, d.State)
	assert.Greater(t, d.Seq, second[0].Seq, "a retried call goes to the tail of its key")
	assert.Empty(t, claim(t, o, T0.Add(30*time.Minute), 10), "due at the retry time")
	again := claim(t, o, T0.Add(time.Hour), 10)
	require.Len(t, again, 1)
	assert.Equal(t, c.ID, again[0].ID, "a retried call keeps its ID (and so its idempotency key)")

	assert.ErrorIs(t, o.Retry(ctx, SiteA, second[0].ID, T0), application.ErrCallState, "a delivered call cannot be retried")
	assert.ErrorIs(t, o.Retry(ctx, SiteA, c.ID, T0), application.ErrCallState, "a pending call cannot be retried")
	assert.ErrorIs(t, o.Retry(ctx, SiteA, id("d0000000", 99), T0), application.ErrNotFound)
}

func testRetryCancelGuard(t *testing.T, s application.Store, o application.Outbox) {
	// A reschedule: cancel appointment_starting, then report it again.
	cancel := call(SiteA, 1, 1, application.KindCancel, "appointment_starting")
	again := call(SiteA, 1, 2, application.KindReport, "appointment_starting")
	enqueue(t, s, cancel, again)
	c := claim(t, o, T0, 10)[0]
	settle(t, o, application.Outcome{ID: c.ID, State: application.StateDead, Attempted: true, Err: &application.CallError{Status: 403}, At: T0})
	err := o.Retry(context.Background(), SiteA, cancel.ID, T0)
	assert.ErrorIs(t, err, application.ErrCallState, "retrying the cancel would cancel the newer report")
	assert.Equal(t, application.StateDead, get(t, o, SiteA, cancel.ID).State, "a refused retry changes nothing")
}

func testDiscard(t *testing.T, s application.Store, o application.Outbox) {
	enqueue(t, s, report(SiteA, 1, 1), report(SiteA, 1, 2), report(SiteA, 2, 3))
	ctx := context.Background()
	require.NoError(t, o.Discard(ctx, SiteA, id("d0000000", 1), T0))
	d := get(t, o, SiteA, id("d0000000", 1))
	assert.Equal(t, application.StateDiscarded, d.State)
	got := claim(t, o, T0, 10)
	assert.Equal(t, []string{id("d0000000", 2), id("d0000000", 3)}, ids(got), "a discarded head lets its key go on")
	settle(t, o, delivered(got[0], T0))
	assert.ErrorIs(t, o.Discard(ctx, SiteA, got[0].ID, T0), application.ErrCallState, "a delivered call cannot be discarded")
	assert.ErrorIs(t, o.Discard(ctx, SiteA, id("d0000000", 1), T0), application.ErrCallState, "nor a discarded one")
}

func testList(t *testing.T, s application.Store, o application.Outbox) {
	for n := 1; n <= 5; n++ {
		enqueue(t, s, report(SiteA, n, n))
	}
	enqueue(t, s, report(SiteB, 9, 9))
	ctx := context.Background()
	c := claim(t, o, T0, 1)[0]
	settle(t, o, delivered(c, T0))

	all, err := o.List(ctx, application.Filter{})
	require.NoError(t, err)
	assert.Len(t, all, 6, "no site means every site")
	a, err := o.List(ctx, application.Filter{SiteID: SiteA})
	require.NoError(t, err)
	assert.Len(t, a, 5)
	pend, err := o.List(ctx, application.Filter{SiteID: SiteA, State: application.StatePending})
	require.NoError(t, err)
	assert.Len(t, pend, 4)
	page1, err := o.List(ctx, application.Filter{SiteID: SiteA, Limit: 2})
	require.NoError(t, err)
	require.Len(t, page1, 2)
	page2, err := o.List(ctx, application.Filter{SiteID: SiteA, Limit: 2, After: page1[1].Seq})
	require.NoError(t, err)
	require.Len(t, page2, 2)
	assert.Equal(t, []string{id("d0000000", 3), id("d0000000", 4)}, ids(page2))
}

func testStats(t *testing.T, s application.Store, o application.Outbox) {
	enqueue(t, s, report(SiteA, 1, 1), report(SiteA, 2, 2), report(SiteA, 3, 3), report(SiteB, 4, 4))
	got := claim(t, o, T0, 2)
	settle(t, o, delivered(got[0], T0),
		application.Outcome{ID: got[1].ID, State: application.StateDead, Attempted: true, Err: &application.CallError{Status: 400}, At: T0})
	ctx := context.Background()
	a, err := o.Stats(ctx, SiteA)
	require.NoError(t, err)
	assert.Equal(t, 1, a[application.StateDelivered])
	assert.Equal(t, 1, a[application.StateDead])
	assert.Equal(t, 1, a[application.StatePending])
	all, err := o.Stats(ctx, "")
	require.NoError(t, err)
	assert.Equal(t, 2, all[application.StatePending])
}

func testNextDue(t *testing.T, s application.Store, o application.Outbox) {
	ctx := context.Background()
	_, ok, err := o.NextDue(ctx)
	require.NoError(t, err)
	assert.False(t, ok, "nothing pending")
	c := report(SiteA, 1, 1)
	c.NextAttemptAt = T0.Add(time.Minute)
	enqueue(t, s, c)
	at, ok, err := o.NextDue(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	assert.True(t, at.Equal(T0.Add(time.Minute)), "got %v", at)
}

func testPrune(t *testing.T, s application.Store, o application.Outbox) {
	enqueue(t, s, report(SiteA, 1, 1), report(SiteA, 2, 2), report(SiteA, 3, 3))
	got := claim(t, o, T0, 10)
	require.Len(t, got, 3)
	settle(t, o, delivered(got[0], T0), delivered(got[1], T0.Add(2*time.Hour)),
		application.Outcome{ID: got[2].ID, State: application.StateDead, Attempted: true, Err: &application.CallError{Status: 400}, At: T0})
	n, err := o.Prune(context.Background(), T0.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, 1, n, "only the delivered call settled before the cutoff")
	_, err = o.Get(context.Background(), SiteA, got[0].ID)
	assert.ErrorIs(t, err, application.ErrNotFound)
	assert.Equal(t, application.StateDead, get(t, o, SiteA, got[2].ID).State, "dead calls are kept for operators")
}

func testTenancy(t *testing.T, s application.Store, o application.Outbox) {
	enqueue(t, s, report(SiteA, 1, 1))
	c := claim(t, o, T0, 1)[0]
	settle(t, o, application.Outcome{ID: c.ID, State: application.StateDead, Attempted: true, Err: &application.CallError{Status: 400}, At: T0})
	ctx := context.Background()
	_, err := o.Get(ctx, SiteB, c.ID)
	assert.ErrorIs(t, err, application.ErrNotFound)
	assert.ErrorIs(t, o.Retry(ctx, SiteB, c.ID, T0), application.ErrNotFound)
	assert.ErrorIs(t, o.Discard(ctx, SiteB, c.ID, T0), application.ErrNotFound)
	assert.Equal(t, application.StateDead, get(t, o, SiteA, c.ID).State, "another site's operations changed nothing")
}

func testRoundTrip(t *testing.T, s application.Store, o application.Outbox) {
	c := report(SiteA, 1, 1)
	c.ScheduledAt = time.Date(2030, 2, 3, 4, 5, 6, 0, time.UTC)
	c.Payload = []byte(`{"appointmentId":"x","startsAt":"2030-02-03T04:05:06Z"}`)
	c.Cause = "appointment:scheduled"
	enqueue(t, s, c)
	d := get(t, o, SiteA, c.ID)
	assert.Equal(t, c.OrderingKey, d.OrderingKey)
	assert.Equal(t, c.TriggerKey, d.TriggerKey)
	assert.Equal(t, c.ExternalEntityID, d.ExternalEntityID)
	assert.Equal(t, application.KindReport, d.Kind)
	assert.Equal(t, "appointment:scheduled", d.Cause)
	assert.JSONEq(t, string(c.Payload), string(d.Payload))
	assert.True(t, d.ScheduledAt.Equal(c.ScheduledAt))
	assert.True(t, d.CreatedAt.Equal(T0))
	assert.Equal(t, time.UTC, d.CreatedAt.Location())
	assert.Nil(t, d.LastError)
	assert.Zero(t, d.Attempts)
}
