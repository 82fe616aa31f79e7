// Package gatewaytest is the contract suite every adapter of the
// application.Gateway port passes: the Wix REST client (against the
// simulator over HTTP) and the simulator in-process.
//
// The suite drives the gateway under test and checks what happened on the
// Wix side through a Harness, which also injects the faults it needs. It
// imports no adapter: the harness is built by the adapter's tests.
package gatewaytest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bookable/lifecycle/application"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The triggers the suite reports to. A harness must have them registered
// on the Wix side before it returns: RealTimeKey as a real-time trigger and
// ScheduledKey as a scheduled trigger whose date-time property is
// DateTimeField. UnknownKey must not be registered.
const (
	RealTimeKey   = "gatewaytest_realtime"
	ScheduledKey  = "gatewaytest_scheduled"
	DateTimeField = "startsAt"
	UnknownKey    = "gatewaytest_unknown"
)

// Event is a live event as the Wix side holds it.
type Event struct {
	TriggerKey       string
	ExternalEntityID string
	Payload          json.RawMessage
}

// Fault is a failure the harness makes the Wix side answer to the next
// matching event request (once).
type Fault struct {
	Status     int           // answer this HTTP status instead of processing
	RetryAfter time.Duration // with Status: the Retry-After to send (whole seconds)
	Drop       bool          // drop the connection without an answer
	AfterApply bool          // with Drop: apply the request first, then drop
	// ItemCode makes the item for EntityID fail inside the next bulk
	// response that names it, with this application error code.
	ItemCode string
	EntityID string
}

// Harness is one fresh gateway under test and a view of its Wix side.
type Harness struct {
	// Gateway is the adapter under test.
	Gateway application.Gateway
	// Now is the Wix side's clock, to build future and past date-times.
	Now func() time.Time
	// LiveEvents returns a site's live events (reported, not canceled) in
	// report order.
	LiveEvents func(siteID string) []Event
	// Inject arms a fault on the Wix side.
	Inject func(Fault)
}

// Sites the suite uses.
const (
	SiteA = "a1a1a1a1-0000-4000-8000-000000000001"
	SiteB = "b2b2b2b2-0000-4000-8000-000000000002"
)

