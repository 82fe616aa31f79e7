package outboxtest

import (
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/application/outbox"
)

var supersedeCases = []testCase{
	{"a newer call supersedes an older pending report of its pair", testSupersedePendingReport},
	{"a pending cancel stays before a newer report of its pair", testCancelBeforeReport},
	{"a newer cancel supersedes an older pending cancel", testSupersedePendingCancel},
	{"dead and expired calls are superseded; retrying them is refused", testSupersedeDeadExpired},
	{"a cancel that dies before a newer report is superseded", testCancelDiesBeforeReport},
	{"the newest call of a pair may be retried", testRetryNewest},
	{"supersession stays within its pair", testSupersedeScope},
	{"an in-flight call superseded keeps its key until its lease ends", testSupersedeInFlight},
	{"listing and stats show superseded calls", testSupersededListed},
}

func rep(ent, n int, trigger string) outbox.Call {
	return call(SiteA, ent, n, outbox.KindReport, trigger)
}

func can(ent, n int, trigger string) outbox.Call {
	return call(SiteA, ent, n, outbox.KindCancel, trigger)
}

func testSupersedePendingReport(x *suite) {
	// A booking confirmed and canceled before the relay ran: the
	// confirmation must never be sent.
	x.enqueue(rep(1, 1, "booked"))
	x.enqueue(rep(1, 2, "canceled"), can(1, 3, "booked"))
	d := x.get(SiteA, callID(1))
	assert.Equal(x.t, outbox.StateSuperseded, d.State)
	assert.Equal(x.t, callID(3), d.SupersededBy)
	assert.Equal(x.t, 0, d.Attempts)
	assert.False(x.t, d.MaybeSent, "no relay held it")
	assert.False(x.t, d.SettledAt.IsZero())
	got := x.claim(T0, 10)
	assert.Equal(x.t, []string{callID(2)}, ids(got), "the key goes on with the newer calls")
	x.settle(delivered(got[0], T0))
	assert.Equal(x.t, []string{callID(3)}, ids(x.claim(T0, 10)))
}

func testCancelBeforeReport(x *suite) {
	// A reschedule: the cancel must still remove the old reminder first.
	x.enqueue(rep(1, 1, "starting"))
	x.deliverAll(T0)
	x.enqueue(can(1, 2, "starting"), rep(1, 3, "starting"))
	assert.Equal(x.t, outbox.StatePending, x.state(2))
	assert.Equal(x.t, outbox.StatePending, x.state(3))
	got := x.claim(T0, 10)
	assert.Equal(x.t, []string{callID(2)}, ids(got))
	x.settle(delivered(got[0], T0))
	assert.Equal(x.t, []string{callID(3)}, ids(x.claim(T0, 10)))
}

func testSupersedePendingCancel(x *suite) {
	x.enqueue(rep(1, 1, "starting"))
	x.deliverAll(T0)
	x.enqueue(can(1, 2, "starting"), rep(1, 3, "starting"))
	x.enqueue(can(1, 4, "starting"))
	assert.Equal(x.t, outbox.StateSuperseded, x.state(2), "the newer cancel does its work")
	assert.Equal(x.t, outbox.StateSuperseded, x.state(3))
	assert.Equal(x.t, callID(4), x.get(SiteA, callID(2)).SupersededBy)
	assert.Equal(x.t, []string{callID(4)}, ids(x.claim(T0, 10)))
}

func testSupersedeDeadExpired(x *suite) {
	r := rep(1, 1, "starting")
	r.ScheduledAt = T0.Add(-time.Minute)
	x.enqueue(r, rep(2, 2, "booked"))
	got := x.claim(T0, 10)
	require.Len(x.t, got, 2)
	x.settle(outcome(got[0], outbox.StateExpired, T0, &outbox.CallError{Message: "passed"}), dead(got[1], T0, 400))
	x.enqueue(can(1, 3, "starting"), rep(2, 4, "booked"))
	for n, newer := range map[int]int{1: 3, 2: 4} {
		d := x.get(SiteA, callID(n))
		assert.Equal(x.t, outbox.StateSuperseded, d.State, "call %d", n)
		assert.Equal(x.t, callID(newer), d.SupersededBy, "call %d", n)
		err := x.o.Retry(bg, SiteA, callID(n), T0)
		var sup *outbox.SupersededError
		require.ErrorAs(x.t, err, &sup, "call %d", n)
		assert.Equal(x.t, callID(newer), sup.NewerID)
		assert.ErrorIs(x.t, err, outbox.ErrSuperseded)
		assert.ErrorIs(x.t, err, outbox.ErrCallState)
		assert.ErrorIs(x.t, x.o.Discard(bg, SiteA, callID(n), T0), outbox.ErrCallState, "nothing to discard")
		assert.Equal(x.t, outbox.StateSuperseded, x.state(n), "a refused retry changes nothing")
	}
}

