// Package ratetest is the contract suite of relay.RateStore: every
// store adapter runs it, so that the per-site rate limit holds the same way
// for every process on every store.
package ratetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/application/relay"
)

// Open returns two handles on one fresh, empty store: two processes (or
// two instances of a fleet) sharing it. An adapter without a notion of
// several handles returns the same one twice.
type Open func(t *testing.T) (a, b relay.RateStore)

var t0 = time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)

const site = "5a7e0000-0000-4000-8000-000000000001"

// Run runs the suite.
func Run(t *testing.T, open Open) {
	for _, c := range []struct {
		name string
		test func(t *testing.T, a, b relay.RateStore)
	}{
		{"a site that never sent has the zero time", testZero},
		{"a spent time is what the next throttle reads, on any handle", testSpend},
		{"a throttle that does not spend leaves the time", testNoSpend},
		{"each site has its own time", testSites},
		{"a time finer than the store keeps is rounded up", testRoundUp},
		{"concurrent throttles on two handles lose no update", testConcurrent},
		{"two limiters on two handles share one limit", testSharedLimit},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, b := open(t)
			c.test(t, a, b)
		})
	}
}

// read returns the site's time without spending.
func read(t *testing.T, s relay.RateStore, site string) time.Time {
	t.Helper()
	var got time.Time
	require.NoError(t, s.Throttle(context.Background(), site, func(tat time.Time) (time.Time, bool) {
		got = tat
		return time.Time{}, false
	}))
	return got
}

func set(t *testing.T, s relay.RateStore, site string, at time.Time) {
	t.Helper()
	require.NoError(t, s.Throttle(context.Background(), site, func(time.Time) (time.Time, bool) { return at, true }))
}

func testZero(t *testing.T, a, _ relay.RateStore) {
	assert.True(t, read(t, a, site).IsZero())
}

func testSpend(t *testing.T, a, b relay.RateStore) {
	set(t, a, site, t0)
	assert.True(t, read(t, b, site).Equal(t0), "the other handle reads it")
	set(t, b, site, t0.Add(time.Second))
	assert.True(t, read(t, a, site).Equal(t0.Add(time.Second)))
}

func testNoSpend(t *testing.T, a, b relay.RateStore) {
	set(t, a, site, t0)
	require.NoError(t, b.Throttle(context.Background(), site, func(time.Time) (time.Time, bool) {
		return t0.Add(time.Hour), false
	}))
	assert.True(t, read(t, a, site).Equal(t0))
}

func testSites(t *testing.T, a, b relay.RateStore) {
	const other = "5a7e0000-0000-4000-8000-000000000002"
	set(t, a, site, t0)
	assert.True(t, read(t, b, other).IsZero())
	set(t, b, other, t0.Add(time.Minute))
	assert.True(t, read(t, a, site).Equal(t0))
	assert.True(t, read(t, a, other).Equal(t0.Add(time.Minute)))
}

func testRoundUp(t *testing.T, a, b relay.RateStore) {
	fine := t0.Add(time.Nanosecond)
	set(t, a, site, fine)
	got := read(t, b, site)
	assert.False(t, got.Before(fine), "stored %v, read %v: never earlier", fine, got)
	assert.LessOrEqual(t, got.Sub(fine), time.Millisecond, "rounded by at most the store's precision")
}

func testConcurrent(t *testing.T, a, b relay.RateStore) {
	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			assert.NoError(t, s.Throttle(context.Background(), site, func(tat time.Time) (time.Time, bool) {
				if tat.IsZero() {
					tat = t0
				}
				return tat.Add(time.Second), true
			}))
		})
	}
	wg.Wait()
	assert.True(t, read(t, a, site).Equal(t0.Add(n*time.Second)), "got %v", read(t, a, site))
}

func testSharedLimit(t *testing.T, a, b relay.RateStore) {
	now := func() time.Time { return t0 }
	la := relay.NewSharedRateLimiter(60, 3, now, a)
	lb := relay.NewSharedRateLimiter(60, 3, now, b)
	ctx := context.Background()
	taken := 0
	for i := range 10 {
		l := la
		if i%2 == 1 {
			l = lb
		}
		ok, _, err := l.Take(ctx, site)
		require.NoError(t, err)
		if ok {
			taken++
		}
	}
	assert.Equal(t, 3, taken, "the burst is spent once for both limiters, not once each")
	ok, wait, err := lb.Take(ctx, site)
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Equal(t, la.Interval(), wait)
}
