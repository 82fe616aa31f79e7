package outboxtest

import (
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/application/outbox"
)

var claimCases = []testCase{
	{"claim returns heads of keys by seq", testClaimHeads},
	{"claim respects due time, lease and limit", testClaimDueLeaseLimit},
	{"settle delivered advances the key", testSettleDelivered},
	{"settle retry keeps the key waiting", testSettleRetry},
	{"an outcome's Seq is only a hint", testSettleSeqHint},
	{"two outcomes of one settle that give one seq", testSettleOneSeqTwice},
	{"dead call keeps its error and the key goes on", testSettleDead},
	{"expired call is not sent", testSettleExpired},
	{"an outcome state a relay may not report is refused", testSettleBadState},
	{"next due", testNextDue},
}

func testClaimHeads(x *suite) {
	// Entity 1 gets calls 1, 3, 4; entity 2 gets call 2 (interleaved commits).
	x.enqueue(report(SiteA, 1, 1))
	x.enqueue(report(SiteA, 2, 2), report(SiteA, 1, 3))
	x.enqueue(report(SiteA, 1, 4))
	got := x.claim(T0, 100)
	assert.Equal(x.t, []string{callID(1), callID(2)}, ids(got), "one head per key, by seq")
	assert.Empty(x.t, x.claim(T0, 100), "leased heads are not claimed again, and their keys wait")
}

func testClaimDueLeaseLimit(x *suite) {
	later := report(SiteA, 1, 1)
	later.NextAttemptAt = T0.Add(time.Hour)
	x.enqueue(later, report(SiteA, 2, 2), report(SiteA, 3, 3), report(SiteA, 4, 4))
	got := x.claim(T0, 2)
	assert.Equal(x.t, []string{callID(2), callID(3)}, ids(got), "not due yet is skipped; limit holds")
	first := got[0].Lease.Token
	got = x.claim(T0.Add(lease/2), 10)
	assert.Equal(x.t, []string{callID(4)}, ids(got))
	// Once the leases ran out (a store with one relay lease extends it at
	// every claim: after the last one), the calls are claimed again.
	got = x.claim(T0.Add(lease/2+lease+time.Second), 2)
	assert.Equal(x.t, []string{callID(2), callID(3)}, ids(got), "an expired lease is claimed again")
	assert.Greater(x.t, got[0].Lease.Token, first, "with a greater token")
	got = x.claim(T0.Add(2*time.Hour), 10)
	assert.Contains(x.t, ids(got), callID(1), "due now")
}

func testSettleDelivered(x *suite) {
	x.enqueue(report(SiteA, 1, 1), call(SiteA, 1, 2, outbox.KindCancel, "appointment_starting"))
	first := x.claim(T0, 10)
	require.Len(x.t, first, 1)
	x.settle(delivered(first[0], T0.Add(time.Second)))
	d := x.get(SiteA, first[0].ID)
	assert.Equal(x.t, outbox.StateDelivered, d.State)
	assert.Equal(x.t, 1, d.Attempts)
	assert.True(x.t, d.SettledAt.Equal(T0.Add(time.Second)))
	require.Len(x.t, d.History, 1)
	assert.Equal(x.t, outbox.StateDelivered, d.History[0].State)

	next := x.claim(T0.Add(time.Second), 10)
	require.Len(x.t, next, 1)
	assert.Equal(x.t, callID(2), next[0].ID, "the key goes on with its next call")
	assert.Equal(x.t, outbox.KindCancel, next[0].Kind)
	assert.Empty(x.t, next[0].Payload)
}

// testSettleOneSeqTwice: in one Settle, one outcome gives its call's seq
// and another outcome gives that same seq for a different call; both calls
// are delivered, each once (found by the model test of the SQLite adapter,
// which told the two apart by the seq alone).
func testSettleOneSeqTwice(x *suite) {
	x.enqueue(report(SiteA, 1, 1), report(SiteA, 2, 2))
	got := x.claim(T0, 10)
	require.Len(x.t, got, 2)
	at := T0.Add(time.Second)
	right, wrong := delivered(got[0], at), delivered(got[1], at)
	right.Seq, wrong.Seq = got[0].Seq, got[0].Seq
	x.settle(right, wrong)
	for _, c := range got {
		d := x.get(SiteA, c.ID)
		assert.Equal(x.t, outbox.StateDelivered, d.State, c.ID)
		assert.Equal(x.t, 1, d.Attempts, c.ID)
	}
	assert.Empty(x.t, x.claim(at, 10), "nothing is left to send")
}

