package fake

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/bookable/lifecycle/application"
)

// Gateway is a recording application.Gateway for tests: it accepts every
// request unless scripted to fail, keeps every request it received with the
// time on its clock, and checks the order in which each entity's calls
// arrived. Failures can be scripted per request (the whole request fails),
// per entity (its item fails inside an accepted request) or by any rule over
// items. It is safe for concurrent use.
type Gateway struct {
	clock application.Clock

	mu        sync.Mutex
	requests  []Request
	failNext  []error                // whole-request failures, consumed in order
	entity    map[string]*entityRule // by externalEntityId
	itemRule  func(Item) error
	onRequest func(ctx context.Context, r Request) error
}

// Request is one request the gateway received.
type Request struct {
	N          int // 1-based arrival number
	SiteID     string
	Kind       application.CallKind
	TriggerKey string
	Items      []Item
	At         time.Time // on the gateway's clock, when it arrived
	Err        error     // the whole request's failure, if it failed
}

// Item is one entity of a request. For a report, IdempotencyKey and Payload
// are set (the key is the outbox call's ID).
type Item struct {
	SiteID           string
	Kind             application.CallKind
	TriggerKey       string
	ExternalEntityID string
	IdempotencyKey   string
	Payload          json.RawMessage
	Request          int       // the arrival number of its request
	At               time.Time // when its request arrived
	Err              error     // this item's failure (the request's, if it failed as a whole)
}

// Accepted reports whether Wix took the item.
func (i Item) Accepted() bool { return i.Err == nil }

type entityRule struct {
	times int // failures left; negative: always
	err   error
}

// NewGateway returns a gateway that accepts everything and stamps requests
// with clock's time (the wall clock if clock is nil).
func NewGateway(clock application.Clock) *Gateway {
	if clock == nil {
		clock = application.SystemClock{}
	}
	return &Gateway{clock: clock, entity: map[string]*entityRule{}}
}

var _ application.Gateway = (*Gateway)(nil)

// Status returns the error Wix answers with an HTTP status: permanent or
// retryable as application.PermanentStatus says.
func Status(status int) *application.GatewayError {
	return &application.GatewayError{
		Status:    status,
		Code:      http.StatusText(status),
		Message:   fmt.Sprintf("fake gateway answered %d", status),
		Permanent: application.PermanentStatus(status),
	}
}

// TooManyRequests returns a 429 with a Retry-After.
func TooManyRequests(retryAfter time.Duration) *application.GatewayError {
	e := Status(http.StatusTooManyRequests)
	e.RetryAfter = retryAfter
	return e
}

// ItemError returns the error Wix reports for one item inside an HTTP 200
// (Status 0): permanent or not as asked.
func ItemError(code string, permanent bool) *application.GatewayError {
	return &application.GatewayError{Code: code, Message: "fake gateway refused the item", Permanent: permanent}
}

// FailRequests makes the next n requests fail as a whole with err.
func (g *Gateway) FailRequests(n int, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for range n {
		g.failNext = append(g.failNext, err)
	}
}

// FailEntity makes the item of externalEntityID fail with err in its next
// times requests (negative times: always), inside otherwise accepted
// requests. A later call replaces the rule; times 0 removes it.
func (g *Gateway) FailEntity(externalEntityID string, times int, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if times == 0 {
		delete(g.entity, externalEntityID)
		return
	}
	g.entity[externalEntityID] = &entityRule{times: times, err: err}
}

// FailItems makes every item for which f returns an error fail with it
// (after the per-entity rules). f runs under the gateway's lock, so it may
// keep state without its own; nil removes the rule.
func (g *Gateway) FailItems(f func(Item) error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.itemRule = f
}

// OnRequest installs a hook that runs for every request before it is
// answered, outside the gateway's lock: it may block (to hold a request in
// flight), watch ctx, or fail the whole request by returning an error. The
// request is recorded once the hook returns. nil removes it.
func (g *Gateway) OnRequest(f func(ctx context.Context, r Request) error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.onRequest = f
}

// Report records a report request and answers it.
func (g *Gateway) Report(ctx context.Context, siteID, triggerKey string, events []application.ReportEvent) ([]error, error) {
	items := make([]Item, len(events))
	for i, e := range events {
		items[i] = Item{ExternalEntityID: e.ExternalEntityID, IdempotencyKey: e.IdempotencyKey,
			Payload: append(json.RawMessage(nil), e.Payload...)}
	}
	return g.handle(ctx, siteID, application.KindReport, triggerKey, items)
}

// Cancel records a cancel request and answers it.
func (g *Gateway) Cancel(ctx context.Context, siteID, triggerKey string, externalEntityIDs []string) ([]error, error) {
	items := make([]Item, len(externalEntityIDs))
	for i, id := range externalEntityIDs {
		items[i] = Item{ExternalEntityID: id}
	}
	return g.handle(ctx, siteID, application.KindCancel, triggerKey, items)
}

