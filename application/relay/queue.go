package relay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/outbox"
)

// The queue of claimed calls: what a relay holds, claims, renews, lets go
// and hands back.

// groupKey is what calls must share to go in one request.
type groupKey struct {
	site    string
	kind    application.CallKind
	trigger string
}

// batch is up to MaxBatch calls of one group, sent as one request.
type batch struct {
	groupKey
	calls []application.Call
	// deadline is when its request must have ended, set (on the wall
	// clock) when the batch starts, right after its leases were checked:
	// a worker that starts late does not push the end of the request
	// past what the check allowed.
	deadline time.Time
}

// batchResult is what a worker reports back after settling a batch.
type batchResult struct {
	calls   []application.Call
	retryAt time.Time // earliest NextAttemptAt of a call left pending; zero if none
	err     error     // the settle error, if any
}

// run is the state of one Run or Drain. Only the loop goroutine touches it;
// workers talk to it through results.
type run struct {
	r     *Relay
	drain bool
	// held maps each ordering key the relay holds (queued or in flight) to
	// the ID of its call. Nothing else of that key is sent meanwhile.
	held map[string]string
	// parked holds claimed calls of keys still held: their predecessor was
	// settled but its worker has not reported yet. They queue when it does.
	parked map[string]application.Call
	// queue holds batches waiting for a worker or their site's rate limit,
	// oldest first; open indexes those that still have room.
	queue       []*batch
	open        map[groupKey]*batch
	siteQueued  map[string]int // queued batches per site
	queuedCalls int
	inFlight    int
	results     chan batchResult
	// dirty: something may have come due since the last claim.
	dirty bool
	// exhausted: the last claim found fewer due heads than it asked for;
	// settledSince counts the calls settled since that claim.
	exhausted    bool
	settledSince int
	plans        map[string]*sitePlan // throttled sites' deferred requests
	retryAt      time.Time            // earliest retry this run settled, to wake for it
	nextDue      time.Time            // earliest due time the outbox reported, if in the future
	standby      time.Time            // another relay holds the store until then
	// changes is the Watcher's channel, nil without one or once closed.
	changes <-chan struct{}
	// back holds the outcomes that hand calls let go back to the outbox,
	// until they are settled.
	back []application.Outcome
	// renewAt is when the leases of the calls held and not sent are renewed
	// next: half a lease after the earliest claim or renewal among them.
	renewAt time.Time
	errs    []error // settle errors, reported by Drain
}

func (s *run) idle() bool {
	return s.inFlight == 0 && len(s.queue) == 0 && len(s.parked) == 0 && len(s.back) == 0 && !s.dirty && s.standby.IsZero()
}

// roomToClaim: the relay holds fewer calls than ClaimLimit, and either has
// nothing queued (workers would idle) or has room for at least half a claim,
// so that claims stay large while work is queued. After a claim that found
// the outbox exhausted, a relay with work queued waits for a batch's worth
// of settled calls (whose keys may have a next call) before it claims again,
// instead of claiming after every request.
func (s *run) roomToClaim() bool {
	held, limit := len(s.held), s.r.cfg.ClaimLimit
	if held >= limit {
		return false
	}
	if s.queuedCalls == 0 {
		return true
	}
	return held <= limit/2 && (!s.exhausted || s.settledSince >= application.MaxBatch)
}

