package wixsim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bookable/lifecycle/adapters/wixsim"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/fake"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	siteA = "a0000000-0000-4000-8000-00000000000a"
	siteB = "b0000000-0000-4000-8000-00000000000b"
)

var t0 = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

func id(n int) string { return fmt.Sprintf("e0000000-0000-4000-8000-%012d", n) }

// newSim returns a simulator on a fake clock with the default catalog's
// triggers registered.
func newSim(t *testing.T, opts ...wixsim.Option) (*wixsim.Sim, *fake.Clock) {
	t.Helper()
	clock := fake.NewClock(t0)
	sim := wixsim.New(clock, opts...)
	require.NoError(t, sim.RegisterTriggers(application.DefaultCatalog()))
	return sim, clock
}

func apptPayload(appt string, start time.Time) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"appointmentId": appt, "startsAt": start.Format(time.RFC3339)})
	return b
}

func mustReport(t *testing.T, sim *wixsim.Sim, siteID, trigger string, evs ...application.ReportEvent) {
	t.Helper()
	errs, err := sim.Report(context.Background(), siteID, trigger, evs)
	require.NoError(t, err)
	for i, e := range errs {
		require.NoError(t, e, "item %d", i)
	}
}

func mustCancel(t *testing.T, sim *wixsim.Sim, siteID, trigger string, ids ...string) {
	t.Helper()
	errs, err := sim.Cancel(context.Background(), siteID, trigger, ids)
	require.NoError(t, err)
	for i, e := range errs {
		require.NoError(t, e, "item %d", i)
	}
}

type act struct {
	name  string
	state wixsim.ActivationState
	at    time.Time
}

func acts(as []wixsim.Activation) []act {
	var out []act
	for _, a := range as {
		out = append(out, act{a.Automation, a.State, a.SettledAt})
	}
	return out
}

func TestRegisterTriggersFromCatalog(t *testing.T) {
	sim, _ := newSim(t)
	for _, tr := range application.DefaultCatalog().Enabled() {
		require.NoError(t, sim.AddAutomation(siteA, wixsim.Automation{Name: "on " + tr.Key, TriggerKey: tr.Key}), tr.Key)
	}
	err := sim.AddAutomation(siteA, wixsim.Automation{Name: "x", TriggerKey: "appointment_no_show"})
	assert.ErrorIs(t, err, wixsim.ErrUnknownTrigger, "disabled triggers are not registered")
	err = sim.AddAutomation(siteA, wixsim.Automation{Name: "x", TriggerKey: "appointment_scheduled", Offset: -time.Hour})
	assert.ErrorIs(t, err, wixsim.ErrInvalidAutomation, "a real-time trigger cannot run before its report")
	err = sim.AddAutomation(siteA, wixsim.Automation{TriggerKey: "appointment_scheduled"})
	assert.ErrorIs(t, err, wixsim.ErrInvalidAutomation)

	assert.Error(t, sim.RegisterTrigger("Bad Key", application.RealTime, ""))
	assert.Error(t, sim.RegisterTrigger("sched", application.Scheduled, ""))
	assert.Error(t, sim.RegisterTrigger("rt", application.RealTime, "startsAt"))
}

func TestScheduledAutomationsRunAtTheirOffset(t *testing.T) {
	sim, clock := newSim(t)
	require.NoError(t, sim.AddAutomation(siteA, wixsim.Automation{Name: "reminder 1 day before", TriggerKey: "appointment_starting", Offset: -24 * time.Hour}))
	require.NoError(t, sim.AddAutomation(siteA, wixsim.Automation{Name: "at start", TriggerKey: "appointment_starting"}))
	require.NoError(t, sim.AddAutomation(siteA, wixsim.Automation{Name: "follow-up", TriggerKey: "appointment_scheduled", Offset: 2 * time.Hour}))

	start := t0.Add(72 * time.Hour)
	p := apptPayload(id(1), start)
	mustReport(t, sim, siteA, "appointment_scheduled", application.ReportEvent{ExternalEntityID: id(1), Payload: p, IdempotencyKey: "k1"})
	mustReport(t, sim, siteA, "appointment_starting", application.ReportEvent{ExternalEntityID: id(1), Payload: p, IdempotencyKey: "k2"})
	assert.Len(t, sim.Activations(siteA, wixsim.ActivationPending), 3)

	ran := sim.Advance(2 * time.Hour)
	assert.Equal(t, []act{{"follow-up", wixsim.ActivationRan, t0.Add(2 * time.Hour)}}, acts(ran))

	clock.Set(start.Add(-24 * time.Hour))
	assert.Equal(t, []act{{"reminder 1 day before", wixsim.ActivationRan, start.Add(-24 * time.Hour)}}, acts(sim.RunDue()))
	assert.Empty(t, sim.RunDue(), "nothing runs twice")

	clock.Set(start.Add(time.Hour))
	ranAll := sim.Ran(siteA)
	require.Len(t, ranAll, 3)
	assert.Equal(t, "at start", ranAll[2].Automation)
	assert.Equal(t, start, ranAll[2].SettledAt)
	assert.Equal(t, id(1), ranAll[2].ExternalEntityID)
	assert.JSONEq(t, string(p), string(ranAll[2].Payload))
	assert.Empty(t, sim.Activations(siteB), "automations are per site")
}

