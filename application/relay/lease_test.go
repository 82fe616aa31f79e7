package relay_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/fake"
	"github.com/bookable/lifecycle/application/outbox"
	"github.com/bookable/lifecycle/application/relay"
)

// A lease that cannot outlive a whole request, renewed at half its life, is
// refused at start: the rule is enforced, not advised.
func TestNewRelayRefusesALeaseThatCannotCoverARequest(t *testing.T) {
	e := newRelayEnv(t)
	for _, tt := range []struct {
		lease, timeout, margin time.Duration
		ok                     bool
	}{
		{2 * time.Minute, 0, 0, true},                              // defaults: 2 x (30s + 5s) = 70s
		{10 * time.Second, 3 * time.Second, 0, true},               // 2 x (3s + 1.5s) = 9s
		{10 * time.Second, 8 * time.Second, 0, false},              // 2 x (8s + 4s) = 24s
		{time.Minute, 0, 0, false},                                 // 2 x (30s + 5s) = 70s
		{time.Minute, 20 * time.Second, 10 * time.Second, true},    // exactly 60s
		{time.Minute, 20 * time.Second, 10*time.Second + 1, false}, // one nanosecond short
		{1500 * time.Millisecond, 400 * time.Millisecond, 0, true}, // the crash test's
		{1500 * time.Millisecond, 20 * time.Second, 0, false},      // what the crash test had
	} {
		t.Run(fmt.Sprintf("lease %v timeout %v margin %v", tt.lease, tt.timeout, tt.margin), func(t *testing.T) {
			_, err := relay.New(relay.Config{
				Outbox: e.store, Gateway: e.gw, Lease: tt.lease, RequestTimeout: tt.timeout, LeaseMargin: tt.margin,
			})
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, relay.ErrConfig)
			assert.Contains(t, err.Error(), "cannot cover a request")
		})
	}
}

// A request that runs past RequestTimeout is cut off by the relay itself,
// whatever the gateway does, and its calls are retried: no request outlives
// the lease it started under.
func TestRelayCutsOffARequestAtItsTimeout(t *testing.T) {
	e := newRelayEnv(t)
	c := e.call("site-1", e.entities.NewID(), application.KindReport, "appointment_scheduled")
	e.enqueue(c)
	var sawDeadline bool
	e.gw.OnRequest(func(ctx context.Context, _ fake.Request) error {
		_, sawDeadline = ctx.Deadline()
		<-ctx.Done()
		return ctx.Err()
	})
	r := e.relay(func(cfg *relay.Config) {
		cfg.RequestTimeout, cfg.LeaseMargin, cfg.Lease = 50*time.Millisecond, 10*time.Millisecond, time.Minute
	})
	e.drain(r)
	assert.True(t, sawDeadline, "the gateway's context carries the request timeout")
	d := e.get(c)
	assert.Equal(t, application.StatePending, d.State, "a request cut off at its timeout is retried")
	assert.Equal(t, 1, d.Attempts)
}

// Calls held behind a throttled site for longer than half their lease are
// renewed, not lost: every call goes once, in order, and no request starts
// with a lease shorter than the request.
func TestRelayRenewsTheLeasesOfHeldCalls(t *testing.T) {
	e := newRelayEnv(t)
	const n = 30
	var calls []application.Call
	for i := range n {
		c := e.call("site-1", e.entities.NewID(), application.KindReport, fmt.Sprintf("trigger_%d", i))
		calls = append(calls, c)
		e.enqueue(c)
	}
	r := e.relay(func(cfg *relay.Config) {
		cfg.RequestsPerMinute = 10 // one request every 6s: 30 requests take 3 minutes
		cfg.Workers = 1
		cfg.Lease, cfg.RequestTimeout, cfg.LeaseMargin = time.Minute, 20*time.Second, 5*time.Second
		e.virtualTime(cfg)
	})
	e.drain(r)
	assert.Equal(t, map[application.CallState]int{application.StateDelivered: n}, nonZero(e.states()))
	assert.Equal(t, n, e.gw.RequestCount(), "each call was sent once")
	assert.Zero(t, r.Metrics().LeasesLost)
	assert.Greater(t, e.clock.Now().Sub(relayT0), 2*time.Minute, "the calls were held for more than two leases")
}

