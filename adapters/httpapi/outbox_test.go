package httpapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/httpapi"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/outbox"
)

// kill settles the call as Wix refusing it for good, as the relay would.
func (h *harness) kill(id string) {
	h.t.Helper()
	ctx := context.Background()
	claimed, err := h.store.Claim(ctx, outbox.ClaimRequest{Relay: "test", Now: h.clock.Now(), Limit: 100, Lease: time.Minute})
	require.NoError(h.t, err)
	var outcomes []application.Outcome
	for _, c := range claimed {
		if c.ID == id {
			outcomes = append(outcomes, application.Outcome{ID: id, Token: c.Lease.Token, State: application.StateDead, Attempted: true,
				Err: &application.CallError{Status: 400, Code: "INVALID_PAYLOAD", Message: "bad payload"}, At: h.clock.Now()})
		} else {
			outcomes = append(outcomes, application.Outcome{ID: c.ID, Token: c.Lease.Token, State: application.StatePending, NextAttemptAt: h.clock.Now(), At: h.clock.Now()})
		}
	}
	require.NoError(h.t, h.store.Settle(ctx, outcomes))
}

func TestOutboxListPagingAndFilter(t *testing.T) {
	h := newHarness(t)
	a := ok[httpapi.Appointment](t, h.do("POST", "/v1/sites/"+site+"/appointments", apptBody("", day, day+time.Hour)), 201)
	ok[httpapi.Appointment](t, h.do("POST", "/v1/sites/"+site+"/appointments/"+a.ID+"/cancel", nil), 200)
	ok[httpapi.Appointment](t, h.do("POST", "/v1/sites/"+other+"/appointments", apptBody("", day, day+time.Hour)), 201)

	all := h.apiCalls(site, 0)
	require.Len(t, all, 5, "only this site's calls")

	var paged []httpapi.Call
	after := "0"
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10)
		list := ok[httpapi.CallList](t, h.do("GET", "/v1/sites/"+site+"/outbox?limit=2&after="+after, nil), 200)
		paged = append(paged, list.Calls...)
		if list.NextAfter == nil {
			break
		}
		after = itoa(*list.NextAfter)
	}
	assert.Equal(t, all, paged)

	// The cancel came before the relay ran: the two reports of the booking
	// were superseded and will never be sent.
	superseded := ok[httpapi.CallList](t, h.do("GET", "/v1/sites/"+site+"/outbox?state=superseded", nil), 200)
	require.Len(t, superseded.Calls, 2)
	assert.Equal(t, []string{all[0].ID, all[1].ID}, []string{superseded.Calls[0].ID, superseded.Calls[1].ID})

	h.kill(all[2].ID)
	dead := ok[httpapi.CallList](t, h.do("GET", "/v1/sites/"+site+"/outbox?state=dead", nil), 200)
	require.Len(t, dead.Calls, 1)
	assert.Equal(t, all[2].ID, dead.Calls[0].ID)
	assert.Equal(t, &httpapi.CallError{Status: 400, Code: "INVALID_PAYLOAD", Message: "bad payload"}, dead.Calls[0].LastError)
	assert.Empty(t, dead.Calls[0].NextAttemptAt, "only pending calls have a next attempt")
	assert.NotEmpty(t, dead.Calls[0].SettledAt)

	pending := ok[httpapi.CallList](t, h.do("GET", "/v1/sites/"+site+"/outbox?state=pending", nil), 200)
	assert.Len(t, pending.Calls, 2)
	empty := ok[httpapi.CallList](t, h.do("GET", "/v1/sites/"+site+"/outbox?state=delivered", nil), 200)
	assert.NotNil(t, empty.Calls, "an empty list is [], not null")
	assert.Empty(t, empty.Calls)
}

