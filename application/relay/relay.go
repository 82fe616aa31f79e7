package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/bookable/lifecycle/application"
)

// Defaults of Config.
const (
	DefaultPollInterval      = time.Second
	DefaultWorkers           = 8
	DefaultClaimLimit        = 1000
	DefaultLease             = 2 * time.Minute
	DefaultBackoffBase       = time.Second
	DefaultBackoffMax        = 10 * time.Minute
	DefaultRequestsPerMinute = 200
	DefaultStopGrace         = 10 * time.Second
	DefaultRequestTimeout    = 30 * time.Second
	// DefaultLeaseMargin is the most LeaseMargin defaults to: half the
	// request timeout, up to this.
	DefaultLeaseMargin = 5 * time.Second
	// NoRateLimit as Config.RequestsPerMinute turns the per-site rate
	// limit off (any negative value does).
	NoRateLimit = -1
)

// settleTimeout bounds an outbox write that must happen even while the relay
// stops (settling a finished request, handing back held calls).
const settleTimeout = 30 * time.Second

var (
	// ErrConfig: New was given a config it cannot run with.
	ErrConfig = errors.New("invalid relay config")
	// ErrRunning: Run or Drain was called while the relay was already
	// running; one relay runs one loop at a time.
	ErrRunning = errors.New("relay is already running")
)

// Config configures a Relay. Outbox and Gateway are required; every
// other zero field takes its default.
type Config struct {
	Outbox  application.Outbox
	Gateway application.Gateway
	// Clock tells the time of claims, outcomes, backoffs, expiry and the
	// rate limit. Default: SystemClock.
	Clock application.Clock
	// Wake, notified by command handlers after a commit that enqueued calls,
	// makes a running relay claim at once instead of at its next poll.
	Wake *application.Signal
	// Watcher, when set, wakes a running relay soon after another process
	// commits to the store (see Watcher), beside Wake and the poll.
	Watcher Watcher
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
	// whose relay died is claimed again after it. The relay renews the
	// leases of the calls it holds at half their life, and starts a request
	// only while the lease of each of its calls outlives the whole request
	// (RequestTimeout + LeaseMargin); a call whose lease is lost or too
	// short is let go unsent. So Lease must be at least
	// 2 x (RequestTimeout + LeaseMargin), or New refuses it. Default 2m.
	Lease time.Duration
	// RequestTimeout bounds every request to the gateway: the relay cancels
	// a request still running after it. Default 30s (the Wix gateway's).
	RequestTimeout time.Duration
	// LeaseMargin is the time a lease must still run after a request's
	// timeout when the request starts: for settling its outcome and for the
	// clocks of processes that share the store. Default half the request
	// timeout, at most DefaultLeaseMargin.
	LeaseMargin time.Duration
	// BackoffBase and BackoffMax shape the wait before a retry: the n-th
	// retry waits a random time in [d/2, d), d = min(BackoffMax,
	// BackoffBase * 2^(n-1)), and never less than Wix's Retry-After.
	// Defaults 1s and 10m.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// Jitter returns a number in [0, 1) that places each backoff in its
	// range. Default: math/rand/v2. Tests inject a constant.
	Jitter func() float64
	// Rates, when set, keeps the rate limit's state in the store, so that
	// the limit holds for every relay of every process on it together
	// (serve and relay on one SQLite file, a fleet on PostgreSQL). Without
	// it the limit holds for this relay alone.
	Rates RateStore
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
	cfg     Config
	limiter *RateLimiter // nil without a rate limit
	log     *slog.Logger
	running chan struct{}
	metrics counters
}