func (g *Gateway) handle(ctx context.Context, siteID string, kind application.CallKind, triggerKey string, items []Item) ([]error, error) {
	if len(items) == 0 || len(items) > application.MaxBatch {
		return nil, &application.GatewayError{Status: http.StatusBadRequest, Permanent: true,
			Message: fmt.Sprintf("fake gateway: %d items (want 1 to %d)", len(items), application.MaxBatch)}
	}
	req := Request{SiteID: siteID, Kind: kind, TriggerKey: triggerKey, Items: items, At: g.clock.Now()}
	for i := range req.Items {
		it := &req.Items[i]
		it.SiteID, it.Kind, it.TriggerKey, it.At = siteID, kind, triggerKey, req.At
	}
	g.mu.Lock()
	hook := g.onRequest
	g.mu.Unlock()
	var hookErr error
	if hook != nil {
		hookErr = hook(ctx, req)
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	req.N = len(g.requests) + 1
	switch {
	case hookErr != nil:
		req.Err = hookErr
	case ctx.Err() != nil:
		req.Err = ctx.Err()
	case len(g.failNext) > 0:
		req.Err = g.failNext[0]
		g.failNext = g.failNext[1:]
	}
	results := make([]error, len(items))
	for i := range req.Items {
		it := &req.Items[i]
		it.Request = req.N
		if req.Err != nil {
			it.Err = req.Err
			continue
		}
		if r := g.entity[it.ExternalEntityID]; r != nil {
			it.Err = r.err
			if r.times > 0 {
				r.times--
				if r.times == 0 {
					delete(g.entity, it.ExternalEntityID)
				}
			}
		} else if g.itemRule != nil {
			it.Err = g.itemRule(*it)
		}
		results[i] = it.Err
	}
	g.requests = append(g.requests, req)
	if req.Err != nil {
		return nil, req.Err
	}
	return results, nil
}

// Requests returns a copy of the requests received, in arrival order.
func (g *Gateway) Requests() []Request {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]Request, len(g.requests))
	for i, r := range g.requests {
		r.Items = append([]Item(nil), r.Items...)
		out[i] = r
	}
	return out
}

// RequestCount returns how many requests arrived.
func (g *Gateway) RequestCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.requests)
}

// Items returns every item received, accepted or not, in arrival order.
func (g *Gateway) Items() []Item {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []Item
	for _, r := range g.requests {
		out = append(out, r.Items...)
	}
	return out
}

// Entity returns the items received for one entity of a site, in arrival
// order.
func (g *Gateway) Entity(siteID, externalEntityID string) []Item {
	var out []Item
	for _, it := range g.Items() {
		if it.SiteID == siteID && it.ExternalEntityID == externalEntityID {
			out = append(out, it)
		}
	}
	return out
}

// Reset forgets the requests and every scripted failure and hook.
func (g *Gateway) Reset() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.requests, g.failNext, g.itemRule, g.onRequest = nil, nil, nil, nil
	g.entity = map[string]*entityRule{}
}

// VerifyOrder checks the items received against the outbox calls that asked
// for them: for every ordering key, each item must match a call of that key
// (same kind and trigger key; for a report, its idempotency key is the
// call's ID), and the calls matched must never go back in Seq. An item may
// repeat the call just matched (a retry, or a redelivery after a crash), but
// once a later call of the key has arrived, no earlier one may. Items of
// entities that no call names are errors too. calls may be in any order and
// may include calls never sent.
func (g *Gateway) VerifyOrder(calls []application.Call) error {
	byKey := map[string][]application.Call{}
	for _, c := range calls {
		byKey[c.OrderingKey] = append(byKey[c.OrderingKey], c)
	}
	for _, cs := range byKey {
		sort.Slice(cs, func(i, j int) bool { return cs[i].Seq < cs[j].Seq })
	}
	pos := map[string]int{} // per key, the index of the last call matched
	for _, it := range g.Items() {
		key := application.OrderingKey(it.SiteID, it.ExternalEntityID)
		cs := byKey[key]
		if len(cs) == 0 {
			return fmt.Errorf("request %d: %s %s for %s matches no call", it.Request, it.Kind, it.TriggerKey, key)
		}
		i := pos[key]
		for i < len(cs) && !matches(cs[i], it) {
			i++
		}
		if i == len(cs) {
			return fmt.Errorf("request %d: %s %s for %s (key %q) is out of order or matches no call at or after seq %d",
				it.Request, it.Kind, it.TriggerKey, key, it.IdempotencyKey, cs[pos[key]].Seq)
		}
		pos[key] = i
	}
	return nil
}

func matches(c application.Call, it Item) bool {
	if c.Kind != it.Kind || c.TriggerKey != it.TriggerKey {
		return false
	}
	return c.Kind != application.KindReport || c.ID == it.IdempotencyKey
}
