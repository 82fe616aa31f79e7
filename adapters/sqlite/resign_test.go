package sqlite_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/application/relay"
)

// TestStoppedRelayHandsTheStoreOver: one relay is active per SQLite
// database, and a relay that stops gives the store up (Outbox.Resign), so
// the next one (a restart, a deploy, the next drain of the command line)
// delivers at once instead of standing by for the rest of the first one's
// lease (2 minutes by default). The clock is the real one: with the lease
// left to run out, the second drain would stand by past the test's
// deadline.
func TestStoppedRelayHandsTheStoreOver(t *testing.T) {
	db := open(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for round := range 3 {
		enqueueReports(t, db, 50)
		r, err := relay.New(relay.Config{Outbox: db, Gateway: noopGateway{}, RequestsPerMinute: relay.NoRateLimit})
		require.NoError(t, err)
		require.NoError(t, r.Drain(ctx), "round %d", round)
		assert.Equal(t, uint64(50), r.Metrics().Delivered, "round %d: a new relay took over at once", round)
	}

	// Run stops the same way.
	enqueueReports(t, db, 10)
	runCtx, stop := context.WithCancel(ctx)
	r, err := relay.New(relay.Config{Outbox: db, Gateway: noopGateway{}, RequestsPerMinute: relay.NoRateLimit,
		PollInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	require.Eventually(t, func() bool { return r.Metrics().Delivered == 10 }, 20*time.Second, 10*time.Millisecond)
	stop()
	require.NoError(t, <-done)
	enqueueReports(t, db, 10)
	next, err := relay.New(relay.Config{Outbox: db, Gateway: noopGateway{}, RequestsPerMinute: relay.NoRateLimit})
	require.NoError(t, err)
	require.NoError(t, next.Drain(ctx))
	assert.Equal(t, uint64(10), next.Metrics().Delivered)
}
