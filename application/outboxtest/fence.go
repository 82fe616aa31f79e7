package outboxtest

import (
	"errors"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/application/outbox"
)

var fenceCases = []testCase{
	{"a settle with a lease that ended changes nothing but history", testStaleSettle},
	{"renew extends a lease that is still the call's, and only that", testRenew},
	{"a second relay waits or shares, as the store admits", testSecondRelay},
	{"a relay that resigns lets another take over at once", testResign},
	{"a key whose in-flight call was discarded waits for that lease", testDiscardInFlight},
	{"handing a call back ends its lease", testHandBack},
}

// testStaleSettle: relay 1 claims, its lease runs out, relay 2 claims the
// call again; relay 1's late outcome must not decide the call.
func testStaleSettle(x *suite) {
	x.enqueue(report(SiteA, 1, 1), report(SiteA, 1, 2))
	old := x.claimAs(relay1, T0, 10)
	require.Len(x.t, old, 1)
	later := T0.Add(lease + time.Second)
	again := x.claimAs(relay2, later, 10)
	require.Len(x.t, again, 1, "an expired lease is claimed by another relay")
	require.Equal(x.t, old[0].ID, again[0].ID)
	assert.Greater(x.t, again[0].Lease.Token, old[0].Lease.Token, "tokens only grow")

	x.settle(dead(old[0], later, 400))
	d := x.get(SiteA, old[0].ID)
	assert.Equal(x.t, outbox.StatePending, d.State, "the stale outcome is not applied")
	assert.Equal(x.t, 1, d.Attempts, "but its attempt counts")
	require.NotEmpty(x.t, d.History)
	assert.Contains(x.t, d.History[len(d.History)-1].Note, "not applied", "and its history says so")
	assert.Empty(x.t, x.claimAs(relay2, later, 10), "relay 2 still holds the key")

	x.settle(delivered(again[0], later))
	assert.Equal(x.t, outbox.StateDelivered, x.state(1))
	next := x.claimAs(relay2, later, 10)
	require.Len(x.t, next, 1)
	assert.Equal(x.t, callID(2), next[0].ID)
	x.settle(delivered(old[0], later)) // a second stale outcome: still nothing
	assert.Equal(x.t, outbox.StatePending, x.state(2), "a stale settle of call 1 leaves call 2 leased")
	assert.Empty(x.t, x.claimAs(relay2, later, 10))
}

func testRenew(x *suite) {
	x.enqueue(report(SiteA, 1, 1), report(SiteA, 2, 2))
	held := x.claimAs(relay1, T0, 10)
	require.Len(x.t, held, 2)
	at := T0.Add(lease / 2)
	leases, err := x.o.Renew(bg, relay1, held, at, lease)
	require.NoError(x.t, err)
	require.Len(x.t, leases, 2)
	for i, l := range leases {
		assert.Equal(x.t, held[i].Lease.Token, l.Token, "a renewal keeps the token")
		assert.True(x.t, l.Until.Equal(at.Add(lease)), "and extends the lease: %v", l.Until)
		held[i].Lease = l
	}
	assert.Empty(x.t, x.claimAs(relay1, T0.Add(lease+time.Second), 10), "renewed leases are still held")

	// Call 2 is discarded meanwhile: it must not be sent, so it is not renewed.
	require.NoError(x.t, x.o.Discard(bg, SiteA, callID(2), at))
	leases, err = x.o.Renew(bg, relay1, held, T0.Add(lease), lease)
	require.NoError(x.t, err)
	assert.NotZero(x.t, leases[0].Token)
	assert.Zero(x.t, leases[1], "a discarded call's lease is not renewed")

	// Once another relay holds call 1, relay 1's renewal is lost.
	late := T0.Add(5 * lease)
	again := x.claimAs(relay2, late, 10)
	require.Len(x.t, again, 1)
	leases, err = x.o.Renew(bg, relay1, held[:1], late, lease)
	require.NoError(x.t, err)
	assert.Zero(x.t, leases[0], "a lease taken over is lost")
}