func TestCancelStopsPendingActionsOnly(t *testing.T) {
	sim, _ := newSim(t)
	require.NoError(t, sim.AddAutomation(siteA, wixsim.Automation{Name: "welcome", TriggerKey: "appointment_scheduled"}))
	require.NoError(t, sim.AddAutomation(siteA, wixsim.Automation{Name: "follow-up", TriggerKey: "appointment_scheduled", Offset: 2 * time.Hour}))
	require.NoError(t, sim.AddAutomation(siteA, wixsim.Automation{Name: "reminder", TriggerKey: "appointment_starting", Offset: -24 * time.Hour}))

	start := t0.Add(72 * time.Hour)
	p := apptPayload(id(1), start)
	mustReport(t, sim, siteA, "appointment_scheduled", application.ReportEvent{ExternalEntityID: id(1), Payload: p})
	mustReport(t, sim, siteA, "appointment_starting", application.ReportEvent{ExternalEntityID: id(1), Payload: p})
	sim.Advance(time.Hour)
	mustCancel(t, sim, siteA, "appointment_scheduled", id(1))
	mustCancel(t, sim, siteA, "appointment_starting", id(1))
	sim.Advance(72 * time.Hour) // past the original start

	canceledAt := t0.Add(time.Hour)
	assert.Equal(t, []act{
		{"welcome", wixsim.ActivationRan, t0}, // ran when reported, before the cancel
		{"follow-up", wixsim.ActivationCanceled, canceledAt},
		{"reminder", wixsim.ActivationCanceled, canceledAt},
	}, acts(sim.Activations(siteA)))
	assert.Empty(t, sim.LiveEvents(siteA))
	assert.Len(t, sim.Events(siteA), 2)

	// Rescheduled: a new report after the cancel lives and runs once.
	newStart := start.Add(7 * 24 * time.Hour)
	mustReport(t, sim, siteA, "appointment_starting", application.ReportEvent{ExternalEntityID: id(1), Payload: apptPayload(id(1), newStart)})
	sim.Advance(30 * 24 * time.Hour)
	reminders := 0
	for _, a := range sim.Ran(siteA) {
		if a.Automation == "reminder" {
			reminders++
			assert.Equal(t, newStart.Add(-24*time.Hour), a.SettledAt)
		}
	}
	assert.Equal(t, 1, reminders)
}

func TestPassedOffsetsAreSkippedAndAutomationsAreNotRetroactive(t *testing.T) {
	sim, _ := newSim(t)
	mustReport(t, sim, siteA, "appointment_scheduled", application.ReportEvent{ExternalEntityID: id(1)})
	require.NoError(t, sim.AddAutomation(siteA, wixsim.Automation{Name: "reminder", TriggerKey: "appointment_starting", Offset: -24 * time.Hour}))
	require.NoError(t, sim.AddAutomation(siteA, wixsim.Automation{Name: "late welcome", TriggerKey: "appointment_scheduled"}))

	mustReport(t, sim, siteA, "appointment_starting", application.ReportEvent{ExternalEntityID: id(2), Payload: apptPayload(id(2), t0.Add(2*time.Hour))})
	sim.Advance(48 * time.Hour)
	assert.Equal(t, []act{{"reminder", wixsim.ActivationSkipped, t0}}, acts(sim.Activations(siteA)),
		"a reminder a day before an event two hours away never runs; the earlier report gets no late welcome")
}

