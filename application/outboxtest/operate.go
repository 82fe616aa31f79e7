package outboxtest

import (
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/application/outbox"
)

var operateCases = []testCase{
	{"retry re-queues dead and expired calls at the tail", testRetry},
	{"discard", testDiscard},
	{"list filters and pages", testList},
	{"stats count by state and site", testStats},
	{"prune deletes old settled calls only", testPrune},
	{"operations are scoped to their site", testTenancy},
	{"payload and times round-trip", testRoundTrip},
}

func testRetry(x *suite) {
	x.enqueue(report(SiteA, 1, 1), report(SiteA, 1, 2))
	c := x.claim(T0, 10)[0]
	x.settle(dead(c, T0, 404))
	second := x.claim(T0, 10)
	require.Len(x.t, second, 1)
	x.settle(delivered(second[0], T0))

	require.NoError(x.t, x.o.Retry(bg, SiteA, c.ID, T0.Add(time.Hour)))
	d := x.get(SiteA, c.ID)
	assert.Equal(x.t, outbox.StatePending, d.State)
	assert.Greater(x.t, d.Seq, second[0].Seq, "a retried call goes to the tail of its key")
	assert.True(x.t, d.SettledAt.IsZero())
	assert.Equal(x.t, "retried by an operator", d.History[len(d.History)-1].Note)
	assert.Empty(x.t, x.claim(T0.Add(30*time.Minute), 10), "due at the retry time")
	again := x.claim(T0.Add(time.Hour), 10)
	require.Len(x.t, again, 1)
	assert.Equal(x.t, c.ID, again[0].ID, "a retried call keeps its ID (and so its idempotency key)")

	var se *outbox.StateError
	assert.ErrorAs(x.t, x.o.Retry(bg, SiteA, second[0].ID, T0), &se, "a delivered call cannot be retried")
	assert.ErrorIs(x.t, x.o.Retry(bg, SiteA, c.ID, T0), outbox.ErrCallState, "a pending call cannot be retried")
	assert.ErrorIs(x.t, x.o.Retry(bg, SiteA, callID(99), T0), outbox.ErrNotFound)
}

func testDiscard(x *suite) {
	x.enqueue(report(SiteA, 1, 1), report(SiteA, 1, 2), report(SiteA, 2, 3))
	require.NoError(x.t, x.o.Discard(bg, SiteA, callID(1), T0))
	d := x.get(SiteA, callID(1))
	assert.Equal(x.t, outbox.StateDiscarded, d.State)
	assert.Equal(x.t, "discarded by an operator", d.History[len(d.History)-1].Note)
	got := x.claim(T0, 10)
	assert.Equal(x.t, []string{callID(2), callID(3)}, ids(got), "a discarded head lets its key go on")
	x.settle(delivered(got[0], T0))
	assert.ErrorIs(x.t, x.o.Discard(bg, SiteA, got[0].ID, T0), outbox.ErrCallState, "a delivered call cannot be discarded")
	assert.ErrorIs(x.t, x.o.Discard(bg, SiteA, callID(1), T0), outbox.ErrCallState, "nor a discarded one")
}

func testList(x *suite) {
	for n := 1; n <= 5; n++ {
		x.enqueue(report(SiteA, n, n))
	}
	x.enqueue(report(SiteB, 9, 9))
	c := x.claim(T0, 1)[0]
	x.settle(delivered(c, T0))

	all, err := x.o.List(bg, outbox.Filter{})
	require.NoError(x.t, err)
	assert.Len(x.t, all, 6, "no site means every site")
	a, err := x.o.List(bg, outbox.Filter{SiteID: SiteA})
	require.NoError(x.t, err)
	assert.Len(x.t, a, 5)
	pend, err := x.o.List(bg, outbox.Filter{SiteID: SiteA, State: outbox.StatePending})
	require.NoError(x.t, err)
	assert.Len(x.t, pend, 4)
	page1, err := x.o.List(bg, outbox.Filter{SiteID: SiteA, Limit: 2})
	require.NoError(x.t, err)
	require.Len(x.t, page1, 2)
	page2, err := x.o.List(bg, outbox.Filter{SiteID: SiteA, Limit: 2, After: page1[1].Seq})
	require.NoError(x.t, err)
	require.Len(x.t, page2, 2)
	assert.Equal(x.t, []string{callID(3), callID(4)}, ids(page2))
}

