package relay_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/memory"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/fake"
	"github.com/bookable/lifecycle/application/outbox"
	"github.com/bookable/lifecycle/application/relay"
)

var relayT0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// relayEnv is an outbox, a recording gateway and a fake clock for relay tests.
type relayEnv struct {
	t        *testing.T
	clock    *fake.Clock
	ids      *fake.IDs
	entities *fake.IDs
	store    *memory.Store
	gw       *fake.Gateway
}

func newRelayEnv(t *testing.T) *relayEnv {
	clock := fake.NewClock(relayT0)
	return &relayEnv{
		t:        t,
		clock:    clock,
		ids:      fake.NewIDs("0000ca11"),
		entities: fake.NewIDs("000e0000"),
		store:    memory.New(),
		gw:       fake.NewGateway(clock),
	}
}

// call builds a call of a site for an entity, created now.
func (e *relayEnv) call(site, entity string, kind application.CallKind, trigger string) application.Call {
	c := application.Call{
		ID:               e.ids.NewID(),
		SiteID:           site,
		OrderingKey:      application.OrderingKey(site, entity),
		Kind:             kind,
		TriggerKey:       trigger,
		ExternalEntityID: entity,
		CreatedAt:        e.clock.Now(),
	}
	if kind == application.KindReport {
		c.Payload = []byte(`{"contactId":"c1"}`)
	}
	return c
}

func (e *relayEnv) enqueue(calls ...application.Call) {
	e.t.Helper()
	err := e.store.Update(context.Background(), func(ctx context.Context, tx application.Tx) error {
		return tx.Enqueue(ctx, calls)
	})
	require.NoError(e.t, err)
}

// relay returns a relay over the env with deterministic backoff (the low end
// of each range) and no rate limit, changed by opts.
func (e *relayEnv) relay(opts ...func(*relay.Config)) *relay.Relay {
	e.t.Helper()
	cfg := relay.Config{
		Outbox:            e.store,
		Gateway:           e.gw,
		Clock:             e.clock,
		Jitter:            func() float64 { return 0 },
		RequestsPerMinute: relay.NoRateLimit,
	}
	for _, o := range opts {
		o(&cfg)
	}
	r, err := relay.New(cfg)
	require.NoError(e.t, err)
	return r
}

func (e *relayEnv) drain(r *relay.Relay) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(e.t, r.Drain(ctx))
}

// calls returns every call in the outbox, by Seq.
func (e *relayEnv) calls() []application.Call {
	e.t.Helper()
	cs, err := e.store.List(context.Background(), application.Filter{Limit: 1 << 30})
	require.NoError(e.t, err)
	return cs
}

func (e *relayEnv) get(c application.Call) application.CallDetail {
	e.t.Helper()
	d, err := e.store.Get(context.Background(), c.SiteID, c.ID)
	require.NoError(e.t, err)
	return d
}

func (e *relayEnv) states() map[application.CallState]int {
	e.t.Helper()
	st, err := e.store.Stats(context.Background(), "")
	require.NoError(e.t, err)
	return st
}

// virtualTime makes the relay's waits advance the fake clock at once.
func (e *relayEnv) virtualTime(cfg *relay.Config) {
	cfg.After = func(d time.Duration) <-chan time.Time {
		ch := make(chan time.Time, 1)
		ch <- e.clock.Advance(d)
		return ch
	}
}

