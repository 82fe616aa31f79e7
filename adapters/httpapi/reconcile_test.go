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

func TestReconcileOverHTTP(t *testing.T) {
	h := newHarness(t)
	a := ok[httpapi.Appointment](t, h.do("POST", "/v1/sites/"+site+"/appointments", apptBody("", day, day+time.Hour)), 201)
	calls := h.apiCalls(site, 0)
	require.Equal(t, "appointment_starting", calls[1].TriggerKey)
	// Wix accepts the confirmation and refuses the reminder.
	ctx := context.Background()
	claimed, err := h.store.Claim(ctx, outbox.ClaimRequest{Relay: "test", Now: h.clock.Now(), Limit: 10, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	require.NoError(t, h.store.Settle(ctx, []application.Outcome{{ID: claimed[0].ID, Token: claimed[0].Lease.Token,
		State: application.StateDelivered, Attempted: true, At: h.clock.Now()}}))
	h.kill(calls[1].ID)

	plan := ok[httpapi.ReconcileResult](t, h.do("POST", "/v1/sites/"+site+"/reconcile", map[string]any{"dryRun": true}), 200)
	assert.True(t, plan.DryRun)
	assert.Equal(t, 1, plan.Entities)
	require.Len(t, plan.Repairs, 2, "the refused reminder may have reached Wix on an earlier attempt: cancel, then report")
	assert.Equal(t, httpapi.Repair{Subject: "appointment", EntityID: a.ID, Kind: "cancel", TriggerKey: "appointment_starting",
		Reason: application.ReasonUnsure}, plan.Repairs[0])
	assert.Equal(t, httpapi.Repair{Subject: "appointment", EntityID: a.ID, Kind: "report", TriggerKey: "appointment_starting",
		ScheduledAt: a.StartsAt, Reason: application.ReasonReplaced}, plan.Repairs[1])
	assert.Len(t, h.apiCalls(site, 0), len(calls), "a dry run queues nothing")

	done := ok[httpapi.ReconcileResult](t, h.do("POST", "/v1/sites/"+site+"/reconcile", nil), 200)
	assert.False(t, done.DryRun)
	assert.Equal(t, plan.Repairs, done.Repairs)
	assert.Len(t, h.apiCalls(site, 0), len(calls)+2, "the repairs are queued")
	again := ok[httpapi.ReconcileResult](t, h.do("POST", "/v1/sites/"+site+"/reconcile", nil), 200)
	assert.Empty(t, again.Repairs, "a second run queues nothing")
	assert.NotNil(t, again.Repairs, "an empty list is [], not null")

	p := problem(t, h.do("POST", "/v1/sites/"+site+"/reconcile", map[string]any{"maxAge": "a while"}), 400, httpapi.CodeInvalidArgument)
	assert.Contains(t, p.Detail, "maxAge")
	problem(t, h.do("POST", "/v1/sites/"+site+"/reconcile", map[string]any{"dry_run": true}), 400, httpapi.CodeInvalidArgument)
	problem(t, h.do("POST", "/v1/sites/not-a-site/reconcile", nil), 400, httpapi.CodeInvalidArgument)
}