// New checks cfg, fills in its defaults and returns a relay. Errors wrap
// ErrConfig.
func New(cfg Config) (*Relay, error) {
	bad := func(format string, args ...any) (*Relay, error) {
		return nil, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...)
	}
	switch {
	case cfg.Outbox == nil:
		return bad("no outbox")
	case cfg.Gateway == nil:
		return bad("no gateway")
	case cfg.PollInterval < 0, cfg.Lease < 0, cfg.BackoffBase < 0, cfg.BackoffMax < 0, cfg.StopGrace < 0,
		cfg.RequestTimeout < 0, cfg.LeaseMargin < 0:
		return bad("negative duration")
	case cfg.Workers < 0:
		return bad("workers %d is negative", cfg.Workers)
	case cfg.ClaimLimit < 0:
		return bad("claim limit %d is negative", cfg.ClaimLimit)
	case cfg.Burst < 0:
		return bad("burst %d is negative", cfg.Burst)
	}
	if cfg.Clock == nil {
		cfg.Clock = application.SystemClock{}
	}
	cfg.PollInterval = orDefault(cfg.PollInterval, DefaultPollInterval)
	cfg.Lease = orDefault(cfg.Lease, DefaultLease)
	cfg.BackoffBase = orDefault(cfg.BackoffBase, DefaultBackoffBase)
	cfg.BackoffMax = orDefault(cfg.BackoffMax, DefaultBackoffMax)
	cfg.StopGrace = orDefault(cfg.StopGrace, DefaultStopGrace)
	cfg.RequestTimeout = orDefault(cfg.RequestTimeout, DefaultRequestTimeout)
	cfg.LeaseMargin = orDefault(cfg.LeaseMargin, min(cfg.RequestTimeout/2, DefaultLeaseMargin))
	cfg.Workers = orDefault(cfg.Workers, DefaultWorkers)
	cfg.ClaimLimit = orDefault(cfg.ClaimLimit, DefaultClaimLimit)
	cfg.RequestsPerMinute = orDefault(cfg.RequestsPerMinute, DefaultRequestsPerMinute)
	if cfg.BackoffMax < cfg.BackoffBase {
		return bad("backoff max %v is below backoff base %v", cfg.BackoffMax, cfg.BackoffBase)
	}
	if need := 2 * (cfg.RequestTimeout + cfg.LeaseMargin); cfg.Lease < need {
		return bad("lease %v cannot cover a request: it must be at least 2 x (request timeout %v + lease margin %v) = %v, "+
			"so that a lease renewed at half its life still outlives a whole request", cfg.Lease, cfg.RequestTimeout, cfg.LeaseMargin, need)
	}
	if cfg.ClaimLimit < application.MaxBatch {
		return bad("claim limit %d is below a full batch (%d)", cfg.ClaimLimit, application.MaxBatch)
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
	r := &Relay{id: application.UUIDv7{}.NewID(), cfg: cfg, log: log, running: make(chan struct{}, 1)}
	switch {
	case cfg.RequestsPerMinute <= 0:
	case cfg.Rates != nil:
		r.limiter = NewSharedRateLimiter(cfg.RequestsPerMinute, cfg.Burst, cfg.Clock.Now, cfg.Rates)
	default:
		r.limiter = NewRateLimiter(cfg.RequestsPerMinute, cfg.Burst, cfg.Clock.Now)
	}
	r.metrics.init()
	return r, nil
}

// resign gives up the store's relay lease (outbox.Outbox.Resign). A failure
// is logged: the lease then runs out as it would after a crash.
func (r *Relay) resign(ctx context.Context) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	if err := r.cfg.Outbox.Resign(rctx, r.id); err != nil {
		r.log.Error("relay: resign the store's relay lease", "err", err)
	}
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
// Config.StopGrace) and settles them. It returns nil after a graceful
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
		return ErrRunning
	}
	// Requests run on a context that outlives ctx by StopGrace, so that a
	// stop does not cut a request that is about to finish: its outcome is
	// settled, not left to the lease.
	sendCtx, cancelSend := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSend()
	stopGrace := context.AfterFunc(ctx, func() { time.AfterFunc(r.cfg.StopGrace, cancelSend) })
	defer stopGrace()

	// Whatever ends the loop, every call it held has been settled or
	// handed back by then: the store's relay lease is let go, so that a
	// relay standing by (a restart, the next deploy) takes over at once.
	defer r.resign(ctx)
	s := &run{
		r:          r,
		drain:      drain,
		held:       map[string]string{},
		parked:     map[string]application.Call{},
		open:       map[groupKey]*batch{},
		siteQueued: map[string]int{},
		plans:      map[string]*sitePlan{},
		results:    make(chan batchResult, r.cfg.Workers),
		dirty:      true,
	}
	if r.cfg.Watcher != nil {
		wctx, stopWatch := context.WithCancel(ctx)
		defer stopWatch()
		s.changes = r.cfg.Watcher.Changes(wctx)
	}
	for {
		if ctx.Err() != nil {
			err := s.stop(ctx)
			if drain {
				return errors.Join(ctx.Err(), err)
			}
			return err
		}
		if err := s.renewDue(ctx); err != nil && ctx.Err() == nil {
			// Not fatal, even to Drain: a call whose lease runs short
			// meanwhile is handed back unsent and claimed again.
			r.log.Error("relay: renew", "err", err)
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
		if err := s.flushBack(ctx); err != nil {
			r.log.Error("relay: hand back", "err", err)
		}
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
