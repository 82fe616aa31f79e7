package fake_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/fake"
	"github.com/bookable/lifecycle/application/gatewaytest"
)

// TestGatewayContract runs the gateway port's contract suite against the
// recording fake, as every adapter of the port runs it. The fake accepts
// whatever it is not scripted to refuse, so the harness scripts Wix's own
// refusals with the fake's hooks (an unknown trigger, a scheduled report
// without a future date-time) and reads the live events from what the fake
// accepted, by Wix's two rules: a report's idempotency key counts once per
// site, and a cancel removes the earlier events of its trigger and entity.
func TestGatewayContract(t *testing.T) {
	gatewaytest.Run(t, func(t *testing.T) gatewaytest.Harness {
		clock := fake.NewClock(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
		w := &wix{gw: fake.NewGateway(clock), clock: clock}
		w.gw.OnRequest(w.refuse)
		w.gw.FailItems(w.refuseItem)
		return gatewaytest.Harness{Gateway: w.gw, Now: clock.Now, LiveEvents: w.live, Inject: w.inject}
	})
}

// errDropped stands for a connection lost without an answer: a transport
// error, not a *application.GatewayError.
var errDropped = errors.New("fake wix: connection dropped")

// wix is the Wix side of one contract case, over one fake gateway.
type wix struct {
	gw    *fake.Gateway
	clock *fake.Clock

	mu         sync.Mutex
	dropAfter  bool         // the next request is applied, then its answer lost
	appliedReq map[int]bool // requests applied though their answer was lost
}

// refuse answers what Wix refuses as a whole request: a trigger that is not
// registered (428), a single scheduled report without a future date-time
// (400, as the single endpoint does), and an armed drop after apply.
func (w *wix) refuse(_ context.Context, r fake.Request) error {
	switch {
	case r.TriggerKey != gatewaytest.RealTimeKey && r.TriggerKey != gatewaytest.ScheduledKey:
		return fake.Status(428)
	case len(r.Items) == 1 && !w.onTime(r.Items[0]):
		return fake.Status(400)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dropAfter {
		w.dropAfter = false
		if w.appliedReq == nil {
			w.appliedReq = map[int]bool{}
		}
		w.appliedReq[w.gw.RequestCount()+1] = true // the cases send one request at a time
		return errDropped
	}
	return nil
}

// refuseItem fails the items of a bulk request that Wix refuses one by one.
func (w *wix) refuseItem(it fake.Item) error {
	if !w.onTime(it) {
		return fake.ItemError("INVALID_ARGUMENT", true)
	}
	return nil
}

// onTime reports whether a report to the scheduled trigger carries a future
// date-time; every other item is on time.
func (w *wix) onTime(it fake.Item) bool {
	if it.Kind != application.KindReport || it.TriggerKey != gatewaytest.ScheduledKey {
		return true
	}
	var p map[string]any
	if err := json.Unmarshal(it.Payload, &p); err != nil {
		return false
	}
	s, _ := p[gatewaytest.DateTimeField].(string)
	at, err := time.Parse(time.RFC3339, s)
	return err == nil && at.After(w.clock.Now())
}

func (w *wix) inject(f gatewaytest.Fault) {
	switch {
	case f.ItemCode != "":
		// The suite's transient code is UNAVAILABLE; its others are permanent.
		w.gw.FailEntity(f.EntityID, 1, fake.ItemError(f.ItemCode, f.ItemCode != "UNAVAILABLE"))
	case f.Drop && f.AfterApply:
		w.mu.Lock()
		w.dropAfter = true
		w.mu.Unlock()
	case f.Drop:
		w.gw.FailRequests(1, errDropped)
	case f.Status == 429:
		w.gw.FailRequests(1, fake.TooManyRequests(f.RetryAfter))
	default:
		w.gw.FailRequests(1, fake.Status(f.Status))
	}
}

// live replays what the gateway accepted, in arrival order, by Wix's rules.
func (w *wix) live(siteID string) []gatewaytest.Event {
	w.mu.Lock()
	applied := w.appliedReq
	w.mu.Unlock()
	type key struct{ site, idem string }
	seen := map[key]bool{}
	var out []gatewaytest.Event
	for _, it := range w.gw.Items() {
		if it.SiteID != siteID || !(it.Accepted() || applied[it.Request]) {
			continue
		}
		if it.Kind == application.KindCancel {
			kept := out[:0]
			for _, e := range out {
				if e.TriggerKey != it.TriggerKey || e.ExternalEntityID != it.ExternalEntityID {
					kept = append(kept, e)
				}
			}
			out = kept
			continue
		}
		if k := (key{it.SiteID, it.IdempotencyKey}); !seen[k] {
			seen[k] = true
			out = append(out, gatewaytest.Event{TriggerKey: it.TriggerKey, ExternalEntityID: it.ExternalEntityID, Payload: it.Payload})
		}
	}
	return out
}
