package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/postgres"
	"github.com/bookable/lifecycle/adapters/postgres/pgtest"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/outbox"
)

// instance opens one more instance of the fleet on schema.
func instance(t *testing.T, schema string, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), pgtest.DSN(t), append([]postgres.Option{postgres.WithSchema(schema)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

const fleetSite = "a0000000-0000-4000-8000-000000000001"

func fleetCall(key, n int, at time.Time) outbox.Call {
	entity := fmt.Sprintf("e0000000-0000-4000-8000-%012d", key)
	return outbox.Call{ID: fmt.Sprintf("d0000000-0000-4000-8000-%012d", n), SiteID: fleetSite,
		OrderingKey: outbox.OrderingKey(fleetSite, entity), Kind: outbox.KindReport,
		TriggerKey: fmt.Sprintf("t_%d", n), ExternalEntityID: entity, Payload: []byte(`{}`),
		Cause: "test", CreatedAt: at, NextAttemptAt: at}
}

// TestFleetRelaysKeepOrderAndOneCallInFlightPerKey: three instances relay
// at once while two enqueue more; every call is delivered once, each key's
// calls in seq order and never two of a key in flight at once, and the
// heads table is empty at the end.
func TestFleetRelaysKeepOrderAndOneCallInFlightPerKey(t *testing.T) {
	t.Parallel()
	schema := pgtest.Schema(t)
	stores := []*postgres.Store{instance(t, schema), instance(t, schema), instance(t, schema)}
	ctx := context.Background()
	now := time.Now().UTC()
	const keys, rounds, perRound = 40, 10, 60
	var (
		mu        sync.Mutex
		inFlight  = map[string]string{}
		lastSeq   = map[string]int64{}
		delivered = map[string]int{}
		failures  []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	var producers sync.WaitGroup
	for p := range 2 {
		producers.Go(func() {
			for r := range rounds {
				var calls []outbox.Call
				for i := range perRound / 2 {
					n := (p*rounds+r)*perRound + i
					calls = append(calls, fleetCall(rand.IntN(keys), n, now))
				}
				err := stores[p].Update(ctx, func(ctx context.Context, tx application.Tx) error { return tx.Enqueue(ctx, calls) })
				if err != nil {
					fail("enqueue: %v", err)
				}
			}
		})
	}
	done := make(chan struct{})
	var relays sync.WaitGroup
	for i, s := range stores {
		relays.Go(func() {
			relay := fmt.Sprintf("relay-%d", i)
			for idle := 0; idle < 20; {
				calls, err := s.Claim(ctx, outbox.ClaimRequest{Relay: relay, Now: now, Limit: 25, Lease: time.Minute})
				if err != nil {
					fail("claim: %v", err)
					return
				}
				if len(calls) == 0 {
					select {
					case <-done:
						idle++
					default:
					}
					time.Sleep(5 * time.Millisecond)
					continue
				}
				mu.Lock()
				for _, c := range calls {
					if other, ok := inFlight[c.OrderingKey]; ok {
						failures = append(failures, fmt.Sprintf("key %s: %s claimed while %s in flight", c.OrderingKey, c.ID, other))
					}
					if c.Seq <= lastSeq[c.OrderingKey] {
						failures = append(failures, fmt.Sprintf("key %s: seq %d after %d", c.OrderingKey, c.Seq, lastSeq[c.OrderingKey]))
					}
					inFlight[c.OrderingKey], lastSeq[c.OrderingKey] = c.ID, c.Seq
				}
				mu.Unlock()
				time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond)
				outcomes := make([]outbox.Outcome, len(calls))
				mu.Lock()
				for j, c := range calls {
					delete(inFlight, c.OrderingKey)
					delivered[c.ID]++
					outcomes[j] = outbox.Outcome{ID: c.ID, Seq: c.Seq, Token: c.Lease.Token, State: outbox.StateDelivered, Attempted: true, At: now}
				}
				mu.Unlock()
				if err := s.Settle(ctx, outcomes); err != nil {
					fail("settle: %v", err)
					return
				}
			}
		})
	}
	producers.Wait()
	close(done)
	relays.Wait()
	require.Empty(t, failures)
	assert.Len(t, delivered, 2*rounds*perRound/2, "every call was claimed")
	for id, n := range delivered {
		assert.Equal(t, 1, n, "call %s claimed once", id)
	}
	stats, err := stores[0].Stats(ctx, "")
	require.NoError(t, err)
	assert.Equal(t, 2*rounds*perRound/2, stats[outbox.StateDelivered])
	assert.Zero(t, headRows(t, schema), "no head is left once the outbox drained")
}

// headRows counts the rows of outbox_heads.
func headRows(t *testing.T, schema string) int {
	t.Helper()
	var n int
	query(t, schema, func(conn *pgx.Conn) error {
		return conn.QueryRow(context.Background(), `SELECT count(*) FROM outbox_heads`).Scan(&n)
	})
	return n
}

// query runs fn on a connection to schema.
func query(t *testing.T, schema string, fn func(*pgx.Conn) error) {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(pgtest.DSN(t))
	require.NoError(t, err)
	cfg.RuntimeParams["search_path"] = schema
	conn, err := pgx.ConnectConfig(ctx, cfg)
	require.NoError(t, err)
	defer conn.Close(ctx)
	require.NoError(t, fn(conn))
}

// TestListWaitsForALateCommitWithALowerSeq: a transaction that drew its
// seq first commits last; List must not return the later seq before it.
func TestListWaitsForALateCommitWithALowerSeq(t *testing.T) {
	t.Parallel()
	schema := pgtest.Schema(t)
	s := instance(t, schema)
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(pgtest.DSN(t))
	require.NoError(t, err)
	cfg.RuntimeParams["search_path"] = schema
	slow, err := pgx.ConnectConfig(ctx, cfg)
	require.NoError(t, err)
	defer slow.Close(ctx)
	// The slow transaction inserts a call with a seq of its own, as the
	// adapter does, and stays open.
	tx, err := slow.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `INSERT INTO outbox (seq, id, site_id, ordering_key, kind, trigger_key, external_entity_id,
		state, next_attempt_at, created_at) VALUES ((pg_current_xact_id()::text::bigint << 20) + 1,
		'slow', $1, $1 || '/x', 'report', 't', 'x', 'pending', now(), now())`, fleetSite)
	require.NoError(t, err)
	now := time.Now().UTC()
	require.NoError(t, s.Update(ctx, func(ctx context.Context, tx application.Tx) error {
		return tx.Enqueue(ctx, []outbox.Call{fleetCall(1, 1, now)})
	}))
	listed := make(chan []outbox.Call, 1)
	start := time.Now()
	go func() {
		calls, err := s.List(ctx, outbox.Filter{})
		assert.NoError(t, err)
		listed <- calls
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case calls := <-listed:
		t.Fatalf("List returned %d calls while a call with a lower seq was uncommitted", len(calls))
	default:
	}
	require.NoError(t, tx.Commit(ctx))
	calls := <-listed
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)
	require.Len(t, calls, 2)
	assert.Equal(t, "slow", calls[0].ID, "the late commit has the lower seq and comes first")
	assert.Less(t, calls[0].Seq, calls[1].Seq)
}