func testSecondRelay(x *suite) {
	x.enqueue(report(SiteA, 1, 1), report(SiteA, 2, 2))
	first := x.claimAs(relay1, T0, 1)
	require.Len(x.t, first, 1)
	got, err := x.o.Claim(bg, outbox.ClaimRequest{Relay: relay2, Now: T0, Limit: 10, Lease: lease})
	if x.f.SingleRelay {
		var standby *outbox.StandbyError
		require.ErrorAs(x.t, err, &standby, "another relay holds the store")
		assert.ErrorIs(x.t, err, outbox.ErrStandby)
		assert.Equal(x.t, relay1, standby.Holder)
		assert.False(x.t, standby.Until.Before(T0.Add(lease)), "until its lease runs out: %v", standby.Until)
		assert.Empty(x.t, got)
		// Relay 1 goes on claiming.
		assert.Equal(x.t, []string{callID(2)}, ids(x.claimAs(relay1, T0, 10)))
		return
	}
	require.NoError(x.t, err)
	assert.Equal(x.t, []string{callID(2)}, ids(got), "relays share the work, never the same key")
}

// testResign: a relay that stops gives the store up at once; only the
// holder can.
func testResign(x *suite) {
	x.enqueue(report(SiteA, 1, 1), report(SiteA, 2, 2))
	first := x.claimAs(relay1, T0, 1)
	require.Len(x.t, first, 1)
	require.NoError(x.t, x.o.Resign(bg, relay2), "a relay that holds nothing may resign")
	if x.f.SingleRelay {
		_, err := x.o.Claim(bg, outbox.ClaimRequest{Relay: relay2, Now: T0, Limit: 10, Lease: lease})
		assert.ErrorIs(x.t, err, outbox.ErrStandby, "another relay's resignation does not end relay 1's lease")
	}
	x.settle(delivered(first[0], T0))
	require.NoError(x.t, x.o.Resign(bg, relay1))
	assert.Equal(x.t, []string{callID(2)}, ids(x.claimAs(relay2, T0, 10)), "relay 2 takes over before relay 1's lease would have run out")
	at, ok, err := x.o.NextDue(bg)
	require.NoError(x.t, err)
	assert.False(x.t, ok && !at.After(T0), "nothing else is due: %v", at)
}

func testDiscardInFlight(x *suite) {
	x.enqueue(report(SiteA, 1, 1), report(SiteA, 1, 2))
	held := x.claim(T0, 10)
	require.Len(x.t, held, 1)
	require.NoError(x.t, x.o.Discard(bg, SiteA, callID(1), T0))
	assert.True(x.t, x.get(SiteA, callID(1)).MaybeSent, "discarded while a relay held it")
	assert.Empty(x.t, x.claim(T0, 10), "call 1 may still be in flight: call 2 waits")
	x.settle(delivered(held[0], T0.Add(time.Second)))
	d := x.get(SiteA, callID(1))
	assert.Equal(x.t, outbox.StateDiscarded, d.State, "an outcome of a discarded call is history only")
	assert.Equal(x.t, 1, d.Attempts)
	assert.Equal(x.t, []string{callID(2)}, ids(x.claim(T0.Add(time.Second), 10)), "its settle frees the key")

	// Without a settle, the key is free once the lease expires.
	x.enqueue(report(SiteA, 3, 3), report(SiteA, 3, 4))
	held = x.claim(T0.Add(time.Second), 10)
	require.Equal(x.t, []string{callID(3)}, ids(held))
	require.NoError(x.t, x.o.Discard(bg, SiteA, callID(3), T0))
	assert.Empty(x.t, x.claim(T0.Add(lease/2), 10))
	assert.Contains(x.t, ids(x.claim(T0.Add(2*lease), 10)), callID(4))
}

func testHandBack(x *suite) {
	x.enqueue(report(SiteA, 1, 1))
	c := x.claim(T0, 10)[0]
	back := outcome(c, outbox.StatePending, T0, nil)
	back.Attempted = false
	back.NextAttemptAt = T0
	x.settle(back)
	again := x.claim(T0, 10)
	require.Len(x.t, again, 1, "a call handed back is due at once")
	assert.Zero(x.t, again[0].Attempts, "handing back is not an attempt")
}

var _ = errors.Is