func TestNewRelayValidatesConfig(t *testing.T) {
	e := newRelayEnv(t)
	valid := func() relay.Config {
		return relay.Config{Outbox: e.store, Gateway: e.gw}
	}
	tests := []struct {
		name   string
		change func(*relay.Config)
	}{
		{"no outbox", func(c *relay.Config) { c.Outbox = nil }},
		{"no gateway", func(c *relay.Config) { c.Gateway = nil }},
		{"negative workers", func(c *relay.Config) { c.Workers = -1 }},
		{"negative lease", func(c *relay.Config) { c.Lease = -time.Second }},
		{"negative poll", func(c *relay.Config) { c.PollInterval = -time.Second }},
		{"claim limit below a batch", func(c *relay.Config) { c.ClaimLimit = application.MaxBatch - 1 }},
		{"backoff max below base", func(c *relay.Config) { c.BackoffBase, c.BackoffMax = time.Minute, time.Second }},
		{"negative burst", func(c *relay.Config) { c.Burst = -2 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid()
			tt.change(&cfg)
			_, err := relay.New(cfg)
			assert.ErrorIs(t, err, relay.ErrConfig)
		})
	}
	r, err := relay.New(valid())
	require.NoError(t, err)
	assert.NotNil(t, r)
}

func TestRelayDrainDeliversAndReturnsWhenNothingIsDue(t *testing.T) {
	e := newRelayEnv(t)
	r := e.relay()
	e.drain(r) // an empty outbox
	assert.Zero(t, e.gw.RequestCount())

	a, b := e.entities.NewID(), e.entities.NewID()
	e.enqueue(
		e.call("site-1", a, application.KindReport, "appointment_scheduled"),
		e.call("site-1", a, application.KindCancel, "appointment_starting"),
		e.call("site-1", b, application.KindReport, "appointment_scheduled"),
	)
	e.drain(r)

	assert.Equal(t, map[application.CallState]int{application.StateDelivered: 3}, nonZero(e.states()))
	require.NoError(t, e.gw.VerifyOrder(e.calls()))
	for _, c := range e.calls() {
		assert.Equal(t, 1, c.Attempts, c.ID)
		assert.Equal(t, relayT0, c.SettledAt, c.ID)
	}
	// a's report and b's report went in one request, then a's cancel.
	reqs := e.gw.Requests()
	require.Len(t, reqs, 2)
	assert.Len(t, reqs[0].Items, 2)
	assert.Equal(t, application.KindCancel, reqs[1].Kind)
	m := r.Metrics()
	assert.Equal(t, uint64(3), m.Delivered)
	assert.Equal(t, uint64(2), m.Requests)
	assert.Equal(t, uint64(3), m.DeliveryLatency.Count)
	assert.Equal(t, uint64(3), m.DeliveryLatency.Counts[0], "delivered at once on the fake clock")
}