func TestIdempotencyKeysExpire(t *testing.T) {
	sim, clock := newSim(t)
	e := application.ReportEvent{ExternalEntityID: id(1), IdempotencyKey: "k"}
	mustReport(t, sim, siteA, "appointment_scheduled", e)
	clock.Advance(wixsim.DefaultIdempotencyTTL - time.Second)
	mustReport(t, sim, siteA, "appointment_scheduled", e)
	assert.Len(t, sim.LiveEvents(siteA), 1)
	mustReport(t, sim, siteA, "appointment_canceled", e)
	assert.Len(t, sim.LiveEvents(siteA), 2, "a key is scoped to its trigger")
	clock.Advance(2 * time.Second)
	mustReport(t, sim, siteA, "appointment_scheduled", e)
	assert.Len(t, sim.LiveEvents(siteA), 3, "after the TTL the key is forgotten")
}

func TestFaultsMatchAndExpire(t *testing.T) {
	sim, _ := newSim(t)
	ctx := context.Background()
	sim.FailNextFor(id(2), 2, 503)
	sim.Inject(wixsim.Fault{Site: siteB, Status: 500})

	mustReport(t, sim, siteA, "appointment_scheduled", application.ReportEvent{ExternalEntityID: id(1)})
	for range 2 {
		_, err := sim.Cancel(ctx, siteA, "appointment_scheduled", []string{id(1), id(2)})
		var ge *application.GatewayError
		require.ErrorAs(t, err, &ge)
		assert.Equal(t, 503, ge.Status)
	}
	mustCancel(t, sim, siteA, "appointment_scheduled", id(1), id(2))
	mustReport(t, sim, siteA, "appointment_scheduled", application.ReportEvent{ExternalEntityID: id(3)})

	_, err := sim.Report(ctx, siteB, "appointment_scheduled", []application.ReportEvent{{ExternalEntityID: id(3)}})
	assert.Error(t, err, "the site-scoped fault waited for its site")

	sim.RateLimitNext(1, 1500*time.Millisecond)
	_, err = sim.Report(ctx, siteA, "appointment_scheduled", []application.ReportEvent{{ExternalEntityID: id(4)}})
	_, permanent, retryAfter := application.Classify(err)
	assert.False(t, permanent)
	assert.Equal(t, 2*time.Second, retryAfter, "Retry-After carries whole seconds, rounded up")

	sim.DropNext(1)
	_, err = sim.Report(ctx, siteA, "appointment_scheduled", []application.ReportEvent{{ExternalEntityID: id(4)}})
	assert.ErrorIs(t, err, wixsim.ErrConnectionDropped)

	sim.FailItem(id(5), "INTERNAL", 1)
	mustReport(t, sim, siteA, "appointment_scheduled", application.ReportEvent{ExternalEntityID: id(5)}) // single calls ignore item faults
	errs, err := sim.Report(ctx, siteA, "appointment_scheduled", []application.ReportEvent{{ExternalEntityID: id(5)}, {ExternalEntityID: id(6)}})
	require.NoError(t, err)
	assert.Error(t, errs[0])
	assert.NoError(t, errs[1])

	sim.FailNext(3, 502)
	sim.ClearFaults()
	mustReport(t, sim, siteA, "appointment_scheduled", application.ReportEvent{ExternalEntityID: id(7)})

	assert.Panics(t, func() { sim.Inject(wixsim.Fault{ItemCode: "INTERNAL"}) })
	assert.Panics(t, func() { sim.Inject(wixsim.Fault{Status: 200}) })
}

