package application

import (
	"context"
	"errors"
	"fmt"
	"github.com/bookable/lifecycle/application/outbox"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Defaults of RelayConfig.
const (
	DefaultPollInterval      = time.Second
	DefaultWorkers           = 8
	DefaultClaimLimit        = 1000
	DefaultLease             = 2 * time.Minute
	DefaultBackoffBase       = time.Second
	DefaultBackoffMax        = 10 * time.Minute
	DefaultRequestsPerMinute = 200
	DefaultStopGrace         = 10 * time.Second
	// NoRateLimit as RelayConfig.RequestsPerMinute turns the per-site rate
	// limit off (any negative value does).
	NoRateLimit = -1
)

// settleTimeout bounds an outbox write that must happen even while the relay
// stops (settling a finished request, handing back held calls).
const settleTimeout = 30 * time.Second

var (
	// ErrRelayConfig: NewRelay was given a config it cannot run with.
	ErrRelayConfig = errors.New("invalid relay config")
	// ErrRelayRunning: Run or Drain was called while the relay was already
	// running; one relay runs one loop at a time.
	ErrRelayRunning = errors.New("relay is already running")
)

// RelayConfig configures a Relay. Outbox and Gateway are required; every
// other zero field takes its default.
type RelayConfig struct {
	Outbox  Outbox
	Gateway Gateway
	// Clock tells the time of claims, outcomes, backoffs, expiry and the
	// rate limit. Default: SystemClock.
	Clock Clock
	// Wake, notified by command handlers after a commit that enqueued calls,
	// makes a running relay claim at once instead of at its next poll.
	Wake *Signal
	// PollInterval is how often a running relay claims without being woken,
	// so that calls written by another process, and retries that came due,
	// are delivered. Default 1s.
	PollInterval time.Duration
	// Workers bounds the requests in flight at once. Default 8.
	Workers int
	// ClaimLimit bounds the calls the relay holds in memory (claimed, not
	// settled), whatever the backlog; one claim leases at most this many.
	// Default 1000.
	ClaimLimit int
	// Lease is how long a claimed call is reserved for this relay. A call
	// whose relay died is claimed again after it. Default 2m.
	Lease time.Duration
	// BackoffBase and BackoffMax shape the wait before a retry: the n-th
	// retry waits a random time in [d/2, d), d = min(BackoffMax,
	// BackoffBase * 2^(n-1)), and never less than Wix's Retry-After.
	// Defaults 1s and 10m.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// Jitter returns a number in [0, 1) that places each backoff in its
	// range. Default: math/rand/v2. Tests inject a constant.
	Jitter func() float64
	// RequestsPerMinute is the per-site rate limit, counted per request to
	// the gateway (a bulk request counts once). Zero means the default,
	// 200 (the Wix limit); NoRateLimit or any negative value means none.
	RequestsPerMinute int
	// Burst is how many requests a site may send at once before the
	// sustained rate applies. Zero means RequestsPerMinute/10 (at least 1).
	// See RateLimiter for how the two keep every minute within the limit.
	Burst int
	// StopGrace is how long requests in flight may still run after the
	// context of Run or Drain is canceled. Their outcomes are settled; a
	// request cut off after the grace leaves its calls pending, due at once.
	// Default 10s.
	StopGrace time.Duration
	// After waits on the relay's clock (for polling, backoff and the rate
	// limit). Default time.After. Tests with a fake clock pass one that
	// advances the clock.
	After func(time.Duration) <-chan time.Time
	// Logger receives a line per failed request, dead letter and outbox
	// error. Default: discard.
	Logger *slog.Logger
}

// Relay delivers the outbox to the gateway: in commit order and one at a time
// per ordering key, different keys in parallel, batched into bulk requests,
// retried with backoff, dead-lettered when Wix refuses for good, expired when
// a scheduled report's time passed, and within each site's rate limit. It
// works over any Outbox and Gateway. See docs/relay.md.
type Relay struct {
	id      string // the relay's identity in claims and renewals
	cfg     RelayConfig
	limiter *RateLimiter // nil without a rate limit
	log     *slog.Logger
	running chan struct{}
	metrics relayMetrics
}

// NewRelay checks cfg, fills in its defaults and returns a relay. Errors wrap
// ErrRelayConfig.
func NewRelay(cfg RelayConfig) (*Relay, error) {
	bad := func(format string, args ...any) (*Relay, error) {
		return nil, fmt.Errorf("%w: "+format, append([]any{ErrRelayConfig}, args...)...)
	}
	switch {
	case cfg.Outbox == nil:
		return bad("no outbox")
	case cfg.Gateway == nil:
		return bad("no gateway")
	case cfg.PollInterval < 0, cfg.Lease < 0, cfg.BackoffBase < 0, cfg.BackoffMax < 0, cfg.StopGrace < 0:
		return bad("negative duration")
	case cfg.Workers < 0:
		return bad("workers %d is negative", cfg.Workers)
	case cfg.ClaimLimit < 0:
		return bad("claim limit %d is negative", cfg.ClaimLimit)
	case cfg.Burst < 0:
		return bad("burst %d is negative", cfg.Burst)
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	cfg.PollInterval = orDefault(cfg.PollInterval, DefaultPollInterval)
	cfg.Lease = orDefault(cfg.Lease, DefaultLease)
	cfg.BackoffBase = orDefault(cfg.BackoffBase, DefaultBackoffBase)
	cfg.BackoffMax = orDefault(cfg.BackoffMax, DefaultBackoffMax)
	cfg.StopGrace = orDefault(cfg.StopGrace, DefaultStopGrace)
	cfg.Workers = orDefault(cfg.Workers, DefaultWorkers)
	cfg.ClaimLimit = orDefault(cfg.ClaimLimit, DefaultClaimLimit)
	cfg.RequestsPerMinute = orDefault(cfg.RequestsPerMinute, DefaultRequestsPerMinute)
	if cfg.BackoffMax < cfg.BackoffBase {
		return bad("backoff max %v is below backoff base %v", cfg.BackoffMax, cfg.BackoffBase)
	}
	if cfg.ClaimLimit < MaxBatch {
		return bad("claim limit %d is below a full batch (%d)", cfg.ClaimLimit, MaxBatch)
	}
	if cfg.Jitter == nil {
		cfg.Jitter = rand.Float64
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Relay{id: UUIDv7{}.NewID(), cfg: cfg, log: log, running: make(chan struct{}, 1)}
	if cfg.RequestsPerMinute > 0 {
		r.limiter = NewRateLimiter(cfg.RequestsPerMinute, cfg.Burst, cfg.Clock.Now)
	}
	r.metrics.init()
	return r, nil
}

func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Run delivers calls until ctx is done, then stops gracefully: it claims
// nothing more, hands the calls it held but had not sent back to the outbox
// (pending, due as before), and waits for the requests in flight (see
// RelayConfig.StopGrace) and settles them. It returns nil after a graceful
// stop, or the error of handing calls back. Outbox errors while running are
// logged and retried at the next poll.
func (r *Relay) Run(ctx context.Context) error {
	return r.loop(ctx, false)
}

// Drain delivers until nothing is due now: it returns nil once the outbox has
// no due pending call and nothing is in flight. Calls left pending for a later
// retry are not waited for. A site out of its rate limit is waited for. Drain
// returns the first outbox error, after settling what is in flight, and
// ctx.Err() when ctx ends first (stopping as Run does). For tests, the demo
// and the command line.
func (r *Relay) Drain(ctx context.Context) error {
	return r.loop(ctx, true)
}

func (r *Relay) loop(ctx context.Context, drain bool) error {
	select {
	case r.running <- struct{}{}:
		defer func() { <-r.running }()
	default:
		return ErrRelayRunning
	}
	// Requests run on a context that outlives ctx by StopGrace, so that a
	// stop does not cut a request that is about to finish: its outcome is
	// settled, not left to the lease.
	sendCtx, cancelSend := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSend()
	stopGrace := context.AfterFunc(ctx, func() { time.AfterFunc(r.cfg.StopGrace, cancelSend) })
	defer stopGrace()

	s := &run{
		r:          r,
		drain:      drain,
		held:       map[string]string{},
		parked:     map[string]Call{},
		open:       map[groupKey]*batch{},
		siteQueued: map[string]int{},
		plans:      map[string]*sitePlan{},
		results:    make(chan batchResult, r.cfg.Workers),
		dirty:      true,
	}
	for {
		if ctx.Err() != nil {
			err := s.stop(ctx)
			if drain {
				return errors.Join(ctx.Err(), err)
			}
			return err
		}
		if s.dirty && s.roomToClaim() {
			if err := s.claim(ctx); err != nil && ctx.Err() == nil {
				if drain {
					return errors.Join(err, s.stop(ctx))
				}
				r.log.Error("relay: claim", "err", err)
				s.dirty = false // the next poll tries again
			}
		}
		wait, throttled := s.dispatch(sendCtx)
		if drain && s.idle() {
			return errors.Join(s.errs...)
		}
		if s.dirty && s.roomToClaim() {
			s.collect() // claim again at once
			continue
		}
		s.wait(ctx, wait, throttled)
	}
}

// groupKey is what calls must share to go in one request.
type groupKey struct {
	site    string
	kind    CallKind
	trigger string
}

// batch is up to MaxBatch calls of one group, sent as one request.
type batch struct {
	groupKey
	calls []Call
}

// batchResult is what a worker reports back after settling a batch.
type batchResult struct {
	calls   []Call
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
	parked map[string]Call
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
	errs         []error              // settle errors, reported by Drain
}

func (s *run) idle() bool {
	return s.inFlight == 0 && len(s.queue) == 0 && len(s.parked) == 0 && !s.dirty && s.standby.IsZero()
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
	return held <= limit/2 && (!s.exhausted || s.settledSince >= MaxBatch)
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
	var settle []Outcome
	expired := 0
	for _, c := range calls {
		if id, ok := s.held[c.OrderingKey]; ok {
			if id != c.ID {
				// Its predecessor was settled by a worker that has not
				// reported yet; the call goes once it has.
				s.parked[c.OrderingKey] = c
			}
			continue // else our own call, whose lease ran out: still ours
		}
		if isExpired(c, now) {
			settle = append(settle, expiredOutcome(c, now))
			expired++
			continue
		}
		if at, ok := s.deferral(c, now); ok {
			settle = append(settle, Outcome{ID: c.ID, Seq: c.Seq, Token: c.Lease.Token, State: StatePending, NextAttemptAt: at, Err: c.LastError, At: now})
			continue
		}
		s.enqueue(c)
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

// deferral decides whether a running relay hands a claimed call back rather
// than hold it: when the call would need a new batch, its site already has
// Workers batches queued, and its rate limit would not let one more go now.
// The call is then due again at a planned request of its site: calls of one
// group share a planned request (up to MaxBatch), and planned requests are
// spaced by the limiter's interval after those already queued, so that
// deferred calls come back at the pace the site can send them, not all at
// once. This keeps one throttled site from filling the relay's memory and
// starving the others. Drain never defers: it waits for the site instead.
func (s *run) deferral(c Call, now time.Time) (time.Time, bool) {
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
	if pr := p.open[g]; pr != nil && pr.n < MaxBatch && pr.at.After(now) {
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

// enqueue adds a call the relay now holds to an open batch of its group, or
// to a new one.
func (s *run) enqueue(c Call) {
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
	if len(b.calls) >= MaxBatch {
		delete(s.open, g)
	}
	s.queuedCalls++
}

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
		if r.limiter != nil {
			if ok, w := r.limiter.Take(b.site); !ok {
				blocked[b.site] = true
				if !throttled || w < wait {
					wait, throttled = w, true
				}
				keep = append(keep, b)
				continue
			}
		}
		if s.open[b.groupKey] == b {
			delete(s.open, b.groupKey)
		}
		s.siteQueued[b.site]--
		if s.siteQueued[b.site] == 0 {
			delete(s.siteQueued, b.site)
		}
		s.queuedCalls -= len(b.calls)
		s.inFlight++
		go func(b *batch) { s.results <- r.deliver(ctx, b) }(b)
	}
	clear(s.queue[len(keep):])
	s.queue = keep
	return wait, throttled && s.inFlight < r.cfg.Workers
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
	case <-timer:
		s.dirty, s.exhausted = true, false
	}
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
	var back []Outcome
	release := func(c Call) {
		back = append(back, Outcome{ID: c.ID, Seq: c.Seq, Token: c.Lease.Token, State: StatePending, NextAttemptAt: c.NextAttemptAt, Err: c.LastError, At: now})
	}
	for _, b := range s.queue {
		for _, c := range b.calls {
			release(c)
		}
	}
	for _, c := range s.parked {
		release(c)
	}
	s.queue, s.parked = nil, map[string]Call{}
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

// deliver sends one batch as one request, decides each call's outcome from
// its own result, and settles them all in one write.
func (r *Relay) deliver(ctx context.Context, b *batch) batchResult {
	now := r.cfg.Clock.Now()
	outcomes := make([]Outcome, 0, len(b.calls))
	of := make([]Call, 0, len(b.calls)) // of[i] is the call of outcomes[i]
	send := make([]Call, 0, len(b.calls))
	for _, c := range b.calls {
		if isExpired(c, now) {
			outcomes, of = append(outcomes, expiredOutcome(c, now)), append(of, c)
		} else {
			send = append(send, c)
		}
	}
	if len(send) > 0 {
		results, err := r.send(ctx, b, send)
		r.metrics.requests.Add(1)
		at := r.cfg.Clock.Now()
		stopped := err != nil && ctx.Err() != nil
		if err != nil {
			r.metrics.failedRequests.Add(1)
			r.log.Warn("relay: request failed", "site", b.site, "kind", b.kind, "trigger", b.trigger,
				"items", len(send), "err", err)
		}
		for i, c := range send {
			itemErr := err
			if itemErr == nil {
				itemErr = results[i]
			}
			outcomes, of = append(outcomes, r.outcome(c, itemErr, stopped, at)), append(of, c)
		}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	res := batchResult{calls: b.calls}
	if err := r.cfg.Outbox.Settle(sctx, outcomes); err != nil {
		// The calls stay leased; after the lease they are claimed and sent
		// again (a report with its same idempotency key).
		r.metrics.settleErrors.Add(1)
		res.err = fmt.Errorf("relay: settle %d calls of %s %s %s: %w", len(outcomes), b.site, b.kind, b.trigger, err)
		return res
	}
	for i, o := range outcomes {
		c := of[i]
		switch o.State {
		case StateDelivered:
			r.metrics.delivered.Add(1)
			r.metrics.latency.observe(o.At.Sub(c.CreatedAt))
		case StateDead:
			r.metrics.dead.Add(1)
			r.log.Warn("relay: dead letter", "site", c.SiteID, "call", c.ID, "kind", c.Kind,
				"trigger", c.TriggerKey, "entity", c.ExternalEntityID, "err", o.Err)
		case StateExpired:
			r.metrics.expired.Add(1)
		case StatePending:
			r.metrics.retried.Add(1)
			if res.retryAt.IsZero() || o.NextAttemptAt.Before(res.retryAt) {
				res.retryAt = o.NextAttemptAt
			}
		}
	}
	return res
}

// send makes the gateway request for calls of one group and returns one
// result per call.
func (r *Relay) send(ctx context.Context, g *batch, calls []Call) ([]error, error) {
	var (
		results []error
		err     error
	)
	switch g.kind {
	case KindReport:
		events := make([]ReportEvent, len(calls))
		for i, c := range calls {
			events[i] = ReportEvent{ExternalEntityID: c.ExternalEntityID, Payload: c.Payload, IdempotencyKey: c.ID}
		}
		results, err = r.cfg.Gateway.Report(ctx, g.site, g.trigger, events)
	case KindCancel:
		ids := make([]string, len(calls))
		for i, c := range calls {
			ids[i] = c.ExternalEntityID
		}
		results, err = r.cfg.Gateway.Cancel(ctx, g.site, g.trigger, ids)
	default:
		return nil, &GatewayError{Message: fmt.Sprintf("unknown call kind %q", g.kind), Permanent: true}
	}
	if err == nil && len(results) != len(calls) {
		// A broken adapter: nothing is known to have succeeded. Retrying is
		// harmless (reports carry their idempotency key, cancels repeat).
		err = fmt.Errorf("gateway returned %d results for %d items", len(results), len(calls))
	}
	return results, err
}

// outcome decides a sent call's fate from its result.
func (r *Relay) outcome(c Call, err error, stopped bool, at time.Time) Outcome {
	o := Outcome{ID: c.ID, Seq: c.Seq, Token: c.Lease.Token, Attempted: true, At: at}
	if err == nil {
		o.State = StateDelivered
		return o
	}
	ce, permanent, retryAfter := Classify(err)
	o.Err = ce
	switch {
	case stopped:
		// Cut off by the relay's own stop: due again at once.
		o.State = StatePending
		o.NextAttemptAt = at
		o.Err = &CallError{Message: "relay stopped during the request: " + ce.Message}
	case permanent:
		o.State = StateDead
	default:
		o.State = StatePending
		o.NextAttemptAt = at.Add(max(r.backoff(c.Attempts), retryAfter))
	}
	return o
}

// backoff returns the wait after a call's attempt number failed+1: a random
// time in [d/2, d), d = min(BackoffMax, BackoffBase*2^failed).
func (r *Relay) backoff(failed int) time.Duration {
	d := r.cfg.BackoffMax
	if failed < 62 {
		if x := r.cfg.BackoffBase << failed; x > 0 && x < d {
			d = x
		}
	}
	j := min(max(r.cfg.Jitter(), 0), 1)
	return d/2 + time.Duration(j*float64(d/2))
}

// isExpired: a scheduled report whose date-time is not after now. Wix takes
// only future date-times, and an automation for a passed moment must not run.
func isExpired(c Call, now time.Time) bool {
	return c.Kind == KindReport && !c.ScheduledAt.IsZero() && !c.ScheduledAt.After(now)
}

func expiredOutcome(c Call, now time.Time) Outcome {
	return Outcome{ID: c.ID, Seq: c.Seq, Token: c.Lease.Token, State: StateExpired, At: now, Err: &CallError{
		Message: fmt.Sprintf("scheduled for %s, which had passed when the report came due", c.ScheduledAt.UTC().Format(time.RFC3339)),
	}}
}
