package relay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/outbox"
)

// Fencing, on the relay's side. The store fences outcomes with lease tokens
// (a settle whose token is no longer the call's changes nothing but
// history); the relay keeps its part of the rule: it renews the leases of
// the calls it holds and has not sent at half their life, lets go of a call
// whose lease was lost, and starts a request only when the lease of every
// call in it outlives the whole request (RequestTimeout + LeaseMargin, which
// New checks the lease can cover). A call let go is handed back to the
// outbox unsent (a pending outcome with its token, as a stop does): if the
// lease was still this relay's, that ends it and the call is claimable at
// once, with a fresh lease; if not, the outcome is history only.

// renewBy notes that a call held from now on needs its lease renewed half a
// lease from now.
func (s *run) renewBy(now time.Time) {
	at := now.Add(s.r.cfg.Lease / 2)
	if s.renewAt.IsZero() || at.Before(s.renewAt) {
		s.renewAt = at
	}
}

// unsent returns the calls the relay holds and has not sent: queued and
// parked.
func (s *run) unsent() []application.Call {
	out := make([]application.Call, 0, s.queuedCalls+len(s.parked))
	for _, b := range s.queue {
		out = append(out, b.calls...)
	}
	for _, c := range s.parked {
		out = append(out, c)
	}
	return out
}

// renewDue renews the leases of the unsent calls once they reach half their
// life, and lets go of the calls whose lease was lost. After a failed
// renewal it tries again soon; meanwhile a call whose lease runs short is
// let go when its batch would start (letGoShort).
func (s *run) renewDue(ctx context.Context) error {
	r := s.r
	now := r.cfg.Clock.Now()
	if s.renewAt.IsZero() || now.Before(s.renewAt) {
		return nil
	}
	s.renewAt = time.Time{}
	held := s.unsent()
	if len(held) == 0 {
		return nil
	}
	leases, err := r.cfg.Outbox.Renew(ctx, r.id, held, now, r.cfg.Lease)
	if errors.Is(err, outbox.ErrLeaseLost) {
		leases, err = make([]outbox.Lease, len(held)), nil
	}
	if err == nil && len(leases) != len(held) {
		err = fmt.Errorf("outbox returned %d leases for %d calls", len(leases), len(held))
	}
	if err != nil {
		s.renewAt = now.Add(min(r.cfg.PollInterval, r.cfg.LeaseMargin))
		return fmt.Errorf("relay: renew %d leases: %w", len(held), err)
	}
	byID := make(map[string]outbox.Lease, len(held))
	for i, c := range held {
		byID[c.ID] = leases[i]
	}
	for key, c := range s.parked {
		if l := byID[c.ID]; l.Until.IsZero() {
			if s.held[key] == c.ID {
				// Its own earlier copy is still in flight: handing it back
				// now would free the key under that request. It goes back
				// once the request is done (queued with no lease, it is
				// let go when its batch would start).
				c.Lease.Until = time.Time{} // the token stays: handing back with it ends the lease
				s.parked[key] = c
				continue
			}
			delete(s.parked, key)
			s.handBack(c)
		} else {
			c.Lease = l
			s.parked[key] = c
		}
	}
	keepQ := s.queue[:0]
	for _, b := range s.queue {
		emptied := s.filter(b, func(c *application.Call) bool {
			l, ok := byID[c.ID]
			switch {
			case !ok:
				return true
			case l.Until.IsZero():
				return false // lost: handed back with the token it was held with
			}
			c.Lease = l
			return true
		})
		if !emptied {
			keepQ = append(keepQ, b)
		}
	}
	clear(s.queue[len(keepQ):])
	s.queue = keepQ
	if len(s.queue) > 0 || len(s.parked) > 0 {
		s.renewBy(now)
	}
	return nil
}

// refresh takes a call the relay holds whose lease ran out and which a
// claim leased to it again: a queued copy takes the new lease; a copy in
// flight settles with the old token (history only), so the call is parked
// and goes again with the new lease once that request is done.
func (s *run) refresh(c application.Call) {
	for _, b := range s.queue {
		for i := range b.calls {
			if b.calls[i].ID == c.ID {
				b.calls[i].Lease = c.Lease
				return
			}
		}
	}
	s.parked[c.OrderingKey] = c
}

// fits: the call's lease outlives a request started at now.
func (s *run) fits(c application.Call, now time.Time) bool {
	return c.Lease.Until.Sub(now) >= s.r.cfg.RequestTimeout+s.r.cfg.LeaseMargin
}

// letGoShort removes from b, which is about to start, the calls whose lease
// would not outlive the request, and lets them go. It returns true when
// none is left; b is then out of the queue's books.
func (s *run) letGoShort(b *batch) bool {
	now := s.r.cfg.Clock.Now()
	return s.filter(b, func(c *application.Call) bool { return s.fits(*c, now) })
}

// filter keeps the calls of the queued batch b for which keep holds (keep
// may update the call) and lets the others go. It returns true when none is
// left; b is then out of the queue's books.
func (s *run) filter(b *batch, keep func(*application.Call) bool) bool {
	kept := b.calls[:0]
	for _, c := range b.calls {
		if keep(&c) {
			kept = append(kept, c)
		} else {
			s.letGo(c)
		}
	}
	clear(b.calls[len(kept):])
	b.calls = kept
	if len(kept) > 0 {
		return false
	}
	s.unqueue(b)
	return true
}

// letGo forgets a queued call unsent and hands it back: its key is no
// longer held here.
func (s *run) letGo(c application.Call) {
	delete(s.held, c.OrderingKey)
	s.queuedCalls--
	s.handBack(c)
}

// handBack queues the outcome that returns a call let go to the outbox,
// pending and due as it was, not attempted.
func (s *run) handBack(c application.Call) {
	s.r.metrics.leasesLost.Add(1)
	s.back = append(s.back, handedBack(c, c.NextAttemptAt, s.r.cfg.Clock.Now()))
}

// flushBack settles the calls let go, in one write. On failure they are
// tried again at the next turn of the loop.
func (s *run) flushBack(ctx context.Context) error {
	if len(s.back) == 0 {
		return nil
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	if err := s.r.cfg.Outbox.Settle(sctx, s.back); err != nil {
		return fmt.Errorf("relay: hand back %d calls let go: %w", len(s.back), err)
	}
	s.back = s.back[:0]
	s.dirty = true // they may be claimed again at once
	return nil
}

// unqueue takes a batch that leaves the queue (started, or emptied) out of
// the books of open batches and batches per site.
func (s *run) unqueue(b *batch) {
	if s.open[b.groupKey] == b {
		delete(s.open, b.groupKey)
	}
	s.siteQueued[b.site]--
	if s.siteQueued[b.site] == 0 {
		delete(s.siteQueued, b.site)
	}
}

// handedBack is the outcome that returns a held call to the outbox unsent:
// pending, due at next, its last error kept, not an attempt. Settled with
// the call's token, it ends the lease when the lease is still the relay's.
func handedBack(c application.Call, next, now time.Time) application.Outcome {
	return application.Outcome{ID: c.ID, Seq: c.Seq, Token: c.Lease.Token, State: application.StatePending,
		NextAttemptAt: next, Err: c.LastError, At: now}
}