// Thousands of held calls are all renewed: a relay holding more than any
// fixed share of its claim limit keeps every lease.
func TestRelayRenewsThousandsOfHeldCalls(t *testing.T) {
	e := newRelayEnv(t)
	const n = 3000
	batch := make([]application.Call, 0, n)
	for range n {
		batch = append(batch, e.call("site-1", e.entities.NewID(), application.KindReport, "appointment_scheduled"))
	}
	e.enqueue(batch...)
	r := e.relay(func(cfg *relay.Config) {
		cfg.ClaimLimit = n
		cfg.RequestsPerMinute, cfg.Burst = 2, 1 // one request every minute: 30 requests take 29 minutes
		cfg.Workers = 1
		cfg.Lease, cfg.RequestTimeout, cfg.LeaseMargin = 4*time.Minute, time.Minute, time.Second
		e.virtualTime(cfg)
	})
	e.drain(r)
	assert.Equal(t, map[application.CallState]int{application.StateDelivered: n}, nonZero(e.states()))
	assert.Equal(t, n/application.MaxBatch, e.gw.RequestCount())
	assert.Zero(t, r.Metrics().LeasesLost)
}

// A held call whose lease the store no longer grants (an operator discarded
// it while it was queued) is let go at renewal and never sent.
func TestRelayLetsGoOfACallWhoseLeaseWasLost(t *testing.T) {
	e := newRelayEnv(t)
	first := e.call("site-1", e.entities.NewID(), application.KindReport, "trigger_a")
	second := e.call("site-1", e.entities.NewID(), application.KindReport, "trigger_b")
	e.enqueue(first, second)
	discarded := false
	e.gw.OnRequest(func(ctx context.Context, req fake.Request) error {
		if !discarded {
			discarded = true
			require.NoError(t, e.store.Discard(ctx, "site-1", second.ID, e.clock.Now()))
		}
		return nil
	})
	r := e.relay(func(cfg *relay.Config) {
		cfg.RequestsPerMinute, cfg.Burst = 1, 1 // the second request waits a minute
		cfg.Workers = 1
		cfg.Lease, cfg.RequestTimeout, cfg.LeaseMargin = time.Minute, 20*time.Second, 5*time.Second
		e.virtualTime(cfg)
	})
	e.drain(r)
	assert.Equal(t, application.StateDelivered, e.get(first).State)
	assert.Equal(t, application.StateDiscarded, e.get(second).State)
	assert.Equal(t, 1, e.gw.RequestCount(), "the discarded call was not sent")
	assert.Equal(t, uint64(1), r.Metrics().LeasesLost)
}

// Two relays on one store with Rates set share each site's limit: the
// second does not start with a fresh burst of its own.
func TestRelaysSharingARateStoreShareTheLimit(t *testing.T) {
	for _, shared := range []bool{true, false} {
		t.Run(fmt.Sprintf("shared %v", shared), func(t *testing.T) {
			e := newRelayEnv(t)
			relay := func() *relay.Relay {
				return e.relay(func(cfg *relay.Config) {
					cfg.RequestsPerMinute, cfg.Burst, cfg.Workers = 10, 1, 1 // one request every 6s
					if shared {
						cfg.Rates = e.store
					}
					e.virtualTime(cfg)
				})
			}
			for i := range 3 {
				e.enqueue(e.call("site-1", e.entities.NewID(), application.KindReport, fmt.Sprintf("trigger_%d", i)))
			}
			e.drain(relay())
			e.enqueue(e.call("site-1", e.entities.NewID(), application.KindReport, "trigger_late"))
			e.drain(relay())
			reqs := e.gw.Requests()
			require.Len(t, reqs, 4)
			gap := reqs[3].At.Sub(reqs[2].At)
			if shared {
				assert.GreaterOrEqual(t, gap, 6*time.Second, "the second relay waited for the site's allowance")
			} else {
				assert.Less(t, gap, 6*time.Second, "without a shared store each relay has its own allowance")
			}
		})
	}
}

// failingRenew is an outbox whose renewals fail.
type failingRenew struct{ application.Outbox }

func (failingRenew) Renew(context.Context, string, []application.Call, time.Time, time.Duration) ([]outbox.Lease, error) {
	return nil, errors.New("renewals are down")
}

