// Package wixsim simulates Wix Automations' triggered events: the report,
// cancel, bulk report and bulk cancel endpoints, OAuth client-credentials
// tokens, and the site automations that reported events activate.
//
// A Sim is usable in two ways that share one state and one set of rules:
// in-process, as an application.Gateway (Report and Cancel), and over HTTP,
// as an http.Handler speaking Wix's wire format (Handler, NewServer), so the
// REST client in adapters/wix can be tested against it.
//
// The simulator keeps Wix's documented semantics (a cancel removes every
// live event of its trigger key and externalEntityId; an idempotency key
// de-duplicates reports) and fills the gaps Wix leaves undocumented with
// assumptions that docs/wixsim.md lists. Time comes from an injected clock;
// activations whose time has come run whenever the simulator is used after
// the clock moved (or on RunDue / Advance), so tests move the clock and then
// read Activations.
//
// Every piece of state belongs to one site (Wix app instance): events,
// idempotency keys, automations, activations and tokens. A Sim is safe for
// concurrent use.
package wixsim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/bookable/lifecycle/application"
)

// DefaultTokenTTL is how long an access token lives: Wix's 4 hours.
const DefaultTokenTTL = 4 * time.Hour

// DefaultIdempotencyTTL is how long an idempotency key is remembered when a
// report names no TTL: Wix's one week.
const DefaultIdempotencyTTL = 7 * 24 * time.Hour

// ErrUnknownTrigger: an automation names a trigger key the simulator does
// not know.
var ErrUnknownTrigger = errors.New("wixsim: unknown trigger key")

// ErrInvalidTrigger: a trigger registration breaks a rule (Wix's key
// rules, a date-time field on a real-time trigger or none on a scheduled
// one, an unknown timing).
var ErrInvalidTrigger = errors.New("wixsim: invalid trigger")

// ErrInvalidAutomation: an automation breaks a rule (a negative delay on a
// real-time trigger, an empty name).
var ErrInvalidAutomation = errors.New("wixsim: invalid automation")

// Sim is the simulated Wix Automations service. Build one with New.
type Sim struct {
	clock     application.Clock
	appID     string
	appSecret string
	tokenTTL  time.Duration

	mu       sync.Mutex
	triggers map[string]triggerDef
	sites    map[string]*site
	tokens   map[string]tokenGrant
	faults   []*faultState
	latency  time.Duration
	requests []Request
	// resetLogged counts the requests logged before the last Reset.
	resetLogged int
	limit       int           // event requests per site per window; 0: no limit
	window      time.Duration // the rate limit's window
	pending     []*Activation // every site's pending activations, so runDue scans only these
	eventSeq    int64
	actSeq      int64

	// provider is the app's trigger provider that delayed activations
	// call (Refresh Payload) before they run; nil: none.
	provider *triggerProvider
	refresh  refreshSettings
	// inflight holds the activations whose Refresh Payload call is under
	// way, each with a channel closed when it has settled.
	inflight map[*Activation]chan struct{}
}

type triggerDef struct {
	timing        application.Timing
	dateTimeField string
}

type tokenGrant struct {
	site      string
	expiresAt time.Time // zero: never
	revoked   bool
}

type site struct {
	events      []*Event
	idempotency map[idemKey]time.Time // -> expiry
	automations []Automation
	activations []*Activation
	admitted    []time.Time // times of recent requests, for the rate limit
	// live indexes the live events by trigger key and entity, and
	// eventActs the activations by event, so a cancel touches only its own.
	live      map[liveKey][]*Event
	eventActs map[int64][]*Activation
}

type liveKey struct{ trigger, entity string }

type idemKey struct{ trigger, key string }

// Option configures a Sim.
type Option func(*Sim)

// WithCredentials sets the app ID and secret that /oauth2/token accepts.
// Without it the simulator accepts app ID "wixsim-app" and secret
// "wixsim-secret".
func WithCredentials(appID, appSecret string) Option {
	return func(s *Sim) { s.appID, s.appSecret = appID, appSecret }
}

// WithTokenTTL sets the lifetime of the tokens /oauth2/token issues
// (default DefaultTokenTTL); tests shorten it to exercise expiry.
func WithTokenTTL(d time.Duration) Option {
	return func(s *Sim) { s.tokenTTL = d }
}