func testSettleSeqHint(x *suite) {
	x.enqueue(report(SiteA, 1, 1), report(SiteA, 2, 2), report(SiteA, 3, 3))
	got := x.claim(T0, 10)
	require.Len(x.t, got, 3)
	at := T0.Add(time.Second)
	// The right seq, another pending call's seq, and one no call has: each
	// outcome settles the call its ID names, and only that call.
	right, wrong, none := delivered(got[0], at), delivered(got[1], at), delivered(got[2], at)
	right.Seq, wrong.Seq, none.Seq = got[0].Seq, got[2].Seq, got[2].Seq+1000
	x.settle(right)
	x.settle(wrong)
	assert.Equal(x.t, outbox.StateDelivered, x.get(SiteA, got[1].ID).State)
	assert.Equal(x.t, outbox.StatePending, x.get(SiteA, got[2].ID).State, "a wrong seq settles nothing else")
	x.settle(none)
	for _, c := range got {
		d := x.get(SiteA, c.ID)
		assert.Equal(x.t, outbox.StateDelivered, d.State, c.ID)
		assert.Equal(x.t, 1, d.Attempts, c.ID)
	}
	// A retried call has a new seq: an outcome with its old one still
	// finds it by ID.
	x.enqueue(report(SiteA, 4, 4))
	c := x.claim(at, 10)
	require.Len(x.t, c, 1)
	out := dead(c[0], at, 400)
	out.Seq = c[0].Seq
	x.settle(out)
	require.NoError(x.t, x.o.Retry(bg, SiteA, c[0].ID, at))
	again := x.claim(at, 10)
	require.Len(x.t, again, 1)
	assert.Greater(x.t, again[0].Seq, c[0].Seq)
	old := delivered(again[0], at.Add(time.Second))
	old.Seq = c[0].Seq
	x.settle(old)
	assert.Equal(x.t, outbox.StateDelivered, x.get(SiteA, c[0].ID).State)
}

func testSettleRetry(x *suite) {
	x.enqueue(report(SiteA, 1, 1), report(SiteA, 1, 2))
	c := x.claim(T0, 10)[0]
	retryAt := T0.Add(30 * time.Second)
	o := outcome(c, outbox.StatePending, T0, &outbox.CallError{Status: 503, Message: "unavailable"})
	o.NextAttemptAt = retryAt
	x.settle(o)
	assert.Empty(x.t, x.claim(T0.Add(10*time.Second), 10), "the key waits for its head; the next call does not overtake")
	again := x.claim(retryAt, 10)
	require.Len(x.t, again, 1)
	assert.Equal(x.t, c.ID, again[0].ID)
	assert.Equal(x.t, 1, again[0].Attempts)
	require.NotNil(x.t, again[0].LastError)
	assert.Equal(x.t, 503, again[0].LastError.Status)
	assert.Equal(x.t, outbox.StatePending, again[0].State)
}

func testSettleDead(x *suite) {
	x.enqueue(report(SiteA, 1, 1), report(SiteA, 1, 2))
	c := x.claim(T0, 10)[0]
	x.settle(outcome(c, outbox.StateDead, T0, &outbox.CallError{Status: 400, Code: "INVALID_ARGUMENT", Message: "bad payload"}))
	d := x.get(SiteA, c.ID)
	assert.Equal(x.t, outbox.StateDead, d.State)
	require.NotNil(x.t, d.LastError)
	assert.Equal(x.t, outbox.CallError{Status: 400, Code: "INVALID_ARGUMENT", Message: "bad payload"}, *d.LastError)
	next := x.claim(T0, 10)
	require.Len(x.t, next, 1)
	assert.Equal(x.t, callID(2), next[0].ID)
}

func testSettleExpired(x *suite) {
	c := report(SiteA, 1, 1)
	c.ScheduledAt = T0.Add(-time.Minute)
	x.enqueue(c)
	got := x.claim(T0, 10)
	require.Len(x.t, got, 1)
	assert.True(x.t, got[0].ScheduledAt.Equal(T0.Add(-time.Minute)))
	x.settle(outcome(got[0], outbox.StateExpired, T0, &outbox.CallError{Message: "scheduled time passed"}))
	d := x.get(SiteA, c.ID)
	assert.Equal(x.t, outbox.StateExpired, d.State)
	assert.Equal(x.t, 0, d.Attempts, "an expired call was never sent")
}

func testSettleBadState(x *suite) {
	x.enqueue(report(SiteA, 1, 1))
	c := x.claim(T0, 10)[0]
	for _, st := range []outbox.State{outbox.StateDiscarded, outbox.StateSuperseded, "nonsense"} {
		assert.Error(x.t, x.o.Settle(bg, []outbox.Outcome{outcome(c, st, T0, nil)}), st)
	}
	assert.Equal(x.t, outbox.StatePending, x.state(1), "a refused settle changes nothing")
	assert.ErrorIs(x.t, x.o.Settle(bg, []outbox.Outcome{delivered(report(SiteA, 9, 9), T0)}), outbox.ErrNotFound)
}

func testNextDue(x *suite) {
	_, ok, err := x.o.NextDue(bg)
	require.NoError(x.t, err)
	assert.False(x.t, ok, "nothing pending")
	c := report(SiteA, 1, 1)
	c.NextAttemptAt = T0.Add(time.Minute)
	x.enqueue(c)
	at, ok, err := x.o.NextDue(bg)
	require.NoError(x.t, err)
	require.True(x.t, ok)
	assert.True(x.t, at.Equal(T0.Add(time.Minute)), "got %v", at)
}
