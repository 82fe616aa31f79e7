package wixsim

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Fault is a failure the simulator injects into the requests that match it.
// Faults are matched in the order they were injected; each matching request
// (or, for ItemCode, each matching bulk item) uses up one of its Times.
//
// A fault with Status answers that HTTP status (and Wix's error body)
// instead of processing the request; with Drop it closes the connection
// without an answer (in-process: a transport error). With AfterApply the
// request takes effect first and only its answer is lost or replaced,
// which is how a retried report meets its idempotency key. A fault with
// only Latency delays the request and then processes it normally.
type Fault struct {
	// Endpoint limits the fault to one endpoint; "" matches the four event
	// endpoints (never the token endpoint).
	Endpoint Endpoint
	// Site limits the fault to one site; "" matches every site.
	Site string
	// EntityID limits the fault to requests naming this externalEntityId;
	// "" matches every request. Required with ItemCode.
	EntityID string
	// Times is how many requests (or items) fail; 0 means 1.
	Times int

	Status     int           // the HTTP status to answer, e.g. 429, 500, 503
	Code       string        // the application error code in the body
	Message    string        // the message in the body
	RetryAfter time.Duration // sent as Retry-After, in whole seconds (rounded up)
	Drop       bool          // drop the connection instead of answering
	AfterApply bool          // apply the request, then fail the answer
	Latency    time.Duration // wait this long first (wall-clock time)

	// ItemCode makes the item for EntityID fail inside a bulk response
	// (HTTP 200, success false, this error code), leaving the other items
	// alone. Single report and cancel requests do not match it.
	ItemCode string
}

type faultState struct {
	Fault
	left int
}

func (f *faultState) answers() bool { return f.Status != 0 || f.Drop }

func (f *faultState) outcome() outcome {
	if f.Drop {
		return outcome{drop: true}
	}
	msg := f.Message
	if msg == "" && f.Status < 500 {
		msg = fmt.Sprintf("injected failure (HTTP %d)", f.Status)
	}
	code := f.Code
	if code == "" && f.Status == 429 {
		code = CodeResourceExhausted
	}
	return outcome{err: &apiError{status: f.Status, code: code, message: msg, retryAfter: f.RetryAfter}}
}

// ErrInvalidFault: a fault can never match or mixes answers that exclude
// each other.
var ErrInvalidFault = errors.New("wixsim: invalid fault")

// Validate returns an error wrapping ErrInvalidFault for a fault that can
// never match (ItemCode without EntityID, a negative Times, an unknown
// Endpoint) or that mixes exclusive answers (ItemCode with Status, Drop or
// AfterApply; a Status that is not 4xx or 5xx; a negative duration).
func (f Fault) Validate() error {
	var why string
	switch {
	case f.Times < 0:
		why = "Times is negative"
	case f.ItemCode != "" && f.EntityID == "":
		why = "ItemCode needs an EntityID"
	case f.ItemCode != "" && (f.Status != 0 || f.Drop || f.AfterApply):
		why = "ItemCode excludes Status, Drop and AfterApply"
	case f.Status != 0 && (f.Status < 400 || f.Status > 599):
		why = "Status must be a 4xx or 5xx status"
	case f.Latency < 0 || f.RetryAfter < 0:
		why = "Latency and RetryAfter cannot be negative"
	case !knownEndpoint(f.Endpoint):
		why = fmt.Sprintf("unknown Endpoint %q", f.Endpoint)
	default:
		return nil
	}
	return fmt.Errorf("%w: %s", ErrInvalidFault, why)
}

func knownEndpoint(e Endpoint) bool {
	switch e {
	case "", EndpointReport, EndpointBulkReport, EndpointCancel, EndpointBulkCancel, EndpointToken:
		return true
	}
	return false
}

// Inject adds a fault. It panics on a fault that Validate refuses, as that
// is a bug in the test (the control API validates first).
func (s *Sim) Inject(f Fault) {
	if err := f.Validate(); err != nil {
		panic(err.Error())
	}
	n := f.Times
	if n == 0 {
		n = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &faultState{Fault: f, left: n})
}

// Faults returns the pending faults in the order they match, each with
// Times set to the requests (or items) it has left.
func (s *Sim) Faults() []Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Fault, 0, len(s.faults))
	for _, f := range s.faults {
		c := f.Fault
		c.Times = f.left
		out = append(out, c)
	}
	return out
}

// Latency returns the delay SetLatency set.
func (s *Sim) Latency() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.latency
}

// FailNext makes the next n event requests, on any site, fail with status.
func (s *Sim) FailNext(n, status int) {
	s.Inject(Fault{Times: n, Status: status})
}

// FailNextFor makes the next n event requests naming entityID fail with
// status (a bulk request naming it fails as a whole).
func (s *Sim) FailNextFor(entityID string, n, status int) {
	s.Inject(Fault{EntityID: entityID, Times: n, Status: status})
}

// RateLimitNext answers the next n event requests with 429 and Retry-After.
func (s *Sim) RateLimitNext(n int, retryAfter time.Duration) {
	s.Inject(Fault{Times: n, Status: 429, RetryAfter: retryAfter})
}

// DropNext drops the connection of the next n event requests before they
// take effect.
func (s *Sim) DropNext(n int) {
	s.Inject(Fault{Times: n, Drop: true})
}

// FailItem makes the item for entityID fail with code inside the next n
// bulk requests that name it.
func (s *Sim) FailItem(entityID, code string, n int) {
	s.Inject(Fault{EntityID: entityID, ItemCode: code, Times: n})
}

// SetLatency delays every request (token requests too) by d, in wall-clock
// time, until set back to 0.
func (s *Sim) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// ClearFaults removes every pending fault and the latency.
func (s *Sim) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
	s.latency = 0
}

func (f *faultState) matches(endpoint Endpoint, siteID string) bool {
	if f.left <= 0 {
		return false
	}
	if f.Site != "" && f.Site != siteID {
		return false
	}
	if f.Endpoint == "" {
		return endpoint != EndpointToken
	}
	return f.Endpoint == endpoint
}

// takeFaultLocked returns the first whole-request fault matching a request
// and uses up one of its times, or nil.
func (s *Sim) takeFaultLocked(endpoint Endpoint, siteID string, entities []string) *faultState {
	for i, f := range s.faults {
		if f.ItemCode != "" || !f.matches(endpoint, siteID) {
			continue
		}
		if f.EntityID != "" && !slices.Contains(entities, f.EntityID) {
			continue
		}
		f.left--
		taken := *f
		if f.left == 0 {
			s.faults = slices.Delete(s.faults, i, i+1)
		}
		return &taken
	}
	return nil
}

// takeItemFaultLocked reports whether the bulk item for entityID fails, with
// which code and message, using up one time of the fault.
func (s *Sim) takeItemFaultLocked(endpoint Endpoint, siteID, entityID string) (code, message string, failed bool) {
	for i, f := range s.faults {
		if f.ItemCode == "" || f.EntityID != entityID || !f.matches(endpoint, siteID) {
			continue
		}
		f.left--
		if f.left == 0 {
			s.faults = slices.Delete(s.faults, i, i+1)
		}
		msg := f.Message
		if msg == "" {
			msg = "injected item failure"
		}
		return f.ItemCode, msg, true
	}
	return "", "", false
}