// claim leases due heads and queues them, settling at once (in one write) the
// scheduled reports that expired and, while running, the calls of throttled
// sites that the relay will not hold.
func (s *run) claim(ctx context.Context) error {
	r := s.r
	limit := r.cfg.ClaimLimit - len(s.held)
	now := r.cfg.Clock.Now()
	if !s.retryAt.After(now) {
		s.retryAt = time.Time{}
	}
	calls, err := r.cfg.Outbox.Claim(ctx, outbox.ClaimRequest{Relay: r.id, Now: now, Limit: limit, Lease: r.cfg.Lease})
	var standby *outbox.StandbyError
	if errors.As(err, &standby) {
		// Another relay is active on this store: stand by until its lease
		// ends, then try to take over.
		s.standby, s.dirty = standby.Until, false
		return nil
	}
	s.standby = time.Time{}
	if err != nil {
		return fmt.Errorf("relay: claim: %w", err)
	}
	s.dirty = len(calls) == limit // a full claim may have left more behind
	s.exhausted, s.settledSince = !s.dirty, 0
	var settle []application.Outcome
	expired := 0
	for _, c := range calls {
		if id, ok := s.held[c.OrderingKey]; ok {
			if id != c.ID {
				// Its predecessor was settled by a worker that has not
				// reported yet; the call goes once it has.
				s.parked[c.OrderingKey] = c
				s.renewBy(now)
				continue
			}
			s.refresh(c) // our own call, whose lease ran out
			s.renewBy(now)
			continue
		}
		if isExpired(c, now) {
			settle = append(settle, expiredOutcome(c, now))
			expired++
			continue
		}
		if at, ok := s.deferral(c, now); ok {
			settle = append(settle, handedBack(c, at, now))
			continue
		}
		s.enqueue(c)
		s.renewBy(now)
	}
	if len(settle) > 0 {
		if err := r.cfg.Outbox.Settle(ctx, settle); err != nil {
			return fmt.Errorf("relay: settle expired and deferred calls: %w", err)
		}
		r.metrics.expired.Add(uint64(expired))
		r.metrics.deferred.Add(uint64(len(settle) - expired))
		s.dirty, s.exhausted = true, false // their keys may have a next call
	}
	if !s.dirty && !s.drain {
		s.nextDue = time.Time{}
		at, ok, err := r.cfg.Outbox.NextDue(ctx)
		if err != nil {
			return fmt.Errorf("relay: next due: %w", err)
		}
		if ok && at.After(now) {
			s.nextDue = at
		}
	}
	return nil
}

// enqueue adds a call the relay now holds to an open batch of its group, or
// to a new one.
func (s *run) enqueue(c application.Call) {
	s.held[c.OrderingKey] = c.ID
	g := groupKey{c.SiteID, c.Kind, c.TriggerKey}
	b := s.open[g]
	if b == nil {
		b = &batch{groupKey: g}
		s.queue = append(s.queue, b)
		s.open[g] = b
		s.siteQueued[g.site]++
	}
	b.calls = append(b.calls, c)
	if len(b.calls) >= application.MaxBatch {
		delete(s.open, g)
	}
	s.queuedCalls++
}

// collect takes the reports of workers that have finished, without waiting.
func (s *run) collect() {
	for {
		select {
		case res := <-s.results:
			s.finish(res)
		default:
			return
		}
	}
}

// finish takes a worker's report: its keys are free, and a parked successor
// queues.
func (s *run) finish(res batchResult) {
	s.inFlight--
	s.settledSince += len(res.calls)
	for _, c := range res.calls {
		delete(s.held, c.OrderingKey)
		if next, ok := s.parked[c.OrderingKey]; ok {
			delete(s.parked, c.OrderingKey)
			s.enqueue(next)
		}
	}
	if res.err != nil {
		s.r.log.Error("relay: settle", "err", res.err)
		s.errs = append(s.errs, res.err)
	}
	if !res.retryAt.IsZero() && (s.retryAt.IsZero() || res.retryAt.Before(s.retryAt)) {
		s.retryAt = res.retryAt
	}
	s.dirty = true
}

// stop hands the calls held but not sent back to the outbox, due as they
// were (ending their lease), then waits for the workers.
func (s *run) stop(ctx context.Context) error {
	r := s.r
	now := r.cfg.Clock.Now()
	back := s.back // calls let go and not yet handed back
	s.back = nil
	release := func(c application.Call) {
		back = append(back, handedBack(c, c.NextAttemptAt, now))
	}
	for _, b := range s.queue {
		for _, c := range b.calls {
			release(c)
		}
	}
	for _, c := range s.parked {
		release(c)
	}
	s.queue, s.parked = nil, map[string]application.Call{}
	var err error
	if len(back) > 0 {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
		err = r.cfg.Outbox.Settle(sctx, back)
		cancel()
		if err != nil {
			err = fmt.Errorf("relay: hand back %d held calls: %w", len(back), err)
			r.log.Error("relay: stop", "err", err)
		}
	}
	for s.inFlight > 0 {
		s.finish(<-s.results)
	}
	return err
}