func nonZero(m map[application.CallState]int) map[application.CallState]int {
	out := map[application.CallState]int{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

func TestRelayKeepsOrderPerKeyUnderParallelWorkersAndRetries(t *testing.T) {
	e := newRelayEnv(t)
	const keys, perKey = 40, 6
	// Every call of a key has a trigger of its own, so that none
	// supersedes another: this is about order.
	triggers := []string{"t_a", "t_b", "t_c", "t_d", "t_e", "t_f"}
	var all []application.Call
	for k := range keys {
		site := fmt.Sprintf("site-%d", k%3)
		entity := e.entities.NewID()
		for i := range perKey {
			kind := application.KindReport
			if i%3 == 2 {
				kind = application.KindCancel
			}
			all = append(all, e.call(site, entity, kind, triggers[(k+i)%len(triggers)]))
		}
	}
	// Commit in several transactions.
	for i := 0; i < len(all); i += 37 {
		e.enqueue(all[i:min(i+37, len(all))]...)
	}

	// A third of the items and a few whole requests fail retryably.
	rng := rand.New(rand.NewPCG(7, 9))
	e.gw.FailItems(func(it fake.Item) error {
		if rng.IntN(3) == 0 {
			return fake.Status(503)
		}
		return nil
	})
	e.gw.FailRequests(3, errors.New("connection reset by peer"))
	// Catch two calls of one key in flight at once.
	var mu sync.Mutex
	inFlight := map[string]bool{}
	var overlaps []string
	e.gw.OnRequest(func(ctx context.Context, r fake.Request) error {
		mu.Lock()
		for _, it := range r.Items {
			if inFlight[it.ExternalEntityID] {
				overlaps = append(overlaps, it.ExternalEntityID)
			}
			inFlight[it.ExternalEntityID] = true
		}
		mu.Unlock()
		time.Sleep(time.Millisecond) // widen the window for an overlap
		mu.Lock()
		for _, it := range r.Items {
			delete(inFlight, it.ExternalEntityID)
		}
		mu.Unlock()
		return nil
	})

	r := e.relay(func(c *relay.Config) {
		c.Workers = 4
		c.BackoffBase, c.BackoffMax = time.Second, 4*time.Second
	})
	for round := 0; round < 100 && e.states()[application.StateDelivered] < len(all); round++ {
		e.drain(r)
		e.clock.Advance(4 * time.Second)
	}

	assert.Equal(t, map[application.CallState]int{application.StateDelivered: len(all)}, nonZero(e.states()))
	require.NoError(t, e.gw.VerifyOrder(e.calls()))
	assert.Empty(t, overlaps, "two calls of one key were in flight at once")
	m := r.Metrics()
	assert.Equal(t, uint64(len(all)), m.Delivered)
	assert.NotZero(t, m.Retried)
	assert.Equal(t, uint64(3), m.FailedRequests)
	// Each item accepted exactly once.
	accepted := 0
	for _, it := range e.gw.Items() {
		if it.Accepted() {
			accepted++
		}
	}
	assert.Equal(t, len(all), accepted)
}

func TestRelayRetriesWithCappedBackoffAndHonoursRetryAfter(t *testing.T) {
	e := newRelayEnv(t)
	flaky, throttled, down := e.entities.NewID(), e.entities.NewID(), e.entities.NewID()
	e.enqueue(e.call("site-1", flaky, application.KindReport, "appointment_scheduled"))
	e.gw.FailEntity(flaky, 4, fake.Status(503))
	r := e.relay(func(c *relay.Config) {
		c.BackoffBase, c.BackoffMax = time.Second, 4*time.Second
	})

	// Jitter 0 takes the low end of [d/2, d): 0.5s, 1s, 2s, then capped at 2s.
	for _, wait := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 2 * time.Second} {
		before := e.gw.RequestCount()
		e.drain(r)
		require.Equal(t, before+1, e.gw.RequestCount())
		c := e.calls()[0]
		require.Equal(t, application.StatePending, c.State)
		assert.Equal(t, e.clock.Now().Add(wait), c.NextAttemptAt)
		require.NotNil(t, c.LastError)
		assert.Equal(t, 503, c.LastError.Status)

		e.clock.Advance(wait - time.Millisecond)
		e.drain(r)
		assert.Equal(t, before+1, e.gw.RequestCount(), "retried before its time")
		e.clock.Advance(time.Millisecond)
	}
	e.drain(r)
	c := e.calls()[0]
	assert.Equal(t, application.StateDelivered, c.State)
	assert.Equal(t, 5, c.Attempts)

	// Retry-After longer than the backoff wins.
	e.enqueue(e.call("site-1", throttled, application.KindReport, "appointment_scheduled"))
	e.gw.FailEntity(throttled, 1, fake.TooManyRequests(30*time.Second))
	e.drain(r)
	c = e.calls()[1]
	require.Equal(t, application.StatePending, c.State)
	assert.Equal(t, e.clock.Now().Add(30*time.Second), c.NextAttemptAt)
	e.clock.Advance(29 * time.Second)
	e.drain(r)
	assert.Equal(t, application.StatePending, e.calls()[1].State)
	e.clock.Advance(time.Second)
	e.drain(r)
	assert.Equal(t, application.StateDelivered, e.calls()[1].State)

	// A transport error of the whole request is retryable too.
	e.enqueue(e.call("site-1", down, application.KindCancel, "appointment_scheduled"))
	e.gw.FailRequests(1, errors.New("dial tcp: connection refused"))
	e.drain(r)
	c = e.calls()[2]
	require.Equal(t, application.StatePending, c.State)
	assert.Contains(t, c.LastError.Message, "connection refused")
	e.clock.Advance(time.Second)
	e.drain(r)
	assert.Equal(t, application.StateDelivered, e.calls()[2].State)
}

func TestRelayBackoffJitterStaysInItsRange(t *testing.T) {
	e := newRelayEnv(t)
	entity := e.entities.NewID()
	e.enqueue(e.call("site-1", entity, application.KindReport, "appointment_scheduled"))
	e.gw.FailEntity(entity, -1, fake.Status(500))
	r := e.relay(func(c *relay.Config) {
		c.BackoffBase, c.BackoffMax = 10*time.Second, time.Hour
		c.Jitter = func() float64 { return 0.999 }
	})
	e.drain(r)
	c := e.calls()[0]
	wait := c.NextAttemptAt.Sub(e.clock.Now())
	assert.GreaterOrEqual(t, wait, 5*time.Second)
	assert.Less(t, wait, 10*time.Second)
}

func TestRelayDeadLettersKeepTheErrorAndTheKeyGoesOn(t *testing.T) {
	e := newRelayEnv(t)
	bad, good := e.entities.NewID(), e.entities.NewID()
	refused := e.call("site-1", bad, application.KindReport, "appointment_scheduled")
	e.enqueue(
		refused,
		e.call("site-1", good, application.KindReport, "appointment_scheduled"),
		e.call("site-1", bad, application.KindCancel, "appointment_starting"),
		e.call("site-1", bad, application.KindReport, "appointment_canceled"),
	)
	e.gw.FailEntity(bad, 1, &application.GatewayError{Status: 400, Code: "INVALID_PAYLOAD",
		Message: "payload does not match the schema", Permanent: true})
	r := e.relay()
	e.drain(r)

	d := e.get(refused)
	assert.Equal(t, application.StateDead, d.State)
	assert.Equal(t, &application.CallError{Status: 400, Code: "INVALID_PAYLOAD", Message: "payload does not match the schema"}, d.LastError)
	assert.Equal(t, 1, d.Attempts)
	require.NotEmpty(t, d.History)
	assert.Equal(t, application.StateDead, d.History[len(d.History)-1].State)
	assert.Equal(t, map[application.CallState]int{application.StateDelivered: 3, application.StateDead: 1}, nonZero(e.states()))
	require.NoError(t, e.gw.VerifyOrder(e.calls()))
	assert.Equal(t, uint64(1), r.Metrics().Dead)
}

func TestRelayDeadLettersAWholeRequestRefusedForGood(t *testing.T) {
	e := newRelayEnv(t)
	for range 3 {
		e.enqueue(e.call("site-1", e.entities.NewID(), application.KindCancel, "class_starting"))
	}
	e.gw.FailRequests(1, fake.Status(403))
	e.drain(e.relay())
	require.Equal(t, 1, e.gw.RequestCount())
	for _, c := range e.calls() {
		assert.Equal(t, application.StateDead, c.State)
		assert.Equal(t, 403, c.LastError.Status)
	}
}

func TestRelayExpiresScheduledReportsWhoseTimePassed(t *testing.T) {
	e := newRelayEnv(t)
	entity := e.entities.NewID()
	past := e.call("site-1", entity, application.KindReport, "appointment_starting")
	past.ScheduledAt = relayT0.Add(-time.Minute)
	exactlyNow := e.call("site-1", e.entities.NewID(), application.KindReport, "appointment_starting")
	exactlyNow.ScheduledAt = relayT0
	future := e.call("site-1", e.entities.NewID(), application.KindReport, "appointment_starting")
	future.ScheduledAt = relayT0.Add(time.Hour)
	next := e.call("site-1", entity, application.KindReport, "appointment_canceled")
	e.enqueue(past, exactlyNow, future, next)

	r := e.relay()
	e.drain(r)

	assert.Equal(t, application.StateExpired, e.get(past).State)
	assert.Contains(t, e.get(past).LastError.Message, "had passed")
	assert.Zero(t, e.get(past).Attempts, "an expired report is not sent")
	assert.Equal(t, application.StateExpired, e.get(exactlyNow).State)
	assert.Equal(t, application.StateDelivered, e.get(future).State)
	assert.Equal(t, application.StateDelivered, e.get(next).State, "the key went on after the expired report")
	for _, it := range e.gw.Items() {
		assert.NotEqual(t, past.ID, it.IdempotencyKey)
		assert.NotEqual(t, exactlyNow.ID, it.IdempotencyKey)
	}
	assert.Equal(t, uint64(2), r.Metrics().Expired)
}

func TestRelayExpiresAScheduledReportWhoseRetryComesTooLate(t *testing.T) {
	e := newRelayEnv(t)
	c := e.call("site-1", e.entities.NewID(), application.KindReport, "class_starting")
	c.ScheduledAt = relayT0.Add(10 * time.Second)
	e.enqueue(c)
	e.gw.FailEntity(c.ExternalEntityID, 1, fake.TooManyRequests(time.Minute))
	r := e.relay()
	e.drain(r)
	require.Equal(t, application.StatePending, e.get(c).State)
	e.clock.Advance(time.Minute)
	e.drain(r)
	d := e.get(c)
	assert.Equal(t, application.StateExpired, d.State)
	assert.Equal(t, 1, d.Attempts)
	assert.Equal(t, 1, e.gw.RequestCount())
}

func TestRelayRateLimitsEachSiteWithoutBlockingOthers(t *testing.T) {
	e := newRelayEnv(t)
	// Site A's calls commit first; each needs its own request (a trigger
	// of its own), so A is throttled after its burst.
	const nA, nB = 12, 4
	for i := range nA {
		e.enqueue(e.call("site-a", e.entities.NewID(), application.KindReport, fmt.Sprintf("trigger_%d", i)))
	}
	for i := range nB {
		e.enqueue(e.call("site-b", e.entities.NewID(), application.KindReport, fmt.Sprintf("trigger_%d", i)))
	}
	const perMinute = 10 // burst 1: one request every 6s
	r := e.relay(func(c *relay.Config) {
		c.RequestsPerMinute = perMinute
		// One worker: the virtual clock moves only while nothing is in
		// flight, so each request is stamped when its site's turn came.
		c.Workers = 1
		e.virtualTime(c)
	})
	e.drain(r)
	require.Equal(t, map[application.CallState]int{application.StateDelivered: nA + nB}, nonZero(e.states()))

	times := map[string][]time.Time{}
	for _, req := range e.gw.Requests() {
		times[req.SiteID] = append(times[req.SiteID], req.At)
	}
	require.Len(t, times["site-a"], nA)
	require.Len(t, times["site-b"], nB)
	for site, ts := range times {
		for i := 1; i < len(ts); i++ {
			assert.GreaterOrEqual(t, ts[i].Sub(ts[i-1]), 6*time.Second, "%s request %d came too soon", site, i)
		}
		for i := range ts {
			j := i
			for j < len(ts) && ts[j].Sub(ts[i]) < time.Minute {
				j++
			}
			assert.LessOrEqual(t, j-i, perMinute, "%s: more than %d requests within a minute", site, perMinute)
		}
	}
	// B went at once and kept its own pace while A waited.
	assert.Equal(t, relayT0, times["site-b"][0])
	assert.Less(t, times["site-b"][nB-1].Sub(relayT0), time.Duration(nB+1)*6*time.Second)
	assert.Less(t, times["site-b"][nB-1], times["site-a"][nA-1])
}

func TestRelayHandsBackAThrottledSitesBacklogSoOthersAreClaimed(t *testing.T) {
	e := newRelayEnv(t)
	// Site A's backlog is larger than what the relay may hold; each call
	// needs a request of its own and A may send one a minute.
	const nA = 250
	for i := range nA {
		e.enqueue(e.call("site-a", e.entities.NewID(), application.KindReport, fmt.Sprintf("trigger_%d", i)))
	}
	var bCalls []application.Call
	for range 5 {
		bCalls = append(bCalls, e.call("site-b", e.entities.NewID(), application.KindReport, "appointment_scheduled"))
	}
	e.enqueue(bCalls...)

	r := e.relay(func(c *relay.Config) {
		c.RequestsPerMinute = 1
		c.Workers = 1
		c.ClaimLimit = application.MaxBatch
		c.PollInterval = time.Hour
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	require.Eventually(t, func() bool {
		for _, c := range bCalls {
			if e.get(c).State != application.StateDelivered {
				return false
			}
		}
		return true
	}, 20*time.Second, 10*time.Millisecond, "site B starved behind site A's backlog")
	cancel()
	require.NoError(t, <-done)

	// A sent one request and held one more call (handed back at the stop,
	// due as before); the rest of its backlog is pending, planned a minute
	// apart, one planned request per call (each has a trigger of its own).
	var planned []time.Time
	handedBack := 0
	for _, c := range e.calls() {
		if c.SiteID != "site-a" || c.State != application.StatePending {
			continue
		}
		if c.NextAttemptAt.After(relayT0) {
			planned = append(planned, c.NextAttemptAt)
		} else {
			handedBack++
		}
	}
	assert.Equal(t, 1, handedBack)
	require.Len(t, planned, nA-2)
	slices.SortFunc(planned, time.Time.Compare)
	for i := 1; i < len(planned); i++ {
		assert.GreaterOrEqual(t, planned[i].Sub(planned[i-1]), time.Minute)
	}
	assert.Equal(t, uint64(nA-2), r.Metrics().Deferred)
	require.NoError(t, e.gw.VerifyOrder(e.calls()))
}

// classCancel enqueues what the policy commits for a class cancel: per
// enrollment, a report and two cancels.
func (e *relayEnv) classCancel(site string, participants int) {
	var calls []application.Call
	for range participants {
		enrollment := e.entities.NewID()
		calls = append(calls,
			e.call(site, enrollment, application.KindReport, "class_canceled"),
			e.call(site, enrollment, application.KindCancel, "participant_enrolled_in_class"),
			e.call(site, enrollment, application.KindCancel, "class_starting"),
		)
	}
	e.enqueue(calls...)
}

func TestRelayBatchesAClassCancelIntoBulkRequests(t *testing.T) {
	for _, n := range []int{1, 100, 101, 250, 300} {
		t.Run(fmt.Sprintf("%d participants", n), func(t *testing.T) {
			e := newRelayEnv(t)
			e.classCancel("site-1", n)
			r := e.relay(func(c *relay.Config) {
				c.RequestsPerMinute = 0 // the Wix default, 200
			})
			e.drain(r)

			want := 3 * ((n + application.MaxBatch - 1) / application.MaxBatch)
			reqs := e.gw.Requests()
			assert.Len(t, reqs, want)
			perTrigger := map[string]int{}
			for _, req := range reqs {
				assert.LessOrEqual(t, len(req.Items), application.MaxBatch)
				perTrigger[string(req.Kind)+" "+req.TriggerKey] += len(req.Items)
			}
			assert.Equal(t, map[string]int{
				"report class_canceled":                n,
				"cancel participant_enrolled_in_class": n,
				"cancel class_starting":                n,
			}, perTrigger)
			assert.Equal(t, map[application.CallState]int{application.StateDelivered: 3 * n}, nonZero(e.states()))
			require.NoError(t, e.gw.VerifyOrder(e.calls()))
			assert.Equal(t, uint64(want), r.Metrics().Requests)
		})
	}
}

func TestRelayDecidesEachItemOfABatchByItsOwnResult(t *testing.T) {
	e := newRelayEnv(t)
	var entities []string
	for range 10 {
		entity := e.entities.NewID()
		entities = append(entities, entity)
		e.enqueue(
			e.call("site-1", entity, application.KindReport, "participant_enrolled_in_class"),
			e.call("site-1", entity, application.KindCancel, "class_starting"),
		)
	}
	flaky, refused := entities[3], entities[5]
	e.gw.FailEntity(flaky, 1, fake.ItemError("TEMPORARILY_UNAVAILABLE", false))
	e.gw.FailEntity(refused, 1, fake.ItemError("ENTITY_NOT_FOUND", true))
	r := e.relay()
	e.drain(r)

	states := map[string]application.CallState{}
	for _, c := range e.calls() {
		if c.Kind == application.KindReport {
			states[c.ExternalEntityID] = c.State
		}
	}
	assert.Equal(t, application.StatePending, states[flaky])
	assert.Equal(t, application.StateDead, states[refused])
	e.clock.Advance(time.Second)
	e.drain(r)

	var sizes []int
	for _, req := range e.gw.Requests() {
		sizes = append(sizes, len(req.Items))
	}
	// All ten reports; nine cancels (the refused key went on); the flaky
	// report alone; then its cancel alone.
	assert.Equal(t, []int{10, 9, 1, 1}, sizes)
	assert.Equal(t, map[application.CallState]int{application.StateDelivered: 19, application.StateDead: 1}, nonZero(e.states()))
	require.NoError(t, e.gw.VerifyOrder(e.calls()))
}

// claimSpy reports each Claim that found nothing.
type claimSpy struct {
	application.Outbox
	empty chan struct{}
}

func (s *claimSpy) Claim(ctx context.Context, req outbox.ClaimRequest) ([]application.Call, error) {
	calls, err := s.Outbox.Claim(ctx, req)
	if err == nil && len(calls) == 0 {
		select {
		case s.empty <- struct{}{}:
		default:
		}
	}
	return calls, err
}

func TestRelayWakesOnSignal(t *testing.T) {
	e := newRelayEnv(t)
	spy := &claimSpy{Outbox: e.store, empty: make(chan struct{}, 1)}
	wake := application.NewSignal()
	r := e.relay(func(c *relay.Config) {
		c.Outbox = spy
		c.Wake = wake
		c.PollInterval = time.Hour // only the signal can wake it in time
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()

	for i := range 3 {
		select {
		case <-spy.empty: // the relay is idle, waiting
		case <-time.After(20 * time.Second):
			t.Fatal("the relay never went idle")
		}
		e.enqueue(e.call("site-1", e.entities.NewID(), application.KindReport, "appointment_scheduled"))
		wake.Notify()
		require.Eventually(t, func() bool {
			return e.states()[application.StateDelivered] == i+1
		}, 20*time.Second, 5*time.Millisecond)
	}
}

func TestRelayPollsForCallsOfAnotherProcess(t *testing.T) {
	e := newRelayEnv(t)
	r := e.relay(func(c *relay.Config) { c.PollInterval = 10 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	e.enqueue(e.call("site-1", e.entities.NewID(), application.KindReport, "appointment_scheduled"))
	require.Eventually(t, func() bool {
		return e.states()[application.StateDelivered] == 1
	}, 20*time.Second, 5*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
}

func TestRelayStopsGracefullyAndLosesNothing(t *testing.T) {
	e := newRelayEnv(t)
	const n = 20
	for i := range n {
		// Distinct triggers: one request per call.
		e.enqueue(e.call("site-1", e.entities.NewID(), application.KindReport, fmt.Sprintf("trigger_%d", i)))
	}
	started := make(chan struct{}, n)
	release := make(chan struct{})
	e.gw.OnRequest(func(ctx context.Context, r fake.Request) error {
		started <- struct{}{}
		<-release
		return nil
	})
	r := e.relay(func(c *relay.Config) { c.Workers = 2 })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	for range 2 {
		<-started
	}
	cancel()
	close(release) // the two requests in flight finish after the stop
	require.NoError(t, <-done)

	assert.Equal(t, map[application.CallState]int{application.StateDelivered: 2, application.StatePending: n - 2}, nonZero(e.states()))
	// The calls held but not sent were handed back: claimable at once.
	claimed, err := e.store.Claim(context.Background(), outbox.ClaimRequest{Relay: "test", Now: e.clock.Now(), Limit: n, Lease: time.Minute})
	require.NoError(t, err)
	assert.Len(t, claimed, n-2)
	e.clock.Advance(2 * time.Minute) // past that lease

	e.gw.OnRequest(nil)
	e.drain(e.relay())
	assert.Equal(t, map[application.CallState]int{application.StateDelivered: n}, nonZero(e.states()))
	require.NoError(t, e.gw.VerifyOrder(e.calls()))
	assert.Len(t, e.gw.Items(), n, "no call was sent twice")
}

func TestRelayStopCutsARequestAfterTheGraceAndLeavesItPending(t *testing.T) {
	e := newRelayEnv(t)
	c := e.call("site-1", e.entities.NewID(), application.KindReport, "appointment_scheduled")
	e.enqueue(c)
	started := make(chan struct{}, 1)
	e.gw.OnRequest(func(ctx context.Context, r fake.Request) error {
		started <- struct{}{}
		<-ctx.Done() // hangs until the relay gives up on it
		return ctx.Err()
	})
	r := e.relay(func(c *relay.Config) { c.StopGrace, c.LeaseMargin = 20*time.Millisecond, 10*time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Drain(ctx) }()
	<-started
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)

	d := e.get(c)
	assert.Equal(t, application.StatePending, d.State)
	assert.Equal(t, 1, d.Attempts)
	assert.Equal(t, e.clock.Now(), d.NextAttemptAt, "due again at once")
	assert.Contains(t, d.LastError.Message, "relay stopped")

	e.gw.OnRequest(nil)
	e.drain(r)
	assert.Equal(t, application.StateDelivered, e.get(c).State)
}

func TestRelayRunsOneLoopAtATime(t *testing.T) {
	e := newRelayEnv(t)
	e.enqueue(e.call("site-1", e.entities.NewID(), application.KindReport, "appointment_scheduled"))
	started, release := make(chan struct{}), make(chan struct{})
	e.gw.OnRequest(func(ctx context.Context, r fake.Request) error {
		close(started)
		<-release
		return nil
	})
	r := e.relay()
	done := make(chan error, 1)
	go func() { done <- r.Drain(context.Background()) }()
	<-started
	assert.ErrorIs(t, r.Drain(context.Background()), relay.ErrRunning)
	close(release)
	require.NoError(t, <-done)
}

func TestRelaySettleFailureLeavesCallsForTheirLease(t *testing.T) {
	e := newRelayEnv(t)
	c := e.call("site-1", e.entities.NewID(), application.KindReport, "appointment_scheduled")
	e.enqueue(c)
	broken := &failingSettle{Outbox: e.store, err: errors.New("disk full")}
	r := e.relay(func(cfg *relay.Config) {
		cfg.Outbox = broken
		cfg.Lease, cfg.RequestTimeout = time.Minute, 20*time.Second
	})
	err := r.Drain(context.Background())
	require.ErrorContains(t, err, "disk full")
	assert.Equal(t, uint64(1), r.Metrics().SettleErrors)
	assert.Equal(t, application.StatePending, e.get(c).State)

	broken.err = nil
	e.drain(r)
	assert.Equal(t, 1, e.gw.RequestCount(), "leased: not sent again before the lease ends")
	e.clock.Advance(time.Minute)
	e.drain(r)
	assert.Equal(t, application.StateDelivered, e.get(c).State)
	items := e.gw.Items()
	require.Len(t, items, 2)
	assert.Equal(t, items[0].IdempotencyKey, items[1].IdempotencyKey, "sent again with its same idempotency key")
}

type failingSettle struct {
	application.Outbox
	err error
}

func (f *failingSettle) Settle(ctx context.Context, outcomes []application.Outcome) error {
	if f.err != nil {
		return f.err
	}
	return f.Outbox.Settle(ctx, outcomes)
}
