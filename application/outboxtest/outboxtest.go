// Package outboxtest is the contract suite of the outbox.Outbox port. Every
// adapter runs it from its own tests:
//
//	func TestOutboxContract(t *testing.T) {
//		outboxtest.Run(t, outboxtest.Features{}, func(t *testing.T) (application.Store, outbox.Outbox) {
//			db := open(t)
//			return db, db
//		})
//	}
//
// Calls are enqueued through the Store, as commands do, and read, claimed
// and settled through the Outbox, as the relay and operators do. The cases
// are grouped by concern: claiming and settling (claim.go), fencing
// (fence.go), supersession (supersede.go), operators (operate.go) and what
// lifecycle believes is live at Wix (belief.go).
package outboxtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/outbox"
)

// Fixed identities and times of the suite.
const (
	SiteA = "a0000000-0000-4000-8000-000000000001"
	SiteB = "b0000000-0000-4000-8000-000000000002"
)

// T0 is the suite's "now".
var T0 = time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)

const (
	lease  = time.Minute
	relay1 = "relay-1"
	relay2 = "relay-2"
)

// Features says how an adapter legitimately differs.
type Features struct {
	// SingleRelay: the store admits one active relay at a time; another
	// relay's Claim returns a *outbox.StandbyError until the active one's
	// lease runs out (SQLite). Otherwise relays share the work (memory,
	// PostgreSQL).
	SingleRelay bool
}

type suite struct {
	t  *testing.T
	s  application.Store
	o  outbox.Outbox
	f  Features
	tc testCase
}

type testCase struct {
	name string
	test func(x *suite)
}

// Run runs the suite; newAdapter must return a fresh, empty adapter.
func Run(t *testing.T, f Features, newAdapter func(t *testing.T) (application.Store, outbox.Outbox)) {
	var cases []testCase
	cases = append(cases, claimCases...)
	cases = append(cases, fenceCases...)
	cases = append(cases, supersedeCases...)
	cases = append(cases, operateCases...)
	cases = append(cases, beliefCases...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, o := newAdapter(t)
			c.test(&suite{t: t, s: s, o: o, f: f, tc: c})
		})
	}
}

func id(prefix string, n int) string { return fmt.Sprintf("%s-0000-4000-8000-%012d", prefix, n) }

// callID is the ID of test call n.
func callID(n int) string { return id("d0000000", n) }

// entity is the externalEntityId of test entity n.
func entity(n int) string { return id("e0000000", n) }

// call returns test call n of entity on site, of kind and trigger.
func call(site string, ent, n int, kind outbox.Kind, trigger string) outbox.Call {
	e := entity(ent)
	c := outbox.Call{
		ID: callID(n), SiteID: site, OrderingKey: outbox.OrderingKey(site, e),
		Kind: kind, TriggerKey: trigger, ExternalEntityID: e, Cause: "test",
		State: outbox.StatePending, CreatedAt: T0, NextAttemptAt: T0,
	}
	if kind == outbox.KindReport {
		c.Payload = []byte(fmt.Sprintf(`{"n":%d}`, n))
	}
	return c
}

// report returns test report n of entity, of a trigger of its own
// ("trigger_<n>"), so that calls of one entity do not supersede each other
// unless a case wants them to.
func report(site string, ent, n int) outbox.Call {
	return call(site, ent, n, outbox.KindReport, fmt.Sprintf("trigger_%d", n))
}

func (x *suite) enqueue(calls ...outbox.Call) {
	x.t.Helper()
	require.NoError(x.t, x.s.Update(context.Background(), func(ctx context.Context, tx application.Tx) error {
		return tx.Enqueue(ctx, calls)
	}))
}

func ids(calls []outbox.Call) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		out[i] = c.ID
	}
	return out
}

// claimAs claims as relay at now.
func (x *suite) claimAs(relay string, now time.Time, limit int) []outbox.Call {
	x.t.Helper()
	calls, err := x.o.Claim(context.Background(), outbox.ClaimRequest{Relay: relay, Now: now, Limit: limit, Lease: lease})
	require.NoError(x.t, err)
	for _, c := range calls {
		assert.Positive(x.t, c.Lease.Token, "a claimed call carries its lease token")
		assert.True(x.t, c.Lease.Until.Equal(now.Add(lease)), "leased until now + lease, got %v", c.Lease.Until)
	}
	return calls
}

// claim claims as relay1.
func (x *suite) claim(now time.Time, limit int) []outbox.Call {
	x.t.Helper()
	return x.claimAs(relay1, now, limit)
}

func (x *suite) settle(outcomes ...outbox.Outcome) {
	x.t.Helper()
	require.NoError(x.t, x.o.Settle(context.Background(), outcomes))
}

// outcome returns the outcome of claimed call c, with its lease token.
func outcome(c outbox.Call, state outbox.State, at time.Time, e *outbox.CallError) outbox.Outcome {
	return outbox.Outcome{ID: c.ID, Token: c.Lease.Token, State: state, Attempted: state != outbox.StateExpired, Err: e, At: at}
}

func delivered(c outbox.Call, at time.Time) outbox.Outcome {
	return outcome(c, outbox.StateDelivered, at, nil)
}

func dead(c outbox.Call, at time.Time, status int) outbox.Outcome {
	return outcome(c, outbox.StateDead, at, &outbox.CallError{Status: status, Message: "refused"})
}

func (x *suite) get(site, callID string) outbox.Detail {
	x.t.Helper()
	d, err := x.o.Get(context.Background(), site, callID)
	require.NoError(x.t, err)
	return d
}

func (x *suite) state(n int) outbox.State {
	x.t.Helper()
	return x.get(SiteA, callID(n)).State
}

// deliverAll claims and delivers until nothing is due at now.
func (x *suite) deliverAll(now time.Time) {
	x.t.Helper()
	for i := 0; i < 100; i++ {
		got := x.claim(now, 100)
		if len(got) == 0 {
			return
		}
		for _, c := range got {
			x.settle(delivered(c, now))
		}
	}
	x.t.Fatal("deliverAll: the outbox never drained")
}

var bg = context.Background()