func TestOutboxShowRetryDiscardStats(t *testing.T) {
	h := newHarness(t)
	a := ok[httpapi.Appointment](t, h.do("POST", "/v1/sites/"+site+"/appointments", apptBody("", day, day+time.Hour)), 201)
	calls := h.apiCalls(site, 0)
	require.Len(t, calls, 2)
	report := calls[0]

	shown := ok[httpapi.Call](t, h.do("GET", "/v1/sites/"+site+"/outbox/"+report.ID, nil), 200)
	assert.Equal(t, "report", shown.Kind)
	assert.Equal(t, "appointment_scheduled", shown.TriggerKey)
	assert.Equal(t, a.ID, shown.ExternalEntityID)
	assert.Equal(t, "pending", shown.State)
	assert.Equal(t, at(0), shown.CreatedAt)
	assert.Equal(t, at(0), shown.NextAttemptAt)
	assert.NotEmpty(t, shown.Cause)
	assert.JSONEq(t, `"`+a.ID+`"`, string(jsonField(t, shown.Payload, "appointmentId")))

	h.clock.Advance(time.Minute)
	h.kill(report.ID)
	stats := ok[httpapi.CallStats](t, h.do("GET", "/v1/sites/"+site+"/outbox/stats", nil), 200)
	assert.Equal(t, httpapi.CallStats{SiteID: site, Calls: map[string]int{
		"pending": 1, "delivered": 0, "dead": 1, "expired": 0, "discarded": 0, "superseded": 0}}, stats)

	h.clock.Advance(time.Minute)
	retried := ok[httpapi.Call](t, h.do("POST", "/v1/sites/"+site+"/outbox/"+report.ID+"/retry", nil), 200)
	assert.Equal(t, "pending", retried.State)
	assert.Equal(t, at(2*time.Minute), retried.NextAttemptAt, "a retried call is due at once")
	assert.Greater(t, retried.Seq, calls[1].Seq, "a retried call goes to the tail of its entity")
	require.Len(t, retried.History, 2)
	assert.Equal(t, httpapi.Attempt{At: at(time.Minute), State: "dead",
		Error: &httpapi.CallError{Status: 400, Code: "INVALID_PAYLOAD", Message: "bad payload"}}, retried.History[0])
	assert.Equal(t, "pending", retried.History[1].State)
	assert.Equal(t, at(2*time.Minute), retried.History[1].At)

	discarded := ok[httpapi.Call](t, h.do("POST", "/v1/sites/"+site+"/outbox/"+calls[1].ID+"/discard", nil), 200)
	assert.Equal(t, "discarded", discarded.State)
	assert.Equal(t, at(2*time.Minute), discarded.SettledAt)

	before := h.calls()
	problem(t, h.do("POST", "/v1/sites/"+site+"/outbox/"+calls[1].ID+"/discard", nil), 409, httpapi.CodeTransitionNotAllowed)
	problem(t, h.do("POST", "/v1/sites/"+site+"/outbox/"+calls[1].ID+"/retry", nil), 409, httpapi.CodeTransitionNotAllowed)
	problem(t, h.do("POST", "/v1/sites/"+site+"/outbox/"+report.ID+"/retry", `{"force": true}`), 400, httpapi.CodeInvalidArgument)
	assert.Equal(t, before, h.calls())

	stats = ok[httpapi.CallStats](t, h.do("GET", "/v1/sites/"+site+"/outbox/stats", nil), 200)
	assert.Equal(t, map[string]int{"pending": 1, "delivered": 0, "dead": 0, "expired": 0, "discarded": 1, "superseded": 0}, stats.Calls)
}

// Retrying a dead cancel is refused when a newer report of the same
// trigger and entity exists: the cancel would withdraw the newer event.
func TestOutboxRetryRefusesACancelThatWouldKillANewerReport(t *testing.T) {
	h := newHarness(t)
	a := ok[httpapi.Appointment](t, h.do("POST", "/v1/sites/"+site+"/appointments", apptBody("", day, day+time.Hour)), 201)
	ok[httpapi.Appointment](t, h.do("POST", "/v1/sites/"+site+"/appointments/"+a.ID+"/reschedule",
		map[string]string{"startsAt": at(2 * day), "endsAt": at(2*day + time.Hour)}), 200)
	calls := h.apiCalls(site, 0)
	require.Equal(t, step{"cancel", "appointment_starting", a.ID}, steps(calls)[2])
	// The reschedule superseded the first reminder before it was sent:
	// deliver the confirmation, then let the cancel die.
	ctx := context.Background()
	for range 1 {
		claimed, err := h.store.Claim(ctx, outbox.ClaimRequest{Relay: "test", Now: h.clock.Now(), Limit: 100, Lease: time.Minute})
		require.NoError(t, err)
		require.Len(t, claimed, 1)
		require.NoError(t, h.store.Settle(ctx, []application.Outcome{{ID: claimed[0].ID, Token: claimed[0].Lease.Token, State: application.StateDelivered,
			Attempted: true, At: h.clock.Now()}}))
	}
	h.kill(calls[2].ID)
	before := h.calls()
	p := problem(t, h.do("POST", "/v1/sites/"+site+"/outbox/"+calls[2].ID+"/retry", nil), 409, httpapi.CodeSuperseded)
	assert.Contains(t, p.Detail, calls[3].ID)
	assert.Equal(t, before, h.calls())
}