// Run runs the contract suite. setup is called once per case and must
// return a harness with no events, faults or state left from another case.
func Run(t *testing.T, setup func(t *testing.T) Harness) {
	cases := []struct {
		name string
		run  func(t *testing.T, h Harness)
	}{
		{"single report", testSingleReport},
		{"bulk report with per-item results", testBulkReport},
		{"idempotent retry is not duplicated", testIdempotentRetry},
		{"cancel removes earlier live events of key and entity only", testCancel},
		{"bulk cancel", testBulkCancel},
		{"unknown trigger is refused permanently", testUnknownTrigger},
		{"scheduled report needs a future date-time", testScheduled},
		{"429 is retryable with Retry-After", testRateLimited},
		{"5xx is retryable", testServerErrors},
		{"dropped connection is a retryable transport error", testDropped},
		{"per-item bulk failure surfaces only on that item", testItemFailure},
		{"sites are isolated", testTenancy},
		{"empty and oversized batches are refused", testBatchLimits},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := setup(t)
			require.NotNil(t, h.Gateway, "harness without a gateway")
			require.NotNil(t, h.Now, "harness without a clock")
			require.NotNil(t, h.LiveEvents, "harness without LiveEvents")
			require.NotNil(t, h.Inject, "harness without Inject")
			c.run(t, h)
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func newID() string { return uuid.NewString() }

func event(entityID string, fields map[string]any) application.ReportEvent {
	p := map[string]any{"entityId": entityID}
	for k, v := range fields {
		p[k] = v
	}
	b, _ := json.Marshal(p) // a map of strings always marshals
	return application.ReportEvent{ExternalEntityID: entityID, Payload: b, IdempotencyKey: newID()}
}

func scheduled(entityID string, at time.Time) application.ReportEvent {
	return event(entityID, map[string]any{DateTimeField: at.UTC().Format(time.RFC3339)})
}

// requireAllOK fails unless the request and every item succeeded.
func requireAllOK(t *testing.T, n int, errs []error, err error) {
	t.Helper()
	require.NoError(t, err)
	require.Len(t, errs, n)
	for i, e := range errs {
		require.NoError(t, e, "item %d", i)
	}
}

// live returns "triggerKey/entityID" of a site's live events, in order.
func live(h Harness, siteID string) []string {
	var out []string
	for _, e := range h.LiveEvents(siteID) {
		out = append(out, e.TriggerKey+"/"+e.ExternalEntityID)
	}
	return out
}

func key(trigger, entity string) string { return trigger + "/" + entity }

// gatewayError requires err to be a *application.GatewayError and returns it.
func gatewayError(t *testing.T, err error) *application.GatewayError {
	t.Helper()
	var ge *application.GatewayError
	require.True(t, errors.As(err, &ge), "want *application.GatewayError, got %T: %v", err, err)
	return ge
}

func testSingleReport(t *testing.T, h Harness) {
	id := newID()
	ev := event(id, map[string]any{"title": "Haircut"})
	errs, err := h.Gateway.Report(ctx(t), SiteA, RealTimeKey, []application.ReportEvent{ev})
	requireAllOK(t, 1, errs, err)

	got := h.LiveEvents(SiteA)
	require.Len(t, got, 1)
	assert.Equal(t, RealTimeKey, got[0].TriggerKey)
	assert.Equal(t, id, got[0].ExternalEntityID)
	assert.JSONEq(t, string(ev.Payload), string(got[0].Payload))
}

func testBulkReport(t *testing.T, h Harness) {
	ids := []string{newID(), newID(), newID()}
	var evs []application.ReportEvent
	for _, id := range ids {
		evs = append(evs, event(id, nil))
	}
	errs, err := h.Gateway.Report(ctx(t), SiteA, RealTimeKey, evs)
	requireAllOK(t, 3, errs, err)
	assert.Equal(t, []string{key(RealTimeKey, ids[0]), key(RealTimeKey, ids[1]), key(RealTimeKey, ids[2])}, live(h, SiteA))

	// A full batch of MaxBatch goes through in one call.
	evs = nil
	for range application.MaxBatch {
		evs = append(evs, event(newID(), nil))
	}
	errs, err = h.Gateway.Report(ctx(t), SiteA, RealTimeKey, evs)
	requireAllOK(t, application.MaxBatch, errs, err)
	assert.Len(t, h.LiveEvents(SiteA), 3+application.MaxBatch)
}

func testIdempotentRetry(t *testing.T, h Harness) {
	id := newID()
	ev := event(id, nil)
	for range 2 {
		errs, err := h.Gateway.Report(ctx(t), SiteA, RealTimeKey, []application.ReportEvent{ev})
		requireAllOK(t, 1, errs, err)
	}
	assert.Equal(t, []string{key(RealTimeKey, id)}, live(h, SiteA), "the same idempotency key twice is one event")

	// The answer is lost after Wix applied the report; the retry is harmless.
	other := event(newID(), nil)
	h.Inject(Fault{Drop: true, AfterApply: true})
	_, err := h.Gateway.Report(ctx(t), SiteA, RealTimeKey, []application.ReportEvent{other})
	require.Error(t, err)
	_, permanent, _ := application.Classify(err)
	assert.False(t, permanent, "a lost answer is retryable")
	errs, err := h.Gateway.Report(ctx(t), SiteA, RealTimeKey, []application.ReportEvent{other})
	requireAllOK(t, 1, errs, err)
	assert.Equal(t, []string{key(RealTimeKey, id), key(RealTimeKey, other.ExternalEntityID)}, live(h, SiteA))

	// Same in a bulk report: the repeated item is accepted, not duplicated.
	third := event(newID(), nil)
	errs, err = h.Gateway.Report(ctx(t), SiteA, RealTimeKey, []application.ReportEvent{ev, third})
	requireAllOK(t, 2, errs, err)
	assert.Len(t, h.LiveEvents(SiteA), 3)
}

func testCancel(t *testing.T, h Harness) {
	c := ctx(t)
	e1, e2 := newID(), newID()
	future := h.Now().Add(48 * time.Hour)
	for _, r := range []struct {
		trigger string
		ev      application.ReportEvent
	}{
		{RealTimeKey, event(e1, nil)},
		{RealTimeKey, event(e1, nil)}, // a second event of the same key pair
		{RealTimeKey, event(e2, nil)},
		{ScheduledKey, scheduled(e1, future)},
	} {
		errs, err := h.Gateway.Report(c, SiteA, r.trigger, []application.ReportEvent{r.ev})
		requireAllOK(t, 1, errs, err)
	}

	errs, err := h.Gateway.Cancel(c, SiteA, RealTimeKey, []string{e1})
	requireAllOK(t, 1, errs, err)
	assert.Equal(t, []string{key(RealTimeKey, e2), key(ScheduledKey, e1)}, live(h, SiteA),
		"both earlier events of the key pair are gone; other entities and triggers stay")

	// A report after the cancel is not touched by it.
	errs, err = h.Gateway.Report(c, SiteA, RealTimeKey, []application.ReportEvent{event(e1, nil)})
	requireAllOK(t, 1, errs, err)
	assert.Equal(t, []string{key(RealTimeKey, e2), key(ScheduledKey, e1), key(RealTimeKey, e1)}, live(h, SiteA))

	// Canceling what has no live event succeeds and changes nothing.
	errs, err = h.Gateway.Cancel(c, SiteA, ScheduledKey, []string{newID()})
	requireAllOK(t, 1, errs, err)
	assert.Len(t, h.LiveEvents(SiteA), 3)
}

func testBulkCancel(t *testing.T, h Harness) {
	c := ctx(t)
	ids := []string{newID(), newID(), newID()}
	errs, err := h.Gateway.Report(c, SiteA, RealTimeKey, []application.ReportEvent{event(ids[0], nil), event(ids[1], nil), event(ids[2], nil)})
	requireAllOK(t, 3, errs, err)

	errs, err = h.Gateway.Cancel(c, SiteA, RealTimeKey, []string{ids[0], ids[2]})
	requireAllOK(t, 2, errs, err)
	assert.Equal(t, []string{key(RealTimeKey, ids[1])}, live(h, SiteA))
}

func testUnknownTrigger(t *testing.T, h Harness) {
	c := ctx(t)
	for _, n := range []int{1, 2} {
		var evs []application.ReportEvent
		for range n {
			evs = append(evs, event(newID(), nil))
		}
		errs, err := h.Gateway.Report(c, SiteA, UnknownKey, evs)
		require.Error(t, err, "%d events", n)
		assert.Nil(t, errs)
		ge := gatewayError(t, err)
		assert.Equal(t, 428, ge.Status)
		assert.True(t, ge.Permanent)
		_, permanent, _ := application.Classify(err)
		assert.True(t, permanent)
	}
	assert.Empty(t, h.LiveEvents(SiteA))
}

func testScheduled(t *testing.T, h Harness) {
	c := ctx(t)
	now := h.Now()
	for name, ev := range map[string]application.ReportEvent{
		"past":    scheduled(newID(), now.Add(-time.Minute)),
		"missing": event(newID(), nil),
		"garbled": event(newID(), map[string]any{DateTimeField: "tomorrow at nine"}),
	} {
		_, err := h.Gateway.Report(c, SiteA, ScheduledKey, []application.ReportEvent{ev})
		require.Error(t, err, name)
		ge := gatewayError(t, err)
		assert.Equal(t, 400, ge.Status, name)
		assert.True(t, ge.Permanent, name)
	}
	assert.Empty(t, h.LiveEvents(SiteA))

	ok := scheduled(newID(), now.Add(24*time.Hour))
	errs, err := h.Gateway.Report(c, SiteA, ScheduledKey, []application.ReportEvent{ok})
	requireAllOK(t, 1, errs, err)

	// In a bulk report the past item alone fails, permanently.
	good, past := scheduled(newID(), now.Add(time.Hour)), scheduled(newID(), now.Add(-time.Hour))
	errs, err = h.Gateway.Report(c, SiteA, ScheduledKey, []application.ReportEvent{good, past})
	require.NoError(t, err)
	require.Len(t, errs, 2)
	assert.NoError(t, errs[0])
	require.Error(t, errs[1])
	assert.True(t, gatewayError(t, errs[1]).Permanent)
	assert.Equal(t, []string{key(ScheduledKey, ok.ExternalEntityID), key(ScheduledKey, good.ExternalEntityID)}, live(h, SiteA))
}

func testRateLimited(t *testing.T, h Harness) {
	c := ctx(t)
	ev := event(newID(), nil)
	h.Inject(Fault{Status: 429, RetryAfter: 7 * time.Second})
	errs, err := h.Gateway.Report(c, SiteA, RealTimeKey, []application.ReportEvent{ev})
	require.Error(t, err)
	assert.Nil(t, errs)
	ge := gatewayError(t, err)
	assert.Equal(t, 429, ge.Status)
	assert.False(t, ge.Permanent)
	assert.Equal(t, 7*time.Second, ge.RetryAfter)
	_, permanent, retryAfter := application.Classify(err)
	assert.False(t, permanent)
	assert.Equal(t, 7*time.Second, retryAfter)
	assert.Empty(t, h.LiveEvents(SiteA), "a throttled request changes nothing")

	errs, err = h.Gateway.Report(c, SiteA, RealTimeKey, []application.ReportEvent{ev})
	requireAllOK(t, 1, errs, err)
	assert.Len(t, h.LiveEvents(SiteA), 1)
}

func testServerErrors(t *testing.T, h Harness) {
	c := ctx(t)
	for _, status := range []int{500, 502, 503, 504} {
		h.Inject(Fault{Status: status})
		id := newID()
		_, err := h.Gateway.Cancel(c, SiteA, RealTimeKey, []string{id, newID()})
		require.Error(t, err, "HTTP %d", status)
		ge := gatewayError(t, err)
		assert.Equal(t, status, ge.Status)
		assert.False(t, ge.Permanent, "HTTP %d", status)
		_, permanent, _ := application.Classify(err)
		assert.False(t, permanent, "HTTP %d", status)
	}
}

func testDropped(t *testing.T, h Harness) {
	h.Inject(Fault{Drop: true})
	_, err := h.Gateway.Report(ctx(t), SiteA, RealTimeKey, []application.ReportEvent{event(newID(), nil)})
	require.Error(t, err)
	var ge *application.GatewayError
	assert.False(t, errors.As(err, &ge), "a dropped connection is a transport error, not a Wix answer: %v", err)
	_, permanent, _ := application.Classify(err)
	assert.False(t, permanent)
	assert.Empty(t, h.LiveEvents(SiteA))
}

func testItemFailure(t *testing.T, h Harness) {
	c := ctx(t)
	ids := []string{newID(), newID(), newID()}
	evs := []application.ReportEvent{event(ids[0], nil), event(ids[1], nil), event(ids[2], nil)}
	h.Inject(Fault{EntityID: ids[1], ItemCode: "UNAVAILABLE"})
	errs, err := h.Gateway.Report(c, SiteA, RealTimeKey, evs)
	require.NoError(t, err, "per-item failures come inside a 200")
	require.Len(t, errs, 3)
	assert.NoError(t, errs[0])
	assert.NoError(t, errs[2])
	require.Error(t, errs[1])
	ge := gatewayError(t, errs[1])
	assert.Equal(t, "UNAVAILABLE", ge.Code)
	assert.False(t, ge.Permanent, "UNAVAILABLE is transient")
	assert.Equal(t, []string{key(RealTimeKey, ids[0]), key(RealTimeKey, ids[2])}, live(h, SiteA))

	// Retrying only the failed item completes the batch, without duplicates.
	errs, err = h.Gateway.Report(c, SiteA, RealTimeKey, []application.ReportEvent{evs[1]})
	requireAllOK(t, 1, errs, err)
	assert.Len(t, h.LiveEvents(SiteA), 3)

	// A per-item failure with a non-transient code is permanent, in a bulk cancel too.
	h.Inject(Fault{EntityID: ids[2], ItemCode: "INVALID_ARGUMENT"})
	errs, err = h.Gateway.Cancel(c, SiteA, RealTimeKey, ids)
	require.NoError(t, err)
	require.Len(t, errs, 3)
	assert.NoError(t, errs[0])
	assert.NoError(t, errs[1])
	require.Error(t, errs[2])
	ge = gatewayError(t, errs[2])
	assert.Equal(t, "INVALID_ARGUMENT", ge.Code)
	assert.True(t, ge.Permanent)
	assert.Equal(t, []string{key(RealTimeKey, ids[2])}, live(h, SiteA))
}

func testTenancy(t *testing.T, h Harness) {
	c := ctx(t)
	id := newID()
	ev := event(id, nil)
	errs, err := h.Gateway.Report(c, SiteA, RealTimeKey, []application.ReportEvent{ev})
	requireAllOK(t, 1, errs, err)
	assert.Empty(t, h.LiveEvents(SiteB), "site B sees nothing of site A")

	errs, err = h.Gateway.Cancel(c, SiteB, RealTimeKey, []string{id})
	requireAllOK(t, 1, errs, err)
	assert.Equal(t, []string{key(RealTimeKey, id)}, live(h, SiteA), "a cancel on site B leaves site A alone")

	// Idempotency keys are per site too.
	errs, err = h.Gateway.Report(c, SiteB, RealTimeKey, []application.ReportEvent{ev})
	requireAllOK(t, 1, errs, err)
	assert.Equal(t, []string{key(RealTimeKey, id)}, live(h, SiteB))
	assert.Len(t, h.LiveEvents(SiteA), 1)
}

func testBatchLimits(t *testing.T, h Harness) {
	c := ctx(t)
	evs := make([]application.ReportEvent, application.MaxBatch+1)
	for i := range evs {
		evs[i] = event(newID(), nil)
	}
	for name, n := range map[string]int{"empty": 0, "oversized": application.MaxBatch + 1} {
		_, err := h.Gateway.Report(c, SiteA, RealTimeKey, evs[:n])
		require.Error(t, err, name)
		_, permanent, _ := application.Classify(err)
		assert.True(t, permanent, fmt.Sprintf("%s batch", name))
	}
	assert.Empty(t, h.LiveEvents(SiteA))
}
