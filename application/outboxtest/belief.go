package outboxtest

import (
	"context"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/outbox"
)

var beliefCases = []testCase{
	{"beliefs follow delivered reports and cancels", testBeliefs},
	{"a report after a cancel that never took effect is unsure", testBeliefUnsure},
	{"beliefs outlive prune", testBeliefsOutlivePrune},
}

func (x *suite) beliefs(entities ...int) map[string]outbox.Belief {
	x.t.Helper()
	es := make([]string, len(entities))
	for i, n := range entities {
		es[i] = entity(n)
	}
	var got []outbox.Belief
	require.NoError(x.t, x.s.View(bg, func(ctx context.Context, tx application.ReadTx) error {
		var err error
		got, err = tx.Beliefs(ctx, SiteA, es)
		return err
	}))
	out := map[string]outbox.Belief{}
	for _, b := range got {
		assert.Equal(x.t, SiteA, b.SiteID)
		out[b.ExternalEntityID[len(b.ExternalEntityID)-2:]+"/"+b.TriggerKey] = b
	}
	return out
}

func testBeliefs(x *suite) {
	r := rep(1, 1, "starting")
	r.ScheduledAt = T0.Add(48 * time.Hour)
	x.enqueue(r, rep(1, 2, "booked"), rep(2, 3, "booked"))
	b := x.beliefs(1, 2, 3)
	require.Len(x.t, b, 3, "one belief per pair with calls; entity 3 has none")
	assert.Equal(x.t, outbox.LiveNone, b["01/starting"].Live)
	require.NotNil(x.t, b["01/starting"].Pending, "a pending call will decide")
	assert.Equal(x.t, callID(1), b["01/starting"].Pending.ID)

	x.deliverAll(T0)
	b = x.beliefs(1)
	assert.Equal(x.t, outbox.LiveOne, b["01/starting"].Live)
	assert.Nil(x.t, b["01/starting"].Pending)
	require.NotNil(x.t, b["01/starting"].Event)
	assert.Equal(x.t, callID(1), b["01/starting"].Event.CallID)
	assert.True(x.t, b["01/starting"].Event.ScheduledAt.Equal(r.ScheduledAt))
	assert.JSONEq(x.t, `{"n":1}`, string(b["01/starting"].Event.Payload))

	x.enqueue(can(1, 4, "starting"))
	x.deliverAll(T0)
	b = x.beliefs(1)
	assert.Equal(x.t, outbox.LiveNone, b["01/starting"].Live, "a delivered cancel removes it")
	assert.Nil(x.t, b["01/starting"].Event)
	assert.Equal(x.t, outbox.LiveOne, b["01/booked"].Live)
}

func testBeliefUnsure(x *suite) {
	x.enqueue(rep(1, 1, "starting"))
	x.deliverAll(T0)
	x.enqueue(can(1, 2, "starting"), rep(1, 3, "starting"))
	c := x.claim(T0, 10)
	x.settle(dead(c[0], T0, 403))
	x.deliverAll(T0)
	b := x.beliefs(1)["01/starting"]
	assert.Equal(x.t, outbox.LiveUnsure, b.Live, "the old reminder may still be live beside the new one")
	assert.Equal(x.t, callID(3), b.Event.CallID)

	// A report that timed out and was then superseded may have reached Wix.
	x.enqueue(rep(2, 4, "booked"))
	c = x.claim(T0, 10)
	o := outcome(c[0], outbox.StatePending, T0, &outbox.CallError{Message: "timeout"})
	o.NextAttemptAt = T0.Add(time.Hour)
	x.settle(o)
	x.enqueue(rep(2, 5, "canceled"), can(2, 6, "booked"))
	assert.Equal(x.t, outbox.LiveUnsure, x.beliefs(2)["02/booked"].Live)
	// So may a refused one: an earlier attempt may have taken effect unrecorded.
	x.enqueue(rep(3, 7, "booked"))
	c = x.claim(T0, 10)
	for _, cc := range c {
		if cc.ID == callID(7) {
			x.settle(dead(cc, T0, 400))
		}
	}
	assert.Equal(x.t, outbox.LiveUnsure, x.beliefs(3)["03/booked"].Live)
	// A report never sent is not.
	x.enqueue(rep(4, 8, "booked"))
	x.enqueue(can(4, 9, "booked"))
	assert.Equal(x.t, outbox.LiveNone, x.beliefs(4)["04/booked"].Live)
}

func testBeliefsOutlivePrune(x *suite) {
	x.enqueue(rep(1, 1, "starting"), rep(2, 2, "starting"), rep(3, 3, "booked"))
	x.deliverAll(T0)
	x.enqueue(can(1, 4, "starting"), rep(1, 5, "starting"), can(2, 6, "starting"))
	x.deliverAll(T0.Add(time.Minute))
	before := x.beliefs(1, 2, 3)
	n, err := x.o.Prune(bg, T0.Add(time.Hour))
	require.NoError(x.t, err)
	assert.Equal(x.t, 6, n)
	after := x.beliefs(1, 2, 3)
	require.Len(x.t, after, len(before))
	for k, b := range before {
		a := after[k]
		assert.Equal(x.t, b.Live, a.Live, k)
		if b.Event != nil {
			require.NotNil(x.t, a.Event, k)
			assert.Equal(x.t, b.Event.CallID, a.Event.CallID, k)
			assert.JSONEq(x.t, string(b.Event.Payload), string(a.Event.Payload), k)
		}
	}
	assert.Equal(x.t, outbox.LiveOne, after["01/starting"].Live)
	assert.Equal(x.t, callID(5), after["01/starting"].Event.CallID)
	assert.Equal(x.t, outbox.LiveNone, after["02/starting"].Live)

	// A call after the prune folds onto what was kept.
	x.enqueue(can(1, 7, "starting"))
	x.deliverAll(T0.Add(2 * time.Hour))
	assert.Equal(x.t, outbox.LiveNone, x.beliefs(1)["01/starting"].Live)
}