func TestLatencyHonoursContext(t *testing.T) {
	sim, _ := newSim(t)
	sim.SetLatency(time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := sim.Report(ctx, siteA, "appointment_scheduled", []application.ReportEvent{{ExternalEntityID: id(1)}})
	assert.ErrorIs(t, err, context.Canceled)

	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = sim.Report(ctx, siteA, "appointment_scheduled", []application.ReportEvent{{ExternalEntityID: id(1)}})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Empty(t, sim.LiveEvents(siteA))
}

func TestRequestLog(t *testing.T) {
	sim, _ := newSim(t)
	mustReport(t, sim, siteA, "appointment_scheduled",
		application.ReportEvent{ExternalEntityID: id(1), IdempotencyKey: "k1"},
		application.ReportEvent{ExternalEntityID: id(2), IdempotencyKey: "k2"})
	_, err := sim.Cancel(context.Background(), siteB, "nope", []string{id(1)})
	require.Error(t, err)

	reqs := sim.Requests("")
	require.Len(t, reqs, 2)
	assert.Equal(t, wixsim.EndpointBulkReport, reqs[0].Endpoint)
	assert.Equal(t, siteA, reqs[0].Site)
	assert.Equal(t, "appointment_scheduled", reqs[0].TriggerKey)
	assert.Equal(t, []string{id(1), id(2)}, reqs[0].ExternalEntityIDs)
	assert.Equal(t, []string{"k1", "k2"}, reqs[0].IdempotencyKeys)
	assert.Equal(t, 200, reqs[0].Status)
	assert.Equal(t, t0, reqs[0].At)
	assert.Equal(t, wixsim.EndpointCancel, reqs[1].Endpoint)
	assert.Equal(t, 428, reqs[1].Status)
	assert.Equal(t, 1, sim.RequestCount(siteA))
	assert.Equal(t, 1, sim.RequestCount(siteB))
	assert.Len(t, sim.Requests(siteB), 1)
}

func TestConcurrentUse(t *testing.T) {
	sim, _ := newSim(t)
	require.NoError(t, sim.AddAutomation(siteA, wixsim.Automation{Name: "welcome", TriggerKey: "appointment_scheduled", Offset: time.Minute}))
	const workers, perWorker = 8, 40
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for i := range perWorker {
				e := id(w*1000 + i)
				_, _ = sim.Report(ctx, siteA, "appointment_scheduled", []application.ReportEvent{{ExternalEntityID: e, IdempotencyKey: e}})
				_, _ = sim.Report(ctx, siteA, "appointment_scheduled", []application.ReportEvent{{ExternalEntityID: e, IdempotencyKey: e}})
				if i%2 == 0 {
					_, _ = sim.Cancel(ctx, siteA, "appointment_scheduled", []string{e})
				}
				_ = sim.Activations(siteA)
				_ = sim.RunDue()
			}
		}()
	}
	wg.Wait()
	assert.Len(t, sim.LiveEvents(siteA), workers*perWorker/2)
	assert.Len(t, sim.Events(siteA), workers*perWorker, "no duplicate from the repeated keys")
	assert.Len(t, sim.Activations(siteA, wixsim.ActivationCanceled), workers*perWorker/2)
	assert.Equal(t, workers*(2*perWorker+perWorker/2), sim.RequestCount(siteA))
}

func TestRateLimitPerSite(t *testing.T) {
	sim, clock := newSim(t, wixsim.WithRateLimit(3, time.Minute))
	ctx := context.Background()
	reportOne := func(siteID string, n int) error {
		_, err := sim.Report(ctx, siteID, "appointment_scheduled", []application.ReportEvent{{ExternalEntityID: id(n)}})
		return err
	}
	for i := range 3 {
		require.NoError(t, reportOne(siteA, i))
		clock.Advance(10 * time.Second)
	}
	err := reportOne(siteA, 3)
	var ge *application.GatewayError
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, 429, ge.Status)
	assert.False(t, ge.Permanent)
	assert.Equal(t, 30*time.Second, ge.RetryAfter, "the oldest request leaves the window in 30s")
	require.NoError(t, reportOne(siteB, 4), "another site has its own budget")
	assert.Len(t, sim.LiveEvents(siteA), 3, "a throttled request changes nothing")

	clock.Advance(30 * time.Second)
	require.NoError(t, reportOne(siteA, 3))
}

func BenchmarkReportInProcess(b *testing.B) {
	sim := wixsim.New(fake.NewClock(t0))
	require.NoError(b, sim.RegisterTriggers(application.DefaultCatalog()))
	ctx := context.Background()
	n := 0
	for b.Loop() {
		n++
		e := id(n)
		if _, err := sim.Report(ctx, siteA, "appointment_scheduled", []application.ReportEvent{{ExternalEntityID: e, IdempotencyKey: e}}); err != nil {
			b.Fatal(err)
		}
	}
}