// WithRateLimit throttles each site to n event requests per window on the
// simulator's clock (Wix: 200 per minute per app instance). A request beyond
// it is answered 429 with Retry-After saying when the oldest one in the
// window expires, and changes nothing. Without it there is no limit.
func WithRateLimit(n int, window time.Duration) Option {
	return func(s *Sim) { s.limit, s.window = n, window }
}

// New returns an empty simulator on clock (the wall clock when nil), with no
// triggers, sites or automations.
func New(clock application.Clock, opts ...Option) *Sim {
	if clock == nil {
		clock = application.SystemClock{}
	}
	s := &Sim{
		clock:     clock,
		appID:     "wixsim-app",
		appSecret: "wixsim-secret",
		tokenTTL:  DefaultTokenTTL,
		triggers:  map[string]triggerDef{},
		sites:     map[string]*site{},
		tokens:    map[string]tokenGrant{},
		refresh:   defaultRefreshSettings(),
		inflight:  map[*Activation]chan struct{}{},
	}
	for _, o := range opts {
		o(s)
	}
	if s.provider != nil {
		if err := s.provider.check(); err != nil {
			panic(err.Error()) // a bug in the caller, as with an invalid Fault
		}
	}
	return s
}

// String describes the simulator without its secret.
func (s *Sim) String() string { return fmt.Sprintf("wixsim(app %s)", s.appID) }

// Now returns the simulator's clock time.
func (s *Sim) Now() time.Time { return s.clock.Now().UTC() }

// RegisterTrigger declares a trigger of the app: key, real-time or
// scheduled, and for a scheduled trigger the payload property that holds
// its date-time. Triggers belong to the app, so every site knows them.
// Registering a key again replaces it. A broken rule is an error wrapping
// ErrInvalidTrigger.
func (s *Sim) RegisterTrigger(key string, timing application.Timing, dateTimeField string) error {
	if !application.ValidKey(key) {
		return fmt.Errorf("%w: key %q breaks Wix's key rules", ErrInvalidTrigger, key)
	}
	switch timing {
	case application.RealTime:
		if dateTimeField != "" {
			return fmt.Errorf("%w: real-time trigger %q takes no date-time field", ErrInvalidTrigger, key)
		}
	case application.Scheduled:
		if dateTimeField == "" {
			return fmt.Errorf("%w: scheduled trigger %q needs a date-time field", ErrInvalidTrigger, key)
		}
	default:
		return fmt.Errorf("%w: %q: unknown timing %q", ErrInvalidTrigger, key, timing)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.triggers[key] = triggerDef{timing: timing, dateTimeField: dateTimeField}
	return nil
}

// RegisterTriggers declares every enabled trigger of a catalog, under its
// key, as the app developer would in the Wix app dashboard.
func (s *Sim) RegisterTriggers(c *application.Catalog) error {
	for _, t := range c.Enabled() {
		if err := s.RegisterTrigger(t.Key, t.Timing, t.DateTimeField()); err != nil {
			return err
		}
	}
	return nil
}

// Automation is a site automation on one trigger, with one action.
type Automation struct {
	// Name names the automation's action in the activation log, e.g.
	// "reminder 1 day before".
	Name       string
	TriggerKey string
	// Offset is when the action runs. For a scheduled trigger it is relative
	// to the event's date-time: -24h is "1 day before", 0 "at start", +1h
	// "1 hour after". For a real-time trigger it is a delay after the report
	// and must not be negative; 0 runs the action as soon as it is reported.
	Offset time.Duration
}

// AddAutomation installs an automation on a site. Like Wix, it acts only on
// events reported after it was added: automations never run retroactively.
// It returns ErrUnknownTrigger for an unregistered trigger and
// ErrInvalidAutomation for a broken rule.
func (s *Sim) AddAutomation(siteID string, a Automation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	def, ok := s.triggers[a.TriggerKey]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownTrigger, a.TriggerKey)
	}
	if a.Name == "" {
		return fmt.Errorf("%w: no name", ErrInvalidAutomation)
	}
	if def.timing == application.RealTime && a.Offset < 0 {
		return fmt.Errorf("%w: %q: a real-time trigger's delay cannot be negative", ErrInvalidAutomation, a.Name)
	}
	st := s.siteLocked(siteID)
	st.automations = append(st.automations, a)
	return nil
}

// Event is one reported event as the simulator holds it.
type Event struct {
	Seq              int64 // report order across the simulator
	Site             string
	TriggerKey       string
	ExternalEntityID string // "" when reported without one (never cancelable)
	IdempotencyKey   string
	Payload          json.RawMessage
	ReportedAt       time.Time
	// At is when the event takes place: ReportedAt for a real-time trigger,
	// the payload's date-time for a scheduled one.
	At         time.Time
	Canceled   bool
	CanceledAt time.Time
}

