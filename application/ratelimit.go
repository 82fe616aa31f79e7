package application

import (
	"sync"
	"time"
)

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
// other sites meanwhile. Time comes from the injected now function, so tests
// drive it with a fake clock. It is safe for concurrent use.
type RateLimiter struct {
	mu       sync.Mutex
	now      func() time.Time
	interval time.Duration // time per request at the sustained rate
	slack    time.Duration // (burst-1) * interval: how far ahead a site may run
	// tat is each site's theoretical arrival time: when its bucket is full
	// again. A site absent from the map has a full bucket.
	tat       map[string]time.Time
	pruneSize int // prune the map when it reaches this size
}

// NewRateLimiter returns a limiter of perMinute requests per site (at least
// 1) with bursts of burst requests (0 for the default, perMinute/10 but at
// least 1; never more than perMinute). now is its clock.
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

// Interval returns the time between two requests of a site at the
// sustained rate, once its burst is spent.
func (l *RateLimiter) Interval() time.Duration { return l.interval }

// Take spends one request of site's allowance if it has one now and returns
// ok. Otherwise it spends nothing and returns how long until one is free.
func (l *RateLimiter) Take(site string) (ok bool, wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	tat := l.tat[site]
	if tat.Before(now) {
		tat = now
	}
	if ahead := tat.Sub(now); ahead > l.slack {
		return false, ahead - l.slack
	}
	l.tat[site] = tat.Add(l.interval)
	l.prune(now)
	return true, 0
}

// Delay returns how long until site could send n more requests (n >= 1),
// without spending any: 0 when it could send them now.
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
// with what survives, which keeps its cost amortized.
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
