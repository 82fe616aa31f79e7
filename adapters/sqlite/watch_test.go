package sqlite_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/sqlite"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/fake"
	"github.com/bookable/lifecycle/application/relay"
	"github.com/bookable/lifecycle/application/storetest"
)

// twoHandles opens one file twice, as two processes would.
func twoHandles(t *testing.T) (*sqlite.DB, *sqlite.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lifecycle.db")
	a, err := sqlite.Open(context.Background(), path)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, a.Close()) })
	b, err := sqlite.Open(context.Background(), path)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	return a, b
}

// Changes on one handle sees what another handle commits, and closes when
// its context ends.
func TestChangesSeesCommitsOfAnotherHandle(t *testing.T) {
	a, b := twoHandles(t)
	ctx, cancel := context.WithCancel(context.Background())
	ch := a.Changes(ctx)
	time.Sleep(3 * sqlite.WatchInterval) // its first read is the baseline
	select {
	case <-ch:
		t.Fatal("a change before anything committed")
	default:
	}
	call := newCall(storetest.SiteA.String(), 1, storetest.ID("e0000000", 1).String(), application.KindReport, "appointment_scheduled")
	require.NoError(t, b.Update(ctx, func(ctx context.Context, tx application.Tx) error {
		return tx.Enqueue(ctx, []application.Call{call})
	}))
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no change seen after another handle committed")
	}
	cancel()
	for range ch { // drained, then closed
	}
}

// A relay with the watcher claims calls another process commits without
// waiting for its poll (an hour here): the cross-process wake-up. The
// latencies it logs are what docs/relay.md reports.
func TestRelayWakesForCallsOfAnotherProcess(t *testing.T) {
	relayDB, writer := twoHandles(t)
	gw := fake.NewGateway(application.SystemClock{})
	r, err := relay.New(relay.Config{
		Outbox: relayDB, Watcher: relayDB, Gateway: gw,
		PollInterval: time.Hour, RequestsPerMinute: relay.NoRateLimit,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()
	time.Sleep(3 * sqlite.WatchInterval) // the relay's first claim and the watcher's baseline

	const n = 10
	var lat []time.Duration
	for i := range n {
		call := newCall(storetest.SiteA.String(), i+1, storetest.ID("e0000000", i+1).String(), application.KindReport, "appointment_scheduled")
		start := time.Now()
		call.CreatedAt, call.NextAttemptAt = start, start // due now on the relay's wall clock
		require.NoError(t, writer.Update(ctx, func(ctx context.Context, tx application.Tx) error {
			return tx.Enqueue(ctx, []application.Call{call})
		}))
		require.Eventually(t, func() bool { return gw.RequestCount() == i+1 }, 10*time.Second, time.Millisecond,
			"call %d was not delivered long before the relay's hourly poll", i)
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	t.Logf("commit in another handle to delivery: median %v, max %v over %d calls (watch interval %v)",
		lat[n/2], lat[n-1], n, sqlite.WatchInterval)
	assert.Len(t, gw.Requests(), n)
}