// ActivationState is where an activation (one automation's action for one
// event) stands.
type ActivationState string

// The states of an activation.
const (
	// ActivationPending: waiting for its time.
	ActivationPending ActivationState = "pending"
	// ActivationRan: the action ran.
	ActivationRan ActivationState = "ran"
	// ActivationCanceled: a cancel of its event came before its time.
	ActivationCanceled ActivationState = "canceled"
	// ActivationSkipped: its time had already passed when the event was
	// reported (e.g. "1 day before" an event 2 hours away), so it never ran.
	ActivationSkipped ActivationState = "skipped"
	// ActivationFailed: its Refresh Payload call failed and the simulator
	// was told to fail the activation on such errors (FailOnRefreshError),
	// so the action did not run. Wix calls this status FAILED.
	ActivationFailed ActivationState = "failed"
)

// CancelReason says what canceled an activation. The values are Wix's
// cancellation reasons of the Activation Status Changed webhook.
type CancelReason string

// The reasons an activation is canceled.
const (
	// CanceledByEvent: a cancel call (Cancel Event or Bulk Cancel Event)
	// canceled the activation's event before its time.
	CanceledByEvent CancelReason = "EVENT_CANCELLED"
	// CanceledByRefreshPayload: the app answered the activation's Refresh
	// Payload call with cancelActivation true.
	CanceledByRefreshPayload CancelReason = "CANCELLED_BY_REFRESH_PAYLOAD"
)

// Activation is one automation's action for one reported event.
type Activation struct {
	ID               string
	Site             string
	Automation       string // the automation's Name
	TriggerKey       string
	ExternalEntityID string
	Payload          json.RawMessage
	EventSeq         int64
	ReportedAt       time.Time
	DueAt            time.Time // when the action runs
	State            ActivationState
	// SettledAt is when it ran (its DueAt), was canceled (the cancel's
	// time, or its DueAt when Refresh Payload canceled it), failed (its
	// DueAt) or was skipped (the report's time); zero while pending.
	SettledAt time.Time
	// CanceledBy says what canceled it; "" unless State is canceled.
	CanceledBy CancelReason
	// RanWith is the payload the action ran with: Payload, or what the
	// app's Refresh Payload answer gave instead; nil unless State is ran.
	RanWith json.RawMessage
	// Refresh is the Refresh Payload round trip made just before its time;
	// nil when none was made (no trigger provider for its trigger, or an
	// action that ran at the report's time).
	Refresh *Refresh
}

// LiveEvents returns the site's live events (reported, not canceled), in
// report order.
func (s *Sim) LiveEvents(siteID string) []Event {
	return s.events(siteID, true)
}

// Events returns every event reported on the site, canceled or not, in
// report order.
func (s *Sim) Events(siteID string) []Event {
	return s.events(siteID, false)
}

func (s *Sim) events(siteID string, liveOnly bool) []Event {
	s.lockDue(context.Background())
	defer s.mu.Unlock()
	st := s.sites[siteID]
	if st == nil {
		return nil
	}
	var out []Event
	for _, e := range st.events {
		if liveOnly && e.Canceled {
			continue
		}
		out = append(out, copyEvent(e))
	}
	return out
}

// Activations returns the site's activations in the given states (all when
// none are given), in the order they were created. It first runs what is
// due at the clock's time.
func (s *Sim) Activations(siteID string, states ...ActivationState) []Activation {
	s.lockDue(context.Background())
	defer s.mu.Unlock()
	st := s.sites[siteID]
	if st == nil {
		return nil
	}
	var out []Activation
	for _, a := range st.activations {
		if len(states) > 0 && !containsState(states, a.State) {
			continue
		}
		out = append(out, copyActivation(a))
	}
	return out
}

// Ran returns the site's activations whose action ran, in the order they
// ran.
func (s *Sim) Ran(siteID string) []Activation {
	out := s.Activations(siteID, ActivationRan)
	sort.SliceStable(out, func(i, j int) bool { return out[i].SettledAt.Before(out[j].SettledAt) })
	return out
}

