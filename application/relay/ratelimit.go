package relay

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// RateStore keeps each site's rate-limit state where every relay on the
// store sees it, so that several processes (serve and relay on one SQLite
// file, a fleet on PostgreSQL) together stay within the per-site limit.
// Every store adapter provides it; the contract suite
// application/ratetest proves each one.
//
// The state is one time per site, the GCRA "theoretical arrival time"
// (TAT); the rule that reads and moves it is RateLimiter's, and the store
// only keeps it atomically.
type RateStore interface {
	// Throttle reads the site's TAT (the zero time for a site that never
	// sent), calls fn with it and, when fn returns spend, stores next, all
	// atomically: no other Throttle of the site, in any process, reads
	// the TAT in between. fn must be quick and do no I/O. A store that
	// keeps coarser times rounds next up, never down, so that rounding
	// never loosens the limit. An error leaves the TAT as it was.
	Throttle(ctx context.Context, siteID string, fn func(tat time.Time) (next time.Time, spend bool)) error
}

// RateLimiter keeps each site within a number of requests per minute. It is
// a token bucket per site, written as the generic cell rate algorithm: a
// site may send Burst requests at once, then one request every interval,
// where the interval is chosen so that no 60-second window ever holds more
// than the limit:
//
//	burst    = max(1, perMinute/10)       (unless set)
//	interval = 1 minute / (perMinute - burst + 1)
//
// With the Wix limit of 200, that is a burst of 20 and then 181 requests a
// minute at most. The limiter never blocks: Take says whether a request may
// go now and, if not, how long its site must wait, so a caller can serve
// other sites meanwhile. Its state is in memory (NewRateLimiter), which
// holds for one process, or in a RateStore (NewSharedRateLimiter), which
// holds for every process on the store. Time comes from the injected now
// function, so tests drive it with a fake clock. It is safe for concurrent
// use.
type RateLimiter struct {
	now      func() time.Time
	interval time.Duration // time per request at the sustained rate
	slack    time.Duration // (burst-1) * interval: how far ahead a site may run
	store    RateStore     // nil: the state is local

	mu sync.Mutex
	// tat is each site's theoretical arrival time: when its bucket is full
	// again. A site absent from the map has a full bucket. With a store it
	// is the last TAT seen there, which Delay uses as an estimate.
	tat       map[string]time.Time
	pruneSize int // prune the map when it reaches this size
}

// NewRateLimiter returns a limiter of perMinute requests per site (at least
// 1) with bursts of burst requests (0 for the default, perMinute/10 but at
// least 1; never more than perMinute), whose state is in this process. now
// is its clock.
func NewRateLimiter(perMinute, burst int, now func() time.Time) *RateLimiter {
	perMinute = max(perMinute, 1)
	if burst <= 0 {
		burst = max(1, perMinute/10)
	}
	burst = min(burst, perMinute)
	// Rounded up, so that rounding never lets a minute hold one too many.
	n := time.Duration(perMinute - burst + 1)
	interval := (time.Minute + n - 1) / n
	return &RateLimiter{
		now:       now,
		interval:  interval,
		slack:     time.Duration(burst-1) * interval,
		tat:       map[string]time.Time{},
		pruneSize: 1024,
	}
}

// NewSharedRateLimiter is NewRateLimiter with its state in store, so that
// the limit holds for every limiter of every process on that store.
//
// Stores keep times to the microsecond, so a shared limiter works on that
// grid: its clock is read down to the microsecond and its interval is
// rounded up to a whole microsecond, plus one, so that every TAT it stores
// is exact and reading the clock down never lets a minute hold one too
// many.
func NewSharedRateLimiter(perMinute, burst int, now func() time.Time, store RateStore) *RateLimiter {
	l := NewRateLimiter(perMinute, burst, func() time.Time { return now().Truncate(time.Microsecond) })
	burstN := time.Duration(1)
	if l.interval > 0 {
		burstN = l.slack/l.interval + 1
	}
	l.interval = (l.interval + time.Microsecond - 1).Truncate(time.Microsecond) + time.Microsecond
	l.slack = (burstN - 1) * l.interval
	l.store = store
	return l
}

// Interval returns the time between two requests of a site at the
// sustained rate, once its burst is spent.
func (l *RateLimiter) Interval() time.Duration { return l.interval }

// conform applies the rule to a site's TAT at now: a request conforms when
// the TAT is at most slack ahead of now, and then moves it one interval
// on. Otherwise wait is how long until one would.
func (l *RateLimiter) conform(tat, now time.Time) (next time.Time, wait time.Duration, ok bool) {
	if tat.Before(now) {
		tat = now
	}
	if ahead := tat.Sub(now); ahead > l.slack {
		return tat, ahead - l.slack, false
	}
	return tat.Add(l.interval), 0, true
}

// Take spends one request of site's allowance if it has one now and returns
// ok. Otherwise it spends nothing and returns how long until one is free.
// The error is the store's; a limiter without a store never fails.
func (l *RateLimiter) Take(ctx context.Context, site string) (ok bool, wait time.Duration, err error) {
	now := l.now()
	if l.store == nil {
		l.mu.Lock()
		defer l.mu.Unlock()
		var next time.Time
		if next, wait, ok = l.conform(l.tat[site], now); ok {
			l.tat[site] = next
			l.prune(now)
		}
		return ok, wait, nil
	}
	var seen time.Time
	err = l.store.Throttle(ctx, site, func(tat time.Time) (time.Time, bool) {
		var next time.Time
		next, wait, ok = l.conform(tat, now)
		seen = next
		return next, ok
	})
	if err != nil {
		return false, 0, fmt.Errorf("rate limit of site %s: %w", site, err)
	}
	l.mu.Lock()
	l.tat[site] = seen
	l.prune(now)
	l.mu.Unlock()
	return ok, wait, nil
}

// Delay returns how long until site could send n more requests (n >= 1),
// without spending any: 0 when it could send them now. With a store it is
// an estimate from the last TAT this limiter saw there.
func (l *RateLimiter) Delay(site string, n int) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	tat := l.tat[site]
	if tat.Before(now) {
		tat = now
	}
	// The n-th request conforms once tat + (n-1)*interval - slack <= now.
	wait := tat.Add(time.Duration(max(n, 1)-1)*l.interval).Sub(now) - l.slack
	return max(wait, 0)
}

// prune forgets sites whose bucket is full again, so that the map holds only
// sites that sent recently. It runs when the map reaches a size that doubles
// with what survives, which keeps its cost amortized. l.mu is held.
func (l *RateLimiter) prune(now time.Time) {
	if len(l.tat) < l.pruneSize {
		return
	}
	for site, tat := range l.tat {
		if !tat.After(now) {
			delete(l.tat, site)
		}
	}
	l.pruneSize = max(1024, 2*len(l.tat))
}

// Watcher tells a relay that calls may have been committed by another
// process, so that it claims soon instead of at its next poll: SQLite reads
// its data_version, PostgreSQL listens for a NOTIFY. Values coalesce; the
// channel is closed when ctx ends or the store closes.
type Watcher interface {
	Changes(ctx context.Context) <-chan struct{}
}