func testStats(x *suite) {
	x.enqueue(report(SiteA, 1, 1), report(SiteA, 2, 2), report(SiteA, 3, 3), report(SiteB, 4, 4))
	got := x.claim(T0, 2)
	x.settle(delivered(got[0], T0), dead(got[1], T0, 400))
	a, err := x.o.Stats(bg, SiteA)
	require.NoError(x.t, err)
	assert.Equal(x.t, 1, a[outbox.StateDelivered])
	assert.Equal(x.t, 1, a[outbox.StateDead])
	assert.Equal(x.t, 1, a[outbox.StatePending])
	all, err := x.o.Stats(bg, "")
	require.NoError(x.t, err)
	assert.Equal(x.t, 2, all[outbox.StatePending])
	assert.Len(x.t, all, len(outbox.States()))
}

func testPrune(x *suite) {
	x.enqueue(report(SiteA, 1, 1), report(SiteA, 2, 2), report(SiteA, 3, 3), rep(4, 4, "booked"))
	x.enqueue(can(4, 5, "booked"))
	got := x.claim(T0, 10)
	require.Len(x.t, got, 4)
	x.settle(delivered(got[0], T0), delivered(got[1], T0.Add(2*time.Hour)), dead(got[2], T0, 400), delivered(got[3], T0))
	n, err := x.o.Prune(bg, T0.Add(time.Hour))
	require.NoError(x.t, err)
	assert.Equal(x.t, 3, n, "the delivered and the superseded calls settled before the cutoff")
	_, err = x.o.Get(bg, SiteA, got[0].ID)
	assert.ErrorIs(x.t, err, outbox.ErrNotFound)
	_, err = x.o.Get(bg, SiteA, callID(4))
	assert.ErrorIs(x.t, err, outbox.ErrNotFound, "superseded calls are pruned")
	assert.Equal(x.t, outbox.StateDead, x.state(3), "dead calls are kept for operators")
	assert.Equal(x.t, outbox.StateDelivered, x.state(2), "settled after the cutoff")
}

func testTenancy(x *suite) {
	x.enqueue(report(SiteA, 1, 1))
	c := x.claim(T0, 1)[0]
	x.settle(dead(c, T0, 400))
	_, err := x.o.Get(bg, SiteB, c.ID)
	assert.ErrorIs(x.t, err, outbox.ErrNotFound)
	assert.ErrorIs(x.t, x.o.Retry(bg, SiteB, c.ID, T0), outbox.ErrNotFound)
	assert.ErrorIs(x.t, x.o.Discard(bg, SiteB, c.ID, T0), outbox.ErrNotFound)
	assert.Equal(x.t, outbox.StateDead, x.state(1), "another site's operations changed nothing")
}

func testRoundTrip(x *suite) {
	c := report(SiteA, 1, 1)
	c.ScheduledAt = time.Date(2030, 2, 3, 4, 5, 6, 0, time.UTC)
	c.Payload = []byte(`{"appointmentId":"x","startsAt":"2030-02-03T04:05:06Z"}`)
	c.Cause = "appointment:scheduled"
	x.enqueue(c)
	d := x.get(SiteA, c.ID)
	assert.Equal(x.t, c.OrderingKey, d.OrderingKey)
	assert.Equal(x.t, c.TriggerKey, d.TriggerKey)
	assert.Equal(x.t, c.ExternalEntityID, d.ExternalEntityID)
	assert.Equal(x.t, outbox.KindReport, d.Kind)
	assert.Equal(x.t, "appointment:scheduled", d.Cause)
	assert.JSONEq(x.t, string(c.Payload), string(d.Payload))
	assert.True(x.t, d.ScheduledAt.Equal(c.ScheduledAt))
	assert.True(x.t, d.CreatedAt.Equal(T0))
	assert.Equal(x.t, time.UTC, d.CreatedAt.Location())
	assert.Nil(x.t, d.LastError)
	assert.Zero(x.t, d.Attempts)
	assert.Empty(x.t, d.SupersededBy)
}