// RunDue runs every pending activation due at the clock's time, on every
// site, and returns those that ran, in the order they ran. Reports,
// cancels and queries do this too, so tests need it only to see what one
// step fired. Refresh Payload calls use a background context; see
// RunDueContext.
func (s *Sim) RunDue() []Activation {
	return s.RunDueContext(context.Background())
}

// RunDueContext is RunDue with a context: it stops waiting for Refresh
// Payload calls that other goroutines have under way when ctx is done
// (its own calls are bounded by the refresh timeout, not by ctx).
func (s *Sim) RunDueContext(ctx context.Context) []Activation {
	ran := s.lockDue(ctx)
	s.mu.Unlock()
	return ran
}

// Advance moves the clock forward by d and runs what became due. The clock
// given to New must have an Advance(time.Duration) time.Time method (as
// application/fake.Clock and EmulatorClock do); otherwise Advance panics,
// as that is a bug in the test; so does a negative d. AdvanceContext
// returns an error instead.
func (s *Sim) Advance(d time.Duration) []Activation {
	ran, err := s.AdvanceContext(context.Background(), d)
	if err != nil {
		panic(fmt.Sprintf("wixsim: Advance(%v): %v (it needs a clock with an Advance method, e.g. application/fake.Clock)", d, err))
	}
	return ran
}

// Request is one request the simulator received, for tests to inspect.
type Request struct {
	Seq               int
	At                time.Time
	Endpoint          Endpoint
	Site              string // "" when the caller could not be authenticated
	TriggerKey        string
	ExternalEntityIDs []string
	IdempotencyKeys   []string
	// Status is the HTTP status answered (200 also for bulk calls with
	// failed items); 0 when the connection was dropped.
	Status int
	// Faulted is true when an injected fault decided the answer.
	Faulted bool
}

// Requests returns the requests received for a site (every site when
// siteID is ""), token requests included, in arrival order.
func (s *Sim) Requests(siteID string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.requests {
		if siteID == "" || r.Site == siteID {
			r.ExternalEntityIDs = append([]string(nil), r.ExternalEntityIDs...)
			r.IdempotencyKeys = append([]string(nil), r.IdempotencyKeys...)
			out = append(out, r)
		}
	}
	return out
}

// RequestCount returns how many event requests (report, cancel and their
// bulk forms, answered or not) a site made; token requests are not counted.
func (s *Sim) RequestCount(siteID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if r.Site == siteID && r.Endpoint != EndpointToken {
			n++
		}
	}
	return n
}

// TokenRequests returns how many /oauth2/token requests named the site.
func (s *Sim) TokenRequests(siteID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if r.Site == siteID && r.Endpoint == EndpointToken {
			n++
		}
	}
	return n
}

// IssueToken mints an access token for a site without the OAuth call, for
// clients in static-token mode. A ttl of 0 makes a token that never
// expires.
func (s *Sim) IssueToken(siteID string, ttl time.Duration) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issueTokenLocked(siteID, ttl)
}

func (s *Sim) issueTokenLocked(siteID string, ttl time.Duration) string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	tok := "wixsim." + hex.EncodeToString(b)
	g := tokenGrant{site: siteID}
	if ttl > 0 {
		g.expiresAt = s.Now().Add(ttl)
	}
	s.tokens[tok] = g
	return tok
}

// RevokeTokens invalidates every token of a site, as if Wix had expired
// them early; the next request with one gets 401.
func (s *Sim) RevokeTokens(siteID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tok, g := range s.tokens {
		if g.site == siteID {
			g.revoked = true
			s.tokens[tok] = g
		}
	}
}

// siteLocked returns a site's state, creating it.
func (s *Sim) siteLocked(siteID string) *site {
	st := s.sites[siteID]
	if st == nil {
		st = &site{idempotency: map[idemKey]time.Time{}, live: map[liveKey][]*Event{}, eventActs: map[int64][]*Activation{}}
		s.sites[siteID] = st
	}
	return st
}

func copyEvent(e *Event) Event {
	c := *e
	c.Payload = append(json.RawMessage(nil), e.Payload...)
	return c
}

func copyActivation(a *Activation) Activation {
	c := *a
	c.Payload = append(json.RawMessage(nil), a.Payload...)
	if a.RanWith != nil {
		c.RanWith = append(json.RawMessage(nil), a.RanWith...)
	}
	if a.Refresh != nil {
		r := *a.Refresh
		c.Refresh = &r
	}
	return c
}

func containsState(states []ActivationState, s ActivationState) bool {
	for _, x := range states {
		if x == s {
			return true
		}
	}
	return false
}