func testCancelDiesBeforeReport(x *suite) {
	// A reschedule whose cancel Wix refuses: retrying the cancel after the
	// new reminder was reported would cancel the new reminder too.
	x.enqueue(rep(1, 1, "starting"))
	x.deliverAll(T0)
	x.enqueue(can(1, 2, "starting"), rep(1, 3, "starting"))
	c := x.claim(T0, 10)
	require.Equal(x.t, []string{callID(2)}, ids(c))
	x.settle(dead(c[0], T0, 403))
	d := x.get(SiteA, callID(2))
	assert.Equal(x.t, outbox.StateSuperseded, d.State)
	assert.Equal(x.t, callID(3), d.SupersededBy)
	require.NotNil(x.t, d.LastError)
	assert.Equal(x.t, 403, d.LastError.Status, "the refusal is kept")
	assert.ErrorIs(x.t, x.o.Retry(bg, SiteA, callID(2), T0), outbox.ErrSuperseded)
	assert.Equal(x.t, []string{callID(3)}, ids(x.claim(T0, 10)), "the key goes on")
}

func testRetryNewest(x *suite) {
	x.enqueue(rep(1, 1, "starting"))
	x.deliverAll(T0)
	x.enqueue(can(1, 2, "starting"))
	c := x.claim(T0, 10)
	x.settle(dead(c[0], T0, 403))
	assert.Equal(x.t, outbox.StateDead, x.state(2), "the newest call of its pair is a dead letter")
	require.NoError(x.t, x.o.Retry(bg, SiteA, callID(2), T0.Add(time.Minute)))
	assert.Equal(x.t, outbox.StatePending, x.state(2))
	assert.Equal(x.t, outbox.StateDelivered, x.state(1), "the delivered report is untouched")
	assert.Equal(x.t, []string{callID(2)}, ids(x.claim(T0.Add(time.Minute), 10)))
}

func testSupersedeScope(x *suite) {
	x.enqueue(rep(1, 1, "starting"), rep(1, 2, "booked"), rep(2, 3, "starting"),
		call(SiteB, 1, 4, outbox.KindReport, "starting"))
	x.enqueue(can(1, 5, "starting"))
	assert.Equal(x.t, outbox.StateSuperseded, x.state(1))
	assert.Equal(x.t, outbox.StatePending, x.state(2), "another trigger of the entity")
	assert.Equal(x.t, outbox.StatePending, x.state(3), "another entity")
	assert.Equal(x.t, outbox.StatePending, x.get(SiteB, callID(4)).State, "another site")
}

func testSupersedeInFlight(x *suite) {
	x.enqueue(rep(1, 1, "booked"))
	held := x.claim(T0, 10)
	require.Len(x.t, held, 1)
	x.enqueue(can(1, 2, "booked"))
	assert.Equal(x.t, outbox.StateSuperseded, x.state(1))
	assert.True(x.t, x.get(SiteA, callID(1)).MaybeSent, "a relay held it: it may have been sent")
	assert.Equal(x.t, outbox.LiveUnsure, x.beliefs(1)["01/booked"].Live, "so it may be live")
	assert.Empty(x.t, x.claim(T0, 10), "the report may be in flight: the cancel waits")
	leases, err := x.o.Renew(bg, relay1, held, T0, lease)
	require.NoError(x.t, err)
	assert.Zero(x.t, leases[0], "a superseded call is not renewed, so a careful relay does not send it")
	x.settle(delivered(held[0], T0.Add(time.Second)))
	d := x.get(SiteA, callID(1))
	assert.Equal(x.t, outbox.StateSuperseded, d.State, "its outcome is history only")
	assert.Equal(x.t, 1, d.Attempts)
	assert.Equal(x.t, []string{callID(2)}, ids(x.claim(T0.Add(time.Second), 10)), "the cancel goes after it")
}

func testSupersededListed(x *suite) {
	x.enqueue(rep(1, 1, "booked"), rep(2, 2, "booked"))
	x.enqueue(can(1, 3, "booked"))
	list, err := x.o.List(bg, outbox.Filter{SiteID: SiteA, State: outbox.StateSuperseded})
	require.NoError(x.t, err)
	assert.Equal(x.t, []string{callID(1)}, ids(list))
	stats, err := x.o.Stats(bg, SiteA)
	require.NoError(x.t, err)
	assert.Equal(x.t, 1, stats[outbox.StateSuperseded])
	assert.Equal(x.t, 2, stats[outbox.StatePending])
	assert.Zero(x.t, stats[outbox.StateDead], "a superseded call is not a dead letter")
	for _, st := range outbox.States() {
		_, ok := stats[st]
		assert.True(x.t, ok, "every state is counted: %s", st)
	}
}
