package relay_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/application/fake"
	"github.com/bookable/lifecycle/application/relay"
)

func TestRateLimiterSpendsABurstThenPacesEachSite(t *testing.T) {
	clock := fake.NewClock(relayT0)
	l := relay.NewRateLimiter(60, 3, clock.Now) // burst 3, then 60s/58 apart
	interval := (time.Minute + 57) / 58
	assert.Equal(t, interval, l.Interval())

	assert.Zero(t, l.Delay("a", 3))
	assert.Equal(t, interval, l.Delay("a", 4))
	for range 3 {
		ok, _ := take(t, l, "a")
		require.True(t, ok)
	}
	ok, wait := take(t, l, "a")
	assert.False(t, ok)
	assert.Equal(t, interval, wait)
	assert.Equal(t, 3*interval, l.Delay("a", 3))

	ok, _ = take(t, l, "b")
	assert.True(t, ok, "another site has its own bucket")

	clock.Advance(interval - 1)
	ok, _ = take(t, l, "a")
	assert.False(t, ok)
	clock.Advance(1)
	ok, _ = take(t, l, "a")
	assert.True(t, ok)
}

// A sender that takes every request the limiter allows never gets more than
// the limit into any 60-second window, and gets close to it.
func TestRateLimiterKeepsEveryMinuteWithinTheLimit(t *testing.T) {
	for _, tt := range []struct{ perMinute, burst int }{{1, 0}, {2, 0}, {10, 0}, {60, 0}, {200, 0}, {200, 200}, {1000, 0}} {
		t.Run(fmt.Sprintf("%d per minute, burst %d", tt.perMinute, tt.burst), func(t *testing.T) {
			clock := fake.NewClock(relayT0)
			l := relay.NewRateLimiter(tt.perMinute, tt.burst, clock.Now)
			var sent []time.Time
			for clock.Now().Before(relayT0.Add(10 * time.Minute)) {
				ok, wait := take(t, l, "site")
				if ok {
					sent = append(sent, clock.Now())
					continue
				}
				require.Positive(t, wait)
				clock.Advance(wait)
			}
			for i := range sent {
				j := i
				for j < len(sent) && sent[j].Sub(sent[i]) < time.Minute {
					j++
				}
				require.LessOrEqual(t, j-i, tt.perMinute, "window starting at %v", sent[i].Sub(relayT0))
			}
			// Over ten minutes it sends at least 9 minutes' worth at the limit,
			// less the burst it keeps in reserve.
			burst := tt.burst
			if burst == 0 {
				burst = max(1, tt.perMinute/10)
			}
			assert.GreaterOrEqual(t, len(sent), 9*(tt.perMinute-burst+1))
		})
	}
}

// take is RateLimiter.Take for a limiter that must not fail.
func take(t *testing.T, l *relay.RateLimiter, site string) (bool, time.Duration) {
	t.Helper()
	ok, wait, err := l.Take(context.Background(), site)
	require.NoError(t, err)
	return ok, wait
}