// When renewals fail, a held call whose lease would no longer outlive a
// request is not sent on it: it is handed back, claimed again with a fresh
// lease, and sent once.
func TestRelayHandsBackACallWhoseLeaseRanShort(t *testing.T) {
	e := newRelayEnv(t)
	const n = 12
	for i := range n {
		e.enqueue(e.call("site-1", e.entities.NewID(), application.KindReport, fmt.Sprintf("trigger_%d", i)))
	}
	r := e.relay(func(cfg *relay.Config) {
		cfg.Outbox = failingRenew{e.store}
		cfg.RequestsPerMinute, cfg.Burst, cfg.Workers = 10, 1, 1 // one request every 6s: 66s for all
		cfg.Lease, cfg.RequestTimeout, cfg.LeaseMargin = time.Minute, 20*time.Second, 5*time.Second
		e.virtualTime(cfg)
	})
	e.drain(r)
	assert.Equal(t, map[application.CallState]int{application.StateDelivered: n}, nonZero(e.states()))
	assert.Equal(t, n, e.gw.RequestCount(), "each call was sent once")
	assert.Positive(t, r.Metrics().LeasesLost, "calls whose lease ran short were handed back")
	for _, req := range e.gw.Requests() {
		assert.True(t, req.At.Before(relayT0.Add(2*time.Minute)), "request at %v", req.At.Sub(relayT0))
	}
}

// A request cut off at its timeout may still be processed by Wix: the key's
// next call is not sent until LeaseMargin after it was abandoned, as if its
// lease had run out.
func TestRelayHoldsTheKeyOfAnAbandonedRequestForTheMargin(t *testing.T) {
	e := newRelayEnv(t)
	entity := e.entities.NewID()
	first := e.call("site-1", entity, application.KindReport, "appointment_starting")
	second := e.call("site-1", entity, application.KindCancel, "appointment_starting")
	e.enqueue(first, second)
	var mu sync.Mutex
	var cutAt, nextAt time.Time
	e.gw.OnRequest(func(ctx context.Context, req fake.Request) error {
		mu.Lock()
		defer mu.Unlock()
		if cutAt.IsZero() {
			mu.Unlock()
			<-ctx.Done() // Wix does not answer in time
			mu.Lock()
			cutAt = time.Now()
			return ctx.Err()
		}
		if nextAt.IsZero() {
			nextAt = time.Now()
		}
		return nil
	})
	const margin = 150 * time.Millisecond
	r := e.relay(func(cfg *relay.Config) {
		cfg.RequestTimeout, cfg.LeaseMargin, cfg.Lease = 50*time.Millisecond, margin, time.Minute
		cfg.BackoffBase, cfg.BackoffMax = time.Nanosecond, time.Nanosecond
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for e.get(second).State != application.StateDelivered {
		require.NoError(t, r.Drain(ctx))
	}
	mu.Lock()
	defer mu.Unlock()
	require.False(t, nextAt.IsZero())
	assert.GreaterOrEqual(t, nextAt.Sub(cutAt), margin-10*time.Millisecond,
		"the next request of the key waited the margin after the abandoned one")
}

// lostRenew is an outbox whose renewals say every lease was lost, and that
// records the outcomes settled.
type lostRenew struct {
	application.Outbox
	mu       sync.Mutex
	outcomes []application.Outcome
}

func (o *lostRenew) Renew(_ context.Context, _ string, held []application.Call, _ time.Time, _ time.Duration) ([]outbox.Lease, error) {
	return make([]outbox.Lease, len(held)), nil
}

func (o *lostRenew) Settle(ctx context.Context, outcomes []application.Outcome) error {
	o.mu.Lock()
	o.outcomes = append(o.outcomes, outcomes...)
	o.mu.Unlock()
	return o.Outbox.Settle(ctx, outcomes)
}

// A call let go because its lease was lost is handed back with the token it
// was held with, so that a store whose lease is still the relay's ends it
// (with no token the key would stay leased).
func TestRelayHandsBackALostCallWithItsToken(t *testing.T) {
	e := newRelayEnv(t)
	for i := range 3 {
		e.enqueue(e.call("site-1", e.entities.NewID(), application.KindReport, fmt.Sprintf("trigger_%d", i)))
	}
	o := &lostRenew{Outbox: e.store}
	r := e.relay(func(cfg *relay.Config) {
		cfg.Outbox = o
		cfg.RequestsPerMinute, cfg.Burst, cfg.Workers = 1, 1, 1 // the second request waits a minute
		cfg.Lease, cfg.RequestTimeout, cfg.LeaseMargin = time.Minute, 20*time.Second, 5*time.Second
		e.virtualTime(cfg)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = r.Drain(ctx) // the lost calls come back and are lost again; the drain is not the point
	handedBack := 0
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, out := range o.outcomes {
		if out.State == application.StatePending && !out.Attempted {
			handedBack++
			assert.NotZero(t, out.Token, "call %s handed back without its token", out.ID)
		}
	}
	assert.Positive(t, handedBack)
}
