package relay

import (
	"context"
	"time"

	"github.com/bookable/lifecycle/application"
)

// Starting requests: workers, each site's rate limit, and the deferral of
// a throttled site's calls.

// dispatch starts queued batches, oldest first, while workers are free and
// their site has a request left. It returns how long until the first
// throttled site has one again, when a worker is free for it.
func (s *run) dispatch(ctx context.Context) (wait time.Duration, throttled bool) {
	r := s.r
	if len(s.queue) == 0 || s.inFlight >= r.cfg.Workers {
		return 0, false
	}
	blocked := map[string]bool{}
	keep := s.queue[:0]
	for _, b := range s.queue {
		if s.inFlight >= r.cfg.Workers || blocked[b.site] {
			keep = append(keep, b)
			continue
		}
		if s.letGoShort(b) {
			continue // every call of b was let go
		}
		if r.limiter != nil {
			ok, w, err := r.limiter.Take(ctx, b.site)
			if err != nil {
				// The store could not say: the site waits a poll.
				r.log.Error("relay: rate limit", "site", b.site, "err", err)
				ok, w = false, r.cfg.PollInterval
			}
			if !ok {
				blocked[b.site] = true
				if !throttled || w < wait {
					wait, throttled = w, true
				}
				keep = append(keep, b)
				continue
			}
		}
		s.unqueue(b)
		s.queuedCalls -= len(b.calls)
		s.inFlight++
		b.deadline = time.Now().Add(r.cfg.RequestTimeout)
		go func(b *batch) { s.results <- r.deliver(ctx, b) }(b)
	}
	clear(s.queue[len(keep):])
	s.queue = keep
	return wait, throttled && s.inFlight < r.cfg.Workers
}

// deferral decides whether a running relay hands a claimed call back rather
// than hold it: when the call would need a new batch, its site already has
// Workers batches queued, and its rate limit would not let one more go now.
// The call is then due again at a planned request of its site: calls of one
// group share a planned request (up to MaxBatch), and planned requests are
// spaced by the limiter's interval after those already queued, so that
// deferred calls come back at the pace the site can send them, not all at
// once. This keeps one throttled site from filling the relay's memory and
// starving the others. Drain never defers: it waits for the site instead.
func (s *run) deferral(c application.Call, now time.Time) (time.Time, bool) {
	l := s.r.limiter
	if s.drain || l == nil {
		return time.Time{}, false
	}
	g := groupKey{c.SiteID, c.Kind, c.TriggerKey}
	queued := s.siteQueued[c.SiteID]
	if queued < s.r.cfg.Workers || s.open[g] != nil || l.Delay(c.SiteID, queued+1) == 0 {
		return time.Time{}, false
	}
	p := s.plans[c.SiteID]
	if p == nil || !p.last.After(now) || len(p.open) > maxPlannedGroups {
		p = &sitePlan{open: map[groupKey]*plannedRequest{}}
		if old := s.plans[c.SiteID]; old != nil && old.last.After(now) {
			p.last = old.last
		}
		s.plans[c.SiteID] = p
	}
	if pr := p.open[g]; pr != nil && pr.n < application.MaxBatch && pr.at.After(now) {
		pr.n++
		return pr.at, true
	}
	at := now.Add(l.Delay(c.SiteID, queued+1))
	if next := p.last.Add(l.Interval()); next.After(at) {
		at = next
	}
	p.last = at
	p.open[g] = &plannedRequest{at: at, n: 1}
	return at, true
}

// maxPlannedGroups bounds a site's plan: past it, new deferred calls still get
// spaced times but no longer join an earlier planned request.
const maxPlannedGroups = 1024

// sitePlan is the requests a throttled site's deferred calls were promised.
type sitePlan struct {
	last time.Time // the latest planned request
	open map[groupKey]*plannedRequest
}

type plannedRequest struct {
	at time.Time
	n  int // calls deferred to it
}

// wait blocks until a worker reports, the relay is woken, a timer fires
// (poll, a retry or the outbox's next due time, a throttled site) or ctx
// ends.
func (s *run) wait(ctx context.Context, tokenWait time.Duration, throttled bool) {
	r := s.r
	d := time.Duration(-1)
	consider := func(x time.Duration) {
		x = max(x, 0)
		if d < 0 || x < d {
			d = x
		}
	}
	if throttled {
		consider(tokenWait)
	}
	if !s.standby.IsZero() {
		consider(s.standby.Sub(r.cfg.Clock.Now()))
	}
	// A renewal is due only for calls held and not sent. While a request is
	// in flight its report wakes the loop within RequestTimeout, which the
	// half of a lease left at renewal time covers (see New).
	if !s.renewAt.IsZero() && s.inFlight == 0 && (len(s.queue) > 0 || len(s.parked) > 0) {
		consider(s.renewAt.Sub(r.cfg.Clock.Now()))
	}
	if !s.drain {
		consider(r.cfg.PollInterval)
		now := r.cfg.Clock.Now()
		for _, at := range []time.Time{s.retryAt, s.nextDue} {
			if !at.IsZero() {
				consider(at.Sub(now))
			}
		}
	}
	var timer <-chan time.Time
	if d >= 0 {
		timer = r.cfg.After(d)
	}
	select {
	case <-ctx.Done():
	case res := <-s.results:
		s.finish(res)
	case <-r.cfg.Wake.C():
		s.dirty, s.exhausted = true, false
	case _, ok := <-s.changes:
		if !ok {
			s.changes = nil // the watcher stopped: the poll remains
		}
		s.dirty, s.exhausted = true, false
	case <-timer:
		s.dirty, s.exhausted = true, false
	}
}