// TestChangesWakeTheOtherInstances: a commit in one instance wakes the
// Changes channel of another; in poll-only mode Changes ticks.
func TestChangesWakeTheOtherInstances(t *testing.T) {
	t.Parallel()
	schema := pgtest.Schema(t)
	a, b := instance(t, schema), instance(t, schema)
	ctx, cancel := context.WithCancel(context.Background())
	changes := b.Changes(ctx)
	select { // the listener's first connection announces itself
	case <-changes:
	case <-time.After(5 * time.Second):
		t.Fatal("no wake-up after the listener connected")
	}
	require.NoError(t, a.Update(ctx, func(ctx context.Context, tx application.Tx) error {
		return tx.Enqueue(ctx, []outbox.Call{fleetCall(1, 1, time.Now().UTC())})
	}))
	select {
	case <-changes:
	case <-time.After(5 * time.Second):
		t.Fatal("a commit of another instance did not wake this one")
	}
	cancel()
	select {
	case _, ok := <-changes:
		for ok {
			_, ok = <-changes
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the channel was not closed when its context ended")
	}

	poll := instance(t, schema, postgres.WithPollOnly(), postgres.WithPollInterval(20*time.Millisecond))
	ticks := poll.Changes(context.Background())
	for range 2 {
		select {
		case <-ticks:
		case <-time.After(5 * time.Second):
			t.Fatal("poll-only Changes does not tick")
		}
	}
}

// TestThrottleIsAtomicAcrossInstances: forty requests from two instances
// each move one site's TAT by a second; none is lost.
func TestThrottleIsAtomicAcrossInstances(t *testing.T) {
	t.Parallel()
	schema := pgtest.Schema(t)
	stores := []*postgres.Store{instance(t, schema), instance(t, schema)}
	ctx := context.Background()
	t0 := time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			err := stores[i%2].Throttle(ctx, fleetSite, func(tat time.Time) (time.Time, bool) {
				if tat.IsZero() {
					tat = t0
				}
				return tat.Add(time.Second), true
			})
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	var got time.Time
	require.NoError(t, stores[0].Throttle(ctx, fleetSite, func(tat time.Time) (time.Time, bool) {
		got = tat
		return time.Time{}, false
	}))
	assert.True(t, got.Equal(t0.Add(40*time.Second)), "got %v", got)
	fine := t0.Add(time.Hour + 1500*time.Nanosecond)
	require.NoError(t, stores[0].Throttle(ctx, fleetSite, func(time.Time) (time.Time, bool) { return fine, true }))
	require.NoError(t, stores[1].Throttle(ctx, fleetSite, func(tat time.Time) (time.Time, bool) {
		assert.False(t, tat.Before(fine), "a time finer than the store keeps is rounded up: %v", tat)
		return time.Time{}, false
	}))
	require.NoError(t, stores[0].Throttle(ctx, "other-site", func(tat time.Time) (time.Time, bool) {
		assert.True(t, tat.IsZero(), "a site that never sent has the zero TAT")
		return time.Time{}, false
	}))
}

// TestReleaseFreesTheRelaysKeys: after Release, another relay claims the
// keys at once instead of after the lease.
func TestReleaseFreesTheRelaysKeys(t *testing.T) {
	t.Parallel()
	s := pgtest.Open(t)
	ctx := context.Background()
	now := time.Now().UTC()
	require.NoError(t, s.Update(ctx, func(ctx context.Context, tx application.Tx) error {
		return tx.Enqueue(ctx, []outbox.Call{fleetCall(1, 1, now), fleetCall(2, 2, now)})
	}))
	held, err := s.Claim(ctx, outbox.ClaimRequest{Relay: "relay-1", Now: now, Limit: 10, Lease: time.Hour})
	require.NoError(t, err)
	require.Len(t, held, 2)
	other, err := s.Claim(ctx, outbox.ClaimRequest{Relay: "relay-2", Now: now, Limit: 10, Lease: time.Hour})
	require.NoError(t, err)
	assert.Empty(t, other)
	require.NoError(t, s.Release(ctx, "relay-2"), "a relay that holds nothing releases nothing")
	require.NoError(t, s.Release(ctx, "relay-1"))
	other, err = s.Claim(ctx, outbox.ClaimRequest{Relay: "relay-2", Now: now, Limit: 10, Lease: time.Hour})
	require.NoError(t, err)
	require.Len(t, other, 2)
	assert.Greater(t, other[0].Lease.Token, held[0].Lease.Token)
	require.NoError(t, s.Settle(ctx, []outbox.Outcome{{ID: held[0].ID, Token: held[0].Lease.Token,
		State: outbox.StateDelivered, Attempted: true, At: now}}))
	d, err := s.Get(ctx, fleetSite, held[0].ID)
	require.NoError(t, err)
	assert.Equal(t, outbox.StatePending, d.State, "the released relay's late outcome is history only")
}
